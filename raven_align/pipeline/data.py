"""The one data loader of every recipe: an ``embedded:`` name, a ``save_to_disk`` folder, a folder of data files
(JSON/JSONL/CSV/Parquet, what ``datasets.load_dataset(path)`` reads), a single data file, or a Hub dataset ID; then
train/test splits by one rule.

Split rule: a dataset with a test split keeps it; one with only a train split (or a bare ``Dataset``) is cut
with a seeded ``test_size``. Subsamples are seeded shuffles (:func:`subsample`).

Preference pairs may come in TRL's standard, conversational or implicit-prompt form (only ``chosen``/``rejected``
transcripts that share their start, as in ``Anthropic/hh-rlhf``): :func:`standardize_preferences` takes the
prompt out with TRL's own ``maybe_extract_prompt``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from ..columns import truth_values
from ..labeling.persist import persist_dataset  # noqa: F401  (re-exported: the recipes' import point)
from .names import embedded_key, load_embedded_data

#: file suffix -> the ``datasets`` builder that reads it
DATA_FILE_BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet"}


def load_data(
    name: str,
    *,
    task: Literal["preference", "classification"] = "preference",
    config: str | None = None,
    data_dir: str | None = None,
    **embedded_kwargs: Any,
) -> Any:
    """A ``Dataset`` or ``DatasetDict`` from ``name`` (see the module docstring).

    ``embedded_kwargs`` (``orientation``, ``n_train``, ``n_test``, ``max_chars``, ``seed``) apply to embedded data
    only, which is sized at its source.
    """
    import datasets

    if embedded_key(name) is not None:
        return load_embedded_data(name, task, **embedded_kwargs)
    path = Path(name).expanduser()
    try:
        if path.is_dir():
            if (path / "dataset_dict.json").is_file() or (path / "dataset_info.json").is_file():
                return datasets.load_from_disk(str(path))
            return datasets.load_dataset(str(path), config, data_dir=data_dir)
        if path.is_file():
            builder = DATA_FILE_BUILDERS.get(_suffix(path))
            if builder is None:
                raise ValueError(f"unsupported data file {path}: use one of {sorted(DATA_FILE_BUILDERS)}")
            if path.stat().st_size == 0:
                raise ValueError(f"data file {path} is empty")
            return datasets.load_dataset(builder, data_files=str(path))
    except (StopIteration, ValueError) as e:  # how `datasets` reports a file without rows
        if isinstance(e, ValueError) and "corresponds to no data" not in str(e):
            raise
        raise ValueError(f"{name} has no rows: is a data file empty?") from e
    if _suffix(path) in DATA_FILE_BUILDERS or name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise FileNotFoundError(f"data file or folder {name!r} does not exist (nor is it a Hub dataset ID)")
    return datasets.load_dataset(name, config, data_dir=data_dir)


def _suffix(path: Path) -> str:
    """``.jsonl`` for ``x.jsonl`` and ``x.jsonl.gz`` (compressed files are read as they are)."""
    suffixes = [s for s in path.suffixes if s not in (".gz", ".bz2", ".xz", ".zst")]
    return suffixes[-1] if suffixes else ""


def standardize_preferences(dataset: Any, name: str = "the dataset") -> Any:
    """Pairs in TRL's explicit-prompt form (``prompt``, ``chosen``, ``rejected``; standard or conversational).

    Implicit-prompt pairs get their shared start moved to ``prompt`` by TRL's ``maybe_extract_prompt`` (what
    ``DPOTrainer`` does); other forms are refused here, before any labelling.
    """
    from trl.data_utils import is_conversational, maybe_extract_prompt

    missing = [c for c in ("chosen", "rejected") if c not in dataset.column_names]
    if missing:
        raise ValueError(
            f"{name} is not preference data: no column(s) {missing} (it has {dataset.column_names}); pairs need "
            "`chosen` and `rejected`, and `prompt` unless both responses start with it (as in Anthropic/hh-rlhf)"
        )
    if len(dataset) == 0:
        raise ValueError(f"{name} has no pairs")
    first = dataset[0]
    conversational = is_conversational({"chosen": first["chosen"]})
    if "prompt" not in dataset.column_names or conversational != is_conversational(
        {"prompt": first["prompt"]}
    ):
        dataset = dataset.map(maybe_extract_prompt, desc="Extracting the shared prompt (TRL)")
    return dataset


def train_test(
    data: Any, *, train_split: str = "train", test_split: str = "test", test_size: float = 0.2, seed: int = 0
) -> tuple[Any, Any]:
    """The train and test ``Dataset`` s of ``data``; without a test split the train split is cut in two."""
    import datasets

    if isinstance(data, datasets.Dataset):
        train = data
    else:
        if train_split not in data:
            raise ValueError(f"the dataset has no {train_split!r} split (it has {list(data)})")
        if test_split in data:
            return data[train_split], data[test_split]
        train = data[train_split]
    if len(train) == 0:
        raise ValueError(f"the {train_split!r} split of the dataset is empty")
    if not (0 < test_size < 1 or (float(test_size).is_integer() and 1 <= test_size < len(train))):
        raise ValueError(
            f"test_size must be a fraction in (0, 1) or a number of rows below {len(train)}, got {test_size}"
        )
    test_size = int(test_size) if test_size >= 1 else test_size  # a count may come as 4.0 from the CLI
    parts = train.train_test_split(test_size=test_size, seed=seed)
    return parts["train"], parts["test"]


def subsample(dataset: Any, limit: int | None, seed: int) -> Any:
    """A seeded random subset of at most ``limit`` rows (all rows, in order, when ``limit`` is None)."""
    if not limit:
        return dataset
    return dataset.shuffle(seed=seed).select(range(min(limit, len(dataset))))


def truth_of(dataset: Any, gt_column: str | None) -> list[bool]:
    """Whether the presented ``chosen`` is truly better, per pair (all true without a truth column)."""
    if gt_column is None:
        return [True] * len(dataset)
    if gt_column not in dataset.column_names:
        raise ValueError(f"truth column {gt_column!r} is missing (columns: {dataset.column_names})")
    return truth_values(dataset[gt_column], gt_column)


def load_preference_splits(
    name: str,
    *,
    config: str | None = None,
    data_dir: str | None = None,
    max_train: int | None = None,
    max_test: int | None = None,
    max_chars: int | None = None,
    test_size: float = 0.2,
    seed: int = 0,
    orientation: Literal["random", "truth"] = "random",
    train_split: str = "train",
    test_split: str = "test",
) -> dict[str, Any]:
    """``{"train", "test"}`` preference pairs by :func:`load_data` and :func:`train_test`, subsampled.

    Embedded pairs come in ``orientation`` (random: the presented order carries no truth, ``gt_label`` has it).
    """
    data = load_data(
        name,
        task="preference",
        config=config,
        data_dir=data_dir,
        orientation=orientation,
        n_train=max_train,
        n_test=max_test,
        max_chars=max_chars,
        seed=seed,
    )
    train, test = train_test(
        data, train_split=train_split, test_split=test_split, test_size=test_size, seed=seed
    )
    if embedded_key(name) is None:
        train, test = subsample(train, max_train, seed), subsample(test, max_test, seed)
    return {
        "train": standardize_preferences(train, f"the train split of {name}"),
        "test": standardize_preferences(test, f"the test split of {name}"),
    }
