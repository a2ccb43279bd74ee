"""RavenDPOConfig: TRL's DPOConfig plus RAVEN's weighting options."""

from __future__ import annotations

from dataclasses import dataclass

from trl import DPOConfig

from ..core import WeightingArguments
from ..core.options import with_default
from .preference_args import PreferenceSupervisionArguments


@dataclass
class RavenDPOConfig(DPOConfig, PreferenceSupervisionArguments):
    """Configuration for :class:`RavenDPOTrainer`.

    Every `DPOConfig` field keeps its meaning; the RAVEN fields are those of
    :class:`~raven_align.trainers.preference_args.PreferenceSupervisionArguments`. The preference loss is
    RAVEN's (``raven_loss_type``); TRL's ``loss_type`` must stay ``sigmoid`` (it is what ``soft``
    reduces to when the mixture is certain).
    """

    # The paper's DPO setting (named_setting("paper", "dpo")) differs from the shared defaults in these two; the
    # options' help and allowed values stay those of WeightingArguments.
    supervisor_lr: float = with_default(WeightingArguments, "supervisor_lr", 1e-3)
    easy_phase_mode: str = with_default(WeightingArguments, "easy_phase_mode", "order")

    def __post_init__(self):
        super().__post_init__()
        self.validate_preference_supervision()
        if list(self.loss_type) != ["sigmoid"] or self.f_divergence_type != "reverse_kl":
            raise ValueError(
                "RavenDPOTrainer replaces the sigmoid DPO loss: keep loss_type=sigmoid, reverse_kl"
            )
        if self.ld_alpha is not None or self.use_weighting or self.label_smoothing:
            raise ValueError(
                "ld_alpha, use_weighting and label_smoothing are not supported by RavenDPOTrainer "
                "(the mixture sets each pair's label smoothing)"
            )
