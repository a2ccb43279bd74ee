"""Supervisor judgement columns of preference data, and the collator that carries them to the loss.

Labelling (``raven_align.labeling``) stores, for each supervisor ``<name>``, its reward for the
presented responses in ``reward_chosen__<name>`` and ``reward_rejected__<name>``. "chosen" is only the
presented first response here: with weak supervision nobody knows which one is truly better, and the
trainer orients pairs by the mixture.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from trl.trainer.dpo_trainer import DataCollatorForPreference

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
    found = find_supervisors(column_names)
    if requested:
        missing = [n for n in requested if n not in found]
        if missing:
            raise ValueError(
                f"no judgement columns for supervisors {missing}: expected {CHOSEN_PREFIX}<name> and "
                f"{REJECTED_PREFIX}<name>; the dataset has supervisors {found} (label it with `raven-align label`)"
            )
        return list(requested)
    if not found:
        raise ValueError(
            f"the dataset has no supervisor judgement columns ({CHOSEN_PREFIX}<name> / {REJECTED_PREFIX}<name>); "
            "label it first with `raven-align label`"
        )
    return found


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


@dataclass
class RavenPreferenceCollator(DataCollatorForPreference):
    """TRL's preference collator plus ``raven_margins`` (B, K) and, optionally, ``raven_gt`` (B,)."""

    supervisor_names: list[str] = field(default_factory=list)
    gt_column: str | None = None

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        out = super().torch_call(examples)
        margins = [
            [float(ex[c]) - float(ex[r]) for c, r in map(supervisor_columns, self.supervisor_names)]
            for ex in examples
        ]
        out[MARGINS_KEY] = torch.tensor(margins, dtype=torch.float32)
        if self.gt_column is not None:
            out[GT_KEY] = torch.tensor([bool(ex[self.gt_column]) for ex in examples])
        return out


def signature_columns(names: list[str], gt_column: str | None) -> list[str]:
    cols = [c for n in names for c in supervisor_columns(n)]
    return cols + ([gt_column] if gt_column else [])
