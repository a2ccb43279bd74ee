"""Bad options, second round (docs/bad_inputs.md rows 56-79, one test per row): every option is checked when it is
parsed or before anything expensive, and one output-folder rule keeps every program from overwriting a finished
run. A test runs a program only up to its check: data that does not exist (`MISSING`) or the labelling and
weak-training spies of conftest.py fail differently if the check is gone.
"""

import pytest
from bad_input_helpers import CPU, MISSING, PAIRS, _dpo, _full, _images, _jsonl, _untouched, _w2s

LOGREG = {"s": {"kind": "logreg", "domains": ["src"]}}


def _parse(program: str, *argv: str, tmp_path=None):
    """Parse ``argv`` with a program's own parser (no run)."""
    from raven_align.programs import classify, dpo, reward

    module = {"dpo": dpo, "reward": reward, "classify": classify}[program]
    out = ["--output_dir", str(tmp_path / "o")] if tmp_path is not None else []
    return module.make_parser().parse_args_and_config(args=[*argv, *CPU, *out])


def _reward_model(path, tokenizer, num_labels=1):
    """A tiny sequence-classification model saved in ``path`` (``num_labels=1``: a reward model)."""
    import torch
    from tiny_models import tiny_llama_config
    from transformers import LlamaForSequenceClassification

    torch.manual_seed(0)
    LlamaForSequenceClassification(tiny_llama_config(tokenizer, num_labels=num_labels)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


# -- one output-folder rule -----------------------------------------------------------------------------------


def test_classify_resume_false_does_not_unlock_the_output_dir(tmp_path):
    from raven_align.programs.classify import run_recipe

    out = _full(tmp_path / "out")
    recipe, training = _w2s(tmp_path, LOGREG, dataset=MISSING, resume_from_checkpoint="false")
    with pytest.raises(FileExistsError, match="is not empty"):
        run_recipe(recipe, training)
    assert _untouched(out)


def test_classify_resume_true_without_a_checkpoint_is_named(tmp_path):
    from raven_align.pipeline.outputs import prepare_output_dir
    from raven_align.programs.classify import run_recipe

    out = _full(tmp_path / "out")
    recipe, training = _w2s(tmp_path, LOGREG, dataset=MISSING, resume_from_checkpoint="true")
    with pytest.raises(FileNotFoundError, match="no run in .* has a checkpoint-<step> folder"):
        run_recipe(recipe, training)
    assert _untouched(out)
    (out / "runs" / "ood-raven-seed0" / "checkpoint-2").mkdir(parents=True)  # a run of this output_dir
    assert prepare_output_dir(str(out), False, "true", per_run=True) == str(out)


def test_classify_resume_from_elsewhere_is_refused(tmp_path):
    from raven_align.programs.classify import run_recipe

    out, ckpt = _full(tmp_path / "out"), tmp_path / "other_run" / "runs" / "ood-raven-seed0" / "checkpoint-2"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text("{}")
    recipe, training = _w2s(tmp_path, LOGREG, dataset=MISSING, resume_from_checkpoint=str(ckpt))
    with pytest.raises(ValueError, match="is not inside output_dir"):
        run_recipe(recipe, training)
    assert _untouched(out)


# -- generation evaluation ------------------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["num_eval_prompts", "max_new_tokens", "generation_batch_size"])
def test_zero_generation_counts_fail_at_parse(tmp_path, option):
    with pytest.raises(ValueError, match=f"{option} must be at least 1, got 0"):
        _parse("dpo", f"--{option}", "0", tmp_path=tmp_path)


@pytest.mark.parametrize("value", ["0", "-0.5", "nan"])
def test_non_positive_generation_temperature_fails_at_parse(tmp_path, value):
    with pytest.raises(ValueError, match="generation_temperature must be a finite number > 0"):
        _parse("dpo", "--generation_temperature", value, tmp_path=tmp_path)


@pytest.mark.parametrize("value", ["0", "1.5"])
def test_generation_top_p_outside_0_1_fails_at_parse(tmp_path, value):
    with pytest.raises(ValueError, match=r"generation_top_p must be in \(0, 1\]"):
        _parse("dpo", "--generation_top_p", value, tmp_path=tmp_path)


def test_more_eval_prompts_than_distinct_prompts_warns_before_labelling(
    tmp_path, sup_tokenizer_plain, no_labelling
):
    data, gold = _jsonl(tmp_path / "p.jsonl", PAIRS), _reward_model(tmp_path / "gold", sup_tokenizer_plain)
    flags = ["--evaluate_generations", "true", "--gold_model", str(gold), "--num_eval_prompts", "8"]
    with pytest.warns(UserWarning, match="num_eval_prompts=8, but .* 1 distinct prompt.* zero width"):
        with pytest.raises(AssertionError, match="labelling started"):  # a warning, and the run goes on
            _dpo(tmp_path, *flags, data=data)


# -- the label model, the gold model and reward models ---------------------------------------------------------


def test_triplet_label_model_with_two_supervisors_fails_before_labelling(tmp_path):
    flags = [
        "--supervision",
        "label_model",
        "--label_model",
        "triplet",
        "--supervisors",
        "length",
        "b=length",
    ]
    with pytest.raises(ValueError, match="label_model='triplet' needs at least 3 supervisors.*has 2"):
        _dpo(tmp_path, *flags)  # MISSING data: the check comes first


def test_triplet_label_model_on_classes_fails_before_weak_training(tmp_path, no_weak_training):
    from raven_align.programs.classify import run_recipe

    _images(tmp_path / "data")
    methods = {"lm": {"supervision": "label_model", "label_model": "triplet"}}
    recipe, training = _w2s(tmp_path, LOGREG, methods=methods, naive_each=False)
    with pytest.raises(ValueError, match="method 'lm'.*'triplet' is defined for preference margins only"):
        run_recipe(recipe, training)


def test_two_label_classifier_as_reward_model_is_refused(tmp_path, sup_tokenizer_plain):
    from raven_align.pipeline.specs import build_supervisor

    path = _reward_model(tmp_path / "clf", sup_tokenizer_plain, num_labels=2)
    with pytest.raises(ValueError, match=r"has 2 outputs .*a reward model has one \(num_labels=1\)"):
        build_supervisor(f"rm:{path}")


def test_two_label_classifier_as_gold_model_fails_before_labelling(
    tmp_path, sup_tokenizer_plain, no_labelling
):
    data = _jsonl(tmp_path / "p.jsonl", PAIRS)
    gold = _reward_model(tmp_path / "clf", sup_tokenizer_plain, num_labels=2)
    flags = ["--evaluate_generations", "true", "--gold_model", str(gold), "--num_eval_prompts", "1"]
    with pytest.raises(ValueError, match="has 2 outputs"):
        _dpo(tmp_path, *flags, data=data)


def test_gold_model_that_is_a_supervisor_fails_before_labelling(tmp_path, sup_tokenizer_plain, no_labelling):
    data, rm = _jsonl(tmp_path / "p.jsonl", PAIRS), _reward_model(tmp_path / "rm", sup_tokenizer_plain)
    flags = ["--evaluate_generations", "true", "--gold_model", str(rm), "--num_eval_prompts", "1"]
    with pytest.raises(ValueError, match="gold model .* is also the supervisor 'judge'"):
        _dpo(tmp_path, *flags, "--supervisors", "length", f"judge=rm:{tmp_path}/./rm", data=data)
    # a copy of its folder, under another name, holds the same weights
    import shutil

    shutil.copytree(rm, tmp_path / "copy")
    with pytest.raises(
        ValueError, match=r"gold model .* has the same weights as the supervisor 'twin' \(.*copy"
    ):
        _dpo(tmp_path, *flags, "--supervisors", "length", f"twin=rm:{tmp_path}/copy", data=data)


def test_label_model_with_two_supervisors_warns(tmp_path):
    flags = ["--supervision", "label_model", "--supervisors", "length", "b=length"]
    with pytest.warns(UserWarning, match="sees 2 supervisor.*fewer than 3"):
        with pytest.raises(FileNotFoundError):  # the run goes on, to the (missing) data
            _dpo(tmp_path, *flags)


def test_gold_model_without_generation_evaluation_warns(tmp_path):
    with pytest.warns(
        UserWarning, match="gold_model='embedded:gold_rm' is set but evaluate_generations is false"
    ):
        _parse("dpo", "--gold_model", "embedded:gold_rm", tmp_path=tmp_path)


# -- the Hub and configs --------------------------------------------------------------------------------------


def test_illegal_hub_model_id_fails_before_any_work(tmp_path):
    from raven_align.cli import main

    with pytest.raises(ValueError, match="hub_model_id 'me/bad id!' is not a valid Hub repository ID"):
        _dpo(tmp_path, "--push_to_hub", "true", "--hub_model_id", "me/bad id!")  # before the offline check
    data = _jsonl(tmp_path / "p.jsonl", PAIRS)
    spec = "callable:bad_input_helpers:exploding_reward"
    with pytest.raises(ValueError, match="--push_to_hub 'a--b' is not a valid Hub repository ID"):
        main(["label", "--dataset_name", str(data), "-s", spec, "--push_to_hub", "a--b"])


@pytest.mark.parametrize(
    "program, yaml, owner",
    [
        ("dpo", "classification/reviews.yaml", "classify"),
        ("dpo", "reward_modeling/minilm_movies_weak.yaml", "reward"),
        ("reward", "preference_alignment/embedded_default.yaml", "dpo"),
        ("classify", "reward_modeling/minilm_amazon_food.yaml", "reward"),
    ],
)
def test_another_programs_yaml_names_its_program(program, yaml, owner):
    from pathlib import Path

    path = Path(__file__).parents[1] / "recipes" / yaml
    with pytest.raises(
        ValueError, match=f"options of `raven-align {owner}`.*run `raven-align {owner} --config"
    ):
        _parse(program, "--config", str(path))


def test_paper_prob_with_chance_objective_fails_at_parse(tmp_path):
    flags = ["--raven_loss_type", "paper_prob", "--weight_objective", "chance"]
    with pytest.raises(
        ValueError, match=r"(?=.*weight_objective='chance')(?=.*raven_loss_type='paper_prob')"
    ):
        _parse("dpo", *flags, tmp_path=tmp_path)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--supervision", "gt", "--gt_confidence", "0.5"], r"gt_confidence must be in \(0.5, 1\], got 0.5"),
        (["--supervision", "gt", "--gt_confidence", "1.2"], r"gt_confidence must be in \(0.5, 1\], got 1.2"),
        (["--supervision", "ens", "--gt_confidence", "0.8"], r"read by supervision='gt' only.*'ens'"),
    ],
)
def test_a_gt_confidence_that_cannot_apply_is_refused(tmp_path, flags, message):
    with pytest.raises(ValueError, match=message):
        _parse("dpo", *flags, tmp_path=tmp_path)
    # plain reward modelling is TRL's Bradley-Terry loss, with no label smoothing to give the truth a confidence
    from datasets import Dataset

    from raven_align.trainers import RavenRewardConfig, RavenRewardTrainer

    args = RavenRewardConfig(output_dir=str(tmp_path / "r"), supervision="gt", gt_confidence=0.8, use_cpu=True,
                             report_to="none")  # fmt: skip
    with pytest.raises(ValueError, match="no label smoothing; leave gt_confidence at 1"):
        RavenRewardTrainer(model=None, args=args, train_dataset=Dataset.from_list(PAIRS))


# -- sizes, counts, fractions and training settings --------------------------------------------------------------


@pytest.mark.parametrize("program", ["dpo", "reward"])
@pytest.mark.parametrize("option", ["max_train_samples", "max_eval_samples", "max_chars"])
def test_zero_data_sizes_fail_at_parse(tmp_path, program, option):
    with pytest.raises(ValueError, match=f"{option} must be at least 1, got 0: give a number of"):
        _parse(program, f"--{option}", "0", tmp_path=tmp_path)


@pytest.mark.parametrize(
    "program, option",
    [("dpo", "supervisor_batch_size"), ("dpo", "eval_batch_size"), ("dpo", "supervisor_max_length"),
     ("reward", "supervisor_batch_size"), ("label", "supervisor_batch_size")],
)  # fmt: skip
def test_zero_batch_sizes_fail_at_parse(tmp_path, program, option):
    from raven_align.cli import main

    with pytest.raises(ValueError, match=f"{option} must be at least 1, got 0"):
        if program == "label":  # before any scoring (the callable would raise AssertionError)
            spec = "callable:bad_input_helpers:exploding_reward"
            data = _jsonl(tmp_path / "p.jsonl", PAIRS)
            main(["label", "--dataset_name", str(data), "-s", spec, "--output_dir", str(tmp_path / "l"),
                  f"--{option}", "0"])  # fmt: skip
        else:
            _parse(program, f"--{option}", "0", tmp_path=tmp_path)


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"weak_fraction": 0.0}, r"weak_fraction must be in \(0, 1\)"),
        ({"weak_fraction": 1.0}, r"weak_fraction must be in \(0, 1\)"),
        ({"val_size": 0}, "val_size must be at least 1"),
        ({"num_classes": 1}, "num_classes must be at least 2"),
        ({"image_size": 0}, "image_size must be at least 1"),
        ({"seeds": [0, 0]}, "seeds must be distinct"),
        ({"scenarios": ["ood", "oood"]}, "scenarios must be distinct, some of"),
    ],
)
def test_classification_sizes_and_fractions_fail_at_parse(tmp_path, extra, message):
    with pytest.raises(ValueError, match=message):
        _w2s(tmp_path, LOGREG, dataset=MISSING, **extra)


def test_unknown_eval_domain_fails_at_parse(tmp_path):
    with pytest.raises(ValueError, match="eval_domains: 'imdb' is not an embedded domain"):
        _parse("reward", "--eval_domains", "amazon_food", "imdb", tmp_path=tmp_path)


@pytest.mark.parametrize(
    "program, option, value, message",
    [
        ("dpo", "per_device_train_batch_size", 0, "per_device_train_batch_size must be at least 1"),
        ("dpo", "beta", 0.0, "beta must be a finite number > 0"),
        ("reward", "gradient_accumulation_steps", 0, "gradient_accumulation_steps must be at least 1"),
        ("classify", "num_train_epochs", 0, "num_train_epochs=0 with max_steps=-1 trains for no step"),
    ],
)
def test_training_settings_that_train_nothing_fail_before_data(tmp_path, program, option, value, message):
    from raven_align.programs import reward
    from raven_align.programs.classify import run_recipe

    with pytest.raises(ValueError, match=message):  # MISSING data: the check comes first
        if program == "dpo":
            _dpo(tmp_path, f"--{option}", str(value))
        elif program == "reward":
            reward.main(["--dataset_name", MISSING, "--supervision", "gt", f"--{option}", str(value), *CPU,
                         "--output_dir", str(tmp_path / "out")])  # fmt: skip
        else:
            run_recipe(*_w2s(tmp_path, LOGREG, dataset=MISSING, **{option: value}))


def test_classify_push_to_hub_is_refused_before_data(tmp_path):
    from raven_align.programs.classify import run_recipe

    recipe, training = _w2s(tmp_path, LOGREG, dataset=MISSING, push_to_hub=True, hub_model_id="me/w2s")
    with pytest.raises(ValueError, match="push_to_hub: the classification program .* `hf upload me/w2s"):
        run_recipe(recipe, training)


def test_output_dir_that_is_a_file_is_refused(tmp_path):
    from raven_align.cli import main
    from raven_align.programs.classify import run_recipe

    out = tmp_path / "out"
    out.write_text("notes")
    with pytest.raises(FileExistsError, match="is a file, not a folder"):
        _dpo(tmp_path)
    with pytest.raises(FileExistsError, match="is a file, not a folder"):
        run_recipe(*_w2s(tmp_path, LOGREG, dataset=MISSING))
    data, spec = _jsonl(tmp_path / "p.jsonl", PAIRS), "callable:bad_input_helpers:exploding_reward"
    with pytest.raises(FileExistsError, match="is a file, not a folder"):
        main(
            [
                "label",
                "--dataset_name",
                str(data),
                "-s",
                spec,
                "--output_dir",
                str(out),
                "--overwrite_output_dir",
            ]
        )
    assert out.read_text() == "notes"
