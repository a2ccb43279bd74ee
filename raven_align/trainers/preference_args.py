"""The preference trainers' options (RavenDPOConfig, RavenRewardConfig): the shared weighting options plus those
only preference pairs have. Checked at parse time, by the configs' ``__post_init__``."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core import WeightingArguments
from ..core.losses import PREFERENCE_OBJECTIVES, PREFERENCE_VARIANTS, check_preference_loss
from ..core.options import MARGIN_NORMALIZATIONS, check_choices


@dataclass
class PreferenceSupervisionArguments(WeightingArguments):
    """:class:`WeightingArguments` plus what a preference trainer needs to know about its pairs. There is no
    ``supervisor_calibration`` here (a classification option): setting it in a preference config fails at parse."""

    raven_loss_type: str = field(
        default="soft",
        metadata={
            "help": "RAVEN preference loss; the weight objectives each defines: "
            + ", ".join(f"`{v}`: {'/'.join(o)}" for v, o in PREFERENCE_OBJECTIVES.items())
            + ".",
            "choices": PREFERENCE_VARIANTS,
        },
    )
    margin_normalization: str = field(
        default="none",
        metadata={
            "help": "Supervisor margins: `none` (paper) or `std` (each supervisor's divided by their std on "
            "the training set).",
            "choices": MARGIN_NORMALIZATIONS,
        },
    )
    gt_column: str | None = field(
        default=None,
        metadata={
            "help": "For supervision=gt: a column that is true where the presented `chosen` is truly better. "
            "Without it the presented `chosen` is taken as the truth (TRL's convention)."
        },
    )
    gt_confidence: float = field(
        default=1.0,
        metadata={
            "help": "For supervision=gt: the probability each truth label gives the truly better response. 1.0 "
            "is plain DPO; below 1 is conservative DPO (cDPO): the truth with label smoothing 1 - gt_confidence, "
            "e.g. at the confidence of a soft weak mixture, so the two differ only in which side they favour."
        },
    )
    base_model_id: str | None = field(
        default=None,
        metadata={"help": "Hub ID of the base model, for the model card when it was loaded from a folder."},
    )

    def validate_preference_supervision(self) -> None:
        """The weighting checks plus the preference options' and the loss rules (called by the configs'
        ``__post_init__``, so a YAML or flag the loss could not run with fails at parse)."""
        self.validate_weighting()
        check_choices(self, PreferenceSupervisionArguments, below=WeightingArguments)
        # the loss rules preference_loss applies, checked now rather than at the first training step
        check_preference_loss(self.raven_loss_type, self.weight_objective)
        if self.supervision == "gt" and self.raven_loss_type != "soft":
            raise ValueError(
                "supervision='gt' is the plain Bradley-Terry/DPO loss: use raven_loss_type='soft'"
            )
        if not 0.5 < self.gt_confidence <= 1.0:
            raise ValueError(f"gt_confidence must be in (0.5, 1], got {self.gt_confidence}")
        if self.gt_confidence != 1.0 and self.supervision != "gt":
            raise ValueError(
                f"gt_confidence={self.gt_confidence} is read by supervision='gt' only, not "
                f"supervision={self.supervision!r}"
            )
