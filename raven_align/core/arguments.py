"""RAVEN's options as dataclass mixins (TRL-style fields with help): :class:`WeightingArguments`, shared by every
trainer config, and :class:`ClassificationWeightingArguments`; the allowed values and named settings are in
:mod:`raven_align.core.options`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .easy import EasySamplePhase
from .label_model import LabelModel, fit_label_model
from .methods import SupervisionMethod, get_method
from .options import (
    CALIBRATIONS,
    EASY_PHASE_MODES,
    ESTIMATORS,
    METHODS,
    UPDATE_RULES,
    WEIGHT_INITS,
    WEIGHT_OBJECTIVES,
    WEIGHTING_PRESETS,
    WEIGHTINGS,
    check_choices,
)
from .weights import SupervisorWeights, explicit_init, label_model_init

# the constants stay importable from here, where they were first defined
__all__ = [
    "METHODS",
    "WEIGHTING_PRESETS",
    "WEIGHT_INITS",
    "WEIGHT_OBJECTIVES",
    "ClassificationWeightingArguments",
    "WeightingArguments",
]


@dataclass
class WeightingArguments:
    """How the weak supervisors are combined: the options every task shares. Mixed into ``RavenDPOConfig`` and
    ``RavenRewardConfig`` (with the preference options) and, through :class:`ClassificationWeightingArguments`,
    ``RavenClassificationConfig``. The allowed values are declared here, as ``choices``, and checked at parse time
    by :meth:`validate_weighting`; a trainer's own default is set with :func:`~raven_align.core.options.with_default`.

    ``supervision`` is the one switch between RAVEN and the baselines: a name in the method registry
    (:mod:`raven_align.core.methods`, described in ``docs/methods.md``). ``raven`` learns the weights;
    ``ens`` fixes them uniform; ``static`` fixes them at the entropy initialisation; ``naive`` and
    ``select`` use one supervisor (``naive_supervisor``); ``gt`` uses ground truth; ``conf``, ``vsup`` and
    ``bayes`` add their losses on top of the uniform mixture.
    """

    supervision: str = field(default="raven", metadata={"help": f"A registered method, one of {METHODS}."})
    supervisor_names: list[str] | None = field(
        default=None, metadata={"help": "Supervisors to use (default: every judgement column found)."}
    )
    naive_supervisor: str | None = field(
        default=None, metadata={"help": "The single supervisor for `naive` / `select`."}
    )
    weight_init: str = field(
        default="uniform",
        metadata={
            "help": "`uniform`, `entropy`, `explicit` or `label_model` (the label model's weights).",
            "choices": WEIGHT_INITS,
        },
    )
    initial_weights: list[float] | None = field(
        default=None,
        metadata={"help": "Explicit initial weights (one per supervisor) for weight_init=explicit."},
    )
    supervisor_lr: float = field(
        default=1e-2, metadata={"help": "Learning rate η of the weights; 0 fixes them."}
    )
    weight_update_rule: str = field(
        default="clamp", metadata={"help": f"One of {UPDATE_RULES}.", "choices": UPDATE_RULES}
    )
    weight_objective: str = field(
        default="ce",
        metadata={
            "help": "`ce` (paper), `kl` (the weights ignore the mixture's own sharpness) or `chance` (agreement "
            "beyond that with another example's judgement).",
            "choices": WEIGHT_OBJECTIVES,
        },
    )
    uniform_pull: float = field(
        default=0.0, metadata={"help": "Strength of a pull of the weights toward uniform."}
    )
    easy_phase_fraction: float = field(
        default=0.1,
        metadata={"help": "Fraction of optimizer steps with frozen weights and easy examples first."},
    )
    easy_phase_mode: str = field(
        default="mask",
        metadata={
            "help": "During the easy phase: `mask` (the loss on easy examples only; paper, vision), `order` (easy "
            "examples first; paper, DPO: RavenDPOConfig's default) or `none` (weights frozen only).",
            "choices": EASY_PHASE_MODES,
        },
    )
    conf_alpha_max: float = field(
        default=0.5, metadata={"help": "`conf`: final weight of the strong model's own label."}
    )
    conf_warmup_fraction: float = field(
        default=0.2, metadata={"help": "`conf`: fraction of steps for α to rise."}
    )
    bayes_kl_weight: float = field(
        default=0.1, metadata={"help": "`bayes`: weight of the evidential KL term."}
    )
    label_model: str = field(
        default="votes",
        metadata={
            "help": "Label model of `label_model` and weight_init=label_model: `votes` (Dawid-Skene on argmax "
            "votes / two-coin on sign(d_k)), `soft` (on probabilities / σ(d_k)) or `triplet` (pairs only).",
            "choices": ESTIMATORS,
        },
    )
    label_model_weighting: str = field(
        default="mi",
        metadata={
            "help": "Weights from the label model: `mi` (information of a vote about the truth) or `llr` "
            "(log-odds of the balanced accuracy, clipped at 0).",
            "choices": WEIGHTINGS,
        },
    )
    label_model_abstain: float = field(
        default=0.0, metadata={"help": "Pairs: per-supervisor quantile of |d_k| below which a vote abstains."}
    )

    def validate_weighting(self) -> None:
        """Raise ``ValueError`` for values no trainer could use (called by the configs' __post_init__)."""
        method = get_method(self.supervision)
        if method.single_supervisor and not self.naive_supervisor:
            raise ValueError(f"supervision={self.supervision!r} needs naive_supervisor=<supervisor name>")
        check_choices(self, WeightingArguments)
        if self.weight_init == "explicit" and not self.initial_weights:
            raise ValueError("weight_init='explicit' needs initial_weights")
        for name in ("supervisor_lr", "uniform_pull", "learning_rate"):  # `nan < 0` is False: test finiteness
            value = getattr(self, name, 0.0)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        if self.initial_weights:
            explicit_init(self.initial_weights, len(self.initial_weights))  # finite, non-negative, not all 0
        if self.supervisor_names:
            self.validate_supervisors(list(self.supervisor_names))
        if not 0.0 <= self.label_model_abstain < 1.0:
            raise ValueError(f"label_model_abstain must be in [0, 1), got {self.label_model_abstain}")
        if not 0.0 <= self.easy_phase_fraction <= 1.0:
            raise ValueError(f"easy_phase_fraction must be in [0, 1], got {self.easy_phase_fraction}")

    def validate_supervisors(self, names: list[str]) -> None:
        """Check the options that depend on the supervisors (``names``): the one check, called by the programs
        before labelling, by the trainers before tokenising and by :meth:`build_weights`."""
        if self.method.single_supervisor and self.naive_supervisor not in names:
            raise ValueError(
                f"naive_supervisor {self.naive_supervisor!r} is not among the supervisors {names}"
            )
        if (
            self.weight_init == "explicit"
            and self.initial_weights
            and len(self.initial_weights) != len(names)
        ):
            raise ValueError(
                f"initial_weights has {len(self.initial_weights)} entries for {len(names)} supervisors {names}: "
                "give one weight per supervisor, in this order"
            )

    @property
    def method(self) -> SupervisionMethod:
        """The registry entry of ``supervision``."""
        return get_method(self.supervision)

    def fit_label_model(self, judgements: torch.Tensor, kind: str) -> LabelModel:
        """The label model (``label_model``, ``label_model_abstain``) fitted on the training judgements."""
        if judgements is None:
            raise ValueError("the label model needs the supervisors' judgements on the training set")
        return fit_label_model(judgements, kind, self.label_model, self.label_model_abstain)

    def build_weights(
        self,
        names: list[str],
        judgements: torch.Tensor | None = None,
        judgement_kind: str | None = None,
        label_model: LabelModel | None = None,
    ) -> SupervisorWeights:
        """The weights this method trains with: learned for `raven`, fixed for every baseline. ``label_model``: one
        already fitted on these judgements with these options (:meth:`fit_label_model`), used instead of a refit."""
        self.validate_supervisors(names)
        kind = self.method.weights
        if kind == "single":
            onehot = [1.0 if n == self.naive_supervisor else 0.0 for n in names]
            return SupervisorWeights(names, init=onehot, lr=0.0)
        if kind == "entropy":
            return SupervisorWeights(
                names, "entropy", 0.0, judgements=judgements, judgement_kind=judgement_kind
            )
        if kind == "uniform":
            return SupervisorWeights(names, "uniform", 0.0)
        lm = label_model
        if lm is None and (kind == "label_model" or self.weight_init == "label_model"):
            lm = self.fit_label_model(judgements, judgement_kind)
        if kind == "label_model":
            return SupervisorWeights(names, label_model_init(lm, self.label_model_weighting, 0.0).tolist())
        init = self.initial_weights if self.weight_init == "explicit" else self.weight_init
        if init == "label_model":
            init = label_model_init(lm, self.label_model_weighting).tolist()
        return SupervisorWeights(
            names,
            init=init,
            lr=self.supervisor_lr,
            update_rule=self.weight_update_rule,
            uniform_pull=self.uniform_pull,
            judgements=judgements,
            judgement_kind=judgement_kind,
        )

    def build_phase(self, total_steps: int) -> EasySamplePhase:
        """The easy-sample phase; only methods with one (`raven`) get it (`ens` is defined without it)."""
        fraction = self.easy_phase_fraction if self.method.easy_phase else 0.0
        return EasySamplePhase(fraction=fraction, mode=self.easy_phase_mode, total_steps=total_steps)


@dataclass
class ClassificationWeightingArguments(WeightingArguments):
    """:class:`WeightingArguments` plus the options only classification reads (``RavenClassificationConfig``, the
    synthetic reference loop); the preference configs have no such fields, so setting one there fails at parse."""

    supervisor_calibration: str = field(
        default="none",
        metadata={
            "help": "`none`, or `temperature`: per-supervisor temperatures equalising mean entropy.",
            "choices": CALIBRATIONS,
        },
    )

    def validate_weighting(self) -> None:
        """The shared checks plus the classification options' allowed values."""
        super().validate_weighting()
        check_choices(self, ClassificationWeightingArguments, below=WeightingArguments)
