"""Options shared by the preference trainers' configs (RavenDPOConfig, RavenRewardConfig)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core import WeightingArguments
from ..core.losses import PREFERENCE_VARIANTS


@dataclass
class PreferenceSupervisionArguments(WeightingArguments):
    """:class:`WeightingArguments` plus what a preference trainer needs to know about its pairs."""

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

    def validate_preference_supervision(self) -> None:
        """The weighting checks plus the loss variant's (called by the configs' __post_init__)."""
        self.validate_weighting()
        if self.raven_loss_type not in PREFERENCE_VARIANTS:
            raise ValueError(
                f"raven_loss_type must be one of {PREFERENCE_VARIANTS}, got {self.raven_loss_type!r}"
            )
        if self.raven_loss_type != "soft" and self.weight_objective == "kl":
            raise ValueError("weight_objective='kl' is defined for raven_loss_type='soft' only")
        if self.supervision == "gt" and self.raven_loss_type != "soft":
            raise ValueError(
                "supervision='gt' is the plain Bradley-Terry/DPO loss: use raven_loss_type='soft'"
            )
