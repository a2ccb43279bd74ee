"""The bad-input catalogue (docs/bad_inputs.md): one test per row. Each wrong input must fail with an error that
names the problem and the fix, before any expensive step (labelling, model load, reference pass, training), and
leave existing outputs untouched.

"Before" is shown with spies that raise if the expensive step starts, and with inputs that cannot be loaded at all
(a model ID that is never fetched, a data path that does not exist) where the check must come first.
"""

import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from datasets import Dataset

from raven_align.recipes.specs import build_supervisor

NEVER = "org/never-loaded"  # a model the trainers must not get to load
MISSING = "no/such/data.jsonl"  # data the recipes must not get to load
CATALOGUE = Path(__file__).parents[1] / "docs" / "bad_inputs.md"


def exploding_reward(prompts, completions, **kw):
    """A `callable:` supervisor that must never be called (the error has to come first)."""
    raise AssertionError("scoring started before the error")


def _pairs(n=6, **columns):
    rows = {
        "prompt": ["Review the film."] * n,
        "chosen": [f"great fun {i}" for i in range(n)],
        "rejected": [f"dull and slow {i}" for i in range(n)],
        "reward_chosen__a": [1.0 + i for i in range(n)],
        "reward_rejected__a": [0.0] * n,
        "reward_chosen__b": [0.0] * n,
        "reward_rejected__b": [0.5] * n,
    }
    rows.update(columns)
    return Dataset.from_dict(rows)


def _dpo_config(tmp_path, **kw):
    from raven_align.trainers import RavenDPOConfig

    base = dict(
        output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, report_to="none", save_strategy="no"
    )
    return RavenDPOConfig(**{**base, **kw})


def _dpo_trainer(tmp_path, dataset, **kw):
    """A RavenDPOTrainer whose model would only be loaded after the checks (it does not exist)."""
    from raven_align.trainers import RavenDPOTrainer

    return RavenDPOTrainer(NEVER, args=_dpo_config(tmp_path, **kw), train_dataset=dataset)


CPU = ["--use_cpu", "true", "--bf16", "false", "--report_to", "none", "--gradient_checkpointing", "false"]


def _dpo(tmp_path, *argv, data=MISSING):
    from raven_align.recipes import dpo

    args = ["--dataset_name", str(data), "--supervisors", "length", "--model_name_or_path", NEVER, *CPU]
    args += ["--output_dir", str(tmp_path / "out"), *argv]
    return dpo.run(*dpo.make_parser().parse_args_and_config(args))


@pytest.fixture()
def no_labelling(monkeypatch):
    """Labelling in the DPO recipe raises: an error seen instead came before it."""
    from raven_align.recipes import dpo

    def spy(*a, **k):
        raise AssertionError("labelling started before the error")

    monkeypatch.setattr(dpo, "label_dataset", spy)


@pytest.fixture()
def no_weak_training(monkeypatch):
    from raven_align.recipes import classify

    def spy(*a, **k):
        raise AssertionError("weak models started training before the error")

    monkeypatch.setattr(classify, "train_weak_supervisor", spy)


def _full(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "results.json").write_text('{"earlier": "run"}')
    return path


def _untouched(path: Path) -> bool:
    return [p.name for p in path.iterdir()] == ["results.json"] and "earlier" in (
        path / "results.json"
    ).read_text()


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


PAIRS = [{"prompt": "Review.", "chosen": f"good and fun {i}", "rejected": f"bad {i}"} for i in range(6)]


# -- data loss ----------------------------------------------------------------------------------------


def test_label_refuses_a_non_empty_output_dir(tmp_path):
    from raven_align.cli import main

    data, out = _jsonl(tmp_path / "p.jsonl", PAIRS), _full(tmp_path / "labelled")
    spec = "callable:test_bad_inputs:exploding_reward"
    with pytest.raises(FileExistsError, match="--overwrite-output-dir"):
        main(["label", "--dataset", str(data), "-s", spec, "--output-dir", str(out)])
    assert _untouched(out)


def test_reward_recipe_refuses_a_non_empty_output_dir(tmp_path):
    from raven_align.recipes import reward

    out = _full(tmp_path / "out")
    with pytest.raises(FileExistsError, match="--overwrite_output_dir"):
        reward.main(["--dataset_name", MISSING, "--supervision", "gt", "--output_dir", str(out), *CPU])
    assert _untouched(out)


def test_classify_recipe_refuses_a_non_empty_output_dir(tmp_path):
    from raven_align.recipes.classify import run_recipe

    out = _full(tmp_path / "out")
    recipe, training = _w2s(tmp_path, {"s": {"kind": "logreg", "domains": ["a"]}}, dataset=MISSING)
    with pytest.raises(FileExistsError, match="--overwrite_output_dir"):
        run_recipe(recipe, training)
    assert _untouched(out)


def test_dpo_recipe_refuses_a_non_empty_output_dir(tmp_path):
    out = _full(tmp_path / "out")
    with pytest.raises(FileExistsError, match="not empty"):
        _dpo(tmp_path)
    assert _untouched(out)


def test_resume_from_elsewhere_does_not_unlock_the_output_dir(tmp_path):
    out, ckpt = _full(tmp_path / "out"), tmp_path / "other_run" / "checkpoint-2"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text("{}")
    with pytest.raises(FileExistsError, match="is not inside it"):
        _dpo(tmp_path, "--resume_from_checkpoint", str(ckpt))
    assert _untouched(out)


def test_label_replaces_its_input_only_when_complete(tmp_path, sup_cache):
    """--overwrite-output-dir onto the input folder itself: the new set is written beside it, then swapped in."""
    from raven_align.cli import main
    from raven_align.labeling import load_labeled

    Dataset.from_list(PAIRS).save_to_disk(str(tmp_path / "d"))
    spec = "callable:test_bad_inputs:exploding_reward"
    with pytest.raises(AssertionError, match="scoring started"):  # scoring fails: the input stays as it was
        main(
            [
                "label",
                "--dataset",
                str(tmp_path / "d"),
                "-s",
                spec,
                "--output-dir",
                str(tmp_path / "d"),
                "--overwrite-output-dir",
            ]
        )
    assert Dataset.load_from_disk(str(tmp_path / "d")).to_list() == PAIRS
    main(
        [
            "label",
            "--dataset",
            str(tmp_path / "d"),
            "-s",
            "length",
            "--output-dir",
            str(tmp_path / "d"),
            "--overwrite-output-dir",
        ]
    )
    labelled, _ = load_labeled(tmp_path / "d")
    assert "reward_chosen__length" in labelled.column_names and len(labelled) == 6


# -- silent -------------------------------------------------------------------------------------------


def test_causal_lm_as_reward_model_is_refused(tmp_path, sup_tokenizer_plain):
    from tiny_models import tiny_causal_lm

    tiny_causal_lm(sup_tokenizer_plain).save_pretrained(tmp_path / "lm")
    sup_tokenizer_plain.save_pretrained(tmp_path / "lm")
    with pytest.raises(ValueError, match=r"not a sequence-classification reward model.*LlamaForCausalLM"):
        build_supervisor(f"rm:{tmp_path / 'lm'}")


def test_a_model_without_a_trained_head_is_refused_at_load(tmp_path, sup_tokenizer_plain):
    from tiny_models import tiny_causal_lm

    tiny_causal_lm(sup_tokenizer_plain).save_pretrained(tmp_path / "lm")
    sup_tokenizer_plain.save_pretrained(tmp_path / "lm")
    config = json.loads((tmp_path / "lm" / "config.json").read_text())
    config.pop("architectures")  # nothing in config.json tells what it is
    (tmp_path / "lm" / "config.json").write_text(json.dumps(config))
    sup = build_supervisor(f"rm:{tmp_path / 'lm'}")
    with pytest.raises(ValueError, match=r"no trained weights for \['score.weight'\]"):
        sup.score(["p"], ["c"])


def test_half_a_supervisor_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"\['reward_chosen__b'\] have no counterpart"):
        _dpo_trainer(tmp_path, _pairs().remove_columns("reward_rejected__b"))


def test_gt_without_gt_column_is_refused(tmp_path):
    with pytest.raises(ValueError, match="needs gt_column.*carries no truth"):
        _dpo_trainer(tmp_path, _pairs(gt_label=[1] * 6), supervision="gt")


def test_yes_no_truth_strings_are_refused(tmp_path):
    from raven_align.recipes.data import truth_of

    answers = ["yes", "no"] * 3
    with pytest.raises(ValueError, match=r"truth column 'truth' must hold booleans or 0/1.*'yes' at row 0"):
        _dpo_trainer(tmp_path, _pairs(truth=answers), supervision="gt", gt_column="truth")
    with pytest.raises(ValueError, match="must hold booleans"):  # held-out evaluation reads it the same way
        truth_of(_pairs(truth=answers), "truth")


def test_all_zero_margins_are_refused(tmp_path):
    zeros = [0.0] * 6
    with pytest.raises(ValueError, match="every margin of every supervisor"):
        _dpo_trainer(
            tmp_path, _pairs(reward_chosen__a=zeros, reward_rejected__a=zeros, reward_rejected__b=zeros)
        )


def test_a_silent_supervisor_is_named_in_a_warning(tmp_path):
    from raven_align.trainers.preference import prepare_supervision

    zeros = [0.0] * 6
    with pytest.warns(UserWarning, match=r"supervisor\(s\) \['b'\] give a margin of 0"):
        prepare_supervision(_pairs(reward_rejected__b=zeros), _dpo_config(tmp_path))


def test_edited_labelled_data_cache_is_refused(tmp_path, sup_cache):
    from raven_align.recipes.data import persist_dataset

    folder = Path(persist_dataset(_pairs()).cache_files[0]["filename"]).parent
    arrow = next(folder.glob("data-*.arrow"))
    edited = arrow.read_bytes().replace(b"great fun 0", b"great fun 9")
    arrow.write_bytes(edited)
    with pytest.raises(ValueError, match=rf"{re.escape(str(arrow))} was changed.*delete"):
        persist_dataset(_pairs())


def test_truncated_cached_dataset_is_refused(tmp_path, sup_cache):
    from raven_align.recipes.data import persist_dataset

    folder = Path(persist_dataset(_pairs()).cache_files[0]["filename"]).parent
    arrow = next(folder.glob("data-*.arrow"))
    arrow.write_bytes(arrow.read_bytes()[:100])
    with pytest.raises(ValueError, match="changed or truncated.*delete"):
        persist_dataset(_pairs())


def test_edited_reference_margin_cache_is_refused(tmp_path):
    from raven_align.recipes.caches import read_margins, write_margins

    path = tmp_path / "raven_ref_margins-x.json"
    write_margins(path, [0.5, -1.0, 2.0])
    assert read_margins(path, 3) == [0.5, -1.0, 2.0]
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "margins": [-0.5, 1.0, -2.0]}))  # flipped: accuracies 0 -> 1
    with pytest.raises(ValueError, match="does not match its checksum.*delete"):
        read_margins(path, 3)
    path.write_text(json.dumps([0.5, -1.0, 2.0]))  # the unverifiable old format
    with pytest.raises(ValueError, match="old format"):
        read_margins(path, 3)


def _label_length(ds, cache_dir):
    from raven_align.labeling import label_dataset

    return label_dataset(ds, [build_supervisor("length")], cache_dir=cache_dir, show_progress=False)


def test_edited_labelling_cache_is_refused(tmp_path):
    ds = Dataset.from_list(PAIRS)
    _label_length(ds, tmp_path)
    path = next((tmp_path / "labels").rglob("*.npz"))
    with np.load(path) as z:
        content = {k: z[k] for k in z.files}
    content["chosen"] = -content["chosen"]
    np.savez(path, **content)
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))} does not match its checksum"):
        _label_length(ds, tmp_path)


def test_truncated_labelling_cache_is_refused(tmp_path):
    ds = Dataset.from_list(PAIRS)
    _label_length(ds, tmp_path)
    path = next((tmp_path / "labels").rglob("*.npz"))
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))} is unreadable.*--no-cache"):
        _label_length(ds, tmp_path)


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
    from raven_align.recipes.classify import run_recipe

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
    spec = "callable:test_bad_inputs:exploding_reward"
    with pytest.raises(RuntimeError, match="HF_HUB_OFFLINE"):
        main(["label", "--dataset", str(data), "-s", spec, "--push-to-hub", "me/labelled"])


def test_reward_push_offline_fails_before_loading(tmp_path, monkeypatch):
    from raven_align.recipes import reward

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
    spec = "x=callable:test_bad_inputs:exploding_reward"
    with pytest.raises(ValueError, match=r"Duplicate supervisor names \['x'\]"):
        main(["label", "--dataset", str(data), "-s", spec, "-s", spec, "--output-dir", str(tmp_path / "o")])


# -- unclear ------------------------------------------------------------------------------------------


def test_missing_model_path_is_named():
    with pytest.raises(FileNotFoundError, match="model path './no/such/rm' does not exist"):
        build_supervisor("rm:./no/such/rm")


def test_missing_strong_model_path_fails_first(tmp_path):
    with pytest.raises(FileNotFoundError, match="model path .*no/such/model' does not exist"):
        _dpo(tmp_path, "--model_name_or_path", str(tmp_path / "no/such/model"))


def test_empty_jsonl_is_named(tmp_path):
    from raven_align.recipes.data import load_data

    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ValueError, match="empty.jsonl is empty"):
        load_data(str(tmp_path / "empty.jsonl"))
    (tmp_path / "blank.jsonl").write_text("\n\n")
    with pytest.raises(ValueError, match="has no rows"):
        load_data(str(tmp_path / "blank.jsonl"))


def test_missing_data_file_is_named(tmp_path):
    from raven_align.recipes.data import load_data

    with pytest.raises(FileNotFoundError, match="'pairs.jsonl' does not exist"):
        load_data("pairs.jsonl")


def test_non_preference_data_is_named(tmp_path, no_labelling):
    data = _jsonl(tmp_path / "p.jsonl", [{"prompt": "p", "chosen": "c", "response_b": "r"}] * 6)
    with pytest.raises(ValueError, match=r"not preference data: no column\(s\) \['rejected'\]"):
        _dpo(tmp_path, data=data)


def test_bad_test_size_is_named(tmp_path):
    from raven_align.recipes.data import load_preference_splits

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
    from raven_align.recipes import dpo

    (tmp_path / "c.yaml").write_text(text)
    return dpo.make_parser().parse_args_and_config(
        ["--config", str(tmp_path / "c.yaml"), *CPU, "--output_dir", str(tmp_path), *argv]
    )


def test_yaml_single_supervisor_string_is_one_spec(tmp_path):
    from raven_align.recipes import reward

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
        _yaml(tmp_path, "max_eval_pairs: lots\n")
    err = capsys.readouterr().err
    assert "--max_eval_pairs" in err and "invalid int value: 'lots'" in err


@pytest.fixture(scope="module")
def failed_push(tmp_path_factory, sup_tokenizer_plain):
    """A one-step DPO run with --hub_token whose push fails like a network error: (error, output_dir, token)."""
    from huggingface_hub.errors import HfHubHTTPError
    from tiny_models import tiny_causal_lm

    from raven_align.recipes import dpo
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


def _images(path, n=60):
    g = np.random.default_rng(0)
    rows = {"img": [], "y": [], "dom": [], "p": []}
    for i in range(n):
        rows["img"].append(g.random((4, 4)).tolist())
        rows["y"].append(i % 3)
        rows["dom"].append("src" if i % 2 else "tgt")
        rows["p"].append(np.eye(3)[i % 3].tolist())
    Dataset.from_dict(rows).save_to_disk(str(path))


def _w2s(tmp_path, supervisors, dataset=None, **extra):
    from trl import TrlParser

    from raven_align.recipes.classify import W2SArguments
    from raven_align.trainers import RavenClassificationConfig

    config = {
        "dataset": str(dataset or tmp_path / "data"),
        "modality": "image",
        "input_column": "img",
        "dataset_label_column": "y",
        "domain_column": "dom",
        "image_size": 4,
        "supervisors": supervisors,
        "ood_domains": ["tgt"],
        "seeds": [0],
        "strong_model": "cnn",
        "output_dir": str(tmp_path / "out"),
        "use_cpu": True,
        "report_to": "none",
        **extra,
    }
    (tmp_path / "w2s.yaml").write_text(json.dumps(config))
    return TrlParser((W2SArguments, RavenClassificationConfig)).parse_args_and_config(
        ["--config", str(tmp_path / "w2s.yaml")]
    )


def test_classifier_of_other_classes_is_refused(tmp_path, no_weak_training):
    from test_data_forms import tiny_vit

    from raven_align.recipes.classify import run_recipe

    _images(tmp_path / "data")
    vit = tiny_vit(tmp_path / "vit", num_labels=2)
    recipe, training = _w2s(
        tmp_path, {"s": {"kind": "logreg", "domains": ["src"]}, "vit": f"classifier:{vit}"}
    )
    with pytest.raises(ValueError, match=r"classifier 'vit' .* has 2 labels .* the task has 3 classes"):
        run_recipe(recipe, training)


def test_preference_spec_in_the_classification_recipe_is_refused(tmp_path, no_weak_training):
    from raven_align.recipes.classify import run_recipe

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


# -- the catalogue ------------------------------------------------------------------------------------


def test_the_catalogue_names_one_test_per_row():
    rows = [line for line in CATALOGUE.read_text().splitlines() if re.match(r"^\| \d+ \|", line)]
    named = [re.findall(r"`(test_\w+)`", row) for row in rows]
    assert all(len(n) == 1 for n in named), [r for r, n in zip(rows, named, strict=True) if len(n) != 1]
    tests = {n for n in globals() if n.startswith("test_")} - {"test_the_catalogue_names_one_test_per_row"}
    assert sorted(n[0] for n in named) == sorted(tests)  # every row has its test, every test its row
    assert len(rows) >= 30
