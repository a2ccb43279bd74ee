"""Supervisor judgement columns of classification data, and the collator that carries them to the loss.

Labelling (``raven_align.labeling``) stores supervisor ``<name>``'s class probabilities as a list of C
floats in the column ``probs__<name>``. The collator takes them (and the label) out of each example
before the base collator sees it, so any text, image or feature collator works unchanged, and hands them
to the loss as ``raven_probs`` ``(B, K, C)`` and ``labels`` ``(B,)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from .common import choose_supervisors

PROBS_PREFIX = "probs__"
PROBS_KEY = "raven_probs"
LABELS_KEY = "labels"


def find_supervisors(column_names: Sequence[str], prefix: str = PROBS_PREFIX) -> list[str]:
    """Supervisor names that have a judgement column ``<prefix><name>``, in column order."""
    return [c[len(prefix) :] for c in column_names if c.startswith(prefix) and len(c) > len(prefix)]


def resolve_supervisors(
    column_names: Sequence[str], requested: Sequence[str] | None, prefix: str = PROBS_PREFIX
) -> list[str]:
    """The supervisors to train with; a clear error when columns are missing."""
    return choose_supervisors(
        find_supervisors(column_names, prefix),
        list(requested) if requested else None,
        f"{prefix}<name>, a list of class probabilities per row",
        "label it with raven_align.labeling.label_dataset",
    )


def probs_from_dataset(dataset: Any, names: Sequence[str], prefix: str = PROBS_PREFIX) -> torch.Tensor:
    """The ``(N, K, C)`` float64 judgement tensor, validated: same C everywhere, finite, rows on the simplex."""
    if len(dataset) == 0:
        raise ValueError("the training dataset is empty")
    per_sup = []
    for name in names:
        values = dataset[f"{prefix}{name}"]
        try:
            per_sup.append(torch.tensor(values, dtype=torch.float64))
        except (ValueError, TypeError) as e:  # ragged lists
            raise ValueError(f"{prefix}{name} must hold one list of C class probabilities per row") from e
    shapes = {tuple(p.shape) for p in per_sup}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2 or next(iter(shapes))[1] < 2:
        raise ValueError(
            f"every judgement column must be (N, C) with the same C >= 2, got shapes {sorted(shapes)}"
        )
    probs = torch.stack(per_sup, dim=1)
    bad = ~torch.isfinite(probs).all(-1) | (probs < -1e-6).any(-1) | ((probs.sum(-1) - 1).abs() > 1e-4)
    if bool(bad.any()):
        rows, ks = torch.nonzero(bad, as_tuple=True)
        raise ValueError(
            f"supervisor {names[int(ks[0])]!r} gives a row that is not class probabilities at row {int(rows[0])} "
            f"({int(bad.sum())} rows in all)"
        )
    return probs


class RavenClassificationCollator:
    """Wraps a base collator: pops ``<prefix><name>`` and the label column from every example, collates
    the rest with ``base``, and adds ``raven_probs`` ``(B, K, C)`` and ``labels`` ``(B,)`` when present."""

    def __init__(
        self,
        base: Callable[[list[dict[str, Any]]], dict[str, Any]],
        supervisor_names: Sequence[str],
        prefix: str = PROBS_PREFIX,
        label_column: str = "label",
    ) -> None:
        self.base = base
        self.prefix = prefix
        self.columns = [f"{prefix}{n}" for n in supervisor_names]
        self.label_column = label_column

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        examples = [dict(ex) for ex in examples]
        has_probs = all(c in examples[0] for c in self.columns)
        probs = [[ex.pop(c) for c in self.columns] for ex in examples] if has_probs else None
        for ex in examples:  # judgements of supervisors we do not train with must not reach the model either
            for c in [c for c in ex if c.startswith(self.prefix)]:
                ex.pop(c)
        labels = [ex.pop(self.label_column) for ex in examples] if self.label_column in examples[0] else None
        batch = dict(self.base(examples))
        if probs is not None:
            batch[PROBS_KEY] = torch.tensor(probs, dtype=torch.float32)
        if labels is not None:
            batch[LABELS_KEY] = torch.as_tensor(labels, dtype=torch.long)
        return batch
