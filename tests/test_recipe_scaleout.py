"""The recipes on several processes and across an interruption: the DPO recipe on two CPU processes labels in
shares, writes once and matches one process; the DPO and classification recipes resume from a checkpoint to the same
weights and model as an uninterrupted run, reusing the labelling and the reference pass."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file
from test_multiprocess import ROOT, launch_two_processes
from test_preference_recipe import _tiny_assets
from test_w2s_recipe import _tiny_images

from raven_align.programs import classify, dpo

pytestmark = pytest.mark.usefixtures("one_thread")


def _dpo_argv(model_dir, data_dir, out, batch: int, *extra) -> list[str]:
    return [
        "--dataset_name", data_dir, "--supervisors", "len=length", "vader", "--model_name_or_path", model_dir,
        "--output_dir", str(out), "--use_peft", "true", "--lora_r", "4", "--lora_alpha", "8",
        "--lora_target_modules", "q_proj", "v_proj", "--per_device_train_batch_size", str(batch),
        "--max_steps", "4", "--learning_rate", "1e-3", "--supervisor_lr", "0.5",
        "--weight_update_rule", "exponentiated", "--margin_normalization", "std", "--max_length", "32",
        "--use_cpu", "true", "--bf16", "false", "--gradient_checkpointing", "false", "--report_to", "none",
        "--save_strategy", "no", "--precompute_ref_log_probs", "true", "--eval_batch_size", "4",
        "--logging_steps", "1", "--disable_tqdm", "true", *extra,
    ]  # fmt: skip


def _run_dpo(argv):
    return dpo.run(*dpo.make_parser().parse_args_and_config(argv))


def test_dpo_recipe_on_two_processes(sup_tokenizer_plain, sup_cache, tmp_path):
    pytest.importorskip("vaderSentiment")
    model_dir, data_dir = _tiny_assets(tmp_path, sup_tokenizer_plain)
    out = tmp_path / "two"
    # evaluating on the labelled held-out pairs as it trains, in shares
    evaluating = ("--eval_strategy", "steps", "--eval_steps", "2")
    run = launch_two_processes(
        str(ROOT / "recipes" / "preference_alignment" / "run.py"),
        *_dpo_argv(model_dir, data_dir, out, 2, *evaluating),
        env={"RAVEN_ALIGN_CACHE": str(sup_cache), "HF_HUB_OFFLINE": "1"},
    )
    assert run.stdout.count('"timing"') == 1  # the summary is printed by the main process only
    two = json.loads((out / "results.json").read_text())
    assert two["processes"]["world_size"] == 2
    assert two["processes"]["backend"] == "multi_cpu"
    # labelled once, in shares: each process scored half of the 12 training and 4 held-out pairs
    for rank in two["processes"]["rows_scored"]:
        assert rank["train"] == {"rows": 12, "scored_here": {"len": 6, "vader": 6}}
        assert rank["target"] == {"rows": 4, "scored_here": {"len": 2, "vader": 2}}
    assert (out / "adapter_model.safetensors").is_file() and (out / "raven_weights.png").is_file()
    # the same global batch on one process: the same weights and the same held-out margins
    one = _run_dpo(_dpo_argv(model_dir, data_dir, tmp_path / "one", 4, *evaluating))
    assert two["weights"] == pytest.approx(one["weights"], abs=1e-5)
    for split in ("target",):
        a, b = two["splits"][split]["strong_after"], one["splits"][split]["strong_after"]
        assert a == pytest.approx(b, abs=1e-6)
    # the evaluations during training (TRL's and RAVEN's metrics) and the final results logged once, as on one process
    logs = [
        json.loads((tmp_path / r / "trainer_state.json").read_text())["log_history"] for r in ("two", "one")
    ]
    evals = [[e for e in log if "eval_loss" in e] for log in logs]
    assert [e["step"] for e in evals[0]] == [2, 4]
    keys = ("eval_loss", "eval_rewards/margins", "eval_raven/accuracy", "eval_raven/mixture_accuracy")
    for e2, e1 in zip(*evals, strict=True):
        assert [e2[k] for k in keys] == pytest.approx([e1[k] for k in keys], abs=1e-5)
    assert [len([e for e in log if "final/target/mixture_accuracy" in e]) for log in logs] == [1, 1]


def _adapter(path) -> dict:
    return load_file(str(path / "adapter_model.safetensors"))


def test_dpo_recipe_resumes_to_the_uninterrupted_run(sup_tokenizer_plain, sup_cache, tmp_path):
    pytest.importorskip("vaderSentiment")
    model_dir, data_dir = _tiny_assets(tmp_path, sup_tokenizer_plain)
    save = ("--save_strategy", "steps", "--save_steps", "2")
    full = _run_dpo(_dpo_argv(model_dir, data_dir, tmp_path / "full", 2, *save))
    # an interrupted run: only its first checkpoint survived
    (tmp_path / "cut").mkdir()
    shutil.copytree(tmp_path / "full" / "checkpoint-2", tmp_path / "cut" / "checkpoint-2")
    resumed = _run_dpo(
        _dpo_argv(model_dir, data_dir, tmp_path / "cut", 2, *save, "--resume_from_checkpoint",
                  str(tmp_path / "cut" / "checkpoint-2"))
    )  # fmt: skip
    assert resumed["timing"]["steps"] == 4
    summary = [json.loads((tmp_path / d / "raven_weights.json").read_text()) for d in ("full", "cut")]
    assert len(summary[0]["history"]) == 5
    for a, b in zip(summary[0]["history"], summary[1]["history"], strict=True):
        assert a == pytest.approx(b, abs=1e-6)
    adapters = [_adapter(tmp_path / d) for d in ("full", "cut")]
    assert adapters[0].keys() == adapters[1].keys()
    for k in adapters[0]:
        torch.testing.assert_close(adapters[0][k], adapters[1][k], atol=1e-6, rtol=1e-5)
    # labelling came from the cache, and the reference margins of the held-out pairs were reused
    assert all(set(s.values()) == {"hit"} for s in resumed["processes"]["labelling_cache"][0].values())
    assert resumed["splits"]["target"]["strong_before"] == full["splits"]["target"]["strong_before"]
    assert resumed["splits"]["target"]["strong_after"] == pytest.approx(
        full["splits"]["target"]["strong_after"]
    )


def _classify_argv(data, out, *extra) -> list[str]:
    config = {
        "dataset_name": str(data), "modality": "image", "input_column": "img", "dataset_label_column": "y",
        "domain_column": "dom", "image_size": 8, "supervisors": {"good": {"kind": "logreg", "domains": ["src"]},
        "flipped": {"kind": "logreg", "domains": ["src"], "corruption": {"invert": 1}}},
        "ood_domains": ["tgt"], "val_size": 10, "model_name_or_path": "cnn", "seeds": [0], "scenarios": ["ood"],
        "methods": {"raven": {"weight_update_rule": "exponentiated", "supervisor_lr": 0.5}}, "naive_each": False,
    }  # fmt: skip
    (out.parent / "c.yaml").write_text(json.dumps(config))
    return [
        "--config", str(out.parent / "c.yaml"), "--output_dir", str(out), "--max_steps", "6",
        "--per_device_train_batch_size", "16", "--use_cpu", "true", "--report_to", "none",
        "--disable_tqdm", "true", "--save_strategy", "steps", "--save_steps", "3", *extra,
    ]  # fmt: skip


def test_classification_recipe_resumes_to_the_uninterrupted_run(sup_cache, tmp_path):
    pytest.importorskip("sklearn")
    _tiny_images(tmp_path / "data")
    (tmp_path / "full").mkdir()
    full = classify.main(_classify_argv(tmp_path / "data", tmp_path / "full" / "out"))
    run_dir = "runs/ood-raven-seed0"
    (tmp_path / "cut").mkdir()
    shutil.copytree(
        tmp_path / "full" / "out" / run_dir / "checkpoint-3",
        tmp_path / "cut" / "out" / run_dir / "checkpoint-3",
    )
    resumed = classify.main(
        _classify_argv(tmp_path / "data", tmp_path / "cut" / "out", "--resume_from_checkpoint", "true")
    )
    a, b = full["runs"][0], resumed["runs"][0]
    assert a["steps"] == b["steps"] == 6
    for wa, wb in zip(a["history"], b["history"], strict=True):
        assert wa == pytest.approx(wb, abs=1e-6)
    assert a["accuracy"] == pytest.approx(b["accuracy"]) and a["weights"] == pytest.approx(
        b["weights"], abs=1e-6
    )
