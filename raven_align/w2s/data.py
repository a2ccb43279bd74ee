"""Data of the classification recipes: load a dataset, and cut it into weak-training sets and ID/OOD scenarios.

A dataset is a Hub ID, a local ``datasets`` folder (``save_to_disk``) or an embedded benchmark
(``embedded:reviews``, ``embedded:digits``), with its input (text or image), label and domain columns named
in the recipe. Per seed, each domain's training rows are shuffled; the domains that supervisors train on are
halved into a weak pool and a strong pool, so no strong-model example was seen by a supervisor.

- weak set of supervisor k: rows of its ``domains`` from the weak pool, with its ``corruption``;
- ``id`` scenario: the supervisors' own training distribution (each distinct (domains, corruption) source
  an equal share), from the strong pool and the test split;
- ``ood`` scenario: the shifted target (``ood_domains`` with ``ood_corruption``).

Every materialised set has the columns ``text`` or ``pixel_values``, ``label`` and ``domain`` (the source's
name, e.g. ``mnist+contrast=0.3``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Source:
    """Rows of some domains, optionally corrupted (images)."""

    domains: list[str]
    corruption: dict[str, float] | None = None

    @property
    def name(self) -> str:
        extra = "".join(f"+{k}={v:g}" for k, v in (self.corruption or {}).items())
        return "+".join(self.domains) + extra

    @property
    def key(self) -> str:
        return json.dumps([sorted(self.domains), self.corruption or {}], sort_keys=True)


def load_any(dataset: str, config_name: str | None = None) -> Any:
    """A ``DatasetDict`` (or ``Dataset``) from an embedded name, a local folder or a Hub ID."""
    if dataset == "embedded:reviews":
        return embedded_reviews()
    if dataset == "embedded:digits":
        from .digits import digits_dataset

        return digits_dataset()
    if Path(dataset).exists():
        from datasets import load_from_disk

        return load_from_disk(dataset)
    from datasets import load_dataset

    return load_dataset(dataset, config_name)


def embedded_reviews(max_target_train: int = 4000, max_target_test: int = 2000):
    """Movie (Rotten Tomatoes), Amazon fine-food and drugs.com reviews with a ``domain`` column, one
    ``DatasetDict`` (each domain's own split by movie/product/review, as ``raven_align.assets`` makes it)."""
    from datasets import DatasetDict, concatenate_datasets

    from ..assets import load_reviews

    parts = [load_reviews("rotten_tomatoes", n_train=max_target_train, n_test=max_target_test),
             load_reviews("amazon_food"), load_reviews("drugs_com")]
    return DatasetDict({s: concatenate_datasets([p[s] for p in parts]) for s in ("train", "test")})


def train_test(data: Any, train_split: str, test_split: str, test_fraction: float, seed: int) -> tuple[Any, Any]:
    """The train and test ``Dataset`` s; a dataset with one split is cut ``1 - test_fraction`` / ``test_fraction``
    (seeded by ``seed``, stratified by nothing)."""
    from datasets import Dataset

    if isinstance(data, Dataset):
        parts = data.train_test_split(test_size=test_fraction, seed=seed)
        return parts["train"], parts["test"]
    if test_split in data:
        return data[train_split], data[test_split]
    parts = data[train_split].train_test_split(test_size=test_fraction, seed=seed)
    return parts["train"], parts["test"]


@dataclass
class Partition:
    """Row indices per use, for one seed."""

    weak: dict[str, np.ndarray]  # supervisor name -> train-split rows
    train: dict[str, list[tuple[Source, np.ndarray]]]  # scenario -> (source, train rows)
    test: dict[str, list[tuple[Source, np.ndarray]]]  # scenario -> (source, test rows)


def _chunks(idx: np.ndarray, n: int) -> list[np.ndarray]:
    return [c for c in np.array_split(idx, n)]


def partition(
    train_domains: np.ndarray,
    test_domains: np.ndarray,
    weak_sources: dict[str, Source],
    ood: Source,
    seed: int,
    weak_fraction: float = 0.5,
    max_weak_train: int | None = None,
    max_train: int | None = None,
    max_test: int | None = None,
) -> Partition:
    """Split row indices (see the module docstring). ``max_*`` cap each set (each ID source gets an equal
    share of the cap); supervisors whose ``domains`` are empty (e.g. a lexicon) get no rows."""
    rng = np.random.default_rng(seed)
    known = set(train_domains.tolist())
    for name, src in {**weak_sources, "ood": ood}.items():
        missing = [d for d in src.domains if d not in known]
        if missing:
            raise ValueError(f"{name}: domain(s) {missing} are not in the data; it has {sorted(known)}")
    weak_domains = {d for s in weak_sources.values() for d in s.domains}
    weak_pool, strong_pool = {}, {}
    for d in sorted(known):
        idx = rng.permutation(np.flatnonzero(train_domains == d))
        cut = int(len(idx) * weak_fraction) if d in weak_domains else 0
        weak_pool[d], strong_pool[d] = idx[:cut], idx[cut:]
    weak = {}
    for name, src in weak_sources.items():
        idx = np.concatenate([weak_pool[d] for d in src.domains]) if src.domains else np.zeros(0, int)
        weak[name] = rng.permutation(idx)[:max_weak_train]
    test_pool = {d: rng.permutation(np.flatnonzero(test_domains == d)) for d in sorted(set(test_domains.tolist()))}
    id_sources = list({s.key: s for s in weak_sources.values() if s.domains}.values())
    train, test = {}, {}
    for scenario, sources in (("id", id_sources), ("ood", [ood])):
        if not sources:
            continue
        share_train = None if max_train is None else max(1, max_train // len(sources))
        share_test = None if max_test is None else max(1, max_test // len(sources))
        # Sources that share a domain (e.g. clean and low-contrast MNIST) get disjoint rows of it.
        users = {d: [s.key for s in sources if d in s.domains] for s in sources for d in s.domains}
        train[scenario], test[scenario] = [], []
        for src in sources:
            tr = [_chunks(strong_pool[d], len(users[d]))[users[d].index(src.key)] for d in src.domains]
            te = [_chunks(test_pool.get(d, np.zeros(0, int)), len(users[d]))[users[d].index(src.key)]
                  for d in src.domains]
            train[scenario].append((src, rng.permutation(np.concatenate(tr))[:share_train]))
            test[scenario].append((src, rng.permutation(np.concatenate(te))[:share_test]))
    return Partition(weak, train, test)


def materialize(
    data: Any,
    parts: list[tuple[Source, np.ndarray]],
    input_column: str,
    label_column: str,
    modality: str,
    image_size: int = 16,
    channels: int = 1,
    seed: int = 0,
    features: np.ndarray | None = None,
):
    """A ``Dataset`` with ``text`` (or ``pixel_values``), ``label``, ``domain`` (and ``features`` when given,
    row-aligned with ``data``) for the given (source, rows) parts; corruptions are applied here."""
    from datasets import Dataset

    from .images import corrupt, to_tensor

    cols: dict[str, list] = {"label": [], "domain": []}
    inputs: list = []
    feats: list = []
    for i, (src, idx) in enumerate(parts):
        idx = np.asarray(idx, dtype=np.int64)
        rows = data.select(idx.tolist())
        cols["label"] += [int(v) for v in rows[label_column]]
        cols["domain"] += [src.name] * len(idx)
        if modality == "text":
            if src.corruption:
                raise ValueError("corruptions apply to images only")
            inputs += [str(t) for t in rows[input_column]]
        else:
            x = corrupt(to_tensor(rows[input_column], image_size, channels), src.corruption, seed=seed * 1000 + i)
            inputs += x.tolist()
        if features is not None:
            feats += features[idx].tolist()
    cols["text" if modality == "text" else "pixel_values"] = inputs
    if features is not None:
        cols["features"] = feats
    return Dataset.from_dict(cols)
