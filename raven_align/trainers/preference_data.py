"""Supervisor judgement columns of preference data, and the collator that carries them to the loss.

Labelling (``raven_align.labeling``) stores, for each supervisor ``<name>``, its reward for the
presented responses in ``reward_chosen__<name>`` and ``reward_rejected__<name>``. "chosen" is only the
presented first response here: with weak supervision nobody knows which one is truly better, and the
trainer orients pairs by the mixture.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch
from trl.trainer.dpo_trainer import DataCollatorForPreference
from trl.trainer.reward_trainer import DataCollatorForPreference as RewardDataCollator

from ..losses import (
    adaptive_confidence_loss,
    conf_alpha,
    confidence_loss,
    evidential_loss,
    margins_as_probs,
    preference_as_classification,
    preference_loss,
)
from ..weighting import easy_mask, margin_scales
from .common import choose_supervisors

CHOSEN_PREFIX = "reward_chosen__"
REJECTED_PREFIX = "reward_rejected__"
MARGINS_KEY = "raven_margins"
GT_KEY = "raven_gt"


def supervisor_columns(name: str) -> tuple[str, str]:
    return f"{CHOSEN_PREFIX}{name}", f"{REJECTED_PREFIX}{name}"


def find_supervisors(column_names: list[str]) -> list[str]:
    """Supervisor names that have both judgement columns, in column order."""
    present = set(column_names)
    return [
        c[len(CHOSEN_PREFIX) :]
        for c in column_names
        if c.startswith(CHOSEN_PREFIX) and f"{REJECTED_PREFIX}{c[len(CHOSEN_PREFIX) :]}" in present
    ]


def resolve_supervisors(column_names: list[str], requested: list[str] | None) -> list[str]:
    """The supervisors to train with; a clear error when columns are missing."""
    return choose_supervisors(
        find_supervisors(column_names),
        requested,
        f"{CHOSEN_PREFIX}<name> and {REJECTED_PREFIX}<name>",
        "label it with `raven-align label`",
    )


def margins_from_dataset(dataset, names: list[str]) -> torch.Tensor:
    """The (N, K) margin matrix ``r_k(chosen) - r_k(rejected)``, validated to be finite."""
    if len(dataset) == 0:
        raise ValueError("the training dataset is empty")
    cols = []
    for name in names:
        c, r = supervisor_columns(name)
        cols.append(
            torch.tensor(dataset[c], dtype=torch.float64) - torch.tensor(dataset[r], dtype=torch.float64)
        )
    margins = torch.stack(cols, dim=1)
    bad = ~torch.isfinite(margins)
    if bool(bad.any()):
        rows, ks = torch.nonzero(bad, as_tuple=True)
        raise ValueError(
            f"non-finite supervisor rewards: supervisor {names[int(ks[0])]!r} at row {int(rows[0])} "
            f"({int(bad.sum())} values in all)"
        )
    return margins


def add_judgements(
    batch: dict[str, Any], examples: list[dict[str, Any]], names: list[str], gt_column: str | None
) -> dict[str, Any]:
    """Put ``raven_margins`` (B, K) and, with a ground-truth column, ``raven_gt`` (B,) into a batch."""
    margins = [[float(ex[c]) - float(ex[r]) for c, r in map(supervisor_columns, names)] for ex in examples]
    batch[MARGINS_KEY] = torch.tensor(margins, dtype=torch.float32)
    if gt_column is not None:
        batch[GT_KEY] = torch.tensor([bool(ex[gt_column]) for ex in examples])
    return batch


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


def signature_columns(names: list[str], gt_column: str | None) -> list[str]:
    cols = [c for n in names for c in supervisor_columns(n)]
    return cols + ([gt_column] if gt_column else [])


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
    names = resolve_supervisors(columns, args.supervisor_names)
    if args.gt_column and args.gt_column not in columns:
        raise ValueError(f"gt_column {args.gt_column!r} is not a column of the training dataset")
    margins = margins_from_dataset(train_dataset, names)
    scales = margin_scales(margins, args.margin_normalization)
    margins = (margins / scales).float()
    return PreferenceSupervision(names, margins, scales.float(), easy_mask(margins, "preference"))


def supervised_preference_loss(
    trainer, h: torch.Tensor, margins: torch.Tensor, gt: torch.Tensor | None, beta: float, variant: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pair loss of ``args.supervision`` for a strong margin ``h``; returns (loss, mixed margin).

    Shared by the DPO trainer (``h`` = policy log-ratio margin) and the reward trainer (``h`` = reward
    difference, β = 1).
    """
    args = trainer.args
    mixed = trainer.raven_weights.mix_margins(margins)
    method = args.supervision
    if method == "gt":
        truth = torch.ones_like(h, dtype=torch.bool) if gt is None else gt.to(h.device)
        certain = torch.where(truth, torch.inf, -torch.inf).to(h.dtype)
        return preference_loss(h, certain, "soft", beta), mixed
    if method in ("conf", "vsup", "bayes"):
        logits = preference_as_classification(h, beta)
        target = margins_as_probs(mixed.detach()[:, None])[:, 0]
        if method == "conf":
            step, total = trainer.state.global_step, trainer.state.max_steps
            return confidence_loss(
                logits, target, conf_alpha(step, total, args.conf_alpha_max, args.conf_warmup_fraction)
            ), mixed
        if method == "vsup":
            return adaptive_confidence_loss(logits, target), mixed
        return evidential_loss(logits, margins_as_probs(margins), args.bayes_kl_weight), mixed
    return preference_loss(h, mixed, variant, beta, args.weight_objective), mixed
