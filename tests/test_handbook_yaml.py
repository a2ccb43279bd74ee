"""A TRL user's config runs unchanged (issue 21): an alignment-handbook DPO YAML on UltraFeedback-shaped data, and a
TRL `datasets:` mixture YAML, run once RAVEN's `supervisors` are added; with `eval_strategy: steps` the trainer
evaluates on the labelled held-out pairs as it trains (TRL's `eval_*` metrics and RAVEN's), and the final results
go to the logs and the model card. Tiny models, CPU, nothing downloaded."""

import json

import pytest
import yaml
from datasets import Dataset, DatasetDict
from tiny_models import tiny_causal_lm

GOOD, BAD = "great excellent tense thriller, loved it", "awful boring slow poor"


def _ultrafeedback(n: int, offset: int = 0) -> list[dict]:
    """HuggingFaceH4/ultrafeedback_binarized's columns: a `prompt` string, `chosen`/`rejected` conversations that
    start with it, `messages`, `score_chosen`/`score_rejected` and `prompt_id`."""
    rows = []
    for i in range(offset, offset + n):
        prompt = f"Review movie {i}."
        user = {"role": "user", "content": prompt}
        chosen = [user, {"role": "assistant", "content": GOOD}]
        rows.append(
            {
                "prompt": prompt,
                "prompt_id": f"id{i}",
                "chosen": chosen,
                "rejected": [user, {"role": "assistant", "content": BAD}],
                "messages": chosen,
                "score_chosen": 8.0 + i % 2,
                "score_rejected": 3.0,
            }
        )
    return rows


def _model(tmp_path, tok) -> str:
    model_dir = tmp_path / "tiny-lm"
    tiny_causal_lm(tok, seed=0).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    return str(model_dir)


#: the training settings of a handbook DPO recipe (zephyr-7b-beta/dpo/config_qlora.yaml), sized for a CPU
HANDBOOK = """
# Model arguments
model_name_or_path: {model}
torch_dtype: float32

# LoRA arguments
use_peft: true
lora_r: 4
lora_alpha: 8
lora_dropout: 0.05
lora_target_modules:
- q_proj
- v_proj

# Data training arguments
dataset_name: {data}
dataset_train_split: train_prefs
dataset_test_split: test_prefs
dataset_num_proc: 1

# DPOTrainer arguments
bf16: false
use_cpu: true
beta: 0.1
do_eval: true
eval_strategy: steps
eval_steps: 2
gradient_accumulation_steps: 1
gradient_checkpointing: false
learning_rate: 1.0e-3
log_level: warning
logging_steps: 1
lr_scheduler_type: cosine
loss_type: [sigmoid]
max_length: 48
max_prompt_length: 24
max_steps: 4
optim: adamw_torch
output_dir: {out}
per_device_train_batch_size: 4
per_device_eval_batch_size: 2
report_to: none
save_strategy: "no"
seed: 42
warmup_ratio: 0.1
"""
#: what RAVEN adds: the weak supervisors (here a length heuristic and UltraFeedback's own scores)
RAVEN_KEYS = {"supervisors": ["len=length", "uf=column:score_chosen,score_rejected"]}


def _run(path):
    from raven_align.programs import dpo

    return dpo.run(*dpo.make_parser().parse_args_and_config(["--config", str(path)]))


def _log_history(out) -> list[dict]:
    return json.loads((out / "trainer_state.json").read_text())["log_history"]


def test_a_handbook_dpo_yaml_runs_and_evaluates_as_it_trains(sup_tokenizer, sup_cache, tmp_path):
    DatasetDict(
        {
            "train_prefs": Dataset.from_list(_ultrafeedback(12)),
            "test_prefs": Dataset.from_list(_ultrafeedback(4, offset=12)),
        }
    ).save_to_disk(tmp_path / "ultrafeedback")
    out = tmp_path / "out"
    config = HANDBOOK.format(model=_model(tmp_path, sup_tokenizer), data=tmp_path / "ultrafeedback", out=out)
    path = tmp_path / "handbook.yaml"
    path.write_text(config + yaml.safe_dump(RAVEN_KEYS))
    # the handbook's older spellings are read as transformers/TRL name them now, each with a warning
    with pytest.warns(UserWarning, match="`torch_dtype` is the old name of `dtype`"):
        results = _run(path)
    assert results["timing"]["steps"] == 4 and results["weights"].keys() == {"len", "uf"}
    assert results["splits"]["target"]["num_pairs"] == 4  # the test_prefs split
    assert results["config"]["training"]["warmup_steps"] == 0.1
    history = _log_history(out)
    evals = [e for e in history if "eval_loss" in e]
    assert [e["step"] for e in evals] == [2, 4]  # eval_steps: 2 of max_steps: 4
    for entry in evals:  # TRL's evaluation metrics and RAVEN's, with TRL's eval_ prefix
        for key in (
            "eval_rewards/accuracies",
            "eval_rewards/margins",
            "eval_logps/chosen",
            "eval_raven/agreement",
        ):
            assert key in entry, (key, entry)
        assert 0 <= entry["eval_raven/mixture_prob"] <= 1
    assert any("raven/weight/uf" in e for e in history)  # training logs keep RAVEN's weights
    # the final held-out results are logged once, after training, and summarised in the card
    final = [e for e in history if "final/target/implicit_reward_accuracy_after" in e]
    assert len(final) == 1
    after = results["splits"]["target"]["strong_after"]["implicit_reward_accuracy"]
    assert final[0]["final/target/implicit_reward_accuracy_after"] == pytest.approx(after)
    assert final[0]["final/target/mixture_accuracy"] == results["splits"]["target"]["mixture_accuracy"]
    card = (out / "README.md").read_text()
    assert "### Results" in card and "`target/implicit_reward_accuracy_after`" in card


def _pairs(n: int, offset: int = 0) -> list[dict]:
    return [
        {
            "prompt": f"Review movie {i}.",
            "chosen": GOOD if i % 2 else BAD,
            "rejected": BAD if i % 2 else GOOD,
            "gt_label": i % 2,
        }
        for i in range(offset, offset + n)
    ]


def test_a_trl_datasets_mixture_of_two_local_sources_runs(sup_tokenizer_plain, sup_cache, tmp_path):
    pytest.importorskip("vaderSentiment")
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in _pairs(8)))
    extra = [{**r, "source": "b"} for r in _pairs(8, offset=8)]
    DatasetDict({"train": Dataset.from_list(_pairs(2, 20)), "extra": Dataset.from_list(extra)}).save_to_disk(
        tmp_path / "b"
    )
    out = tmp_path / "out"
    config = {
        "model_name_or_path": _model(tmp_path, sup_tokenizer_plain),
        # TRL's mixture: a JSON file through TRL's get_dataset, and a save_to_disk split with a column dropped
        "datasets": [
            {"path": "json", "data_files": str(jsonl), "split": "train"},
            {
                "path": str(tmp_path / "b"),
                "split": "extra",
                "columns": ["prompt", "chosen", "rejected", "gt_label"],
            },
        ],
        "test_split_size": 4,
        "use_peft": True,
        "lora_r": 4,
        "lora_target_modules": ["q_proj", "v_proj"],
        "eval_strategy": "steps",
        "eval_steps": 3,
        "max_steps": 3,
        "per_device_train_batch_size": 4,
        "per_device_eval_batch_size": 4,
        "learning_rate": 1e-3,
        "max_length": 32,
        "logging_steps": 1,
        "use_cpu": True,
        "bf16": False,
        "report_to": "none",
        "save_strategy": "no",
        "output_dir": str(out),
        "supervisors": ["len=length", "vader"],  # RAVEN's own
    }
    path = tmp_path / "mixture.yaml"
    path.write_text(yaml.safe_dump(config))
    results = _run(path)
    target = results["splits"]["target"]
    assert target["num_pairs"] == 4 and results["timing"]["steps"] == 3
    assert target["supervisor_accuracy"]["vader"] == 1.0  # the truth column came through the mixture
    assert results["config"]["script"]["datasets"][1]["split"] == "extra"
    (entry,) = [e for e in _log_history(out) if "eval_loss" in e]
    # with a truth column, the evaluation also measures the policy and the mixture against it (ties count half)
    assert entry["eval_raven/mixture_accuracy"] == pytest.approx(target["mixture_accuracy"])
    assert 0 <= entry["eval_raven/accuracy"] <= 1
    assert "+" in (out / "results.md").read_text().splitlines()[0]  # titled by its sources


def test_the_readme_config_is_a_trl_config_plus_commented_raven_keys(tmp_path):
    """README's config parses as the DPO program's, and every key of RAVEN's own (not TRL's `ScriptArguments`,
    `DatasetMixtureConfig`, `DPOConfig` or `ModelConfig`) carries a `# RAVEN` comment."""
    import re
    from dataclasses import fields
    from pathlib import Path

    from trl import DatasetMixtureConfig, DPOConfig, ModelConfig, ScriptArguments

    from raven_align.programs import dpo
    from raven_align.trainers import RavenDPOConfig

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("## Your TRL config, plus supervisors") :]
    text = re.search(r"```yaml\n(.*?)```", section, flags=re.S).group(1)
    trl = {f.name for t in (ScriptArguments, DatasetMixtureConfig, DPOConfig, ModelConfig) for f in fields(t)}
    ours = {f.name for t in (dpo.PreferenceRecipeArguments, RavenDPOConfig) for f in fields(t)} - trl
    lines = {m.group(1): line for line in text.splitlines() if (m := re.match(r"^(\w+):", line))}
    assert {"supervisors", "supervision"} <= lines.keys()
    for key, line in lines.items():
        assert ("# RAVEN" in line) == (key in ours), line
    path = tmp_path / "readme.yaml"
    path.write_text(text)
    argv = ["--config", str(path), "--output_dir", str(tmp_path / "o"), "--use_cpu", "true"]
    script, training, model = dpo.make_parser().parse_args_and_config(argv)
    assert script.dataset_test_split == "test_prefs" and len(script.supervisors) == 2
    assert training.eval_strategy == "steps" and training.supervision == "raven" and model.use_peft
