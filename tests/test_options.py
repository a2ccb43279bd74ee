"""Each option is declared once, with its allowed values, and checked at parse time: the loss rules, the options one
task only has, the per-trainer defaults and the named settings (docs/options.md)."""

import dataclasses
import json
import sys
from pathlib import Path

import pytest
import torch
import yaml

from raven_align.core import (
    NAMED_SETTINGS,
    PREFERENCE_OBJECTIVES,
    WEIGHT_OBJECTIVES,
    ClassificationWeightingArguments,
    WeightingArguments,
    named_setting,
)
from raven_align.core.losses import preference_loss
from raven_align.trainers import RavenClassificationConfig, RavenDPOConfig, RavenRewardConfig

ROOT = Path(__file__).parents[1]
CONFIGS = {"dpo": RavenDPOConfig, "reward": RavenRewardConfig, "classification": RavenClassificationConfig}


def _parser(program: str):
    """A fresh parser each time: TrlParser keeps a YAML's values as its defaults."""
    if program == "dpo":
        from raven_align.programs.dpo import make_parser
    else:
        from raven_align.programs.reward import make_parser
    return make_parser()


def _yaml(tmp_path, **options) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"use_cpu": True, **options}))
    return str(path)


def _config(task: str, tmp_path, **options):
    return CONFIGS[task](output_dir=str(tmp_path / "out"), use_cpu=True, report_to="none", **options)


def test_a_loss_rule_violation_fails_when_the_dpo_config_is_built(tmp_path):
    with pytest.raises(
        ValueError, match=r"(?=.*weight_objective='chance')(?=.*raven_loss_type='paper_prob')"
    ):
        _config("dpo", tmp_path, raven_loss_type="paper_prob", weight_objective="chance")


@pytest.mark.parametrize("program", ["dpo", "reward"])
def test_a_loss_rule_violation_fails_when_a_yaml_is_parsed(tmp_path, program):
    path = _yaml(tmp_path, raven_loss_type="paper_prob", weight_objective="chance")
    with pytest.raises(ValueError, match=r"(?=.*weight_objective)(?=.*raven_loss_type)"):
        _parser(program).parse_args_and_config(args=["--config", path, "--output_dir", str(tmp_path / "o")])


@pytest.mark.parametrize("program", ["dpo", "reward"])
def test_supervisor_calibration_is_refused_at_parse_by_the_preference_programs(tmp_path, program):
    out = ["--output_dir", str(tmp_path / "o")]
    path = _yaml(tmp_path, supervisor_calibration="temperature")
    with pytest.raises(ValueError, match="supervisor_calibration"):
        _parser(program).parse_args_and_config(args=["--config", path, *out])
    with pytest.raises(ValueError, match="supervisor_calibration"):
        _parser(program).parse_args_and_config(
            args=[*out, "--use_cpu", "true", "--supervisor_calibration", "temperature"]
        )
    with pytest.raises(TypeError, match="supervisor_calibration"):
        _config(program, tmp_path, supervisor_calibration="temperature")


def test_the_classification_config_keeps_supervisor_calibration(tmp_path):
    assert _config(
        "classification", tmp_path, supervisor_calibration="temperature"
    ).supervisor_calibration == ("temperature")
    with pytest.raises(ValueError, match="supervisor_calibration must be one of"):
        _config("classification", tmp_path, supervisor_calibration="platt")
    assert not hasattr(WeightingArguments(), "supervisor_calibration")
    assert not hasattr(WeightingArguments(), "margin_normalization")  # preference-only


@pytest.mark.parametrize("task", list(CONFIGS))
@pytest.mark.parametrize("name", list(NAMED_SETTINGS))
def test_every_named_setting_is_accepted_by_the_configs_it_is_meant_for(tmp_path, name, task):
    setting = named_setting(name, task)
    config = _config(task, tmp_path, **setting)
    assert {k: getattr(config, k) for k in setting} == setting
    if task == "classification":
        ClassificationWeightingArguments(
            **setting
        ).validate_weighting()  # the synthetic reference's arguments
    else:
        assert "supervisor_calibration" not in setting


@pytest.mark.parametrize("task", list(CONFIGS))
def test_the_config_defaults_are_the_papers_setting(tmp_path, task):
    config = _config(task, tmp_path)
    assert {k: getattr(config, k) for k in named_setting("paper", task)} == named_setting("paper", task)


def test_a_trainers_own_default_keeps_the_one_help_and_allowed_values(tmp_path):
    shared = {f.name: f for f in dataclasses.fields(WeightingArguments)}
    for f in dataclasses.fields(RavenDPOConfig):
        if f.name in ("supervisor_lr", "easy_phase_mode"):
            assert f.metadata == shared[f.name].metadata and f.default != shared[f.name].default
    with pytest.raises(ValueError, match="easy_phase_mode must be one of"):
        _config("dpo", tmp_path, easy_phase_mode="first")


@pytest.mark.parametrize("variant", [*PREFERENCE_OBJECTIVES, "ipo"])
@pytest.mark.parametrize("objective", WEIGHT_OBJECTIVES)
def test_the_loss_rule_table_agrees_with_preference_loss(tmp_path, variant, objective):
    h, m = torch.tensor([0.5, -1.0, 2.0]), torch.tensor([1.0, 0.3, -2.0])
    try:
        preference_loss(h, m, variant, 0.1, objective)
        runs = True
    except ValueError:
        runs = False
    try:
        _config("dpo", tmp_path, raven_loss_type=variant, weight_objective=objective)
        accepted = True
    except ValueError:
        accepted = False
    assert accepted == runs == (objective in PREFERENCE_OBJECTIVES.get(variant, ()))


def test_the_main_job_runs_the_recommended_setting(tmp_path):
    path = ROOT / "recipes" / "preference_alignment" / "embedded_default.yaml"
    _, train, _ = _parser("dpo").parse_args_and_config(
        args=["--config", str(path), "--output_dir", str(tmp_path / "o")]
    )
    setting = named_setting("recommended", "dpo")
    assert {k: getattr(train, k) for k in setting} == setting


def test_the_dpo_bench_flags_are_those_its_cached_runs_recorded():
    """bench/dpo_methods.py builds `raven-paper` and `raven-lm` from the named settings; its run keys hash the
    flags, so they must be the ones the committed summaries were run with."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import dpo_methods
    finally:
        sys.path.remove(str(ROOT / "bench"))
    results = ROOT / "bench" / "results"
    # the archived runs are never rerun; only `naive-best` was re-picked for the reserve data, by name
    renamed = {"naive-best": ["--supervision", "naive", "--naive_supervisor", "amazon_food_rm"]}
    for folder, ran_with in (("dpo_runs", {}), ("dpo_runs_before_reserve", renamed)):
        summaries = sorted((results / folder).glob("*.json"))
        assert summaries, folder
        for path in summaries:
            summary = json.loads(path.read_text())
            expected = ran_with.get(summary["method"], dpo_methods.METHODS[summary["method"]])
            assert expected == summary["flags"], path.name
