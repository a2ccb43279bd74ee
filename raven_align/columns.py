"""The judgement-column contract: the one place that names, finds, validates and collates judgement columns.

Labelling writes, and every trainer, recipe and benchmark reads, these columns (see ``docs/columns.md``):

- preference: ``reward_chosen__<name>`` and ``reward_rejected__<name>`` (float), supervisor ``<name>``'s rewards
  of the *presented* ``chosen`` and ``rejected`` responses (the order carries no truth under weak supervision);
- classification: ``probs__<name>``, a list of C class probabilities per row.

Inside a batch the collators hand the loss ``raven_margins`` ``(B, K)``, ``raven_probs`` ``(B, K, C)``,
``raven_gt`` ``(B,)``, ``raven_eval_gt`` ``(B,)`` (evaluation batches only) and ``labels`` ``(B,)``. Torch only: no
transformers or TRL import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

REWARD_CHOSEN_PREFIX = "reward_chosen__"
REWARD_REJECTED_PREFIX = "reward_rejected__"
PROBS_PREFIX = "probs__"
JUDGEMENT_PREFIXES = (REWARD_CHOSEN_PREFIX, REWARD_REJECTED_PREFIX, PROBS_PREFIX)
#: Ground truth that weak supervisors must not see unless they ask for it by name.
TRUTH_COLUMNS = ("gt_label", "label", "labels")

# batch keys that the collators add and the losses pop
MARGINS_KEY = "raven_margins"
GT_KEY = "raven_gt"
#: the truth of evaluation pairs only (copied from their truth column by the DPO trainer; never in a training batch)
EVAL_GT_KEY = "raven_eval_gt"
PROBS_KEY = "raven_probs"
LABELS_KEY = "labels"


def reward_columns(name: str) -> tuple[str, str]:
    """The (chosen, rejected) reward column names of supervisor ``name``."""
    return f"{REWARD_CHOSEN_PREFIX}{name}", f"{REWARD_REJECTED_PREFIX}{name}"


def probs_column(name: str, prefix: str = PROBS_PREFIX) -> str:
    """The class-probability column name of supervisor ``name``."""
    return f"{prefix}{name}"


def find_preference_supervisors(column_names: Sequence[str]) -> list[str]:
    """Supervisor names that have both reward columns, in column order."""
    present = set(column_names)
    n = len(REWARD_CHOSEN_PREFIX)
    return [
        c[n:]
        for c in column_names
        if c.startswith(REWARD_CHOSEN_PREFIX) and f"{REWARD_REJECTED_PREFIX}{c[n:]}" in present
    ]


def unpaired_reward_columns(column_names: Sequence[str]) -> list[str]:
    """Reward columns whose counterpart is missing (``reward_chosen__b`` without ``reward_rejected__b``)."""
    present = set(column_names)
    out = []
    for c in column_names:
        for mine, other in (
            (REWARD_CHOSEN_PREFIX, REWARD_REJECTED_PREFIX),
            (REWARD_REJECTED_PREFIX, REWARD_CHOSEN_PREFIX),
        ):
            if c.startswith(mine) and f"{other}{c[len(mine) :]}" not in present:
                out.append(c)
    return out


def find_classification_supervisors(column_names: Sequence[str], prefix: str = PROBS_PREFIX) -> list[str]:
    """Supervisor names that have a judgement column ``<prefix><name>``, in column order."""
    return [c[len(prefix) :] for c in column_names if c.startswith(prefix) and len(c) > len(prefix)]


def choose_supervisors(
    found: list[str], requested: Sequence[str] | None, columns: str, how: str
) -> list[str]:
    """The supervisors to train with: ``requested`` (all must have judgement columns) or all ``found``.

    ``columns`` describes the expected column names and ``how`` how to make them, for the error messages.
    """
    if requested:
        missing = [n for n in requested if n not in found]
        if missing:
            raise ValueError(
                f"no judgement columns for supervisors {missing}: expected {columns}; the dataset has "
                f"supervisors {found} ({how})"
            )
        return list(requested)
    if not found:
        raise ValueError(f"the dataset has no supervisor judgement columns ({columns}); {how} first")
    return list(found)


def resolve_preference_supervisors(column_names: Sequence[str], requested: Sequence[str] | None) -> list[str]:
    """The preference supervisors to train with; a clear error when columns are missing or half there."""
    unpaired = unpaired_reward_columns(column_names)
    if unpaired:  # a supervisor silently dropped would change the mixture without a word
        raise ValueError(
            f"reward column(s) {unpaired} have no counterpart: every supervisor needs both "
            f"{REWARD_CHOSEN_PREFIX}<name> and {REWARD_REJECTED_PREFIX}<name>; add the missing column or "
            "remove these (dataset.remove_columns)"
        )
    return choose_supervisors(
        find_preference_supervisors(column_names),
        requested,
        f"{REWARD_CHOSEN_PREFIX}<name> and {REWARD_REJECTED_PREFIX}<name>",
        "label it with `raven-align label`",
    )


def resolve_classification_supervisors(
    column_names: Sequence[str], requested: Sequence[str] | None, prefix: str = PROBS_PREFIX
) -> list[str]:
    """The classification supervisors to train with; a clear error when columns are missing."""
    return choose_supervisors(
        find_classification_supervisors(column_names, prefix),
        list(requested) if requested else None,
        f"{prefix}<name>, a list of class probabilities per row",
        "label it with `raven-align label` or raven_align.labeling.label_dataset",
    )


def margins_from_dataset(dataset: Any, names: Sequence[str]) -> torch.Tensor:
    """The ``(N, K)`` float64 margin matrix ``r_k(chosen) - r_k(rejected)``, validated to be finite."""
    if len(dataset) == 0:
        raise ValueError("the training dataset is empty")
    cols = []
    for name in names:
        c, r = reward_columns(name)
        cols.append(_numbers(dataset, c) - _numbers(dataset, r))
    margins = torch.stack(cols, dim=1)
    bad = ~torch.isfinite(margins)
    if bool(bad.any()):
        rows, ks = torch.nonzero(bad, as_tuple=True)
        raise ValueError(
            f"non-finite supervisor rewards: supervisor {names[int(ks[0])]!r} at row {int(rows[0])} "
            f"({int(bad.sum())} values in all)"
        )
    return margins


def _numbers(dataset: Any, column: str) -> torch.Tensor:
    """A numeric judgement column as float64; an error naming the column, the value and the row for anything
    else (strings, missing values, lists)."""
    values = dataset[column]
    bad = next(((i, v) for i, v in enumerate(values) if not isinstance(v, int | float)), None)
    if bad is not None:
        i, v = bad
        raise ValueError(
            f"judgement column {column!r} must hold one number per row, got {type(v).__name__} values "
            f"({v!r} at row {i}): convert it, e.g. dataset.cast_column({column!r}, datasets.Value('float64'))"
            + (", or relabel the rows with missing judgements" if v is None else "")
        )
    return torch.tensor(values, dtype=torch.float64)


def check_margins_informative(margins: torch.Tensor, names: Sequence[str]) -> list[str]:
    """Raise when every margin is 0 (no supervisor prefers anything: nothing to learn, and the loss of a
    ``mask`` easy phase is 0); return the supervisors whose margins are all 0 (for a warning)."""
    zero = (margins == 0).all(dim=0)
    if bool(zero.all()):
        raise ValueError(
            f"every margin of every supervisor {list(names)} is 0: the judgement columns prefer nothing (are "
            "`chosen` and `rejected` the same, or were the rewards saved as zeros?); relabel the data"
        )
    return [n for n, z in zip(names, zero.tolist(), strict=True) if z]


def truth_values(values: Sequence[Any], column: str) -> list[bool]:
    """A truth column as booleans: ``bool`` or the numbers 0/1 only. Strings such as "yes"/"no" are refused
    (``bool("no")`` is True), as are missing values."""
    out = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or (isinstance(v, int | float) and v in (0, 1)):
            out.append(bool(v))
            continue
        raise ValueError(
            f"truth column {column!r} must hold booleans or 0/1 (1: the presented `chosen` is truly better), "
            f"got {v!r} at row {i}; map it first, e.g. dataset.map(lambda x: {{{column!r}: x[{column!r}] == 'yes'}})"
        )
    return out


def class_labels(values: Sequence[Any], column: str, num_classes: int) -> torch.Tensor:
    """A class-label column as ``(N,)`` int64: whole numbers in ``[0, num_classes)`` only; an error naming the
    column, the value and the row for anything else (strings such as "positive", ``3`` of 3 classes, ``1.5``,
    missing values)."""
    for i, v in enumerate(values):
        if (
            not isinstance(v, bool)
            and isinstance(v, int | float)
            and float(v).is_integer()
            and 0 <= v < num_classes
        ):
            continue
        fix = (
            f"map the names to class ids first, e.g. dataset.class_encode_column({column!r})"
            if isinstance(v, str)
            else f"class ids are 0..{num_classes - 1} here: check the data or the number of classes"
        )
        raise ValueError(
            f"label column {column!r} must hold class ids 0..{num_classes - 1} ({num_classes} classes, as the "
            f"judgements have), got {v!r} at row {i}: {fix}"
        )
    return torch.tensor([int(v) for v in values], dtype=torch.long)


def probs_from_dataset(dataset: Any, names: Sequence[str], prefix: str = PROBS_PREFIX) -> torch.Tensor:
    """The ``(N, K, C)`` float64 judgement tensor, validated: same C everywhere, finite, rows on the simplex."""
    if len(dataset) == 0:
        raise ValueError("the training dataset is empty")
    per_sup = []
    for name in names:
        column = probs_column(name, prefix)
        values = dataset[column]
        try:
            per_sup.append(torch.tensor(values, dtype=torch.float64))
        except (ValueError, TypeError) as e:  # ragged lists, strings, missing values
            bad = next(
                (
                    (i, v)
                    for i, v in enumerate(values)
                    if not isinstance(v, list | tuple) or not all(isinstance(x, int | float) for x in v)
                ),
                None,
            )
            found = "" if bad is None else f"; got {bad[1]!r} at row {bad[0]}"
            raise ValueError(
                f"judgement column {column!r} must hold one list of C class probabilities (numbers) per row, the "
                f"same C in every row{found}: relabel it, or convert it, e.g. dataset.cast_column({column!r}, "
                "datasets.Sequence(datasets.Value('float64')))"
            ) from e
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
            f"supervisor {names[int(ks[0])]!r} gives a row that is not class probabilities at row "
            f"{int(rows[0])} ({int(bad.sum())} rows in all)"
        )
    return probs


def preference_signature_columns(names: Sequence[str], gt_column: str | None) -> list[str]:
    """The columns a preference trainer must keep through ``remove_unused_columns``."""
    cols = [c for n in names for c in reward_columns(n)]
    return cols + ([gt_column] if gt_column else [])


def classification_signature_columns(names: Sequence[str], prefix: str, label_column: str) -> list[str]:
    """The columns a classification trainer must keep through ``remove_unused_columns``."""
    return [probs_column(n, prefix) for n in names] + [label_column]


def collate_margins(examples: Sequence[dict[str, Any]], names: Sequence[str]) -> torch.Tensor:
    """``(B, K)`` float32 margins of a list of examples."""
    margins = [[float(ex[c]) - float(ex[r]) for c, r in map(reward_columns, names)] for ex in examples]
    return torch.tensor(margins, dtype=torch.float32)


def collate_truth(examples: Sequence[dict[str, Any]], gt_column: str) -> torch.Tensor:
    """``(B,)`` booleans: whether the presented ``chosen`` is truly better."""
    return torch.tensor(truth_values([ex[gt_column] for ex in examples], gt_column))


def pop_classification_judgements(
    examples: list[dict[str, Any]], names: Sequence[str], prefix: str, label_column: str
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Remove judgement and label columns from ``examples`` (in place); return ``(probs (B, K, C), labels (B,))``.

    Judgements of supervisors not in ``names`` are removed too: no judgement may reach a model's forward.
    """
    columns = [probs_column(n, prefix) for n in names]
    has_probs = bool(examples) and all(c in examples[0] for c in columns)
    probs = [[ex.pop(c) for c in columns] for ex in examples] if has_probs else None
    for ex in examples:
        for c in [c for c in ex if c.startswith(prefix)]:
            ex.pop(c)
    has_labels = bool(examples) and label_column in examples[0]
    labels = [ex.pop(label_column) for ex in examples] if has_labels else None
    return (
        None if probs is None else torch.tensor(probs, dtype=torch.float32),
        None if labels is None else torch.as_tensor(labels, dtype=torch.long),
    )
