"""RAVEN's option vocabulary, in one place: the allowed values of the options, a field helper for a trainer's own
default (same help, same allowed values), the check of every declared choice, and the named settings."""

from __future__ import annotations

from dataclasses import field, fields
from typing import Any

from .easy import EASY_PHASE_MODES
from .label_model import ESTIMATORS, WEIGHTINGS
from .losses import PREFERENCE_OBJECTIVES, PREFERENCE_VARIANTS, WEIGHT_OBJECTIVES
from .methods import method_names
from .weights import UPDATE_RULES

METHODS = method_names()  # the built-in methods; see core.methods.register_method for more
WEIGHT_INITS = ("uniform", "entropy", "explicit", "label_model")
CALIBRATIONS = ("none", "temperature")
MARGIN_NORMALIZATIONS = ("none", "std")
TASKS = ("classification", "dpo", "reward")

#: Named settings, each defined once: the options every task shares, then each task's own. ``paper`` is the paper's
#: rule (and the configs' defaults): η = 1e-2 for classification; its DPO setting has η = 1e-3, raw margins and the
#: easy examples first; it has no reward models, which keep the classification η. ``recommended`` was chosen on the
#: synthetic problems and label-free signals (docs/label_model.md); DPO's weight gradients are ~1e-3 early on
#: (``raven/weight_grad_norm``), so η = 10 there. ``supervisor_calibration`` exists only for classification.
NAMED_SETTINGS: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {
        "shared": dict(
            weight_init="uniform",
            weight_update_rule="clamp",
            weight_objective="ce",
            uniform_pull=0.0,
            easy_phase_fraction=0.1,
        ),
        "classification": dict(supervisor_lr=1e-2, supervisor_calibration="none"),
        "reward": dict(supervisor_lr=1e-2),
        "dpo": dict(supervisor_lr=1e-3, margin_normalization="none", easy_phase_mode="order"),
    },
    "recommended": {
        "shared": dict(
            weight_init="label_model", weight_objective="chance", weight_update_rule="exponentiated"
        ),
        "classification": dict(supervisor_lr=0.1, supervisor_calibration="temperature"),
        "reward": dict(supervisor_lr=0.1),
        "dpo": dict(supervisor_lr=10.0),
    },
}


def named_setting(name: str, task: str) -> dict[str, Any]:
    """The options of the named setting ``name`` for a ``task`` config (one of :data:`TASKS`), e.g.
    ``RavenDPOConfig(**named_setting("paper", "dpo"), ...)``: the shared options, then the task's own."""
    if name not in NAMED_SETTINGS:
        raise ValueError(f"named setting must be one of {tuple(NAMED_SETTINGS)}, got {name!r}")
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    return {**NAMED_SETTINGS[name]["shared"], **NAMED_SETTINGS[name][task]}


#: The named settings' classification forms (``ClassificationWeightingArguments(**WEIGHTING_PRESETS[name])``).
WEIGHTING_PRESETS = {name: named_setting(name, "classification") for name in NAMED_SETTINGS}


def with_default(cls: type, name: str, default: Any) -> Any:
    """The field ``name`` of the dataclass ``cls`` with a trainer's own ``default``: the help text and the allowed
    values stay those of the one declaration."""
    return field(default=default, metadata=cls.__dataclass_fields__[name].metadata)


def check_choices(args: Any, cls: type, below: type | None = None) -> None:
    """Raise ``ValueError`` for a field of the dataclass ``cls`` (but not of its base ``below``, checked there)
    whose value in ``args`` is not among its declared ``choices``: a YAML value bypasses argparse's own check."""
    skip = {f.name for f in fields(below)} if below else set()
    for f in fields(cls):
        if f.name in skip:
            continue
        choices = f.metadata.get("choices")
        value = getattr(args, f.name)
        if choices is not None and value not in choices:
            raise ValueError(f"{f.name} must be one of {choices}, got {value!r}")


__all__ = [
    "CALIBRATIONS",
    "ESTIMATORS",
    "EASY_PHASE_MODES",
    "MARGIN_NORMALIZATIONS",
    "METHODS",
    "NAMED_SETTINGS",
    "PREFERENCE_OBJECTIVES",
    "PREFERENCE_VARIANTS",
    "TASKS",
    "UPDATE_RULES",
    "WEIGHTINGS",
    "WEIGHTING_PRESETS",
    "WEIGHT_INITS",
    "WEIGHT_OBJECTIVES",
    "check_choices",
    "named_setting",
    "with_default",
]
