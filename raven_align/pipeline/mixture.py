"""Dataset mixtures as the DPO program's target pairs: TRL's ``datasets:`` (:class:`trl.DatasetMixtureConfig`, each
source a ``DatasetConfig``: ``path``, ``name``, ``data_dir``, ``data_files``, ``split``, ``columns``, ``fraction``;
``test_split_size``) and the alignment-handbook's ``dataset_mixture:`` (sources of ``id``, ``config``, ``split``,
``columns``, ``weight``; ``seed``, ``test_split_size``), which is read as TRL's form.

A mixture is checked when the arguments are parsed (:func:`check_mixture`) and loaded source by source
(:func:`load_mixture`): Hub datasets and data files through TRL's ``get_dataset`` (its ``load_dataset`` call),
local data (an ``embedded:`` name, a ``save_to_disk`` folder, a folder of data files or one file) through the one
data loader, as ``dataset_name`` is. Each source's ``columns`` are selected, the handbook's ``weight`` keeps that
seeded share of its rows, the pairs are standardised (:func:`~raven_align.pipeline.data.standardize_preferences`),
TRL's ``fraction`` rule sizes the sources, and the sources are stacked. The mixture is the whole target: its
held-out pairs are cut from it, seeded, by ``test_split_size`` (TRL's; its cut is unseeded) or else ``test_size``.
:func:`load_pairs` gives the DPO program its pairs, of ``dataset_name`` or of a mixture.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

#: the keys of one source: TRL's ``DatasetConfig`` fields, and the handbook's (``weight`` apart) by TRL's name
SOURCE_KEYS = ("path", "name", "data_dir", "data_files", "split", "columns", "fraction")
HANDBOOK_KEYS = {"id": "path", "config": "name", "split": "split", "columns": "columns"}
DEFAULT_DATASET = "embedded:rotten_tomatoes"
#: the options that name single-dataset data, with their defaults
_SINGLE = {
    "dataset_name": None,
    "dataset_config": None,
    "dataset_data_dir": None,
    "dataset_train_split": "train",
    "dataset_test_split": "test",
}


def check_mixture(args: Any) -> None:
    """Refuse what a mixture cannot go with, at parse; read the handbook's ``dataset_mixture`` as TRL's
    ``datasets``; without a mixture, ``dataset_name`` defaults to :data:`DEFAULT_DATASET`."""
    if args.streaming or args.dataset_streaming:
        raise ValueError(
            "streaming/dataset_streaming: every pair is labelled by every supervisor before training and the "
            "held-out pairs are a seeded cut, which a stream cannot give; drop the option (for a part of large "
            "data, give max_train_samples)"
        )
    if args.datasets and args.dataset_mixture is not None:
        raise ValueError(
            "give one mixture: `datasets` (TRL's form) or `dataset_mixture` (the alignment-handbook's), not both"
        )
    kind = "dataset_mixture" if args.dataset_mixture is not None else "datasets"
    if args.dataset_mixture is not None:
        args.datasets, args.test_split_size = _from_handbook(args.dataset_mixture, args.test_split_size)
    if not args.datasets:
        if args.test_split_size is not None:
            raise ValueError(
                "test_split_size cuts the held-out pairs of a `datasets` mixture; with dataset_name give test_size "
                "(or name the split to test on with dataset_test_split)"
            )
        args.dataset_name = args.dataset_name or DEFAULT_DATASET
        return
    beside = sorted(k for k, default in _SINGLE.items() if getattr(args, k) != default)
    if beside:
        raise ValueError(
            f"{beside} name data beside the `{kind}` mixture, which is the whole target (its held-out pairs are cut "
            "from it by test_split_size, else test_size; TRL would ignore these options): give either the "
            "mixture or dataset_name with its splits"
        )
    _check_sources(args.datasets)


def _check_sources(sources: Any) -> None:
    """Each TRL source a mapping of :data:`SOURCE_KEYS` with a ``path``; ``fraction`` on all sources or none
    (TRL's rule), none negative, some positive."""
    if not isinstance(sources, list):
        raise ValueError(f"datasets must be a list of sources (mappings with `path`), got {sources!r}")
    for i, source in enumerate(sources):
        if not isinstance(source, dict):
            continue  # already TRL's DatasetConfig
        unknown = sorted(set(source) - set(SOURCE_KEYS))
        if unknown or "path" not in source:
            raise ValueError(
                f"datasets[{i}] has {f'the unknown key(s) {unknown}' if unknown else 'no `path`'}: a TRL source "
                f"takes {list(SOURCE_KEYS)} (the handbook's `id`/`config`/`weight` go under `dataset_mixture:`)"
            )
    fractions = [s.get("fraction") if isinstance(s, dict) else s.fraction for s in sources]
    given = [f for f in fractions if f is not None]
    if given and (len(given) < len(fractions) or min(given) < 0 or not sum(given) > 0):
        raise ValueError(
            f"datasets: fractions {fractions}: `fraction` is each source's share of the mixture, set for all "
            "sources or none (TRL's rule), none negative and not all zero"
        )


def _from_handbook(mixture: Any, test_split_size: float | None) -> tuple[list[dict], float | None]:
    """The handbook's ``dataset_mixture`` as TRL's sources and ``test_split_size`` (its ``weight`` and ``seed``
    are read at load)."""
    form = "give `datasets:`, a list of sources with `id` (and `config`, `split`, `columns`, `weight`)"
    if (
        not isinstance(mixture, dict)
        or not isinstance(mixture.get("datasets"), list)
        or not mixture["datasets"]
    ):
        raise ValueError(f"dataset_mixture (the alignment-handbook's form): {form}, got {mixture!r}")
    unknown = sorted(set(mixture) - {"datasets", "seed", "test_split_size"})
    if unknown:
        raise ValueError(
            f"dataset_mixture has the unknown key(s) {unknown}: it takes datasets, seed, test_split_size"
        )
    sources = []
    for i, d in enumerate(mixture["datasets"]):
        keys = set(d) - {*HANDBOOK_KEYS, "weight"} if isinstance(d, dict) else None
        if keys or keys is None or "id" not in d:
            raise ValueError(f"dataset_mixture.datasets[{i}] = {d!r}: {form}")
        weight = d.get("weight")
        if weight is not None and not 0 < weight <= 1:
            raise ValueError(
                f"dataset_mixture.datasets[{i}]: weight {weight} is the share of the source's rows kept (seeded); "
                "give a number in (0, 1]"
            )
        sources.append({new: d[old] for old, new in HANDBOOK_KEYS.items() if old in d})
    size = mixture.get("test_split_size")
    if size is not None and test_split_size is not None and size != test_split_size:
        raise ValueError(
            f"test_split_size is {test_split_size} and dataset_mixture.test_split_size {size}: give one"
        )
    return sources, size if size is not None else test_split_size


def load_pairs(args: Any, seed: int) -> tuple[Any, dict[str, Any]]:
    """The DPO program's training pairs and held-out pairs by split name: ``target`` (of ``dataset_name`` and its
    splits, or cut from a mixture) and ``in_distribution`` (of ``id_dataset_name``) if asked."""
    from .data import load_preference_splits

    load = dict(
        max_train=args.max_train_samples,
        max_test=args.max_eval_samples,
        max_chars=args.max_chars,
        test_size=args.test_size,
        seed=seed,
    )
    if args.datasets:  # TRL's mixture (or the handbook's): the whole target, its held-out pairs cut from it
        target = load_mixture(args, **load)
    else:
        target = load_preference_splits(
            args.dataset_name,
            config=args.dataset_config,
            data_dir=args.dataset_data_dir,
            train_split=args.dataset_train_split,
            test_split=args.dataset_test_split,
            **load,
        )
    splits = {"target": target["test"]}
    if args.id_dataset_name:
        splits["in_distribution"] = load_preference_splits(
            args.id_dataset_name, data_dir=args.id_dataset_data_dir, **load
        )["test"]
    return target["train"], splits


def mixture_name(args: Any) -> str:
    """The data's name in titles and cards: ``dataset_name``, or the mixture's sources joined by ``+``."""
    if not args.datasets:
        return args.dataset_name
    return " + ".join(f"{s.path}[{s.split}]" for s in args.datasets)


def load_mixture(
    args: Any,
    *,
    seed: int,
    max_train: int | None = None,
    max_test: int | None = None,
    max_chars: int | None = None,
    test_size: float = 0.2,
) -> dict[str, Any]:
    """``{"train", "test"}`` pairs of the mixture ``args.datasets`` (see the module docstring), subsampled."""
    from .data import standardize_preferences, subsample, train_test

    handbook = args.dataset_mixture or {}
    weights = [d.get("weight") for d in handbook["datasets"]] if handbook else [None] * len(args.datasets)
    parts, names = [], []
    for i, (source, weight) in enumerate(zip(args.datasets, weights, strict=True)):
        what = f"mixture source {i} ({source.path!r}, split {source.split!r})"
        data = _read_source(source, what, seed=seed, max_chars=max_chars)
        if source.columns is not None:
            missing = [c for c in source.columns if c not in data.column_names]
            if missing:
                raise ValueError(
                    f"{what} has no column(s) {missing} (it has {data.column_names}): fix its `columns`"
                )
            data = data.select_columns(list(source.columns))
        if weight is not None:  # the handbook's weight: a seeded share of the source's rows
            data = data.shuffle(seed=handbook.get("seed", seed)).select(range(int(len(data) * weight)))
        parts.append(standardize_preferences(data, what))
        names.append(what)
    mixed = _stack(_fractions(parts, [s.fraction for s in args.datasets]), names)
    size = args.test_split_size if args.test_split_size is not None else test_size
    train, test = train_test(mixed, test_size=size, seed=seed, name="the mixture")
    return {"train": subsample(train, max_train, seed), "test": subsample(test, max_test, seed)}


def _read_source(source: Any, what: str, *, seed: int, max_chars: int | None) -> Any:
    """One source's split: local data (``embedded:``, a folder or a file) by the one data loader, anything else
    (a Hub ID, ``data_files`` with a builder such as ``json``) by TRL's ``get_dataset``."""
    from .data import load_data
    from .names import embedded_key

    local = embedded_key(source.path) is not None or Path(source.path).expanduser().exists()
    if not local or source.data_files is not None:
        from trl import DatasetMixtureConfig, get_dataset

        one = replace(source, columns=None, fraction=None)  # selected and sized here, with checks
        return get_dataset(DatasetMixtureConfig(datasets=[one]))["train"]
    data = load_data(
        source.path,
        task="preference",
        config=source.name,
        data_dir=source.data_dir,
        max_chars=max_chars,
        seed=seed,
    )
    if not hasattr(data, "keys"):
        if source.split != "train":
            raise ValueError(f"{what}: the data has no splits, so no {source.split!r}: drop its `split`")
        return data
    if source.split not in data:
        raise ValueError(f"{what}: no split {source.split!r} (it has {list(data)}): name one with `split`")
    return data[source.split]


def _fractions(parts: list, fractions: list[float | None]) -> list:
    """TRL's ``fraction`` rule (``trl.get_dataset``): the shares normalised to one, the mixture as large as it can
    be without repeating rows, the first ``round(share · size)`` rows of each source."""
    if all(f is None for f in fractions):
        return parts
    shares = [f / sum(fractions) for f in fractions]
    total = min(len(p) / s for p, s in zip(parts, shares, strict=True) if s > 0)
    return [p.select(range(round(s * total))) for p, s in zip(parts, shares, strict=True)]


def _stack(parts: list, names: list[str]) -> Any:
    """The sources one after another; sources with other columns, or columns of other types, are refused by name."""
    import datasets

    columns = [sorted(p.column_names) for p in parts]
    if any(c != columns[0] for c in columns):
        listed = "; ".join(f"{n}: {c}" for n, c in zip(names, columns, strict=True))
        raise ValueError(
            f"the mixture's sources have different columns ({listed}): select the shared ones with each "
            "source's `columns` (e.g. [prompt, chosen, rejected])"
        )
    try:
        return datasets.concatenate_datasets(parts)
    except ValueError as e:
        raise ValueError(
            f"the mixture's sources ({'; '.join(names)}) cannot be stacked: a column holds other types in one "
            f"than in another (e.g. conversations and strings): give every source in one form ({e})"
        ) from None
