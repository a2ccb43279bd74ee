"""The RAVEN weighting core: simplex weights, mixing, calibration and the easy-sample phase.

Independent of transformers and TRL; trainers are thin adapters that feed it.
"""

from .arguments import METHODS, WEIGHT_OBJECTIVES, WeightingArguments
from .easy import EASY_PHASE_MODES, EasySamplePhase, easy_first_order, easy_mask
from .mixing import (
    apply_temperature,
    bernoulli_entropy,
    entropy,
    fit_temperatures,
    margin_scales,
    mix_logits,
    mix_margins,
    mix_probs,
)
from .weights import UPDATE_RULES, SupervisorWeights, entropy_init, explicit_init, uniform_init

__all__ = [
    "EASY_PHASE_MODES",
    "METHODS",
    "UPDATE_RULES",
    "WEIGHT_OBJECTIVES",
    "EasySamplePhase",
    "SupervisorWeights",
    "WeightingArguments",
    "apply_temperature",
    "bernoulli_entropy",
    "easy_first_order",
    "easy_mask",
    "entropy",
    "entropy_init",
    "explicit_init",
    "fit_temperatures",
    "margin_scales",
    "mix_logits",
    "mix_margins",
    "mix_probs",
    "uniform_init",
]
