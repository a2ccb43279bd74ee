"""RavenDPOConfig: TRL's DPOConfig plus RAVEN's weighting options."""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import DPOConfig

from ..losses import PREFERENCE_VARIANTS
from ..weighting import WeightingArguments


@dataclass
class RavenDPOConfig(DPOConfig, WeightingArguments):
    """Configuration for :class:`RavenDPOTrainer`.

    Every `DPOConfig` field keeps its meaning; the RAVEN fields are those of
    :class:`~raven_align.weighting.WeightingArguments` plus the ones below. The preference loss is
    RAVEN's (``raven_loss_type``); TRL's ``loss_type`` must stay ``sigmoid`` (it is what ``soft``
    reduces to when the mixture is certain).
    """

    raven_loss_type: str = field(
        default="soft",
        metadata={
            "help": f"RAVEN preference loss, one of {PREFERENCE_VARIANTS}.",
            "choices": PREFERENCE_VARIANTS,
        },
    )
    gt_column: str | None = field(
        default=None,
        metadata={
            "help": "For supervision=gt: a column that is true where the presented `chosen` is truly better. "
            "Without it the presented `chosen` is taken as the truth (TRL's convention)."
        },
    )
    base_model_id: str | None = field(
        default=None,
        metadata={"help": "Hub ID of the base model, for the model card when it was loaded from a folder."},
    )
    # RAVEN's DPO defaults (paper): supervisor lr 1e-3, easy examples first during the first 10% of steps.
    supervisor_lr: float = field(
        default=1e-3, metadata={"help": "Learning rate η of the weights; 0 fixes them."}
    )
    easy_phase_mode: str = field(default="order", metadata={"help": "`order` (paper DPO), `mask` or `none`."})

    def __post_init__(self):
        super().__post_init__()
        self.validate_weighting()
        if self.raven_loss_type not in PREFERENCE_VARIANTS:
            raise ValueError(
                f"raven_loss_type must be one of {PREFERENCE_VARIANTS}, got {self.raven_loss_type!r}"
            )
        if self.raven_loss_type != "soft" and self.weight_objective == "kl":
            raise ValueError("weight_objective='kl' is defined for raven_loss_type='soft' only")
        if list(self.loss_type) != ["sigmoid"] or self.f_divergence_type != "reverse_kl":
            raise ValueError(
                "RavenDPOTrainer replaces the sigmoid DPO loss: keep loss_type=sigmoid, reverse_kl"
            )
        if self.ld_alpha is not None or self.use_weighting or self.label_smoothing:
            raise ValueError(
                "ld_alpha, use_weighting and label_smoothing are not supported by RavenDPOTrainer "
                "(the mixture sets each pair's label smoothing)"
            )
        if self.supervision == "gt" and self.raven_loss_type != "soft":
            raise ValueError("supervision='gt' is plain DPO: use raven_loss_type='soft'")
