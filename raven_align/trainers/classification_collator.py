"""The collator that carries classification judgements to the loss.

It takes the judgement columns ``probs__<name>`` and the label out of each example before the base collator
sees it, so any text, image or feature collator works unchanged, and hands them to the loss as
``raven_probs`` ``(B, K, C)`` and ``labels`` ``(B,)`` (see :mod:`raven_align.columns`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..columns import LABELS_KEY, PROBS_KEY, PROBS_PREFIX, pop_classification_judgements


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
        self.names = list(supervisor_names)
        self.prefix = prefix
        self.label_column = label_column

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        examples = [dict(ex) for ex in examples]
        probs, labels = pop_classification_judgements(examples, self.names, self.prefix, self.label_column)
        batch = dict(self.base(examples))
        if probs is not None:
            batch[PROBS_KEY] = probs
        if labels is not None:
            batch[LABELS_KEY] = labels
        return batch
