"""RavenDPOConfig: TRL's DPOConfig plus RAVEN's weighting options."""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import DPOConfig

from .preference_args import PreferenceSupervisionArguments


@dataclass
class RavenDPOConfig(DPOConfig, PreferenceSupervisionArguments):
    """Configuration for :class:`RavenDPOTrainer`.

    Every `DPOConfig` field keeps its meaning; the RAVEN fields are those of
    :class:`~raven_align.trainers.preference_args.PreferenceSupervisionArguments`. The preference loss is
    RAVEN's (``raven_loss_type``); TRL's ``loss_type`` must stay ``sigmoid`` (it is what ``soft``
    reduces to when the mixture is certain).
    """

    # RAVEN's DPO defaults (paper): supervisor lr 1e-3, easy examples first during the first 10% of steps.
    supervisor_lr: float = field(
        default=1e-3, metadata={"help": "Learning rate η of the weights; 0 fixes them."}
    )
    easy_phase_mode: str = field(default="order", metadata={"help": "`order` (paper DPO), `mask` or `none`."})

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
