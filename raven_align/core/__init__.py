"""The torch-only core: simplex weights, mixing and calibration, the easy-sample phase, a training run's
lifecycle, the method registry, losses, label models, measures, and a plain-PyTorch weak-to-strong reference.
Independent of transformers and TRL."""

from .arguments import ClassificationWeightingArguments, WeightingArguments
from .easy import EASY_PHASE_MODES, EasyFirstSampler, EasySamplePhase, easy_first_order, easy_mask
from .label_model import DawidSkene, OneFactor, dawid_skene, fit_label_model, one_factor
from .lifecycle import RavenLifecycle
from .methods import (
    ClassificationBatch,
    PreferenceBatch,
    SupervisionMethod,
    get_method,
    method_names,
    register_method,
)
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
from .options import (
    METHODS,
    NAMED_SETTINGS,
    PREFERENCE_OBJECTIVES,
    WEIGHT_INITS,
    WEIGHT_OBJECTIVES,
    WEIGHTING_PRESETS,
    named_setting,
)
from .weights import (
    UPDATE_RULES,
    SupervisorWeights,
    entropy_init,
    explicit_init,
    label_model_init,
    uniform_init,
)

__all__ = [
    "EASY_PHASE_MODES",
    "METHODS",
    "NAMED_SETTINGS",
    "PREFERENCE_OBJECTIVES",
    "UPDATE_RULES",
    "WEIGHT_INITS",
    "WEIGHTING_PRESETS",
    "WEIGHT_OBJECTIVES",
    "ClassificationBatch",
    "ClassificationWeightingArguments",
    "DawidSkene",
    "EasyFirstSampler",
    "EasySamplePhase",
    "OneFactor",
    "PreferenceBatch",
    "RavenLifecycle",
    "SupervisionMethod",
    "SupervisorWeights",
    "WeightingArguments",
    "apply_temperature",
    "bernoulli_entropy",
    "dawid_skene",
    "easy_first_order",
    "easy_mask",
    "entropy",
    "entropy_init",
    "explicit_init",
    "fit_label_model",
    "fit_temperatures",
    "get_method",
    "label_model_init",
    "margin_scales",
    "method_names",
    "mix_logits",
    "mix_margins",
    "mix_probs",
    "named_setting",
    "one_factor",
    "register_method",
    "uniform_init",
]
