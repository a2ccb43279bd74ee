"""RavenRewardTrainer: TRL's RewardTrainer, trained from the truth or from a learned mixture of supervisors.

With ground-truth pairs (``supervision="gt"``) it is TRL's Bradley–Terry reward modelling, unchanged:
this is how the weak reward models of a source domain are made. With supervisor judgement columns it
trains a strong reward model from the weak ensemble: the pair's target is the mixture's preference
(the ``soft`` preference loss with β = 1 on the reward difference; see ``docs/method.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from trl import RewardConfig, RewardTrainer

from ..columns import GT_KEY, MARGINS_KEY, find_preference_supervisors, preference_signature_columns
from ..core import easy_mask
from ..core.losses import masked_mean
from .mixin import RavenTrainerMixin
from .model_card import raven_paper
from .preference import (
    RavenRewardCollator,
    prepare_supervision,
    start_preference_supervision,
    supervised_preference_loss,
)
from .preference_args import PreferenceSupervisionArguments


@dataclass
class RavenRewardConfig(RewardConfig, PreferenceSupervisionArguments):
    """`RewardConfig` plus RAVEN's options (see :class:`PreferenceSupervisionArguments`)."""

    def __post_init__(self):
        super().__post_init__()
        self.validate_preference_supervision()


class RavenRewardTrainer(RavenTrainerMixin, RewardTrainer):
    """Reward modelling from the truth (`gt`) or from weak supervisors (RAVEN and the baselines)."""

    _tag_names = ["trl", "reward-trainer", "raven"]
    _name = "RAVEN Reward"
    _paper = raven_paper()

    def __init__(self, model, args: RavenRewardConfig | None = None, train_dataset=None, **kwargs):
        if not isinstance(args, RavenRewardConfig):
            raise TypeError("RavenRewardTrainer needs a RavenRewardConfig")
        # Plain reward modelling needs no supervisors; anything else is validated before tokenising.
        if train_dataset is None:
            raise ValueError("`train_dataset` is required")
        plain = args.supervision == "gt" and not find_preference_supervisors(list(train_dataset.column_names))
        sup = None if plain else prepare_supervision(train_dataset, args)
        self.raven_margin_scales = None if plain else sup.scales
        self._raven_writes_card = not plain  # plain reward modelling keeps TRL's card
        self._raven_keep_columns = [] if plain else preference_signature_columns(sup.names, args.gt_column)
        identities = self.raven_identities(train_dataset)
        super().__init__(model, args=args, train_dataset=train_dataset, **kwargs)
        if plain:
            self._init_raven(["truth"], None, None)
        else:
            start_preference_supervision(self, sup, RavenRewardCollator, identities)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        margins = inputs.pop(MARGINS_KEY, None)
        gt = inputs.pop(GT_KEY, None)
        if margins is None:  # ground-truth pairs only: TRL's loss, untouched
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        mode = "train" if self.model.training else "eval"
        inputs["use_cache"] = False
        outputs = model(**inputs)
        rewards_chosen, rewards_rejected = torch.chunk(outputs.logits.squeeze(-1), chunks=2)
        h = rewards_chosen - rewards_rejected
        margins = (margins / self.raven_margin_scales.to(margins.device)).to(h.dtype)
        per_pair, mixed = supervised_preference_loss(self, h, margins, gt, 1.0, self.args.raven_loss_type)
        loss = masked_mean(per_pair, self.raven_loss_mask(easy_mask(margins, "preference")))
        if self.args.center_rewards_coefficient is not None:
            loss = loss + self.args.center_rewards_coefficient * torch.mean(
                (rewards_chosen + rewards_rejected) ** 2
            )
        with torch.no_grad():
            gather = (
                self.accelerator.gather
            )  # per-pair tensors: not truncated by a finished loader's remainder
            self._metrics[mode]["mean_reward"].append(gather(outputs.logits).mean().item())
            self._metrics[mode]["accuracy"].append(gather((h > 0).float()).mean().item())
            self._metrics[mode]["margin"].append(gather(h).mean().item())
            self._metrics[mode]["raven/agreement"].append(
                gather((torch.sign(h) == torch.sign(mixed)).float()).mean().item()
            )
        return (loss, outputs) if return_outputs else loss
