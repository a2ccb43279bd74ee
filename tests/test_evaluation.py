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
