"""RavenDPOConfig: TRL's DPOConfig plus RAVEN's weighting options."""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import DPOConfig

from ..core import WeightingArguments
from ..core.losses import check_preference_loss
from ..core.options import with_default
from ..core.pairwise import PAIRWISE_LOSS_TYPES, PairwiseLoss, check_pairwise_loss
from .config_checks import check_training_options
from .preference_args import PreferenceSupervisionArguments

LOSS_TYPE_HELP = (
    "TRL's pairwise DPO loss(es), trained in expectation under the supervisor mixture's preference probability "
    "P_w: P_w·ℓ(chosen ≻ rejected) + (1 − P_w)·ℓ(rejected ≻ chosen). One or several of: "
    + ", ".join(f"`{t}`" for t in PAIRWISE_LOSS_TYPES)
    + "; several add up with `loss_weights`. `sigmoid` is RAVEN's soft loss; the paper variants "
    "(raven_loss_type paper_*) take `sigmoid` only. TRL's other loss types are not a function of one pair and "
    "are refused, with the reason (docs/options.md)."
)


@dataclass
class RavenDPOConfig(DPOConfig, PreferenceSupervisionArguments):
    """Configuration for :class:`RavenDPOTrainer`.

    Every `DPOConfig` field keeps its meaning; the RAVEN fields are those of
    :class:`~raven_align.trainers.preference_args.PreferenceSupervisionArguments`. TRL's ``loss_type`` may be any
    loss of one (chosen, rejected) pair (:data:`~raven_align.core.pairwise.PAIRWISE_LOSS_TYPES`), trained in
    expectation under the mixture (:mod:`raven_align.core.pairwise`); the loss rules (which ``raven_loss_type`` and
    ``weight_objective`` each combines with) are checked here, at parse.
    """

    loss_type: list[str] = field(default_factory=lambda: ["sigmoid"], metadata={"help": LOSS_TYPE_HELP})
    # The paper's DPO setting (named_setting("paper", "dpo")) differs from the shared defaults in these two; the
    # options' help and allowed values stay those of WeightingArguments.
    supervisor_lr: float = with_default(WeightingArguments, "supervisor_lr", 1e-3)
    easy_phase_mode: str = with_default(WeightingArguments, "easy_phase_mode", "order")

    def __post_init__(self):
        super().__post_init__()
        self.validate_preference_supervision()
        check_training_options(self)
        check_pairwise_loss(self.loss_type, self.loss_weights, self.label_smoothing)
        check_preference_loss(self.raven_loss_type, self.weight_objective, self.loss_type)
        if not self.method.pairwise_losses and not self.pairwise_loss().is_plain_sigmoid:
            raise ValueError(
                f"supervision={self.supervision!r} acts on the policy's margin as two-class classification (TRL's "
                f"sigmoid loss): it needs loss_type=['sigmoid'] without loss_weights, got loss_type="
                f"{list(self.loss_type)}"
            )
        if self.f_divergence_type != "reverse_kl":
            raise ValueError(
                "RavenDPOTrainer computes the losses of the log-ratios: keep f_divergence_type=reverse_kl"
            )
        if self.ld_alpha is not None or self.use_weighting:
            raise ValueError("ld_alpha and use_weighting are not supported by RavenDPOTrainer")

    def pairwise_loss(self) -> PairwiseLoss:
        """TRL's loss settings of this config (``loss_type``, ``loss_weights``, β, ``label_smoothing``,
        ``discopop_tau``)."""
        weights = None if self.loss_weights is None else tuple(float(w) for w in self.loss_weights)
        return PairwiseLoss(
            tuple(self.loss_type), weights, self.beta, self.label_smoothing, self.discopop_tau
        )
