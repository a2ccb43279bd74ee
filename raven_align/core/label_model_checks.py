"""Checks of a label model's weights against the judgements it was fitted on: a supervisor whose vote never changes
tells nothing about the truth, so a label model that trusts it is warned about (docs/label_model.md)."""

from __future__ import annotations

import warnings

import torch


def constant_voters(judgements: torch.Tensor, kind: str) -> torch.Tensor:
    """``(K,)`` whether each supervisor votes the same on every example: the same sign of its margin on every
    pair (it always prefers one side as presented, and never abstains), or the same argmax class on every row."""
    if kind == "margins":
        d = judgements.double()
        return (d > 0).all(0) | (d < 0).all(0)
    top = judgements.argmax(-1)
    return (top == top[:1]).all(0)


def warn_trusted_constant(
    args, names: list[str], judgements: torch.Tensor, kind: str, weights: torch.Tensor, threshold: float = 0.2
) -> list[str]:
    """When the run's weights ``weights`` come from a label model (``args``: the `label_model` method, or
    ``weight_init="label_model"``), warn once, naming them, if they give more than ``threshold`` to supervisors
    whose votes are constant (:func:`constant_voters`): such a vote tells nothing about the truth, however the EM
    or the triplet estimate reads the agreements (with few supervisors, or soft/presented estimates, it can).
    Returns the names warned about."""
    method = args.method.weights
    from_lm = method == "label_model" or (method == "learned" and args.weight_init == "label_model")
    if not from_lm or judgements is None or len(judgements) < 2:
        return []
    constant = constant_voters(judgements, kind).tolist()
    trusted = [
        (n, float(w))
        for n, w, c in zip(names, weights.tolist(), constant, strict=True)
        if c and w > threshold
    ]
    if trusted:
        what = "prefers the same side of every pair as presented" if kind == "margins" else "votes one class"
        warnings.warn(
            f"the label model gives {', '.join(f'{n!r} weight {w:.2f}' for n, w in trusted)}, although each "
            f"{what} on every example: its votes tell nothing about the truth. Leave it out (supervisor_names), "
            "or use another label_model estimator or more supervisors (the label model needs at least three "
            "informative ones)",
            stacklevel=3,
        )
    return [n for n, _ in trusted]
