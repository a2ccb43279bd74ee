"""recipes/reward_modeling: argument parsing (YAML + CLI), the shipped configs, and one-step runs on a tiny model."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "reward_modeling"
ROWS = [
    ("Review the tea.", "The tea tastes great and arrived quickly.", "Awful taste, stale and overpriced."),
    ("Review the medication.", "This medication helped my migraines a lot.", "Terrible side effects."),
    (
        "Write a short review of the movie Alien.",
        "A tense, beautifully made thriller.",
        "Dull, slow, too long.",
    ),
    ("Write a short review of the movie Alien.", "Excellent and tense.", "Boring and poor."),
]


def _recipe():
    from raven_align.programs import reward

    return reward


@pytest.fixture()
def tiny_rm_dir(tmp_path, sup_tokenizer_plain):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(sup_tokenizer_plain),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=256,
        num_labels=1,
        pad_token_id=sup_tokenizer_plain.pad_token_id,
    )
    path = tmp_path / "tiny_rm"
    BertForSequenceClassification(config).save_pretrained(path)
    sup_tokenizer_plain.save_pretrained(path)
    return path


@pytest.fixture()
def pairs_dir(tmp_path):
    """A local DatasetDict (chosen = truly better) with train and test splits."""
    from datasets import Dataset, DatasetDict

    def split(n, offset):
        rows = [ROWS[(i + offset) % 4] for i in range(n)]
        return Dataset.from_dict(
            {k: [r[j] for r in rows] for j, k in enumerate(("prompt", "chosen", "rejected"))}
        )

    path = tmp_path / "pairs"
    DatasetDict({"train": split(16, 0), "test": split(6, 1)}).save_to_disk(str(path))
    return path


def _cpu(tmp_path, *extra):
    return [
        "--output_dir",
        str(tmp_path / "out"),
        "--use_cpu",
        "true",
        "--bf16",
        "false",
        "--report_to",
        "none",
        "--save_strategy",
        "no",
        "--gradient_checkpointing",
        "false",
        "--per_device_train_batch_size",
        "4",
        "--max_length",
        "32",
        "--seed",
        "0",
        *extra,
    ]


def test_yaml_then_cli_override(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        "dataset_name: drugs_com\nsupervisors: [embedded:vader, length]\nlearning_rate: 0.001\n"
        "max_train_samples: 7\nsupervision: ens\nlora_r: 4\nuse_cpu: true\nbf16: false\n"
    )
    script, training, model = (
        _recipe()
        .make_parser()
        .parse_args_and_config(
            args=["--config", str(config), "--learning_rate", "0.5", "--output_dir", str(tmp_path)]
        )
    )
    assert script.dataset_name == "drugs_com" and script.max_train_samples == 7
    assert script.supervisors == ["embedded:vader", "length"]
    assert training.learning_rate == 0.5 and training.supervision == "ens"  # the CLI wins over the YAML
    assert model.lora_r == 4


@pytest.mark.parametrize("name", ["minilm_amazon_food", "minilm_drugs_com", "minilm_movies_weak"])
def test_shipped_configs_parse(name, tmp_path):
    script, training, model = (
        _recipe()
        .make_parser()
        .parse_args_and_config(args=["--config", str(RECIPE / f"{name}.yaml"), "--output_dir", str(tmp_path)])
    )
    assert (training.use_cpu, training.bf16, training.gradient_checkpointing) == (True, False, False)
    assert training.max_length <= 128 and training.per_device_train_batch_size == 16
    assert model.model_name_or_path is None  # the embedded MiniLM
    if name == "minilm_movies_weak":
        assert script.dataset_name == "embedded:rotten_tomatoes" and training.supervision == "raven"
        assert len(script.supervisors) == 4 and all(s.startswith("embedded:") for s in script.supervisors)
        # the recommended weighting, not the paper's rule (kept for the comparison in bench/configs/)
        assert (training.weight_init, training.weight_objective) == ("label_model", "chance")
    else:
        assert training.supervision == "gt" and not script.supervisors


def test_one_step_gt_run_reports_accuracy_of_the_saved_model(tmp_path, tiny_rm_dir, pairs_dir, sup_cache):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    results = _recipe().main(
        [
            "--dataset_name",
            str(pairs_dir),
            "--model_name_or_path",
            str(tiny_rm_dir),
            "--supervision",
            "gt",
            "--max_steps",
            "1",
            "--eval_domains",
            "drugs_com",
            "--max_eval_samples",
            "5",
            *_cpu(tmp_path),
        ]
    )
    out = tmp_path / "out"
    assert json.loads((out / "results.json").read_text())["accuracy"] == results["accuracy"]
    assert "| drugs_com | 5 |" in (out / "results.md").read_text()
    assert (
        results["steps"] == 1
        and results["n_train"] == 16
        and set(results["accuracy"]) == {str(pairs_dir), "drugs_com"}
    )
    # Independent check: score the saved model's test pairs by hand (prompt + response + eos, first 32 tokens).
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    tok = AutoTokenizer.from_pretrained(out)
    from datasets import load_from_disk

    test = load_from_disk(str(pairs_dir))["test"].select(range(5))  # --max_eval_samples 5
    with torch.no_grad():

        def reward(p, r):
            return model(input_ids=torch.tensor([tok(p + r + tok.eos_token)["input_ids"][:32]])).logits.item()

        margins = [
            reward(p, c) - reward(p, r)
            for p, c, r in zip(test["prompt"], test["chosen"], test["rejected"], strict=True)
        ]
    expected = float(np.mean([(m > 0) + 0.5 * (m == 0) for m in margins]))
    assert results["accuracy"][str(pairs_dir)] == pytest.approx(expected)


def test_one_step_run_from_weak_supervisors(tmp_path, tiny_rm_dir, pairs_dir, sup_cache):
    results = _recipe().main(
        [
            "--dataset_name",
            str(pairs_dir),
            "--model_name_or_path",
            str(tiny_rm_dir),
            "--supervisors",
            "length",
            "embedded:vader",
            "--supervision",
            "ens",
            "--max_steps",
            "1",
            "--eval_domains",
            "none",
            *_cpu(tmp_path),
        ]
    )
    assert results["weights"] == {"length": 0.5, "vader": 0.5}
    from datasets import load_from_disk

    test = load_from_disk(str(pairs_dir))["test"]
    longer = [len(c.split()) - len(r.split()) for c, r in zip(test["chosen"], test["rejected"], strict=True)]
    expected = float(np.mean([(d > 0) + 0.5 * (d == 0) for d in longer]))
    assert results["supervisor_accuracy"]["length"][str(pairs_dir)] == pytest.approx(expected)
    assert [s["name"] for s in results["supervisors"]] == ["length", "vader"]
    from raven_align.utils.version import __version__

    config = json.loads((tmp_path / "out" / "results.json").read_text())["config"]
    assert config["version"] == __version__ and config["supervisors"] == results["supervisors"]
    assert config["training"]["supervision"] == "ens" and "weight_init" in config["training"]
    assert config["script"]["dataset_name"] == str(pairs_dir)
    assert config["model"]["model_name_or_path"] == str(tiny_rm_dir)


def test_weak_supervision_needs_supervisors(tmp_path, tiny_rm_dir, pairs_dir):
    with pytest.raises(ValueError, match="--supervisors"):
        _recipe().main(
            [
                "--dataset_name",
                str(pairs_dir),
                "--model_name_or_path",
                str(tiny_rm_dir),
                "--supervision",
                "raven",
                *_cpu(tmp_path),
            ]
        )


def test_tokenize_pairs_matches_the_supervisor_and_truncates(sup_tokenizer_plain):
    from datasets import Dataset

    from raven_align.pipeline.reward_models import tokenize_pairs
    from raven_align.supervisors.reward_model import reward_input_ids

    ds = Dataset.from_dict({k: [r[j] for r in ROWS] for j, k in enumerate(("prompt", "chosen", "rejected"))})
    full = tokenize_pairs(ds, sup_tokenizer_plain, None)
    cut = tokenize_pairs(ds, sup_tokenizer_plain, 8)
    for i, (p, c) in enumerate(zip(ds["prompt"], ds["chosen"], strict=True)):
        ids = reward_input_ids(sup_tokenizer_plain, p, c, False)
        assert full[i]["chosen_ids"] == ids and ids[-1] == sup_tokenizer_plain.eos_token_id
        assert cut[i]["chosen_ids"] == ids[:8]


def test_reward_methods_bench_caches_each_run_and_reports_over_seeds(
    tmp_path, tiny_rm_dir, sup_cache, monkeypatch
):
    """Two seeds × two methods train four times; a second invocation trains nothing and reports the same."""
    import importlib.util

    from datasets import Dataset, DatasetDict

    def split(n, offset):  # presented in a random order; gt_label says whether chosen is truly better
        rows = [ROWS[(i + offset) % 4] for i in range(n)]
        flip = [i % 3 == 0 for i in range(n)]
        return Dataset.from_dict({
            "prompt": [r[0] for r in rows],
            "chosen": [r[2] if f else r[1] for r, f in zip(rows, flip, strict=True)],
            "rejected": [r[1] if f else r[2] for r, f in zip(rows, flip, strict=True)],
            "gt_label": [0 if f else 1 for f in flip],
        })  # fmt: skip

    pairs_dir = tmp_path / "pairs_with_truth"
    DatasetDict({"train": split(16, 0), "test": split(6, 1)}).save_to_disk(str(pairs_dir))

    spec = importlib.util.spec_from_file_location(
        "reward_methods", RECIPE.parents[1] / "bench" / "reward_methods.py"
    )
    compare = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "reward_methods", compare)  # its dataclass needs its module registered
    spec.loader.exec_module(compare)
    argv = [
        "--dataset_name", str(pairs_dir), "--model_name_or_path", str(tiny_rm_dir),
        "--supervisors", "length", "vader", f"tiny=rm:{tiny_rm_dir}", "--eval_domains", "none",
        "--max_steps", "1", "--seeds", "0", "1", "--methods", "ens", "raven-lm", *_cpu(tmp_path),
    ]  # fmt: skip
    first = compare.main(argv)
    runs = sorted(p.name for p in (tmp_path / "out" / "runs").glob("*.json"))
    assert len(runs) == 4 and {r.rsplit("-s", 1)[0] for r in runs} == {"ens", "raven-lm"}
    assert set(first["methods"]) == {"ens", "raven-lm"}
    ens = first["methods"]["ens"]
    per_seed = [s["runs"]["ens"]["accuracy"] for s in first["per_seed"]]
    assert ens["accuracy_mean"] == pytest.approx(np.mean(per_seed))
    assert ens["weights"] == pytest.approx({"length": 1 / 3, "vader": 1 / 3, "tiny": 1 / 3})
    lm = first["per_seed"][0]["runs"]["raven-lm"]
    assert lm["overrides"]["weight_init"] == "label_model" and lm["overrides"]["weight_objective"] == "chance"

    def no_training(*args, **kwargs):
        raise AssertionError("a cached run was trained again")

    monkeypatch.setattr(compare, "fit_reward_model", no_training)
    again = compare.main(argv)
    assert again["methods"] == first["methods"]
    assert "| ens |" in (tmp_path / "out" / "results.md").read_text()


# -- judgement columns already in the data: trained on only when named -----------------------------------------


def _with_judgements(pairs_dir, path):
    """``pairs_dir``'s splits with a supervisor ``x`` already judged (longer response = higher reward)."""
    from datasets import load_from_disk

    def judged(ds):
        ds = ds.add_column("reward_chosen__x", [float(len(c)) for c in ds["chosen"]])
        return ds.add_column("reward_rejected__x", [float(len(r)) for r in ds["rejected"]])

    data = load_from_disk(str(pairs_dir))
    type(data)({k: judged(v) for k, v in data.items()}).save_to_disk(str(path))
    return path


def test_judgement_columns_in_the_data_are_trained_on_when_named(tmp_path, tiny_rm_dir, pairs_dir, sup_cache):
    data = _with_judgements(pairs_dir, tmp_path / "judged")
    argv = ["--dataset_name", str(data), "--model_name_or_path", str(tiny_rm_dir), "--supervision", "ens"]
    argv += ["--eval_domains", "none"]
    saves = ["--save_strategy", "steps", "--save_steps", "1"]
    results = _recipe().main(
        [*argv, "--supervisors", "length", "column:x", "--max_steps", "1", *_cpu(tmp_path, *saves)]
    )
    # x is the data's own columns, found first (column order), then the labelled supervisor
    assert list(results["weights"]) == ["x", "length"] and results["weights"]["x"] == 0.5
    assert [s["name"] for s in results["supervisors"]] == ["x", "length"]
    from datasets import load_from_disk

    test = load_from_disk(str(data))["test"]
    margins = np.asarray(test["reward_chosen__x"]) - np.asarray(test["reward_rejected__x"])
    expected = float(np.mean((margins > 0) + 0.5 * (margins == 0)))
    assert results["supervisor_accuracy"]["x"][str(data)] == pytest.approx(expected)
    saved = json.loads((tmp_path / "out" / "checkpoint-1" / "raven_weights.json").read_text())
    assert saved["supervisors"] == ["x", "length"]
    # resuming agrees with the checkpoint whatever the order of the specs (the trainer's order is the data's)
    resume = ["--resume_from_checkpoint", "true", "--max_steps", "2"]
    again = _recipe().main([*argv, "--supervisors", "column:x", "length", *resume, *_cpu(tmp_path, *saves)])
    assert again["steps"] == 2 and list(again["weights"]) == ["x", "length"]
    # without naming x, the run is refused before any labelling (it would train on x and length)
    with pytest.raises(ValueError, match=r"reward_chosen__x', 'reward_rejected__x'\].*column:x"):
        _recipe().main([*argv, "--supervisors", "length", *resume, *_cpu(tmp_path, *saves)])


# -- the Hub as TRL does it: the repository's default name, hub_strategy -------------------------------------------


@pytest.fixture()
def fake_hub(monkeypatch):
    """The Hub as transformers' Trainer reaches it (``hf_api()``), recorded instead of reached; a token is set."""
    import os
    from concurrent.futures import Future
    from types import SimpleNamespace

    import transformers.trainer

    calls = []

    class Api:
        def create_repo(self, repo_id, **kwargs):
            calls.append(("create_repo", repo_id))
            return SimpleNamespace(repo_id=repo_id if "/" in repo_id else f"me/{repo_id}")

        def upload_folder(self, *, repo_id, folder_path, path_in_repo=None, run_as_future=False, **kwargs):
            files = sorted(os.listdir(folder_path))
            calls.append(("upload", repo_id, path_in_repo, kwargs.get("commit_message"), files))
            done = Future()
            done.set_result(None)
            return done if run_as_future else None

    monkeypatch.setattr(transformers.trainer, "hf_api", lambda: Api())
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    return calls


def test_push_without_hub_model_id_is_named_after_output_dir(tmp_path, fake_hub):
    from raven_align.pipeline.outputs import hold_push
    from raven_align.trainers import RavenRewardConfig

    args = RavenRewardConfig(
        output_dir=str(tmp_path / "my-rm"), push_to_hub=True, use_cpu=True, bf16=False, report_to="none"
    )
    held = hold_push(args)
    # as transformers' Trainer: the name of output_dir, created under the token's account; TRL's default strategy
    assert (held.hub_model_id, held.hub_strategy) == ("my-rm", "every_save")
    assert args.push_to_hub is False and args.hub_model_id is None  # the program pushes, last


@pytest.mark.parametrize("strategy", ["end", "checkpoint", "all_checkpoints"])
def test_hub_strategy_is_honoured(strategy, tmp_path, tiny_rm_dir, pairs_dir, sup_cache, fake_hub):
    argv = ["--dataset_name", str(pairs_dir), "--model_name_or_path", str(tiny_rm_dir), "--supervision", "gt"]
    argv += [
        "--eval_domains",
        "none",
        "--max_steps",
        "2",
        "--push_to_hub",
        "true",
        "--hub_strategy",
        strategy,
    ]
    _recipe().main([*argv, *_cpu(tmp_path, "--save_strategy", "steps", "--save_steps", "1")])
    *during, last = [c for c in fake_hub if c[0] == "upload"]
    assert ("create_repo", "out") in fake_hub  # no hub_model_id: the name of output_dir
    # the last push is the whole output folder, once results are written, under the full ID
    assert last[1] == "me/out" and last[2] is None and {"results.json", "README.md"} <= set(last[4])
    card = (tmp_path / "out" / "README.md").read_text()
    assert 'model="me/out"' in card
    checkpoints = [c[2] for c in during if c[2] is not None]
    if strategy == "end":
        assert during == []
    else:  # the model at each save, and the checkpoint(s), while training (results are not written yet)
        assert len([c for c in during if c[2] is None]) == 2
        assert all("results.json" not in c[4] for c in during)
        expected = ["last-checkpoint"] * 2 if strategy == "checkpoint" else ["checkpoint-1", "checkpoint-2"]
        assert checkpoints == expected
        assert all("raven_weights.pt" in c[4] for c in during if c[2] is not None)  # resumable from the Hub
