"""RavenRewardTrainer: TRL's RewardTrainer, trained from the truth or from a learned mixture of supervisors.

With ground-truth pairs (``supervision="gt"``) it is TRL's Bradley–Terry reward modelling, unchanged:
this is how the weak reward models of a source domain are made. ``gt_column`` is honoured there too: the pairs
(and evaluation pairs that have the column) are put in truth order before TRL sees them, and a ``gt_label``
column that contradicts the presented order without ``gt_column`` is refused. With supervisor judgement columns it
trains a strong reward model from the weak ensemble: the pair's target is the mixture's preference
(the ``soft`` preference loss with β = 1 on the reward difference; see ``docs/method.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from trl import RewardConfig, RewardTrainer

from ..columns import (
    GT_KEY,
    JUDGEMENT_PREFIXES,
    MARGINS_KEY,
    preference_signature_columns,
    truth_values,
)
from ..core import easy_mask
from ..core.losses import masked_mean
from ..embedded.pairs import swap_sides
from .config_checks import check_training_options
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
        check_training_options(self)


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
        # any judgement column, even half a supervisor's, goes through the checks (it is never dropped silently)
        plain = args.supervision == "gt" and not any(
            c.startswith(JUDGEMENT_PREFIXES) for c in train_dataset.column_names
        )
        if plain and args.gt_confidence != 1.0:
            raise ValueError(
                f"gt_confidence={args.gt_confidence}: plain reward modelling (supervision='gt' without judgement "
                "columns) is TRL's Bradley-Terry loss, which has no label smoothing; leave gt_confidence at 1"
            )
        if plain:  # TRL's loss takes `chosen` as the better response: put the pairs in truth order first
            train_dataset = truth_ordered(train_dataset, args.gt_column, "the training dataset")
            if kwargs.get("eval_dataset") is not None:
                kwargs["eval_dataset"] = _ordered_eval(kwargs["eval_dataset"], args.gt_column)
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


def truth_ordered(dataset, gt_column: str | None, what: str):
    """``dataset`` with the truly better response as ``chosen`` in every pair, by ``gt_column`` (true where the
    presented ``chosen`` is better): the other pairs have their sides swapped, with every paired column
    (``chosen*``/``rejected*``), a TRL ``margin`` negated, and ``gt_column`` then true everywhere.

    Without ``gt_column`` the presented order is taken as the truth (TRL's convention), unless a ``gt_label``
    column says otherwise on some pair: that is refused, naming the column and the option.
    """
    if gt_column is None:
        if "gt_label" in dataset.column_names:
            worse = [i for i, t in enumerate(truth_values(dataset["gt_label"], "gt_label")) if not t]
            if worse:
                raise ValueError(
                    f"{what} has a gt_label column that says the presented `chosen` is the worse response at "
                    f"row(s) {worse[:5]} ({len(worse)} of {len(dataset)}), but supervision='gt' without gt_column "
                    "takes `chosen` as the better one (TRL's convention): pass gt_column='gt_label' "
                    "(--gt_column gt_label) to train on the truth, or drop the column if `chosen` is better"
                )
        return dataset
    if gt_column not in dataset.column_names:
        raise ValueError(f"gt_column {gt_column!r} is not a column of {what} (it has {dataset.column_names})")
    swap = [not t for t in truth_values(dataset[gt_column], gt_column)]
    return swap_sides(dataset, swap, truth_column=gt_column) if any(swap) else dataset


def _ordered_eval(eval_dataset, gt_column: str | None):
    """Evaluation pairs in truth order where they carry ``gt_column`` (others keep TRL's convention)."""
    if isinstance(eval_dataset, dict):
        return {k: _ordered_eval(v, gt_column) for k, v in eval_dataset.items()}
    if gt_column is not None and gt_column not in eval_dataset.column_names:
        return eval_dataset
    return truth_ordered(eval_dataset, gt_column, "the evaluation dataset")
