"""Cut a classification dataset (loaded by ``raven_align.pipeline.data``) into weak-training sets and ID/OOD
scenarios.

The dataset has input (text or image), label and domain columns named in the recipe. Per seed, each domain's training rows are shuffled; the domains that supervisors train on are
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
    test_pool = {
        d: rng.permutation(np.flatnonzero(test_domains == d)) for d in sorted(set(test_domains.tolist()))
    }
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
            te = [
                _chunks(test_pool.get(d, np.zeros(0, int)), len(users[d]))[users[d].index(src.key)]
                for d in src.domains
            ]
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
    keep: list[str] | tuple[str, ...] = (),
):
    """A ``Dataset`` with ``text`` (or ``pixel_values``), ``label``, ``domain`` (and ``features`` when given,
    row-aligned with ``data``, and the columns ``keep`` of ``data``) for the given (source, rows) parts;
    corruptions are applied here."""
    from datasets import Dataset

    from .images import corrupt, to_tensor

    cols: dict[str, list] = {"label": [], "domain": [], **{c: [] for c in keep}}
    inputs: list = []
    feats: list = []
    for i, (src, idx) in enumerate(parts):
        idx = np.asarray(idx, dtype=np.int64)
        rows = data.select(idx.tolist())
        cols["label"] += [int(v) for v in rows[label_column]]
        cols["domain"] += [src.name] * len(idx)
        for c in keep:
            cols[c] += list(rows[c])
        if modality == "text":
            if src.corruption:
                raise ValueError("corruptions apply to images only")
            inputs += [str(t) for t in rows[input_column]]
        else:
            x = corrupt(
                to_tensor(rows[input_column], image_size, channels), src.corruption, seed=seed * 1000 + i
            )
            inputs += x.tolist()
        if features is not None:
            feats += features[idx].tolist()
    cols["text" if modality == "text" else "pixel_values"] = inputs
    if features is not None:
        cols["features"] = feats
    return Dataset.from_dict(cols)
