"""Measures against hand-computed values."""

import math

import numpy as np
import pytest
import torch

from raven_align.core.measures import (
    accuracy,
    agreement,
    pgr,
    preference_accuracy,
    rank_correlation,
    weight_accuracy_correlation,
)
from raven_align.evaluation.reporting import markdown_table, plot_weight_history


def test_accuracy_from_scores_or_indices():
    assert accuracy(torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]), [1, 1, 1]) == pytest.approx(2 / 3)
    assert accuracy(np.array([0, 2, 1]), np.array([0, 2, 2])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="empty"):
        accuracy([], [])


def test_preference_accuracy_counts_ties_as_half():
    assert preference_accuracy([1.0, -2.0, 0.0, 3.0]) == pytest.approx(2.5 / 4)
    # with an explicit orientation: pair 2 has y_b truly preferred, so a negative margin is right
    assert preference_accuracy([1.0, -2.0], a_preferred=[True, False]) == 1.0
    assert preference_accuracy(np.zeros(7)) == 0.5


def test_pgr():
    assert pgr(0.8, weak=0.6, ceiling=1.0) == pytest.approx(0.5)
    assert pgr(0.5, weak=0.6, ceiling=1.0) == pytest.approx(-0.25)
    assert math.isnan(pgr(0.7, weak=0.7, ceiling=0.7))


def test_rank_correlation():
    assert rank_correlation([0.1, 0.5, 0.4], [0.6, 0.9, 0.8]) == pytest.approx(1.0)
    assert rank_correlation([3, 2, 1], [1, 2, 3]) == pytest.approx(-1.0)
    # ties: ranks (1.5, 1.5, 3) vs (1, 2, 3) → Pearson of centred ranks = 0.866...
    assert rank_correlation([1, 1, 2], [1, 2, 3]) == pytest.approx(math.sqrt(3) / 2)
    assert math.isnan(weight_accuracy_correlation([1 / 3] * 3, [0.9, 0.7, 0.3]))


def test_agreement():
    assert agreement(torch.tensor([[0.9, 0.1], [0.2, 0.8]]), torch.tensor([[0.6, 0.4], [0.7, 0.3]])) == 0.5
    assert agreement([1.0, -1.0, 2.0], [0.5, 0.5, 0.1]) == pytest.approx(2 / 3)


def test_reports(tmp_path):
    table = markdown_table([{"method": "raven", "acc": 0.91234, "acc_ms": (0.9, 0.01)}])
    assert "| raven | 0.912 | 0.900 ± 0.010 |" in table
    path = plot_weight_history(
        [[0.5, 0.5], [0.6, 0.4], [0.9, 0.1]], ["a", "b"], tmp_path / "w.png", phase_steps=1
    )
    assert (tmp_path / "w.png").stat().st_size > 1000 and path.endswith("w.png")


def test_seed_interval_is_the_student_t_interval_of_the_mean():
    from raven_align.core.measures import seed_interval

    r = seed_interval([0.0, 1.0, 2.0])  # mean 1, sample sd 1, t(0.975, 2) = 4.303
    assert r["mean"] == pytest.approx(1.0) and r["std"] == pytest.approx(1.0) and r["n"] == 3
    assert r["high"] - r["mean"] == pytest.approx(4.303 / 3**0.5, rel=1e-4)
    assert r["low"] == pytest.approx(2 - r["high"])
    assert math.isnan(seed_interval([0.5])["low"])


def test_t_quantiles_match_scipy_and_known_values():
    from raven_align.core.measures import t_quantile_975

    # printed tables: t(0.975, 1) = 12.706, t(0.975, 2) = 4.303, t(0.975, 30) = 2.042, t(0.975, ∞) = 1.960
    assert t_quantile_975(1) == pytest.approx(12.706, abs=1e-3)
    assert t_quantile_975(2) == pytest.approx(4.303, abs=1e-3)
    assert t_quantile_975(30) == pytest.approx(2.042, abs=1e-3)
    assert t_quantile_975(10**6) == pytest.approx(1.960, abs=1e-3)
    with pytest.raises(ValueError, match="degrees of freedom"):
        t_quantile_975(0)
    stats = pytest.importorskip("scipy.stats")
    for df in range(1, 201):
        assert t_quantile_975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=2e-4), df


def test_seed_interval_matches_scipy_t_interval():
    from raven_align.core.measures import seed_interval

    # the review's example, by hand: per-seed differences +0.047, −0.007, +0.025 (mean 0.0217, sd 0.0272)
    r = seed_interval([0.047, -0.007, 0.025])
    sd = math.sqrt(((0.047 - 0.065 / 3) ** 2 + (-0.007 - 0.065 / 3) ** 2 + (0.025 - 0.065 / 3) ** 2) / 2)
    assert r["mean"] == pytest.approx(0.065 / 3) and r["std"] == pytest.approx(sd)
    assert (round(r["low"], 3), round(r["high"], 3)) == (-0.046, 0.089)
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for n in (2, 3, 5, 12, 40):
        x = rng.normal(0.3, 0.1, size=n)
        low, high = stats.t.interval(0.95, n - 1, loc=x.mean(), scale=stats.sem(x))
        got = seed_interval(x)
        assert (got["low"], got["high"]) == pytest.approx((low, high), abs=1e-4), n


def test_two_level_bootstrap_resamples_seeds_then_items():
    from raven_align.core.measures import two_level_bootstrap, with_interval

    # constant items: only the seeds vary; the mean of three draws is the smallest seed with probability
    # 1/27 > 2.5% (and the largest likewise), so the percentile interval is exactly [min, max]
    got = two_level_bootstrap([[0.0] * 5, [1.0] * 7, [5.0] * 3])
    assert got == {"mean": 2.0, "low": 0.0, "high": 5.0, "n": 3}
    # every seed weighs the same, however many items it has (the pooled mean here would be 10 / 1010)
    assert two_level_bootstrap([[1.0] * 10, [0.0] * 1000])["mean"] == pytest.approx(0.5)
    # one seed: the item bootstrap, whose 95% interval is about ± 1.96 standard errors
    x = np.random.default_rng(1).integers(0, 2, size=400).astype(float)
    one = two_level_bootstrap([x], seed=2)
    assert one["high"] - one["low"] == pytest.approx(2 * 1.96 * x.std() / 20, rel=0.15)
    # seeds that disagree: pooling the items hides their spread, the two-level bootstrap keeps it
    rng = np.random.default_rng(3)
    groups = [m + rng.normal(0, 0.3, size=450) for m in (0.047, -0.007, 0.025)]
    two, pooled = two_level_bootstrap(groups), with_interval(np.concatenate(groups))
    assert two["high"] - two["low"] > 1.5 * (pooled["high"] - pooled["low"])
    assert two["low"] < 0 < pooled["low"]  # the pooled interval excludes 0, as in the review's example
    with pytest.raises(ValueError, match="at least one"):
        two_level_bootstrap([[1.0], []])


def test_pgr_refuses_a_gap_below_noise():
    from raven_align.core.measures import MIN_PGR_GAP, pgr_over_seeds

    # the text ID case: weak 0.745, ceiling 0.771 (gap 0.026) made a PGR of −3 for a method at 0.668
    assert MIN_PGR_GAP == 0.05 and math.isnan(pgr(0.668, weak=0.745, ceiling=0.771))
    assert pgr(0.668, weak=0.745, ceiling=0.771, min_gap=0.0) == pytest.approx(-0.077 / 0.026)
    assert math.isnan(pgr(0.8, weak=0.8, ceiling=0.7))  # a ceiling under the weak reference: no gap
    ok = pgr_over_seeds([0.7, 0.8, 0.75], weak=[0.6, 0.6, 0.65], ceiling=[0.8, 0.9, 0.85])
    assert not ok["below_noise"] and ok["pgr"]["n"] == 3
    assert ok["pgr"]["mean"] == pytest.approx((0.5 + 2 / 3 + 0.5) / 3)  # per seed 0.1/0.2, 0.2/0.3, 0.1/0.2
    assert ok["gap"]["mean"] == pytest.approx(0.7 / 3)
    # one seed's gap under 0.05 (the DPO benchmark's seed 2: 0.034)
    one_small = pgr_over_seeds([0.77, 0.76, 0.74], weak=[0.737, 0.714, 0.771], ceiling=[0.795, 0.811, 0.805])
    assert one_small["below_noise"] and one_small["pgr"] is None
    # every gap ≥ 0.05, but so spread that their t-interval over seeds reaches 0
    spread = pgr_over_seeds([0.7, 0.7, 0.7], weak=[0.6, 0.6, 0.3], ceiling=[0.65, 0.66, 0.9])
    assert spread["below_noise"] and spread["gap"]["low"] < 0


def test_a_preference_runs_pgr_says_when_its_gap_is_below_noise():
    from raven_align.evaluation.preference_report import _pgr_text, add_pgr

    def run(strong, weak):
        return {"strong_after": {"implicit_reward_accuracy": strong}, "uniform_mixture_accuracy": weak}

    r = run(0.76, 0.74)
    add_pgr(r, 0.84)
    assert r["pgr"] == pytest.approx(0.2) and _pgr_text(r) == "PGR vs uniform mixture 0.200"
    r = run(0.76, 0.771)  # the DPO benchmark's seed 2: a gap of 0.034
    add_pgr(r, 0.805)
    assert math.isnan(r["pgr"]) and r["pgr_gap"] == pytest.approx(0.034)
    assert "n/a (gap below noise: gt − uniform mixture 0.034 < 0.05)" in _pgr_text(r)
    r = run(0.76, 0.74)
    add_pgr(r, None)
    assert math.isnan(r["pgr"]) and "--ceiling_results" in _pgr_text(r)
