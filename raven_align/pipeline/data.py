"""Preference data by name: an embedded asset (``embedded:<domain>``), a Hub ID, or a local folder."""

from __future__ import annotations

import os

EMBEDDED_PREFIX = "embedded:"


def load_preference_dataset(
    name: str,
    *,
    config: str | None = None,
    data_dir: str | None = None,
    max_train: int | None = None,
    max_test: int | None = None,
    max_chars: int | None = None,
    seed: int = 0,
):
    """A ``DatasetDict`` of preference pairs with ``train`` and ``test`` splits.

    ``embedded:<domain>`` gives the packaged review pairs in a random presented order, with the truth in
    ``gt_label`` (see :func:`raven_align.assets.load_preference_pairs`). A local folder is read with
    ``load_from_disk``; anything else goes to ``datasets.load_dataset`` (TRL's convention: ``chosen`` is the
    better response). ``max_train``/``max_test`` keep a seeded subsample.
    """
    import datasets

    if name.startswith(EMBEDDED_PREFIX):
        from ..assets import load_preference_pairs

        return load_preference_pairs(
            name[len(EMBEDDED_PREFIX) :],
            orientation="random",
            n_train=max_train,
            n_test=max_test,
            max_chars=max_chars,
            seed=seed,
        )
    if os.path.isdir(name):
        data = datasets.load_from_disk(name)
    else:
        data = datasets.load_dataset(name, config, data_dir=data_dir)
    if not isinstance(data, datasets.DatasetDict):
        raise ValueError(f"{name} must hold a DatasetDict with train and test splits")
    out = {}
    for split, limit in (("train", max_train), ("test", max_test)):
        if split not in data:
            raise ValueError(f"{name} has no {split!r} split (it has {list(data)})")
        ds = data[split]
        out[split] = ds.shuffle(seed=seed).select(range(min(limit, len(ds)))) if limit else ds
    return datasets.DatasetDict(out)


def truth_of(dataset, gt_column: str | None) -> list[bool]:
    """Whether the presented ``chosen`` is truly better, per pair (all true without a truth column)."""
    if gt_column is None:
        return [True] * len(dataset)
    if gt_column not in dataset.column_names:
        raise ValueError(f"truth column {gt_column!r} is missing (columns: {dataset.column_names})")
    return [bool(v) for v in dataset[gt_column]]


def persist_dataset(dataset, kind: str = "labelled"):
    """The same rows, saved once under the cache directory (keyed by content) and memory-mapped from there.

    An in-memory dataset gives TRL's caches (tokenisation, precomputed reference log-probs) a temporary home
    that dies with the process; a dataset on disk lets every later run with the same data and model reuse them.
    """
    import hashlib

    import datasets

    from ..cache import build_dir_atomically, cache_root
    from ..labeling import column_hash

    key = hashlib.sha256(
        repr([(c, column_hash(dataset, c)) for c in dataset.column_names]).encode()
    ).hexdigest()[:24]
    path = build_dir_atomically(cache_root() / kind / key, lambda tmp: dataset.save_to_disk(str(tmp)))
    loaded = datasets.load_from_disk(str(path))
    loaded.info.description = dataset.info.description  # provenance travels in the description
    return loaded
