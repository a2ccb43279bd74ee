"""Measures of weak-to-strong training (see docs/method.md): accuracy, PGR, weight–accuracy rank correlation.

Inputs may be torch tensors, numpy arrays or lists; outputs are plain floats.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def accuracy(predictions, labels) -> float:
    """Share of examples whose prediction equals the label. ``predictions`` may be class scores
    ``(N, C)`` (argmax is taken) or class indices ``(N,)``."""
    pred, lab = _np(predictions), _np(labels)
    if pred.ndim == 2:
        pred = pred.argmax(-1)
    if pred.shape != lab.shape:
        raise ValueError(f"predictions {pred.shape} and labels {lab.shape} do not match")
    if lab.size == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return float((pred == lab).mean())


def preference_accuracy(margins, a_preferred=None) -> float:
    """Share of pairs where the margin ``score(y_a) - score(y_b)`` points to the truly preferred side.

    Without ``a_preferred`` the pairs are taken as (true chosen, true rejected), TRL's convention.
    A tie (margin 0) counts as half right, so a constant scorer gets exactly 0.5.
    """
    m = _np(margins).astype(np.float64)
    if m.ndim != 1 or m.size == 0:
        raise ValueError(f"margins must be a non-empty vector, got shape {m.shape}")
    truth = np.ones_like(m, dtype=bool) if a_preferred is None else _np(a_preferred).astype(bool)
    if truth.shape != m.shape:
        raise ValueError(f"a_preferred {truth.shape} does not match margins {m.shape}")
    signed = np.where(truth, m, -m)
    return float(((signed > 0) + 0.5 * (signed == 0)).mean())


def pgr(method: float, weak: float, ceiling: float) -> float:
    """Performance gap recovered: ``(method - weak) / (ceiling - weak)``; NaN when the gap is ~0."""
    gap = ceiling - weak
    if abs(gap) < 1e-12:
        return math.nan
    return float((method - weak) / gap)


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean of their positions), 1-based."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    sorted_x = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sorted_x[j + 1] == sorted_x[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def rank_correlation(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman rank correlation (with ties averaged); NaN when either side is constant."""
    x, y = _np(a).astype(np.float64), _np(b).astype(np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"expected two vectors of the same length, got {x.shape} and {y.shape}")
    if len(x) < 2:
        return math.nan
    rx, ry = _ranks(x), _ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = math.sqrt(float((rx**2).sum() * (ry**2).sum()))
    return math.nan if denom == 0 else float((rx * ry).sum() / denom)


def weight_accuracy_correlation(weights: Sequence[float], accuracies: Sequence[float]) -> float:
    """Rank correlation between learned weights and the supervisors' (hidden) accuracies."""
    return rank_correlation(weights, accuracies)


def agreement(strong, mixture) -> float:
    """Share of examples where the strong model and the mixture pick the same answer.

    Both may be class scores ``(N, C)`` or preference margins ``(N,)`` (compared by sign).
    """
    s, m = _np(strong), _np(mixture)
    if s.shape != m.shape:
        raise ValueError(f"strong {s.shape} and mixture {m.shape} do not match")
    if s.ndim == 2:
        return float((s.argmax(-1) == m.argmax(-1)).mean())
    return float((np.sign(s) == np.sign(m)).mean())


def bootstrap_interval(
    values, statistic=np.mean, num_samples: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over the rows of ``values`` (resampled with replacement,
    seeded). Pass paired data as one array of per-item differences or indicators, so the pairs stay together."""
    v = _np(values).astype(np.float64)
    if v.shape[0] == 0:
        raise ValueError("a bootstrap interval of an empty sample is undefined")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.shape[0], size=(num_samples, v.shape[0]))
    stats = np.array([statistic(v[i]) for i in idx])
    alpha = (1 - level) / 2
    return float(np.quantile(stats, alpha)), float(np.quantile(stats, 1 - alpha))


def with_interval(values, statistic=np.mean, **kwargs) -> dict[str, float]:
    """``{"mean": statistic(values), "low": ..., "high": ...}`` with a bootstrap 95% interval."""
    low, high = bootstrap_interval(values, statistic, **kwargs)
    return {"mean": float(statistic(_np(values).astype(np.float64))), "low": low, "high": high}


#: two-sided 95% Student t quantiles t(0.975, n − 1) by the number of values n (seeds are few)
_T975 = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776, 6: 2.571, 7: 2.447, 8: 2.365, 9: 2.306, 10: 2.262}


def seed_interval(values: Sequence[float]) -> dict[str, float]:
    """Mean over runs (seeds) with the sample standard deviation and a 95% t-interval of the mean
    (``nan`` bounds for one run; the normal quantile beyond 10 runs)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("an interval over no runs is undefined")
    mean, sd = float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0
    half = _T975.get(v.size, 1.96) * sd / np.sqrt(v.size) if v.size > 1 else float("nan")
    return {"mean": mean, "std": sd, "low": mean - half, "high": mean + half, "n": int(v.size)}


def win_indicators(a, b) -> np.ndarray:
    """Per-item wins of ``a`` over ``b`` (1, ties 0.5, 0): their mean is ``a``'s win rate against ``b``."""
    a, b = _np(a).astype(np.float64), _np(b).astype(np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired scores must have the same shape, got {a.shape} and {b.shape}")
    return (a > b) + 0.5 * (a == b)


def preference_hits(margins, a_preferred=None) -> np.ndarray:
    """Per-pair correctness of ``margins`` (1, ties 0.5, 0): their mean is :func:`preference_accuracy`."""
    m = _np(margins).astype(np.float64)
    truth = np.ones_like(m, dtype=bool) if a_preferred is None else _np(a_preferred).astype(bool)
    signed = np.where(truth, m, -m)
    return (signed > 0) + 0.5 * (signed == 0)
