"""RAVEN's options as a dataclass mixin, shared by every trainer config (TRL-style fields with help)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .easy import EASY_PHASE_MODES, EasySamplePhase
from .methods import SupervisionMethod, get_method, method_names
from .weights import UPDATE_RULES, SupervisorWeights

METHODS = method_names()  # the built-in methods; see core.methods.register_method for more
WEIGHT_OBJECTIVES = ("ce", "kl")


@dataclass
class WeightingArguments:
    """How the weak supervisors are combined. Mixed into ``RavenDPOConfig``, ``RavenRewardConfig``, ...

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
    weight_init: str = field(default="uniform", metadata={"help": "`uniform`, `entropy` or `explicit`."})
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
            "help": "`ce` (paper) or `kl` (the weights ignore the mixture's own sharpness).",
            "choices": WEIGHT_OBJECTIVES,
        },
    )
    uniform_pull: float = field(
        default=0.0, metadata={"help": "Strength of a pull of the weights toward uniform."}
    )
    supervisor_calibration: str = field(
        default="none",
        metadata={"help": "`none`, or `temperature`: per-supervisor temperatures equalising mean entropy."},
    )
    margin_normalization: str = field(
        default="none", metadata={"help": "Preference margins: `none` (paper) or `std` per supervisor."}
    )
    easy_phase_fraction: float = field(
        default=0.1,
        metadata={"help": "Fraction of optimizer steps with frozen weights and easy examples first."},
    )
    easy_phase_mode: str = field(
        default="mask", metadata={"help": f"One of {EASY_PHASE_MODES}.", "choices": EASY_PHASE_MODES}
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

    def validate_weighting(self) -> None:
        """Raise ``ValueError`` for values no trainer could use (called by the configs' __post_init__)."""
        method = get_method(self.supervision)
        if method.single_supervisor and not self.naive_supervisor:
            raise ValueError(f"supervision={self.supervision!r} needs naive_supervisor=<supervisor name>")
        if self.weight_init not in ("uniform", "entropy", "explicit"):
            raise ValueError(f"weight_init must be uniform, entropy or explicit, got {self.weight_init!r}")
        if self.weight_init == "explicit" and not self.initial_weights:
            raise ValueError("weight_init='explicit' needs initial_weights")
        if self.weight_update_rule not in UPDATE_RULES:
            raise ValueError(
                f"weight_update_rule must be one of {UPDATE_RULES}, got {self.weight_update_rule!r}"
            )
        if self.weight_objective not in WEIGHT_OBJECTIVES:
            raise ValueError(
                f"weight_objective must be one of {WEIGHT_OBJECTIVES}, got {self.weight_objective!r}"
            )
        if self.supervisor_lr < 0:
            raise ValueError(f"supervisor_lr must be >= 0, got {self.supervisor_lr}")
        if self.supervisor_calibration not in ("none", "temperature"):
            raise ValueError(
                f"supervisor_calibration must be none or temperature, got {self.supervisor_calibration!r}"
            )
        if self.margin_normalization not in ("none", "std"):
            raise ValueError(f"margin_normalization must be none or std, got {self.margin_normalization!r}")
        if not 0.0 <= self.easy_phase_fraction <= 1.0:
            raise ValueError(f"easy_phase_fraction must be in [0, 1], got {self.easy_phase_fraction}")
        if self.easy_phase_mode not in EASY_PHASE_MODES:
            raise ValueError(
                f"easy_phase_mode must be one of {EASY_PHASE_MODES}, got {self.easy_phase_mode!r}"
            )

    @property
    def method(self) -> SupervisionMethod:
        """The registry entry of ``supervision``."""
        return get_method(self.supervision)

    def build_weights(
        self, names: list[str], judgements: torch.Tensor | None = None, judgement_kind: str | None = None
    ) -> SupervisorWeights:
        """The weights this method trains with: learned for `raven`, fixed for every baseline."""
        kind = self.method.weights
        if kind == "single":
            if self.naive_supervisor not in names:
                raise ValueError(
                    f"naive_supervisor {self.naive_supervisor!r} is not among the supervisors {names}"
                )
            onehot = [1.0 if n == self.naive_supervisor else 0.0 for n in names]
            return SupervisorWeights(names, init=onehot, lr=0.0)
        if kind == "entropy":
            return SupervisorWeights(
                names, "entropy", 0.0, judgements=judgements, judgement_kind=judgement_kind
            )
        if kind == "uniform":
            return SupervisorWeights(names, "uniform", 0.0)
        init = self.initial_weights if self.weight_init == "explicit" else self.weight_init
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
