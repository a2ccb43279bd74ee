"""The labelling stage: columns, cache, provenance, validation, Hub push errors, pair orientation, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from datasets import Dataset, DatasetDict

from raven_align import __version__
from raven_align.embedded.pairs import orient_pairs, swap_sides
from raven_align.labeling.label import label_dataset, label_dataset_dict
from raven_align.labeling.provenance import (
    SIDECAR,
    load_labeled,
    push_labeled_to_hub,
    read_provenance,
    save_labeled,
)
from raven_align.supervisors import CallableSupervisor, ColumnSupervisor, RewardModelSupervisor


def _pairs(n: int = 6) -> Dataset:
    return Dataset.from_dict(
        {
            "prompt": [f"Write a short review of item {i}." for i in range(n)],
            "chosen": ["great " * (i + 1) for i in range(n)],
            "rejected": ["bad " * (2 * i + 1) + "awful" for i in range(n)],
            "domain": ["movies", "food"] * (n // 2),
            "gt_label": [1, 0] * (n // 2),
        }
    )


class Counter:
    """A TRL-style reward function that counts how often it is called."""

    def __init__(self, *value):
        self._calls, self.value = (
            0,
            value,
        )  # no value: the number of words; _calls is not part of the identity

    @property
    def calls(self):
        return self._calls

    def __call__(self, prompts, completions, **kwargs):
        self._calls += 1
        if self.value:
            return [self.value[0]] * len(completions)
        return [float(len(c.split())) for c in completions]


def test_preference_columns_values_and_input_untouched(sup_cache):
    ds = _pairs()
    fn = Counter()
    out = label_dataset(ds, [CallableSupervisor(fn, name="words", show_progress=False)], show_progress=False)
    assert out["reward_chosen__words"] == [float(len(c.split())) for c in ds["chosen"]]
    assert out["reward_rejected__words"] == [float(len(r.split())) for r in ds["rejected"]]
    assert str(out.features["reward_chosen__words"].dtype) == "float64"
    assert "reward_chosen__words" not in ds.column_names and read_provenance(ds) is None
    assert out["prompt"] == ds["prompt"] and out["domain"] == ds["domain"]


def test_supervisors_get_other_columns_but_not_the_truth(sup_cache):
    seen = {}

    def spy(prompts, completions, **kwargs):
        seen.update({k: list(v) for k, v in kwargs.items()})
        return [0.0] * len(completions)

    ds = _pairs(4).add_column("label", [0, 1, 0, 1])
    label_dataset(ds, [CallableSupervisor(spy, show_progress=False)], show_progress=False)
    assert set(seen) == {"domain"}
    assert seen["domain"] == list(ds["domain"]) * 2  # both halves of the pairs
    label_dataset(
        ds,
        [CallableSupervisor(spy, name="oracle", columns=["gt_label"], show_progress=False)],
        show_progress=False,
    )
    assert set(seen) == {"domain", "gt_label"}  # asked for by name: allowed


def test_classification_column_and_extra_columns(sup_cache):
    ds = Dataset.from_dict(
        {"text": ["good film", "bad", "fine enough"], "p": [[0.1, 0.9], [0.8, 0.2], [0.5, 0.5]]}
    )

    def two_class(inputs, **kw):
        return [[1 - min(len(t) / 20, 1), min(len(t) / 20, 1)] for t in inputs]

    sups = [
        CallableSupervisor(two_class, task="classification", show_progress=False),
        ColumnSupervisor("col", column="p"),
    ]
    out = label_dataset(ds, sups, show_progress=False)
    np.testing.assert_allclose(out["probs__two_class"], two_class(ds["text"]))
    assert out["probs__col"] == ds["p"]
    assert read_provenance(out)["task"] == "classification"


def test_cache_hit_skips_scoring_and_miss_when_data_or_function_changes(sup_cache):
    ds, fn = _pairs(), Counter()
    first = label_dataset(ds, [CallableSupervisor(fn, name="w", show_progress=False)], show_progress=False)
    # A different name for the same judge reuses the cache (the key is identity + settings + data, not the name).
    second = label_dataset(ds, [CallableSupervisor(fn, name="w2", show_progress=False)], show_progress=False)
    assert fn.calls == 1
    assert second["reward_chosen__w2"] == first["reward_chosen__w"]
    assert [e["cache"] for e in read_provenance(first)["supervisors"]] == ["miss"]
    assert [e["cache"] for e in read_provenance(second)["supervisors"]] == ["hit"]
    assert len(list(sup_cache.glob("labels/*/*.npz"))) == 1
    changed = ds.map(lambda e, i: {"chosen": e["chosen"] + ("x" if i == 3 else "")}, with_indices=True)
    label_dataset(changed, [CallableSupervisor(fn, name="w", show_progress=False)], show_progress=False)
    assert fn.calls == 2  # one changed response is a different dataset
    # Extra columns that callables receive are part of the key.
    label_dataset(
        ds.map(lambda e: {"domain": "x"}),
        [CallableSupervisor(fn, name="w", show_progress=False)],
        show_progress=False,
    )
    assert fn.calls == 3
    label_dataset(
        ds, [CallableSupervisor(fn, name="w", version="v2", show_progress=False)], show_progress=False
    )
    assert fn.calls == 4
    label_dataset(
        ds, [CallableSupervisor(fn, name="w", show_progress=False)], cache=False, show_progress=False
    )
    assert fn.calls == 5 and len(list(sup_cache.glob("labels/*/*.npz"))) == 4


def test_cache_miss_when_scoring_settings_change(sup_cache, sup_reward_model, sup_tokenizer):
    ds = _pairs(4)
    forwards = []
    sup_reward_model.register_forward_hook(lambda *a: forwards.append(1))

    def label(**kw):
        sup = RewardModelSupervisor(sup_reward_model, sup_tokenizer, name="rm", show_progress=False, **kw)
        out = label_dataset(ds, [sup], show_progress=False)
        return out, read_provenance(out)["supervisors"][0]

    base, entry = label(batch_size=4, max_length=64)
    assert entry["cache"] == "miss" and entry["settings"]["max_length"] == 64 and len(forwards) == 2
    again, entry = label(batch_size=4, max_length=64)
    assert entry["cache"] == "hit" and len(forwards) == 2
    assert again["reward_chosen__rm"] == base["reward_chosen__rm"]
    for kw in (
        {"batch_size": 2, "max_length": 64},
        {"batch_size": 4, "max_length": 5},
        {"batch_size": 4, "max_length": 64, "use_chat_template": True},  # strings in chat turns: other tokens
    ):
        n = len(forwards)
        out, entry = label(**kw)
        assert entry["cache"] == "miss" and len(forwards) > n, kw
    # Truncating to 5 tokens really changes the scores, so a stale hit would have been wrong.
    short, _ = label(batch_size=4, max_length=5)
    assert not np.allclose(short["reward_chosen__rm"], base["reward_chosen__rm"])


def test_provenance_round_trip(tmp_path, sup_cache):
    ds = _pairs()
    out = label_dataset(
        ds, [CallableSupervisor(Counter(), name="w", show_progress=False)], show_progress=False
    )
    out = label_dataset(
        out,
        [ColumnSupervisor("gt", chosen_column="reward_chosen__w", rejected_column="reward_rejected__w")],
        show_progress=False,
    )
    prov = read_provenance(out)
    assert prov["raven_align_version"] == __version__ and prov["task"] == "preference"
    assert [e["name"] for e in prov["supervisors"]] == ["w", "gt"]  # labelling again appends
    assert prov["supervisors"][0]["identity"]["callable"].endswith("Counter")
    assert prov["supervisors"][0]["columns"] == ["reward_chosen__w", "reward_rejected__w"]
    assert prov["dataset"]["num_rows"] == len(ds)
    save_labeled(out, tmp_path / "saved")
    assert json.loads((tmp_path / "saved" / SIDECAR).read_text()) == prov
    loaded, loaded_prov = load_labeled(tmp_path / "saved")
    assert loaded_prov == prov and read_provenance(loaded) == prov
    assert loaded.to_dict() == out.to_dict()
    assert read_provenance(str(tmp_path / "saved")) == prov


def test_dataset_dict_and_existing_description_kept(sup_cache):
    ds = _pairs()
    ds.info.description = "my notes"
    dd = DatasetDict({"train": ds, "test": _pairs(2)})
    out = label_dataset_dict(
        dd, [CallableSupervisor(Counter(), name="w", show_progress=False)], show_progress=False
    )
    assert set(read_provenance(out)) == {"train", "test"}
    assert json.loads(out["train"].info.description)["description"] == "my notes"


@pytest.mark.parametrize(
    "case, match",
    [
        ("missing", r"no column\(s\) \['chosen'\]"),
        ("missing_extra", r"no column\(s\) \['score_c', 'score_r'\]"),
        ("empty", "empty"),
        ("duplicate", "Duplicate supervisor names"),
        ("none_value", "missing value"),
        ("mixed_tasks", "do not match"),
        ("exists", "overwrite=True"),
        ("no_supervisors", "No supervisors"),
    ],
)
def test_bad_inputs_fail_before_any_work(case, match, sup_cache):
    ds = _pairs()
    fn = Counter()
    sups = [CallableSupervisor(fn, name="w", show_progress=False)]
    if case == "missing":
        ds = ds.remove_columns("chosen")
    elif case == "missing_extra":
        sups.append(ColumnSupervisor("c", chosen_column="score_c", rejected_column="score_r"))
    elif case == "empty":
        ds = ds.select([])
    elif case == "duplicate":
        sups.append(CallableSupervisor(Counter(), name="w"))
    elif case == "none_value":
        ds = Dataset.from_dict({"prompt": ["a", None], "chosen": ["x", "y"], "rejected": ["z", "w"]})
    elif case == "mixed_tasks":
        sups.append(ColumnSupervisor("p", column="prompt"))
    elif case == "exists":
        ds = ds.add_column("reward_chosen__w", [0.0] * len(ds))
    elif case == "no_supervisors":
        sups = []
    with pytest.raises(ValueError, match=match):
        label_dataset(ds, sups, show_progress=False)
    assert fn.calls == 0
    assert not list(sup_cache.glob("labels/*/*.npz"))


@pytest.mark.parametrize("value", [math.nan, math.inf, None])
def test_non_finite_scores_are_rejected_and_not_cached(value, sup_cache):
    with pytest.raises(ValueError, match="non-finite"):
        label_dataset(
            _pairs(),
            [CallableSupervisor(Counter(value), name="bad", show_progress=False)],
            show_progress=False,
        )
    assert not list(sup_cache.glob("labels/*/*.npz"))


def test_probabilities_must_be_on_the_simplex(sup_cache):
    ds = Dataset.from_dict({"text": ["a", "b"], "p": [[0.5, 0.6], [0.5, 0.5]], "q": [[1.0], [1.0]]})
    with pytest.raises(ValueError, match="not probabilities"):
        label_dataset(ds, [ColumnSupervisor("p", column="p")], show_progress=False)
    with pytest.raises(ValueError, match="at least 2"):
        label_dataset(ds, [ColumnSupervisor("q", column="q")], show_progress=False)


def test_overwrite_relabels(sup_cache):
    out = label_dataset(
        _pairs(), [CallableSupervisor(Counter(), name="w", show_progress=False)], show_progress=False
    )
    again = label_dataset(
        out,
        [CallableSupervisor(Counter(1.5), name="w", show_progress=False)],
        overwrite=True,
        show_progress=False,
    )
    assert again["reward_chosen__w"] == [1.5] * len(out)
    assert [e["name"] for e in read_provenance(again)["supervisors"]] == ["w"]


def test_push_fails_clearly_without_token_offline_or_network(monkeypatch, sup_cache):
    import huggingface_hub

    out = label_dataset(
        _pairs(), [CallableSupervisor(Counter(), name="w", show_progress=False)], show_progress=False
    )
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(RuntimeError, match="no Hugging Face token"):
        push_labeled_to_hub(out, "me/labelled")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(RuntimeError, match="HF_HUB_OFFLINE"):
        push_labeled_to_hub(out, "me/labelled", token="hf_fake")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)

    def unreachable(*args, **kwargs):
        raise ConnectionError("no route to host")

    monkeypatch.setattr(Dataset, "push_to_hub", unreachable)
    with pytest.raises(RuntimeError, match="Check the network"):
        push_labeled_to_hub(out, "me/labelled", token="hf_fake")
    with pytest.raises(ValueError, match="no raven_align provenance"):
        push_labeled_to_hub(_pairs(), "me/labelled", token="hf_fake")


def test_orientation_swaps_all_paired_columns(sup_cache):
    out = label_dataset(
        _pairs(), [CallableSupervisor(Counter(), name="w", show_progress=False)], show_progress=False
    )
    out = out.add_column("ref_chosen_logps", [float(i) for i in range(len(out))])
    out = out.add_column("ref_rejected_logps", [-float(i) for i in range(len(out))])
    truth = orient_pairs(out, by="truth")
    assert truth["gt_label"] == [1] * len(out)
    for i, g in enumerate(out["gt_label"]):
        a, b = ("chosen", "rejected") if g == 1 else ("rejected", "chosen")
        assert truth["chosen"][i] == out[a][i] and truth["rejected"][i] == out[b][i]
        assert truth["reward_chosen__w"][i] == out[f"reward_{a}__w"][i]
        assert truth["ref_chosen_logps"][i] == out[f"ref_{a}_logps"][i]
    # The rewards still belong to their texts after any number of swaps.
    twice = swap_sides(swap_sides(truth, [True] * len(out)), [True, False] * (len(out) // 2))
    assert [len(c.split()) for c in twice["chosen"]] == twice["reward_chosen__w"]
    rnd = orient_pairs(truth, by="random", seed=3)
    assert rnd["gt_label"] == orient_pairs(out, by="random", seed=3)["gt_label"]  # independent of the start


def test_cli_label_on_saved_dataset(tmp_path, sup_cache, capsys):
    import argparse

    from raven_align.programs.label import add_label_subcommand

    _pairs().save_to_disk(str(tmp_path / "in"))
    parser = argparse.ArgumentParser()
    add_label_subcommand(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "label",
            "--dataset_name",
            str(tmp_path / "in"),
            "-s",
            "length",
            "-s",
            "gt=column:gt_label,gt_label",
            "--output_dir",
            str(tmp_path / "out"),
        ]
    )
    assert args.func(args) == 0
    ds, prov = load_labeled(tmp_path / "out")
    assert ds["reward_chosen__length"] == [float(len(c.split())) for c in ds["chosen"]]
    assert [e["name"] for e in prov["supervisors"]] == ["length", "gt"]
    assert '"cache": "miss"' in capsys.readouterr().out
    bad = parser.parse_args(["label", "--dataset_name", "x", "-s", "nonsense:", "--output_dir", "y"])
    with pytest.raises(ValueError, match="Cannot parse supervisor spec"):
        bad.func(bad)
