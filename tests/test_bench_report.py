"""The statistics and verdicts the bench reports compute themselves (the core tests the rest)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest


def _load(name):
    path = Path(__file__).parents[1] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def report():
    return _load("report")


@pytest.fixture(scope="module")
def stats():
    return _load("_dpo_stats")


def _run(method, seed, hits, uniform=0.5, gold=None, kl=1.0):
    """A hand-made DPO run summary with what dpo_rows reads."""
    hits = [float(h) for h in hits]
    target = {"num_pairs": len(hits), "per_pair_hits": hits, "uniform_mixture_accuracy": uniform,
              "strong_after": {"implicit_reward_accuracy": float(np.mean(hits))}, "weight_accuracy_spearman": 1.0,
              "misfit": {"mixture": 0.2}, "gain_over_mixture": 0.0}  # fmt: skip
    gen = None
    if gold is not None:
        gen = {"kl": {"mean": kl, "low": kl, "high": kl},
               "per_prompt": {"gold_policy": list(gold), "gold_reference": [0.0] * len(gold)}}  # fmt: skip
    return {"method": method, "seed": seed, "flags": [], "splits": {"target": target}, "generations": gen,
            "timing": {"steps": 4}}  # fmt: skip


T1 = 12.7062  # t(0.975, 1): two seeds


def _interval(a, b, sign=""):
    """``mean [low, high]`` of two seeds' values by hand: mean ± t(0.975, 1) · sd / √2."""
    mean, half = (a + b) / 2, T1 * abs(a - b) / np.sqrt(2) / np.sqrt(2)
    return f"{mean:{sign}.3f} [{mean - half:{sign}.3f}, {mean + half:{sign}.3f}]"


def _runs(gt_seed2=True):
    # `m` ran seeds 0, 2 and 3; `ens` seeds 0, 1 and 2; `gt` seeds 0 and 2. Paired by position instead of by seed,
    # m's seed 2 would meet ens's seed 1.
    return {
        "ens": [_run("ens", 0, [1, 1, 0, 0], 0.5, [0.0, 0.0]), _run("ens", 1, [1, 1, 1, 1], 0.6, [5.0, 5.0]),
                _run("ens", 2, [1, 0, 0, 0], 0.45, [1.0, 1.0])],
        "gt": [_run("gt", 0, [1, 1, 1, 1], 0.5), _run("gt", 2, [1] * 4 if gt_seed2 else [1, 0, 0, 0], 0.45)],
        "m": [_run("m", 0, [1, 1, 1, 0], 0.9, [1.0, -1.0]), _run("m", 2, [1, 1, 1, 0], 0.9, [2.0, 2.0]),
              _run("m", 3, [0, 0, 0, 0], 0.9, [9.0, 9.0])],
    }  # fmt: skip


def test_dpo_rows_pair_each_run_with_the_ens_run_of_its_seed(stats):
    rows = {r["method"]: r for r in stats.dpo_rows(_runs())}
    m = rows["m"]
    assert m["seeds"] == "0, 2, 3"
    # seeds 0 and 2 have an ens run: accuracy differences 0.75 − 0.5 and 0.75 − 0.25; seed 3 has none
    assert m["acc. − ens (paired)"] == _interval(0.25, 0.5, "+")
    # per prompt: seed 0 wins (1 > 0) and loses (−1 < 0), seed 2 wins both (2 > 1): win rates 0.5 and 1.0
    assert m["win rate vs ens"] == _interval(0.5, 1.0)
    # two-level bootstrap of the pairs' differences, from the same seeds
    low, high = (float(x) for x in m["acc. − ens, two-level bootstrap"].split("[")[1].rstrip("]").split(","))
    assert m["acc. − ens, two-level bootstrap"].startswith("+0.375 [") and -0.5 <= low < high <= 1.0
    assert rows["ens"]["acc. − ens (paired)"] == "" and rows["ens"]["win rate vs ens"] == ""
    # levels over all of a method's seeds: implicit accuracy 0.75, 0.75, 0 over three seeds
    assert m[stats.PRIMARY].startswith(f"{1.5 / 3:.3f} [")


def test_dpo_rows_pgr_uses_the_seeds_with_both_references(stats):
    # PGR on seeds 0 and 2 only (seed 1 has no gt run, seed 3 neither ens nor gt), weak = the ens run's uniform
    # mixture (0.5, 0.45), not the method's own (0.9): (0.75 − 0.5) / (1 − 0.5) = 0.5, (0.75 − 0.45) / 0.55 = 0.5455
    runs = _runs()
    runs["m"].insert(1, _run("m", 1, [1, 1, 1, 1], 0.9, [5.0, 5.0]))  # seed 1 has an ens run but no gt run
    m = {r["method"]: r for r in stats.dpo_rows(runs)}["m"]
    a, b = 0.5, 0.3 / 0.55
    mean, half = (a + b) / 2, T1 * abs(a - b) / 2
    assert m["PGR (acc.)"] == f"{mean:.2f} [{mean - half:.2f}, {mean + half:.2f}]"
    # seed 2's ceiling 0.25 under its weak reference 0.45: no gap, so no PGR for any row
    rows = stats.dpo_rows(_runs(gt_seed2=False))
    assert {r["PGR (acc.)"] for r in rows} == {"n/a (gap below noise)"}
    assert stats.pgr_seeds(runs["m"], *({r["seed"]: r for r in runs[k]} for k in ("ens", "gt"))) == [
        (0.75, 0.5, 1.0),
        (0.75, 0.45, 1.0),
    ]


def test_recorded_settings_read_the_flags_over_the_frozen_config(report):
    methods = _load("dpo_methods").METHODS
    runs = {m: [{"flags": methods[m]}] for m in ("raven-default", "raven-paper", "raven-lm", "gt-soft")}
    config, settings = report.recorded_settings(runs)
    assert settings["raven-default"]["supervisor_lr"] == config["supervisor_lr"] == 10.0
    assert (
        settings["raven-paper"]["supervisor_lr"] == "1e-3"
        and settings["raven-lm"]["weight_init"] == "label_model"
    )
    assert settings["gt-soft"]["gt_confidence"] == "0.61" and settings["gt-soft"]["supervision"] == "gt"
    with pytest.raises(ValueError, match="different flags"):
        report.recorded_settings({"m": [{"flags": []}, {"flags": ["--supervisor_lr", "1"]}]})


def test_oracle_check_pairs_by_seed_and_reads_the_side_from_the_seed_interval(stats):
    runs = _runs()
    # gt beats ens by 0.5 and 0.75 at seeds 0 and 2 (seed 1 has no gt run): the t-interval over the two seeds is
    # 0.625 ± 12.7062 · 0.125 / 2 = [−0.169, 1.419], which reaches 0
    (gt,) = stats.oracle_rows(runs)
    assert gt["seeds (paired with ens)"] == "0, 2"
    assert gt["acc. − ens (primary)"] == _interval(0.5, 0.75, "+")
    assert gt["on the primary measure"] == "not separated from ens" and gt["on gold reward"] == "–"
    # a third seed with the same lead narrows it above 0; gt-soft below ens at every seed
    runs["ens"].append(_run("ens", 3, [0, 0, 0, 0], 0.5))
    runs["gt"].append(_run("gt", 3, [1, 1, 1, 0], 0.5))
    soft = {0: [1, 0, 0, 0], 1: [1, 1, 1, 0], 2: [0, 0, 0, 0]}  # one hit fewer than ens at each seed
    runs["gt-soft"] = [_run("gt-soft", s, h) for s, h in soft.items()]
    rows = {r["truth-trained policy"]: r for r in stats.oracle_rows(runs)}
    assert rows["gt"]["on the primary measure"] == "above ens"
    assert rows["gt-soft"]["on the primary measure"] == "below ens"
    assert stats.oracle_rows({"gt": runs["gt"]}) == []  # no ens run: nothing to compare with
    # PGR against each ceiling: gt-soft's gaps over the weak reference are negative (0.5 vs 0.5, 0.25 vs 0.45)
    m = {r["method"]: r for r in stats.dpo_rows(runs)}["m"]
    assert (
        m["PGR (acc., gt-soft ceiling)"] == "n/a (gap below noise)"
        and m["PGR (acc.)"] != m["PGR (acc., gt-soft ceiling)"]
    )
    assert "PGR (acc., gt-soft ceiling)" not in stats.dpo_rows(_runs())[0]


def test_a_report_never_pairs_runs_of_different_data_constructions(report, tmp_path, monkeypatch):
    import json

    (tmp_path / "dpo_runs").mkdir()
    for i, data in enumerate(("reserve-v1", None)):
        run = _run("ens", i, [1, 0])
        if data:
            run["data"] = data
        (tmp_path / "dpo_runs" / f"ens-s{i}.json").write_text(json.dumps(run))
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    with pytest.raises(ValueError, match=r"mixes runs of different data constructions \['before-reserve', "):
        report.load_runs()


def test_target_verdict_shows_a_fourth_decimal_only_where_rounding_would_hide_a_miss():
    verdict = _load("label_model_summary")._verdict
    assert verdict(-0.0101, -0.01) == "missed (-0.0101)"
    assert verdict(-0.0099, -0.01) == "met (-0.0099)"
    assert verdict(-0.0009, 0.0) == "missed (-0.001)"
    assert verdict(0.023, 0.0, "yes", "no") == "yes (+0.023)"


def test_target_verdicts_are_judged_on_the_seed_level_interval_of_paired_differences():
    summary = _load("label_model_summary")
    verdict = summary._seed_verdict
    # the review's example: +0.047, −0.007, +0.025 met the target by the point estimate (+0.022); its t-interval
    # over seeds, [−0.046, +0.089], straddles 0
    assert verdict([0.047, -0.007, 0.025], 0.0) == "within noise (+0.022 [-0.046, +0.089])"
    # mean 0.009, sd 0.003: ± 4.3027 · 0.003 / √3 = ± 0.0075
    assert verdict([0.009, 0.012, 0.006], 0.0) == "met (+0.009 [+0.002, +0.016])"
    assert verdict([-0.03, -0.02, -0.025], -0.01) == "missed (-0.025 [-0.037, -0.013])"
    assert verdict([0.02, 0.03, 0.025], 0.0, "yes", "no").startswith("yes (")
    assert verdict([0.004], 0.0) == "met (+0.004), one seed"
    # differences are taken seed by seed, over the seeds both rows ran
    table = {"a": {"by_seed": {0: 0.7, 1: 0.8, 2: 0.9}}, "b": {"by_seed": {2: 0.5, 0: 0.6}}}
    assert summary._paired(table, "a", "b") == pytest.approx([0.1, 0.4])


def test_gold_follows_kl_ranks_the_gold_gain_over_the_reference_against_kl(stats):
    # gains over the reference (0 in _run) of 0.5, 1.5 and 1.0 at KL 1, 3 and 2: ranks agree, ρ = 1
    runs = {"a": [_run("a", 0, [1], gold=[0.5, 0.5], kl=1.0), _run("a", 1, [1], gold=[1.0, 2.0], kl=3.0)],
            "b": [_run("b", 0, [1], gold=[1.0, 1.0], kl=2.0)]}  # fmt: skip
    assert "3 runs" in stats.gold_follows_kl(runs) and "ρ = 1.00" in stats.gold_follows_kl(runs)
    runs["b"][0]["generations"]["kl"]["mean"] = 5.0  # now the gains rank 1, 3, 2 against KL: ρ = 0.5
    assert "ρ = 0.50" in stats.gold_follows_kl(runs)
    assert stats.gold_follows_kl({"a": runs["a"]}) == ""  # two runs: no correlation
