"""The one data loader of every recipe: an ``embedded:`` name, a ``save_to_disk`` folder, a folder of data files
(JSON/JSONL/CSV/Parquet, what ``datasets.load_dataset(path)`` reads), a single data file, or a Hub dataset ID; then
train/test splits by one rule.

Split rule (:func:`train_test`): the splits are used by name (``dataset_train_split``, ``dataset_test_split``); data
with only a train split (or a bare ``Dataset``) is cut with a seeded ``test_size``; data that holds out a split
under another name (``validation``, ``dev``, ...) is refused with the option to name it, never cut behind its back.
A saved dataset with an empty split is refused by name. Subsamples are seeded shuffles (:func:`subsample`).

Preference pairs may come in TRL's standard, conversational or implicit-prompt form (only ``chosen``/``rejected``
transcripts that share their start, as in ``Anthropic/hh-rlhf``): :func:`standardize_preferences` checks every
row's form and takes the prompt out as TRL's ``extract_prompt`` does, at a turn or word boundary
(:func:`take_out_prompt`); pairs that share no start are refused, naming the rows.
"""

from __future__ import annotations

import warnings
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
                _check_saved_rows(path)
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


def _check_saved_rows(path: Path) -> None:
    """Refuse a ``save_to_disk`` folder with a split of no rows (``datasets`` fails on it with a bare
    ``IndexError``), naming the split."""
    import json

    dict_file = path / "dataset_dict.json"
    splits = json.loads(dict_file.read_text()).get("splits", []) if dict_file.is_file() else [None]
    empty = []
    for split in splits:
        state = (path / split if split else path) / "state.json"
        if state.is_file() and not json.loads(state.read_text()).get("_data_files"):
            empty.append(split)
    if empty == [None]:
        raise ValueError(
            f"the saved dataset {path} has no rows: save one with rows (or check how it was made)"
        )
    if empty:
        raise ValueError(
            f"the saved dataset {path} has split(s) {empty} with no rows (of {splits}): drop them before "
            "save_to_disk, or save rows into them"
        )


def _suffix(path: Path) -> str:
    """``.jsonl`` for ``x.jsonl`` and ``x.jsonl.gz`` (compressed files are read as they are)."""
    suffixes = [s for s in path.suffixes if s not in (".gz", ".bz2", ".xz", ".zst")]
    return suffixes[-1] if suffixes else ""


def standardize_preferences(dataset: Any, name: str = "the dataset") -> Any:
    """Pairs in TRL's explicit-prompt form (``prompt``, ``chosen``, ``rejected``; standard or conversational).

    Every row is checked first (:func:`~raven_align.labeling.label.pair_forms`: one form per column, messages with
    their roles; ``gt_label``, if there, holds booleans or 0/1). Implicit-prompt pairs get their shared start moved
    to ``prompt`` (:func:`take_out_prompt`); pairs that share no start are refused, naming the rows.
    """
    from ..labeling.label import pair_forms

    missing = [c for c in ("chosen", "rejected") if c not in dataset.column_names]
    if missing:
        raise ValueError(
            f"{name} is not preference data: no column(s) {missing} (it has {dataset.column_names}); pairs need "
            "`chosen` and `rejected`, and `prompt` unless both responses start with it (as in Anthropic/hh-rlhf)"
        )
    if len(dataset) == 0:
        raise ValueError(f"{name} has no pairs")
    explicit = "prompt" in dataset.column_names
    try:
        # a truth of "yes"/"no" strings is refused now, before any labelling
        if "gt_label" in dataset.column_names:
            truth_values(dataset["gt_label"], "gt_label")
        forms = pair_forms(dataset, ["prompt", "chosen", "rejected"] if explicit else ["chosen", "rejected"])
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None
    same = [i for i, (c, r) in enumerate(zip(dataset["chosen"], dataset["rejected"], strict=True)) if c == r]
    if same:
        warnings.warn(
            f"{name} has {len(same)} pair(s) whose `chosen` and `rejected` are the same, first at row(s) "
            f"{same[:5]}: they carry no preference (every supervisor's margin is 0); drop them",
            stacklevel=2,
        )
    if explicit and forms["prompt"] == forms["chosen"]:
        return dataset
    # no prompt column, or a string prompt beside conversations (TRL then takes the prompt from the conversations)
    pairs = zip(dataset["chosen"], dataset["rejected"], strict=True)
    unshared = [
        i for i, (c, r) in enumerate(pairs) if not take_out_prompt({"chosen": c, "rejected": r})["prompt"]
    ]
    if unshared:
        where = f"at row(s) {unshared[:5]} ({len(unshared)} of {len(dataset)})"
        if explicit:
            raise ValueError(
                f"{name}: `prompt` holds strings but `chosen`/`rejected` are conversations that share no turn to "
                f"take the prompt from {where}: give the prompt as messages ([{{'role': 'user', 'content': "
                "prompt}]) or start both conversations with it"
            )
        raise ValueError(
            f"{name} has no `prompt` column and `chosen`/`rejected` share no start to take it from {where} (the "
            "prompt would be empty): give a `prompt` column (TRL's explicit-prompt format), or drop these rows"
        )
    return dataset.map(take_out_prompt, desc="Taking out the shared prompt")


def take_out_prompt(example: dict[str, Any]) -> dict[str, Any]:
    """TRL's ``extract_prompt`` at a boundary: the shared start of ``chosen`` and ``rejected`` becomes ``prompt``,
    cut after the last shared turn of conversations, or for strings at the last word boundary (whitespace) that
    leaves both responses something; a single space before the cut goes to the responses, as in TRL. Where TRL's
    cut falls on a word boundary the result is TRL's; ``"... slow poor "``/``"... slow poort"`` becomes
    ``"... slow"`` + ``" poor "``/``" poort"`` rather than TRL's ``"... slow poor"`` + ``" "``/``"t"``.
    The prompt is empty (``""`` or ``[]``) where nothing is shared up to such a boundary."""
    chosen, rejected = example["chosen"], example["rejected"]
    n, m = 0, min(len(chosen), len(rejected))
    while n < m and chosen[n] == rejected[n]:
        n += 1
    if isinstance(chosen, str):
        ends = len(chosen.rstrip()), len(rejected.rstrip())  # a cut must leave both a non-blank response
        p = n
        while p > 0 and not (p < min(ends) and _word_boundary(chosen, rejected, p)):
            p -= 1
        if p > 0 and chosen[p - 1] == " ":
            p -= 1
        if not chosen[:p].strip():
            p = 0
    else:
        p = min(n, len(chosen) - 1, len(rejected) - 1)  # a conversation keeps at least its last turn
    return {"prompt": chosen[:p], "chosen": chosen[p:], "rejected": rejected[p:]}


def _word_boundary(a: str, b: str, p: int) -> bool:
    """Whether position ``p`` of the strings ``a`` and ``b`` (equal before ``p``) is between words in both."""
    return a[p - 1].isspace() or (p < len(a) and p < len(b) and a[p].isspace() and b[p].isspace())


#: words in a split's name that mark held-out data (``test``, ``validation``, ``test_prefs``, ``dev``, ...)
HELD_OUT_SPLIT_WORDS = ("test", "validation", "valid", "eval", "dev")


def held_out_splits(splits: Any, train_split: str = "train") -> list[str]:
    """The splits other than ``train_split`` whose name marks held-out data (see :data:`HELD_OUT_SPLIT_WORDS`)."""
    import re

    return [
        s
        for s in splits
        if s != train_split and set(re.split(r"[_\-.\s]+", s.lower())) & set(HELD_OUT_SPLIT_WORDS)
    ]


def train_test(
    data: Any,
    *,
    train_split: str = "train",
    test_split: str = "test",
    test_size: float = 0.2,
    seed: int = 0,
    name: str = "the dataset",
) -> tuple[Any, Any]:
    """The train and test ``Dataset`` s of ``data``: the splits named ``train_split`` and ``test_split``; with no
    held-out split at all (only a train split, or a bare ``Dataset``) the train split is cut in two by
    ``test_size``. A held-out split under another name (``validation``, ...) or a ``test_split`` the data does not
    have is refused, naming the splits and the option (``dataset_test_split``), never silently replaced by a cut."""
    import datasets

    if isinstance(data, datasets.Dataset):
        train = data
        if test_split != "test":
            raise ValueError(
                f"{name} has no splits, so no {test_split!r} split to test on: drop dataset_test_split (the "
                "test pairs are then cut from it by test_size) or give data with that split"
            )
    else:
        if train_split not in data:
            raise ValueError(
                f"{name} has no {train_split!r} split (it has {list(data)}): name the training split with "
                "dataset_train_split (--dataset_train_split)"
            )
        if test_split in data:
            return data[train_split], data[test_split]
        others = held_out_splits(data, train_split)
        if others:
            raise ValueError(
                f"{name} has splits {list(data)} but no {test_split!r} split to test on; it holds out {others}: "
                f"name the split to test on with dataset_test_split (e.g. --dataset_test_split {others[0]}), "
                f"rather than have test pairs cut from {train_split!r} and {others} ignored"
            )
        if test_split != "test":
            raise ValueError(
                f"{name} has splits {list(data)} but no {test_split!r} split to test on: name one of them with "
                "dataset_test_split, or leave it at 'test' to have the test pairs cut from the train split by "
                "test_size"
            )
        train = data[train_split]
    if len(train) == 0:
        raise ValueError(f"the {train_split!r} split of {name} is empty")
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

    The splits are checked and standardised (:func:`standardize_preferences`) as stored, before any cut or
    subsample, so that an error's row numbers are those of the data. Embedded pairs come in ``orientation``
    (random: the presented order carries no truth, ``gt_label`` has it).
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
    if hasattr(data, "keys"):
        data = {
            k: standardize_preferences(v, f"the {k!r} split of {name}")
            if k in (train_split, test_split)
            else v
            for k, v in data.items()
        }
    else:
        data = standardize_preferences(data, name)
    train, test = train_test(
        data, train_split=train_split, test_split=test_split, test_size=test_size, seed=seed, name=name
    )
    if embedded_key(name) is None:
        train, test = subsample(train, max_train, seed), subsample(test, max_test, seed)
    return {"train": train, "test": test}
