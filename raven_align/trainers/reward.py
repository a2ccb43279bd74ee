"""RavenRewardTrainer: TRL's RewardTrainer, trained from the truth or from a learned mixture of supervisors.

With ground-truth pairs (``supervision="gt"``) it is TRL's Bradley–Terry reward modelling, unchanged:
this is how the weak reward models of a source domain are made. With supervisor judgement columns it
trains a strong reward model from the weak ensemble: the pair's target is the mixture's preference
(DESIGN §2.3 ``soft`` with β = 1 on the reward difference).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from trl import RewardConfig, RewardTrainer

from ..losses import masked_mean
from ..weighting import easy_mask
from .common import RavenTrainerMixin
from .model_card import write_raven_model_card
from .preference_args import PreferenceSupervisionArguments
from .preference_data import (
    GT_KEY,
    MARGINS_KEY,
    RavenRewardCollator,
    find_supervisors,
    prepare_supervision,
    signature_columns,
    supervised_preference_loss,
    wrap_collator,
)


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

    def __init__(self, model, args: RavenRewardConfig | None = None, train_dataset=None, **kwargs):
        if not isinstance(args, RavenRewardConfig):
            raise TypeError("RavenRewardTrainer needs a RavenRewardConfig")
        # Plain reward modelling needs no supervisors; anything else is validated before tokenising.
        plain = args.supervision == "gt" and not find_supervisors(list(train_dataset.column_names))
        sup = None if plain else prepare_supervision(train_dataset, args)
        self._raven_names = [] if plain else sup.names
        self._margin_scales = None if plain else sup.scales
        super().__init__(model, args=args, train_dataset=train_dataset, **kwargs)
        if plain:
            self._init_raven(["truth"], None, None)
        else:
            self.data_collator = wrap_collator(
                self.data_collator, RavenRewardCollator, sup.names, args.gt_column
            )
            self._init_raven(sup.names, sup.margins, "margins")

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        extra = signature_columns(self._raven_names, self.args.gt_column)
        self._signature_columns = list(dict.fromkeys([*self._signature_columns, *extra]))

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
        margins = (margins / self._margin_scales.to(margins.device)).to(h.dtype)
        per_pair, mixed = supervised_preference_loss(self, h, margins, gt, 1.0, self.args.raven_loss_type)
        loss = masked_mean(per_pair, self.raven_loss_mask(easy_mask(margins, "preference")))
        if self.args.center_rewards_coefficient is not None:
            loss = loss + self.args.center_rewards_coefficient * torch.mean(
                (rewards_chosen + rewards_rejected) ** 2
            )
        with torch.no_grad():
            gather = self.accelerator.gather_for_metrics
            self._metrics[mode]["mean_reward"].append(gather(outputs.logits).mean().item())
            self._metrics[mode]["accuracy"].append(gather((h > 0).float()).mean().item())
            self._metrics[mode]["margin"].append(gather(h).mean().item())
            self._metrics[mode]["raven/agreement"].append(
                gather((torch.sign(h) == torch.sign(mixed)).float()).mean().item()
            )
        return (loss, outputs) if return_outputs else loss

    def create_model_card(self, model_name=None, dataset_name=None, tags=None):
        model_name = (
            model_name or self.args.hub_model_id or os.path.basename(os.path.normpath(self.args.output_dir))
        )
        super().create_model_card(model_name=model_name, dataset_name=dataset_name, tags=tags)
        if self.is_world_process_zero() and self._raven_names:
            write_raven_model_card(self, dataset_name=dataset_name, loss_type=self.args.raven_loss_type)
