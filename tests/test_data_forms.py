"""Your own data and models in every standard form: a Hub ID, a save_to_disk folder, a folder of JSON/JSONL/CSV/
Parquet files, single files; TRL's standard, implicit-prompt (Anthropic/hh-rlhf) and conversational pairs, through
labelling and the DPO recipe (the paper config on hh-rlhf-shaped data); supervisors by spec in the classification
recipe. Every dataset here is made by the test."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from datasets import Dataset, DatasetDict
from tiny_models import tiny_causal_lm, tiny_reward_model
from trl.data_utils import extract_prompt

from raven_align.pipeline.data import load_preference_splits, standardize_preferences

RECIPE = Path(__file__).parents[1] / "recipes" / "preference_alignment"
GOOD, BAD = "great excellent tense thriller, loved it", "awful boring slow poor"


def _pairs(n, offset=0):
    return [
        {
            "prompt": "Review the movie.",
            "chosen": GOOD if (i + offset) % 2 else BAD,
            "rejected": BAD if (i + offset) % 2 else GOOD,
            "gt_label": (i + offset) % 2,
        }
        for i in range(n)
    ]


def _hh(n, offset=0):
    """Anthropic/hh-rlhf's shape: two transcripts that share the dialogue up to the last answer."""
    rows = []
    for row in _pairs(n, offset):
        start = f"\n\nHuman: {row['prompt']} ({len(rows)})\n\nAssistant:"
        rows.append({"chosen": f"{start} {row['chosen']}", "rejected": f"{start} {row['rejected']}"})
    return rows


def _write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds = Dataset.from_list(rows)
    if path.name.endswith(".jsonl.gz"):
        with gzip.open(path, "wt") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    elif path.suffix == ".jsonl":
        ds.to_json(path, lines=True)
    elif path.suffix == ".json":
        path.write_text(json.dumps(rows))
    elif path.suffix == ".csv":
        ds.to_csv(path, index=False)
    else:
        ds.to_parquet(path)


@pytest.mark.parametrize(
    "form",
    ["save_to_disk", "jsonl folder", "csv folder", "parquet folder", "json file", "csv file", "parquet file"],
)
def test_every_local_form_gives_the_same_pairs(tmp_path, form):
    train, test = _pairs(10), _pairs(4, offset=1)
    if form == "save_to_disk":
        DatasetDict({"train": Dataset.from_list(train), "test": Dataset.from_list(test)}).save_to_disk(
            tmp_path / "d"
        )
        name = tmp_path / "d"
    elif form.endswith("folder"):
        ext = form.split()[0]
        _write(tmp_path / "d" / f"train.{ext}", train)
        _write(tmp_path / "d" / f"test.{ext}", test)
        name = tmp_path / "d"
    else:  # one file: only a train split, cut with the seeded test_size
        name = tmp_path / f"pairs.{form.split()[0]}"
        _write(name, train + test)
    splits = load_preference_splits(str(name), test_size=4, seed=0)
    assert (len(splits["train"]), len(splits["test"])) == (10, 4)
    assert {"prompt", "chosen", "rejected", "gt_label"} <= set(splits["train"].column_names)
    if not form.endswith("file"):
        assert splits["test"].to_list() == test  # an existing test split is kept as it is


def test_a_train_only_dataset_is_split_with_a_seeded_test_size(tmp_path):
    _write(tmp_path / "p.jsonl", _pairs(20))
    a = load_preference_splits(str(tmp_path / "p.jsonl"), test_size=0.25, seed=3)
    b = load_preference_splits(str(tmp_path / "p.jsonl"), test_size=0.25, seed=3)
    c = load_preference_splits(str(tmp_path / "p.jsonl"), test_size=0.25, seed=4)
    assert (len(a["train"]), len(a["test"])) == (15, 5)
    assert a["test"].to_list() == b["test"].to_list() != c["test"].to_list()
    # the recipes expose it
    from raven_align.programs import dpo, reward

    assert dpo.PreferenceRecipeArguments(test_size=0.1).test_size == 0.1
    assert reward.RewardScriptArguments(test_size=0.1).test_size == 0.1


def test_a_hub_id_goes_to_load_dataset_with_its_config_and_data_dir(monkeypatch):
    import datasets

    calls = []

    def fake(name, config=None, data_dir=None, **kw):
        calls.append((name, config, data_dir))
        return DatasetDict({"train": Dataset.from_list(_hh(6)), "test": Dataset.from_list(_hh(2))})

    monkeypatch.setattr(datasets, "load_dataset", fake)
    splits = load_preference_splits("Anthropic/hh-rlhf", data_dir="harmless-base")
    assert calls == [("Anthropic/hh-rlhf", None, "harmless-base")]
    assert splits["train"][0]["prompt"].endswith("\n\nAssistant:")


def test_implicit_prompt_pairs_are_split_as_trl_does(tmp_path):
    rows = _hh(3)
    out = standardize_preferences(Dataset.from_list(rows))
    assert out.to_list() == [extract_prompt(r) for r in rows]  # TRL's own function, not a rewrite
    assert out[1]["chosen"] == f" {GOOD}" and out[1]["prompt"].startswith("\n\nHuman:")
    chat = [
        {
            "chosen": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": GOOD}],
            "rejected": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": BAD}],
        }
    ]
    conv = standardize_preferences(Dataset.from_list(chat))
    assert conv[0]["prompt"] == [{"role": "user", "content": "Hi?"}]
    assert conv[0]["chosen"] == [{"role": "assistant", "content": GOOD}]
    # explicit-prompt data passes untouched
    explicit = Dataset.from_list(_pairs(2))
    assert standardize_preferences(explicit).to_list() == explicit.to_list()


def test_label_cli_labels_implicit_prompt_pairs_from_a_jsonl_file(tmp_path, sup_cache):
    from raven_align.cli import main
    from raven_align.labeling import load_labeled

    _write(tmp_path / "hh.jsonl", _hh(4))
    assert (
        main(
            [
                "label",
                "--dataset_name",
                str(tmp_path / "hh.jsonl"),
                "-s",
                "length",
                "--output_dir",
                str(tmp_path / "o"),
            ]
        )
        == 0
    )
    labelled, provenance = load_labeled(tmp_path / "o")
    train = labelled["train"]
    assert {"prompt", "reward_chosen__length", "reward_rejected__length"} <= set(train.column_names)
    assert (
        train[1]["reward_chosen__length"] == len(GOOD.split()) and provenance["train"]["task"] == "preference"
    )


def _parse(*argv):
    from raven_align.programs import dpo

    return dpo.make_parser().parse_args_and_config(list(argv))


CPU = ["--bf16", "false", "--use_cpu", "true", "--dtype", "float32", "--gradient_checkpointing", "false"]
SHORT = [
    "--max_steps",
    "1",
    "--max_length",
    "64",
    "--per_device_train_batch_size",
    "2",
    "--save_strategy",
    "no",
]


def test_paper_config_runs_on_hh_rlhf_shaped_data(tmp_path, sup_tokenizer_plain, sup_cache):
    """recipes/preference_alignment/paper_qwen2.5_7b.yaml as shipped, with the data, the model and the reward
    models swapped for local tiny ones (the Hub is off), and CPU settings."""
    from raven_align.programs import dpo

    for part in ("harmless-base", "helpful-base"):  # hh-rlhf's layout: data_dir/{train,test}.jsonl.gz
        _write(tmp_path / "hh" / part / "train.jsonl.gz", _hh(8))
        _write(tmp_path / "hh" / part / "test.jsonl.gz", _hh(4, offset=1))
    tiny_causal_lm(sup_tokenizer_plain).save_pretrained(tmp_path / "lm")
    sup_tokenizer_plain.save_pretrained(tmp_path / "lm")
    tiny_reward_model(sup_tokenizer_plain).save_pretrained(tmp_path / "rm")
    sup_tokenizer_plain.save_pretrained(tmp_path / "rm")
    script, train, model = _parse(
        "--config",
        str(RECIPE / "paper_qwen2.5_7b.yaml"),
        "--dataset_name",
        str(tmp_path / "hh"),
        "--id_dataset_name",
        str(tmp_path / "hh"),
        "--model_name_or_path",
        str(tmp_path / "lm"),
        "--supervisors",
        f"rm_small=rm:{tmp_path / 'rm'}",
        "rm_medium=length",
        "--output_dir",
        str(tmp_path / "out"),
        *CPU,
        *SHORT,
    )
    assert (script.dataset_data_dir, train.beta, model.lora_target_modules) == (
        "harmless-base",
        0.1,
        "all-linear",
    )
    results = dpo.run(script, train, model)
    assert set(results["splits"]) == {"target", "in_distribution"} and results["timing"]["steps"] == 1
    assert results["splits"]["target"]["supervisor_accuracy"]["rm_medium"] == 0.5  # equal lengths: ties
    assert (tmp_path / "out" / "results.md").is_file()


def test_conversational_implicit_prompt_pairs_through_the_dpo_recipe(tmp_path, sup_tokenizer, sup_cache):
    from raven_align.programs import dpo

    def chat(i, good_first):
        q = [{"role": "user", "content": f"Review the movie, please ({i})."}]
        a, b = (GOOD, BAD) if good_first else (BAD, GOOD)
        return {
            "chosen": q + [{"role": "assistant", "content": a}],
            "rejected": q + [{"role": "assistant", "content": b}],
        }

    _write(tmp_path / "chat.jsonl", [chat(i, i % 2 == 0) for i in range(12)])
    tiny_causal_lm(sup_tokenizer).save_pretrained(tmp_path / "lm")
    sup_tokenizer.save_pretrained(tmp_path / "lm")
    pytest.importorskip("vaderSentiment")
    results = dpo.run(
        *_parse(
            "--dataset_name",
            str(tmp_path / "chat.jsonl"),
            "--test_size",
            "4",
            "--supervisors",
            "vader",
            "length",
            "--model_name_or_path",
            str(tmp_path / "lm"),
            "--use_peft",
            "true",
            "--lora_r",
            "4",
            "--output_dir",
            str(tmp_path / "out"),
            "--report_to",
            "none",
            *CPU,
            *SHORT,
        )
    )
    target = results["splits"]["target"]
    # no truth column: TRL's convention, the presented chosen is better; VADER reads the messages' content
    assert target["supervisor_accuracy"]["vader"] == pytest.approx(
        0.5
    )  # half the pairs present the bad one first
    assert results["timing"]["steps"] == 1 and set(target["supervisor_accuracy"]) == {"vader", "length"}


# -- classification: supervisors by spec ---------------------------------------------------------------


def fn_probs(inputs, **columns):
    """A `callable:` supervisor of the recipe test (uniform over 3 classes)."""
    return np.full((len(inputs), 3), 1 / 3)


def _images(path, n=90):
    g = np.random.default_rng(0)
    rows = {"img": [], "y": [], "dom": [], "oracle": []}
    for i in range(n):
        y, img = i % 3, g.random((8, 8)) * 0.3
        img[:, :4] += 0.7 if y == 0 else 0
        img[:, 4:] += 0.7 if y == 1 else 0
        img[:4] += 0.7 if y == 2 else 0
        rows["img"].append(np.clip(img, 0, 1).tolist())
        rows["y"].append(y)
        rows["dom"].append("src" if i % 2 else "tgt")
        rows["oracle"].append(np.eye(3)[y].tolist())  # a precomputed probability column
    Dataset.from_dict(rows).save_to_disk(str(path))


def tiny_vit(path, num_labels=3):
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(0)
    config = ViTConfig(
        image_size=8, patch_size=4, num_channels=3, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, num_labels=num_labels,
    )  # fmt: skip
    ViTForImageClassification(config).save_pretrained(path)
    ViTImageProcessor(size={"height": 8, "width": 8}).save_pretrained(path)
    return path


def w2s_config(tmp_path, supervisors, **extra):
    return {
        "dataset_name": str(tmp_path / "data"),
        "modality": "image",
        "input_column": "img",
        "dataset_label_column": "y",
        "domain_column": "dom",
        "image_size": 8,
        "supervisors": supervisors,
        "ood_domains": ["tgt"],
        "scenarios": ["ood"],
        "val_size": 5,
        "model_name_or_path": "cnn",
        "seeds": [0],
        "methods": {"ens": {"supervision": "ens"}, "raven": {}},
        "naive_each": False,
        "output_dir": str(tmp_path / "out"),
        "num_train_epochs": 1,
        "per_device_train_batch_size": 16,
        "use_cpu": True,
        "report_to": "none",
        "save_strategy": "no",
        "disable_tqdm": True,
        **extra,
    }


def parse_w2s(tmp_path, config, *argv):
    from trl import TrlParser

    from raven_align.programs.classify import W2SArguments
    from raven_align.trainers import RavenClassificationConfig

    (tmp_path / "c.yaml").write_text(json.dumps(config))
    return TrlParser((W2SArguments, RavenClassificationConfig)).parse_args_and_config(
        ["--config", str(tmp_path / "c.yaml"), *argv]
    )


def test_classification_recipe_takes_supervisors_by_spec(tmp_path, sup_cache, one_thread):
    pytest.importorskip("sklearn")
    from raven_align.programs.classify import run_recipe

    _images(tmp_path / "data")
    supervisors = {
        "trained": {"kind": "logreg", "domains": ["src"]},
        "vit": f"classifier:{tiny_vit(tmp_path / 'vit')}",  # an image classifier folder (or Hub ID)
        "oracle": "column:oracle",
        "flat": "callable:test_data_forms:fn_probs",
    }
    recipe, training = parse_w2s(tmp_path, w2s_config(tmp_path, supervisors))
    assert recipe.supervisors["vit"] == {"spec": supervisors["vit"]}
    results = run_recipe(recipe, training)
    assert results["supervisor_names"] == ["trained", "vit", "oracle", "flat"]
    ood = results["supervisors"][0]
    assert ood["accuracy"][2] == 1.0 and ood["confidence"][3] == pytest.approx(1 / 3)
    assert {r["method"] for r in results["runs"]} == {"ens", "raven"}
    # the list form, as in the preference recipe
    listed, _ = parse_w2s(
        tmp_path, w2s_config(tmp_path, ["column:oracle", "f=callable:test_data_forms:fn_probs"])
    )
    assert listed.supervisors == {
        "oracle": {"spec": "column:oracle"},
        "f": {"spec": "callable:test_data_forms:fn_probs"},
    }
