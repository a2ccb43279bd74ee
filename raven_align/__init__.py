"""raven_align: weak-to-strong alignment from several weak supervisors with RAVEN's learned weighting.

``from raven_align import RavenDPOTrainer, RavenDPOConfig`` works like ``from trl import DPOTrainer``. Importing
the package stays light (torch only): the trainers, which import transformers and TRL, load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .core import (  # noqa: E402
    EasySamplePhase,
    SupervisorWeights,
    WeightingArguments,
    easy_mask,
    get_method,
    register_method,
)
from .utils.version import __version__  # noqa: E402

# name -> submodule that defines it; imported on first attribute access (PEP 562)
_LAZY = {
    "RavenDPOTrainer": "trainers",
    "RavenDPOConfig": "trainers",
    "RavenRewardTrainer": "trainers",
    "RavenRewardConfig": "trainers",
    "RavenClassificationTrainer": "trainers",
    "RavenClassificationConfig": "trainers",
    "RavenTrainerMixin": "trainers",
    "label_dataset": "labeling",
    "label_dataset_dict": "labeling",
    "read_provenance": "labeling",
}

if TYPE_CHECKING:
    from .labeling import label_dataset, label_dataset_dict, read_provenance
    from .trainers import (
        RavenClassificationConfig,
        RavenClassificationTrainer,
        RavenDPOConfig,
        RavenDPOTrainer,
        RavenRewardConfig,
        RavenRewardTrainer,
        RavenTrainerMixin,
    )


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "EasySamplePhase",
    "RavenClassificationConfig",
    "RavenClassificationTrainer",
    "RavenDPOConfig",
    "RavenDPOTrainer",
    "RavenRewardConfig",
    "RavenRewardTrainer",
    "RavenTrainerMixin",
    "SupervisorWeights",
    "WeightingArguments",
    "__version__",
    "easy_mask",
    "get_method",
    "label_dataset",
    "label_dataset_dict",
    "read_provenance",
    "register_method",
]
