"""The statistics and verdicts the bench reports compute themselves (the core tests the rest)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from raven_align.core.measures import with_interval


def _load(name):
    path = Path(__file__).parents[1] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def report():
    return _load("report")


def _gen(values=None, mean=1.0, half=0.4):
    per_prompt = {"gold_reference": [0.0], "gold_policy": [0.0]}
    if values is not None:
        per_prompt["kl"] = list(values)
    return {"kl": {"mean": mean, "low": mean - half, "high": mean + half}, "per_prompt": per_prompt}


def test_kl_pools_per_prompt_values_when_every_run_kept_them(report):
    a, b = np.linspace(0, 2, 64), np.linspace(1, 3, 64)
    assert report._kl_interval([_gen(a), _gen(b)]) == with_interval(np.concatenate([a, b]))


def test_kl_of_older_runs_pools_their_intervals_as_standard_errors(report):
    # two runs with the same half-width h: the mean's half-width is h / sqrt(2), not h
    got = report._kl_interval([_gen(mean=1.0, half=0.4), _gen(mean=2.0, half=0.4)])
    assert got["mean"] == pytest.approx(1.5)
    assert got["high"] - got["mean"] == pytest.approx(0.4 / np.sqrt(2))
    assert report._kl_interval([]) is None


def test_target_verdict_shows_a_fourth_decimal_only_where_rounding_would_hide_a_miss():
    verdict = _load("label_model_summary")._verdict
    assert verdict(-0.0101, -0.01) == "missed (-0.0101)"
    assert verdict(-0.0099, -0.01) == "met (-0.0099)"
    assert verdict(-0.0009, 0.0) == "missed (-0.001)"
    assert verdict(0.023, 0.0, "yes", "no") == "yes (+0.023)"
