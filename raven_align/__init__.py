"""raven_align: weak-to-strong alignment from several weak supervisors with RAVEN's learned weighting.

Importing the package stays light (torch only): the TRL/transformers trainers live in
``raven_align.trainers`` and are imported on demand.
"""

__version__ = "0.1.0"

from .weighting import (  # noqa: E402
    EasySamplePhase,
    SupervisorWeights,
    WeightingArguments,
    easy_mask,
)

__all__ = ["EasySamplePhase", "SupervisorWeights", "WeightingArguments", "easy_mask", "__version__"]
