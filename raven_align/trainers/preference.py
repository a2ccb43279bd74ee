"""What the preference trainers (DPO, reward) share: validating the judgement columns, the collators that carry
the margins to the loss, and the per-pair loss of the configured supervision method.

The columns are those of :mod:`raven_align.columns`; "chosen" is only the presented first response there: with
weak supervision nobody knows which one is truly better, and the loss orients pairs by the mixture.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from trl.trainer.dpo_trainer import DataCollatorForPreference
from trl.trainer.reward_trainer import DataCollatorForPreference as RewardDataCollator

from ..columns import (
    EVAL_GT_KEY,
    GT_KEY,
    MARGINS_KEY,
    check_margins_informative,
    collate_margins,
    collate_truth,
    margins_from_dataset,
    preference_signature_columns,
    resolve_preference_supervisors,
    truth_values,
)
from ..core import PreferenceBatch, easy_mask, margin_scales
from ..core.label_model_checks import warn_trusted_constant
from ..labeling.persist import persist_dataset


def shared_on_disk(dataset, args):
    """``dataset`` backed by files every process can open, when several processes precompute reference log-probs.

    TRL caches precomputed reference log-probs next to the dataset's files; an in-memory dataset has none, so
    each process would look in its own temporary folder and rank 1 could not open the file rank 0 wrote. One
    process per machine saves the rows once under the cache directory (keyed by content, so reruns reuse it together
    with TRL's log-prob cache), and every process memory-maps that copy.
    """
    if dataset is None or args.world_size <= 1 or not args.precompute_ref_log_probs or dataset.cache_files:
        return dataset
    return persist_dataset(dataset)  # the first process of each machine writes it, the others then read it


def add_judgements(
    batch: dict[str, Any], examples: list[dict[str, Any]], names: list[str], gt_column: str | None
) -> dict[str, Any]:
    """Put ``raven_margins`` (B, K) and, with a ground-truth column, ``raven_gt`` (B,) into a batch; evaluation
    pairs that carry the truth for the evaluation metrics (:func:`eval_pairs`) also get ``raven_eval_gt`` (B,)."""
    batch[MARGINS_KEY] = collate_margins(examples, names)
    if gt_column is not None:
        batch[GT_KEY] = collate_truth(examples, gt_column)
    if examples and EVAL_GT_KEY in examples[0]:
        batch[EVAL_GT_KEY] = collate_truth(examples, EVAL_GT_KEY)
    return batch


def eval_pairs(dataset, names: list[str], args, truth_column: str | None):
    """An evaluation set (or a dict of them) checked like the training set before any tokenising: the judgement
    columns of every supervisor (and ``gt_column`` where the method reads it), so that the first evaluation does
    not fail mid-training. Where a set has ``truth_column`` (default: ``gt_column``, else ``gt_label``), its
    values are copied to ``raven_eval_gt``, which only evaluation batches carry: the evaluation metrics measure
    the policy and the mixture against it, and the loss never reads it."""
    if isinstance(dataset, dict):
        return {k: eval_pairs(v, names, args, truth_column) for k, v in dataset.items()}
    columns = getattr(dataset, "column_names", None)
    if columns is None:  # an iterable dataset: checked by the collator as it streams
        return dataset
    missing = [c for c in preference_signature_columns(names, args.gt_column) if c not in columns]
    if missing:
        raise ValueError(
            f"the evaluation dataset lacks the column(s) {missing} that the training pairs have: label it with the "
            "same supervisors (raven_align.label_dataset, or `raven-align label`) so that the evaluation loss and "
            "metrics are those of training"
        )
    truth_column = truth_column or args.gt_column or "gt_label"
    if truth_column in columns and EVAL_GT_KEY not in columns:
        dataset = dataset.add_column(EVAL_GT_KEY, truth_values(dataset[truth_column], truth_column))
    return dataset


@dataclass
class RavenPreferenceCollator(DataCollatorForPreference):
    """TRL's DPO collator plus the supervisors' margins (see :func:`add_judgements`)."""

    supervisor_names: list[str] = field(default_factory=list)
    gt_column: str | None = None

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        return add_judgements(super().torch_call(examples), examples, self.supervisor_names, self.gt_column)


@dataclass
class RavenRewardCollator(RewardDataCollator):
    """TRL's reward-model collator plus the supervisors' margins (see :func:`add_judgements`)."""

    supervisor_names: list[str] = field(default_factory=list)
    gt_column: str | None = None

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        return add_judgements(super().torch_call(examples), examples, self.supervisor_names, self.gt_column)


def wrap_collator(collator, cls, names: list[str], gt_column: str | None):
    """Rebuild TRL's default collator as our subclass with the same settings."""
    if isinstance(collator, cls):
        return collator
    if type(collator) is not cls.__mro__[1]:
        raise ValueError(f"a custom data_collator must be a {cls.__name__}")
    fields = {f.name: getattr(collator, f.name) for f in dataclasses.fields(collator)}
    return cls(**fields, supervisor_names=names, gt_column=gt_column)


@dataclass
class PreferenceSupervision:
    """What a preference trainer knows about its supervisors before training starts."""

    names: list[str]
    margins: torch.Tensor  # (N, K), already divided by ``scales``
    scales: torch.Tensor  # (K,) per-supervisor margin divisors
    easy: torch.Tensor  # (N,) all supervisors agree


def prepare_supervision(train_dataset, args) -> PreferenceSupervision:
    """Validate the judgement columns of ``train_dataset`` against ``args``; early, before any tokenising."""
    if train_dataset is None:
        raise ValueError("`train_dataset` is required")
    columns = list(train_dataset.column_names)
    names = resolve_preference_supervisors(columns, args.supervisor_names)
    args.validate_supervisors(names)
    if args.gt_column and args.gt_column not in columns:
        raise ValueError(f"gt_column {args.gt_column!r} is not a column of the training dataset")
    if args.gt_column:
        truth_values(train_dataset[args.gt_column], args.gt_column)  # refuse "yes"/"no" strings now
        if not args.method.needs_truth:
            warnings.warn(
                f"gt_column={args.gt_column!r} is read by supervision='gt' only: supervision="
                f"{args.supervision!r} trains without the truth (it is not used); drop gt_column, or pass "
                "supervision='gt' for the ceiling",
                stacklevel=3,
            )
    elif args.method.needs_truth:  # with judgement columns the presented order carries no truth
        raise ValueError(
            f"supervision={args.supervision!r} needs gt_column: these pairs have judgement columns, so their "
            "presented order carries no truth; pass gt_column=<a column true where the presented `chosen` is "
            "better> (e.g. gt_column='gt_label')"
        )
    margins = margins_from_dataset(train_dataset, names)
    silent = check_margins_informative(margins, names)
    if silent:
        warnings.warn(
            f"supervisor(s) {silent} give a margin of 0 on every pair: they prefer nothing and only dilute the "
            "mixture; check their labelling or leave them out (supervisor_names)",
            stacklevel=3,
        )
    scales = margin_scales(margins, args.margin_normalization)
    margins = (margins / scales).float()
    return PreferenceSupervision(names, margins, scales.float(), easy_mask(margins, "preference"))


def start_preference_supervision(trainer, sup: PreferenceSupervision, collator_cls, identities: dict) -> None:
    """What the DPO and reward trainers do after TRL's ``__init__``: carry the margins through their collator and
    set up the weights from the judgements (easy examples, kept columns, identities for the card)."""
    trainer.data_collator = wrap_collator(
        trainer.data_collator, collator_cls, sup.names, trainer.args.gt_column
    )
    trainer._init_raven(
        sup.names,
        sup.margins,
        "margins",
        train_easy=sup.easy,
        keep_columns=preference_signature_columns(sup.names, trainer.args.gt_column),
        supervisor_info=identities,
    )
    warn_trusted_constant(trainer.args, sup.names, sup.margins, "margins", trainer.raven_weights.initial)


def supervised_preference_loss(
    trainer,
    h: torch.Tensor,
    margins: torch.Tensor,
    gt: torch.Tensor | None,
    beta: float,
    variant: str,
    pair_loss=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pair loss of ``args.supervision`` for a strong margin ``h``; returns (loss, mixed margin).

    Shared by the DPO trainer (``h`` = policy log-ratio margin; ``pair_loss``: the batch's TRL pairwise loss, see
    :mod:`raven_align.core.pairwise`) and the reward trainer (``h`` = reward difference, β = 1). The method comes
    from the registry (:mod:`raven_align.core.methods`).
    """
    args = trainer.args
    mixed = trainer.raven_weights.mix_margins(margins)
    batch = PreferenceBatch(
        h=h,
        mixed=mixed,
        margins=margins,
        truth=gt,
        beta=beta,
        variant=variant,
        step=trainer.state.global_step,
        total_steps=trainer.state.max_steps,
        state=getattr(trainer, "raven_method_state", None),
        pair_loss=pair_loss,
    )
    return args.method.preference(batch, args), mixed
