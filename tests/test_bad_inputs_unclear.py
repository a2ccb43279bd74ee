"""Bad inputs whose error used to be unclear (docs/bad_inputs.md, one test per row): the message names the problem
and the fix; and the classification recipe's supervisor checks.
"""

import math
from types import SimpleNamespace

import pytest
import torch
from bad_input_helpers import (
    CPU,
    PAIRS,
    _dpo,
    _dpo_config,
    _dpo_trainer,
    _images,
    _jsonl,
    _pairs,
    _w2s,
)
from datasets import Dataset

from raven_align.pipeline.specs import build_supervisor

# -- unclear ------------------------------------------------------------------------------------------


def test_missing_model_path_is_named():
    with pytest.raises(FileNotFoundError, match="model path './no/such/rm' does not exist"):
        build_supervisor("rm:./no/such/rm")


def test_missing_strong_model_path_fails_first(tmp_path):
    with pytest.raises(FileNotFoundError, match="model path .*no/such/model' does not exist"):
        _dpo(tmp_path, "--model_name_or_path", str(tmp_path / "no/such/model"))


def test_empty_jsonl_is_named(tmp_path):
    from raven_align.pipeline.data import load_data

    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ValueError, match="empty.jsonl is empty"):
        load_data(str(tmp_path / "empty.jsonl"))
    (tmp_path / "blank.jsonl").write_text("\n\n")
    with pytest.raises(ValueError, match="has no rows"):
        load_data(str(tmp_path / "blank.jsonl"))


def test_missing_data_file_is_named(tmp_path):
    from raven_align.pipeline.data import load_data

    with pytest.raises(FileNotFoundError, match="'pairs.jsonl' does not exist"):
        load_data("pairs.jsonl")


def test_non_preference_data_is_named(tmp_path, no_labelling):
    data = _jsonl(tmp_path / "p.jsonl", [{"prompt": "p", "chosen": "c", "response_b": "r"}] * 6)
    with pytest.raises(ValueError, match=r"not preference data: no column\(s\) \['rejected'\]"):
        _dpo(tmp_path, data=data)


def test_bad_test_size_is_named(tmp_path):
    from raven_align.pipeline.data import load_preference_splits

    data = _jsonl(tmp_path / "p.jsonl", PAIRS)
    with pytest.raises(
        ValueError, match="test_size must be a fraction in \\(0, 1\\) or a number of rows below 6"
    ):
        load_preference_splits(str(data), test_size=1.5)


def test_string_judgement_column_is_named(tmp_path):
    strings = [str(x) for x in range(6)]
    with pytest.raises(
        ValueError, match="judgement column 'reward_chosen__a' must hold one number per row, got str"
    ):
        _dpo_trainer(tmp_path, _pairs(reward_chosen__a=strings))


def test_nan_judgement_is_named(tmp_path):
    nan = [math.nan] + [0.0] * 5
    with pytest.raises(ValueError, match="non-finite supervisor rewards: supervisor 'a' at row 0"):
        _dpo_trainer(tmp_path, _pairs(reward_chosen__a=nan))


def test_requested_supervisor_without_columns_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"no judgement columns for supervisors \['zeta'\]"):
        _dpo_trainer(tmp_path, _pairs(), supervisor_names=["a", "zeta"])


def test_class_count_mismatch_between_supervisors_is_named(tmp_path):
    from raven_align.trainers import RavenClassificationConfig, RavenClassificationTrainer

    texts = Dataset.from_dict(
        {"text": ["a", "b"], "label": [0, 1], "probs__x": [[0.5, 0.5]] * 2, "probs__y": [[0.2, 0.3, 0.5]] * 2}
    )
    args = RavenClassificationConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    with pytest.raises(ValueError, match=r"same C >= 2, got shapes \[\(2, 2\), \(2, 3\)\]"):
        RavenClassificationTrainer(None, args, train_dataset=texts)


def test_unknown_spec_lists_the_syntax():
    with pytest.raises(
        ValueError, match=r"(?s)Cannot parse supervisor spec 'rewardmodel:x'.*reward_model:ID_OR_PATH"
    ):
        build_supervisor("rewardmodel:x")


def test_unknown_supervision_lists_the_methods(tmp_path):
    with pytest.raises(ValueError, match=r"supervision must be one of \(.*'raven'.*\), got 'ravn'"):
        _dpo_config(tmp_path, supervision="ravn")


def _yaml(tmp_path, text, *argv):
    from raven_align.programs import dpo

    (tmp_path / "c.yaml").write_text(text)
    return dpo.make_parser().parse_args_and_config(
        ["--config", str(tmp_path / "c.yaml"), *CPU, "--output_dir", str(tmp_path), *argv]
    )


def test_yaml_single_supervisor_string_is_one_spec(tmp_path):
    from raven_align.programs import reward

    script, _, _ = _yaml(tmp_path, "supervisors: vader\n")
    assert script.supervisors == ["vader"]
    assert reward.RewardScriptArguments(supervisors="vader").supervisors == ["vader"]
    recipe, _ = _w2s(tmp_path, "column:p", scenarios=["ood"])
    assert recipe.supervisors == {"p": {"spec": "column:p"}}


def test_unknown_yaml_key_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"Unknown arguments from config file: \['--supervisor', 'vader'\]"):
        _yaml(tmp_path, "supervisor: vader\n")


def test_wrong_yaml_type_is_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        _yaml(tmp_path, "max_eval_samples: lots\n")
    err = capsys.readouterr().err
    assert "--max_eval_samples" in err and "invalid int value: 'lots'" in err


@pytest.fixture(scope="module")
def failed_push(tmp_path_factory, sup_tokenizer_plain):
    """A one-step DPO run with --hub_token whose push fails like a network error: (error, output_dir, token)."""
    from huggingface_hub.errors import HfHubHTTPError
    from tiny_models import tiny_causal_lm

    from raven_align.programs import dpo
    from raven_align.trainers import RavenDPOTrainer

    tmp = tmp_path_factory.mktemp("push")
    tiny_causal_lm(sup_tokenizer_plain).save_pretrained(tmp / "lm")
    sup_tokenizer_plain.save_pretrained(tmp / "lm")
    secret = "hf_SECRETsecretSECRET0123456789"
    mp = pytest.MonkeyPatch()
    mp.setenv("RAVEN_ALIGN_CACHE", str(tmp / "cache"))
    mp.setenv("HF_HUB_OFFLINE", "0")  # the recipe's own check only; huggingface_hub stays offline
    mp.setenv("HF_TOKEN", "placeholder")  # restored after the run moves --hub_token here

    def fail(self, *a, **k):
        response = SimpleNamespace(status_code=503, headers={}, request=None)
        raise HfHubHTTPError("503 Server Error: Service Unavailable", response=response)

    mp.setattr(RavenDPOTrainer, "push_to_hub", fail)
    argv = [
        "--dataset_name",
        str(_jsonl(tmp / "p.jsonl", PAIRS * 2)),
        "--supervisors",
        "length",
        "--model_name_or_path",
        str(tmp / "lm"),
    ]
    argv += [
        "--max_steps",
        "1",
        "--max_length",
        "32",
        "--per_device_train_batch_size",
        "2",
        "--save_strategy",
        "no",
    ]
    argv += [
        "--push_to_hub",
        "true",
        "--hub_model_id",
        "me/tiny-dpo",
        "--hub_token",
        secret,
        "--hub_strategy",
        "end",  # nothing pushed (nor the repository made) before the push that fails here
        "--output_dir",
        str(tmp / "out"),
    ]
    try:
        with pytest.raises(RuntimeError) as error:
            dpo.main([*argv, *CPU])
    finally:
        mp.undo()
    return error.value, tmp / "out", secret


def test_failed_push_keeps_results_and_names_the_fix(failed_push):
    error, out, _ = failed_push
    assert "pushing to me/tiny-dpo failed (HfHubHTTPError: 503" in str(error)
    assert f"hf upload me/tiny-dpo {out}" in str(error)
    assert (
        (out / "results.json").is_file() and (out / "results.md").is_file() and (out / "README.md").is_file()
    )


def test_hub_token_is_never_saved(failed_push):
    _, out, secret = failed_push
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "training_args.bin" for p in files)
    assert not [p.name for p in files if secret.encode() in p.read_bytes()]
    assert torch.load(out / "training_args.bin", weights_only=False).hub_token is None


# -- classification recipe ----------------------------------------------------------------------------


def test_classifier_of_other_classes_is_refused(tmp_path, no_weak_training):
    from test_data_forms import tiny_vit

    from raven_align.programs.classify import run_recipe

    _images(tmp_path / "data")
    vit = tiny_vit(tmp_path / "vit", num_labels=2)
    recipe, training = _w2s(
        tmp_path, {"s": {"kind": "logreg", "domains": ["src"]}, "vit": f"classifier:{vit}"}
    )
    with pytest.raises(ValueError, match=r"classifier 'vit' .* has 2 labels .* the task has 3 classes"):
        run_recipe(recipe, training)


def test_preference_spec_in_the_classification_recipe_is_refused(tmp_path, no_weak_training):
    from raven_align.programs.classify import run_recipe

    _images(tmp_path / "data")
    recipe, training = _w2s(tmp_path, {"s": {"kind": "logreg", "domains": ["src"]}, "len": "length"})
    with pytest.raises(ValueError, match="'len' \\(length\\) judges preference pairs, not classes"):
        run_recipe(recipe, training)


def test_unknown_classification_kind_is_named(tmp_path):
    with pytest.raises(ValueError, match="supervisor 's': unknown kind 'svm'; choose from"):
        _w2s(tmp_path, {"s": {"kind": "svm", "domains": ["src"]}})


def test_trained_kind_without_domains_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"'s' \(logreg\) is trained on source domains: give `domains"):
        _w2s(tmp_path, {"s": {"kind": "logreg"}})


def test_a_spec_option_other_than_chat_template_auto_yes_no_is_refused():
    # before: `you/rm?chat_template=maybe` was taken for the model's name, and failed as a model that is not there
    with pytest.raises(
        ValueError,
        match=r"chat_template must be auto, yes or no, got 'maybe' in supervisor spec 'rm=reward_model:",
    ):
        build_supervisor("rm=reward_model:you/rm?chat_template=maybe")
    with pytest.raises(ValueError, match=r"Unknown option 'template=no' .*\?chat_template=auto\|yes\|no"):
        build_supervisor("reward_model:you/rm?template=no")
    with pytest.raises(
        ValueError, match=r"\?chat_template applies to reward_model:, rm: and implicit: specs"
    ):
        build_supervisor("classifier:you/clf?chat_template=yes")
