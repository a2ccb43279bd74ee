"""Measures of weak-to-strong training (see docs/method.md): accuracy, PGR, weight–accuracy rank correlation, and
intervals: over items (bootstrap), over seeds (Student t) and over both (a two-level bootstrap).

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


#: The smallest ``ceiling − weak`` gap (in the measure's units; for accuracies, 5 points) over which PGR is reported.
#: PGR divides by that gap: below it a seed-to-seed spread of ±0.025 in the strong models' accuracies (the DPO
#: and reward benchmarks here) moves the ratio by ±0.5 or more, so the ratio would be noise (docs/method.md §8).
MIN_PGR_GAP = 0.05


def pgr(method: float, weak: float, ceiling: float, min_gap: float = MIN_PGR_GAP) -> float:
    """Performance gap recovered: ``(method - weak) / (ceiling - weak)``; NaN when the gap ``ceiling - weak`` is
    below ``min_gap`` (a gap below noise, or none: a ceiling at or under the weak reference)."""
    gap = ceiling - weak
    if not gap >= max(min_gap, 1e-12):  # NaN gaps too
        return math.nan
    return float((method - weak) / gap)


def pgr_over_seeds(method, weak, ceiling, min_gap: float = MIN_PGR_GAP) -> dict:
    """PGR per seed (``method[i]``, ``weak[i]``, ``ceiling[i]`` of seed ``i``) and its mean with a 95% t-interval
    over seeds, unless the gap is below noise: some seed's ``ceiling − weak`` is under ``min_gap``, or the gap's
    t-interval over seeds reaches 0. Returns ``{"pgr": seed_interval(...) or None, "gap": seed_interval(gaps),
    "below_noise": bool}``."""
    m, w, c = (np.asarray(x, dtype=np.float64) for x in (method, weak, ceiling))
    if not m.shape == w.shape == c.shape or m.ndim != 1 or m.size == 0:
        raise ValueError(f"expected three equal non-empty vectors, got {m.shape}, {w.shape} and {c.shape}")
    gap = seed_interval(c - w)
    below = bool((c - w).min() < min_gap or (gap["n"] > 1 and not gap["low"] > 0))
    per_seed = None if below else seed_interval([pgr(*x, min_gap=min_gap) for x in zip(m, w, c, strict=True)])
    return {"pgr": per_seed, "gap": gap, "below_noise": below}


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


#: two-sided 95% Student t quantiles t(0.975, df) for df = 1..9 (beyond, :func:`t_quantile_975` expands)
_T975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622)
_Z975 = 1.959963984540054


def t_quantile_975(df: int) -> float:
    """Student's t quantile t(0.975, df) (a two-sided 95% interval): the table for df < 10, the Cornish–Fisher
    expansion around the normal quantile beyond (error under 2e-4)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    return float(
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


def seed_interval(values: Sequence[float]) -> dict[str, float]:
    """Mean over runs (seeds) with the sample standard deviation and a 95% t-interval of the mean,
    ``mean ± t(0.975, n − 1) · sd / √n`` (``nan`` bounds for one run): the seed is the unit, so the interval
    carries the seed-to-seed spread."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("an interval over no runs is undefined")
    mean, sd = float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0
    half = t_quantile_975(v.size - 1) * sd / np.sqrt(v.size) if v.size > 1 else float("nan")
    return {"mean": mean, "std": sd, "low": mean - half, "high": mean + half, "n": int(v.size)}


def two_level_bootstrap(
    groups: Sequence, num_samples: int = 2000, level: float = 0.95, seed: int = 0
) -> dict[str, float]:
    """Percentile bootstrap of the mean over seeds of per-seed item means, resampling at both levels: the seeds
    (with replacement), then the items within each drawn seed (with replacement). ``groups[i]`` holds seed
    ``i``'s per-item values (paired data as per-item differences, so the pairs stay together). The estimate
    weighs every seed equally. With few seeds the first level sees few distinct draws (3 seeds: 10), so the
    interval is narrower than the seeds' t-interval: read it beside :func:`seed_interval`, not instead."""
    arrays = [np.asarray(g, dtype=np.float64).ravel() for g in groups]
    if not arrays or any(a.size == 0 for a in arrays):
        raise ValueError("a two-level bootstrap needs at least one seed and at least one item in every seed")
    rng = np.random.default_rng(seed)
    k = len(arrays)
    stats = np.empty(num_samples)
    for b in range(num_samples):
        drawn = rng.integers(0, k, size=k)
        stats[b] = np.mean(
            [arrays[j][rng.integers(0, arrays[j].size, size=arrays[j].size)].mean() for j in drawn]
        )
    alpha = (1 - level) / 2
    return {
        "mean": float(np.mean([a.mean() for a in arrays])),
        "low": float(np.quantile(stats, alpha)),
        "high": float(np.quantile(stats, 1 - alpha)),
        "n": k,
    }


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
