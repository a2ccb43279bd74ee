"""Bad inputs that used to fail late (docs/bad_inputs.md, one test per row): each now fails before labelling,
weak training, tokenising or a model load, shown by spies that raise if that step starts.
"""

import math
import re
from pathlib import Path

import pytest
import torch
from bad_input_helpers import (
    CPU,
    MISSING,
    PAIRS,
    _dpo,
    _dpo_config,
    _dpo_trainer,
    _images,
    _jsonl,
    _pairs,
    _w2s,
)

# -- late ---------------------------------------------------------------------------------------------


def test_weight_count_mismatch_fails_before_tokenising(tmp_path):
    with pytest.raises(ValueError, match="initial_weights has 3 entries for 2 supervisors"):
        _dpo_config(tmp_path, weight_init="explicit", initial_weights=[1, 1, 1], supervisor_names=["a", "b"])
    with pytest.raises(ValueError, match="initial_weights has 3 entries for 2 supervisors"):
        _dpo_trainer(tmp_path, _pairs(), weight_init="explicit", initial_weights=[1, 1, 1])


def test_nan_supervisor_lr_fails_in_the_config(tmp_path):
    with pytest.raises(ValueError, match="supervisor_lr must be a finite number"):
        _dpo_config(tmp_path, supervisor_lr=math.nan)


def test_nan_learning_rate_fails_in_the_config(tmp_path):
    from raven_align.trainers import RavenClassificationConfig

    with pytest.raises(ValueError, match="learning_rate must be a finite number"):
        RavenClassificationConfig(output_dir=str(tmp_path), learning_rate=math.nan, use_cpu=True)


def test_unknown_naive_supervisor_fails_before_tokenising(tmp_path):
    with pytest.raises(
        ValueError, match=r"naive_supervisor 'zeta' is not among the supervisors \['a', 'b'\]"
    ):
        _dpo_trainer(tmp_path, _pairs(), supervision="naive", naive_supervisor="zeta")


def test_negative_initial_weight_fails_in_the_config(tmp_path):
    with pytest.raises(ValueError, match="finite and non-negative"):
        _dpo_config(tmp_path, weight_init="explicit", initial_weights=[1.0, -0.5])


def test_missing_checkpoint_fails_before_labelling(tmp_path, no_labelling):
    with pytest.raises(FileNotFoundError, match="checkpoint .*no_such does not exist"):
        _dpo(tmp_path, "--resume_from_checkpoint", str(tmp_path / "no_such"))


def test_resume_true_without_a_checkpoint_is_named(tmp_path, no_labelling):
    with pytest.raises(FileNotFoundError, match="no checkpoint-<step> folder"):
        _dpo(tmp_path, "--resume_from_checkpoint", "true")


def _checkpoint(tmp_path, state) -> Path:
    ckpt = tmp_path / "out" / "checkpoint-1"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text("{}")
    torch.save(state, ckpt / "raven_weights.pt")
    return ckpt


def test_checkpoint_of_other_supervisors_fails_before_labelling(tmp_path, no_labelling):
    ckpt = _checkpoint(tmp_path, {"names": ["rm_a", "rm_b"]})
    data = _jsonl(tmp_path / "p.jsonl", PAIRS)
    with pytest.raises(
        ValueError, match=r"trained with supervisors \['rm_a', 'rm_b'\], this run has \['length'\]"
    ):
        _dpo(tmp_path, "--resume_from_checkpoint", str(ckpt), data=data)


def test_truncated_checkpoint_state_is_refused(tmp_path, no_labelling):
    ckpt = _checkpoint(tmp_path, {"names": ["length"]})
    (ckpt / "raven_weights.pt").write_bytes((ckpt / "raven_weights.pt").read_bytes()[:30])
    data = _jsonl(tmp_path / "p.jsonl", PAIRS)
    with pytest.raises(ValueError, match="cannot read the supervisor weights of checkpoint"):
        _dpo(tmp_path, "--resume_from_checkpoint", str(ckpt), data=data)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_payload_in_checkpoint_is_not_run(tmp_path, no_labelling):
    marker = tmp_path / "payload-ran"
    ckpt = _checkpoint(tmp_path, {"names": _Payload(marker)})
    data = _jsonl(tmp_path / "p.jsonl", PAIRS)
    with pytest.raises(ValueError, match="cannot read the supervisor weights.*Weights only load failed"):
        _dpo(tmp_path, "--resume_from_checkpoint", str(ckpt), data=data)
    assert not marker.exists()  # the trainers' own resume reads it with weights_only=True too (row 29)


def test_every_torch_load_is_weights_only():
    sources = (Path(__file__).parents[1] / "raven_align").rglob("*.py")
    calls = [(p.name, m) for p in sources for m in re.findall(r"torch\.load\([^)]*\)", p.read_text())]
    assert calls and all("weights_only=True" in m for _, m in calls), calls


def test_unknown_only_method_fails_at_parse(tmp_path):
    with pytest.raises(ValueError, match=r"unknown method\(s\) \['bogus'\]"):
        _w2s(tmp_path, {"s": {"kind": "logreg", "domains": ["a"]}}, only="raven,bogus")


def test_method_with_bad_settings_fails_before_weak_training(tmp_path, no_weak_training):
    from raven_align.programs.classify import run_recipe

    _images(tmp_path / "data")
    recipe, training = _w2s(
        tmp_path, {"s": {"kind": "logreg", "domains": ["src"]}}, methods={"x": {"supervision": "bogus"}}
    )
    with pytest.raises(ValueError, match="method 'x' has invalid settings.*supervision must be one of"):
        run_recipe(recipe, training)


def test_label_push_offline_fails_before_scoring(tmp_path, monkeypatch):
    from raven_align.cli import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = _jsonl(tmp_path / "p.jsonl", PAIRS)
    spec = "callable:bad_input_helpers:exploding_reward"
    with pytest.raises(RuntimeError, match="HF_HUB_OFFLINE"):
        main(["label", "--dataset_name", str(data), "-s", spec, "--push_to_hub", "me/labelled"])


def test_reward_push_offline_fails_before_loading(tmp_path, monkeypatch):
    from raven_align.programs import reward

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    argv = [
        "--dataset_name",
        MISSING,
        "--supervision",
        "gt",
        "--push_to_hub",
        "true",
        "--hub_model_id",
        "me/rm",
    ]
    with pytest.raises(RuntimeError, match="HF_HUB_OFFLINE"):
        reward.main([*argv, "--output_dir", str(tmp_path / "out"), *CPU])


def test_duplicate_supervisor_names_fail_before_scoring(tmp_path):
    from raven_align.cli import main

    data = _jsonl(tmp_path / "p.jsonl", PAIRS)
    spec = "x=callable:bad_input_helpers:exploding_reward"
    argv = ["label", "--dataset_name", str(data), "-s", spec, "-s", spec, "--output_dir", str(tmp_path / "o")]
    with pytest.raises(ValueError, match=r"Duplicate supervisor names \['x'\]"):
        main(argv)


def test_push_to_a_repository_named_after_an_unusable_output_dir_fails_before_any_work(tmp_path):
    # without hub_model_id the repository is named after output_dir, as in TRL: a name the Hub refuses fails now
    with pytest.raises(ValueError, match=r"named after output_dir.*'bad name!'.*give --hub_model_id"):
        _dpo(tmp_path, "--push_to_hub", "true", "--output_dir", str(tmp_path / "bad name!"))


def test_a_policy_that_cannot_be_loaded_fails_before_labelling(tmp_path, monkeypatch):
    from raven_align.programs import dpo

    def spy(*a, **k):
        raise AssertionError("labelling started before the error")

    monkeypatch.setattr(dpo, "label_dataset", spy)
    data = _jsonl(tmp_path / "p.jsonl", [{"prompt": "p", "chosen": "good", "rejected": "bad"}] * 4)
    with pytest.raises(
        ValueError, match=r"(?s)the policy model 'org/never-loaded' cannot be loaded .*before anything"
    ):
        _dpo(tmp_path, data=data)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="does not exist"):  # a local path: named before anything else
        _dpo(tmp_path, "--model_name_or_path", str(tmp_path / "nothing"), data=data)
    with pytest.raises(ValueError, match=r"cannot be loaded \(ValueError: Unrecognized model"):  # no config
        _dpo(tmp_path, "--model_name_or_path", str(tmp_path / "empty"), data=data)
