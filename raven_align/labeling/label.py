"""The labelling stage: add each weak supervisor's judgements to a ``datasets.Dataset`` as columns.

Column convention (the trainers read exactly these):

- preference: ``reward_chosen__<name>`` and ``reward_rejected__<name>`` (float64), the supervisor's rewards of the
  presented ``chosen`` and ``rejected`` responses (whatever their order; see ``raven_align.embedded.pairs``);
- classification: ``probs__<name>`` (a list of C float64 class probabilities).

Judgements are cached per supervisor under ``<cache>/labels/``, keyed by a hash of the content of the columns
the supervisor reads, its identity (model id + revision, or weight/source hashes) and its scoring settings (max
length, batch size, chat-template use, dtype), so relabelling the same data is free and changing a setting
recomputes. Provenance (supervisor identities, settings, raven_align version, time) is stored in
``dataset.info.description``; see ``raven_align.labeling.provenance``.
"""

from __future__ import annotations

import logging
import pickle
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..columns import JUDGEMENT_PREFIXES, TRUTH_COLUMNS, probs_column, reward_columns
from ..supervisors.base import Supervisor, Task
from ..utils.cache import cache_root, load_checked_arrays, save_checked_arrays
from ..utils.hashing import sha256_json
from ..utils.processes import all_true, gather, is_local_main, rank_and_world, shard_range
from ..utils.version import __version__
from .forms import pair_forms
from .provenance import read_provenance, with_provenance

logger = logging.getLogger(__name__)

_CACHE_FORMAT = 2  # 2: every file carries a checksum of its judgements


def output_columns(supervisor: Supervisor) -> list[str]:
    if supervisor.task == "preference":
        return list(reward_columns(supervisor.name))
    return [probs_column(supervisor.name)]


def _implicit_columns(dataset: Any, core: list[str]) -> list[str]:
    """The columns a supervisor with ``extra_columns=None`` receives: all but the scored ones, earlier
    judgements and the hidden ground truth."""
    return [
        c
        for c in dataset.column_names
        if c not in core and not c.startswith(JUDGEMENT_PREFIXES) and c not in TRUTH_COLUMNS
    ]


def column_hash(dataset: Any, column: str) -> str:
    """SHA-256 of a column's values in row order (read as Arrow, so images are not decoded)."""
    import hashlib

    h = hashlib.sha256(f"{column}:{dataset.features[column]}".encode())
    for batch in dataset.select_columns([column]).with_format("arrow").iter(batch_size=4096):
        h.update(pickle.dumps(batch.column(0).to_pylist(), protocol=4))
    return h.hexdigest()


def _infer_task(supervisors: Sequence[Supervisor], task: Task | None) -> Task:
    """Check the supervisors (non-empty, unique names, one task) and return the labelling task."""
    if not supervisors:
        raise ValueError("No supervisors given")
    for s in supervisors:
        if not isinstance(s, Supervisor):
            raise ValueError(f"Not a Supervisor: {s!r} (wrap functions in CallableSupervisor)")
    names = [s.name for s in supervisors]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(
            f"Duplicate supervisor names {dupes}: each name becomes a column suffix and must be unique"
        )
    tasks = {s.task for s in supervisors}
    if len(tasks) > 1 or (task is not None and tasks != {task}):
        raise ValueError(
            f"Supervisor tasks {sorted(tasks)} do not match the labelling task "
            f"{task or '(one task per call)'}: label preference and classification data separately"
        )
    return tasks.pop()


def _validate(dataset: Any, supervisors: Sequence[Supervisor], core: list[str], overwrite: bool) -> None:
    """Check the dataset against the supervisors before any work is done."""
    from datasets import Dataset

    if not isinstance(dataset, Dataset):
        raise ValueError(
            f"label_dataset needs a datasets.Dataset, got {type(dataset).__name__} "
            "(for a DatasetDict, use label_dataset_dict)"
        )
    if len(dataset) == 0:
        raise ValueError("The dataset is empty: nothing to label")
    needed = list(core) + [c for s in supervisors for c in (s.extra_columns or ())]
    missing = sorted({c for c in needed if c not in dataset.column_names})
    if missing:
        hint = ""
        if core[0] in missing and {"chosen", "rejected"} <= set(dataset.column_names):
            hint = (
                " (implicit-prompt pairs: take the shared prompt out of chosen/rejected first, as TRL does, "
                "with dataset.map(trl.data_utils.maybe_extract_prompt); `raven-align label` and the recipes do it)"
            )
        raise ValueError(f"The dataset has no column(s) {missing}; it has {dataset.column_names}{hint}")
    clashes = [c for s in supervisors for c in output_columns(s) if c in dataset.column_names]
    if clashes and not overwrite:
        raise ValueError(f"The dataset already has {clashes}; pass overwrite=True to relabel")
    for c in core:  # read as Arrow: images are not decoded just to look for nulls
        offset, bad = 0, []
        for batch in dataset.select_columns([c]).with_format("arrow").iter(batch_size=4096):
            nulls = np.flatnonzero(batch.column(0).is_null().to_numpy(zero_copy_only=False))
            bad.extend((nulls + offset).tolist())
            offset += batch.num_rows
        if bad:
            raise ValueError(f"Column {c!r} has {len(bad)} missing value(s), first at row(s) {bad[:5]}")
    if len(core) == 3:  # pairs: a prompt and responses of one form, conversations with their roles
        forms = pair_forms(dataset, core)
        if forms[core[0]] != forms[core[1]]:
            raise ValueError(
                f"the prompt column {core[0]!r} holds {forms[core[0]]} but {core[1]!r}/{core[2]!r} hold "
                f"{forms[core[1]]}: give all three in one form (TRL's standard or conversational format); "
                "`raven-align label` takes the prompt out of conversations that start with it"
            )


def _check_scores(name: str, task: Task, n: int, result: dict[str, np.ndarray]) -> None:
    for key, values in result.items():
        expected = (n,) if task == "preference" else (n, values.shape[-1] if values.ndim == 2 else -1)
        if values.shape != expected:
            raise ValueError(f"Supervisor {name!r} returned {key} of shape {values.shape} for {n} rows")
        bad = np.flatnonzero(~np.isfinite(values).reshape(n, -1).all(axis=1))
        if bad.size:
            raise ValueError(
                f"Supervisor {name!r} returned {bad.size} non-finite (NaN/inf) {key} value(s), "
                f"first at row(s) {bad[:5].tolist()}"
            )
        if task == "classification":
            if values.shape[1] < 2:
                raise ValueError(f"Supervisor {name!r} returned {values.shape[1]} class(es); need at least 2")
            off = np.flatnonzero((values < -1e-6).any(axis=1) | (np.abs(values.sum(axis=1) - 1) > 1e-4))
            if off.size:
                raise ValueError(
                    f"Supervisor {name!r} returned {off.size} row(s) that are not probabilities "
                    f"(negative or not summing to 1), first at row(s) {off[:5].tolist()}"
                )


def _cache_path(root: Path, key: str) -> Path:
    return root / "labels" / key[:2] / f"{key}.npz"


def _read_cache(path: Path, key: str) -> dict[str, np.ndarray]:
    """The judgements cached at ``path``, verified against their checksum."""
    return load_checked_arrays(path, key, f"delete {path} (or pass cache=False / --no-cache) to score again")


def _judge(supervisor: Supervisor, dataset: Any, task: Task, core: list[str]) -> dict[str, np.ndarray]:
    extra = supervisor.extra_columns
    if extra is None:  # the other input columns, as TRL passes them to reward functions
        extra = _implicit_columns(dataset, core)
    columns = {c: list(dataset[c]) for c in extra}
    if task == "preference":
        prompts, chosen, rejected = (list(dataset[c]) for c in core)
        r_c, r_r = supervisor.score_pairs(prompts, chosen, rejected, **columns)
        return {"chosen": np.asarray(r_c, dtype=np.float64), "rejected": np.asarray(r_r, dtype=np.float64)}
    return {
        "probs": np.asarray(supervisor.predict_proba(list(dataset[core[0]]), **columns), dtype=np.float64)
    }


def _judge_shared(
    sup: Supervisor, dataset: Any, task: Task, core: list[str]
) -> tuple[dict[str, np.ndarray], int]:
    """``sup``'s judgements of every row, each process scoring its contiguous share (gathered in row order), and
    the number of rows this process scored. A failure on any process is raised on all of them (none is left
    waiting for the others' shares)."""
    rank, world = rank_and_world()
    if world == 1:
        return _judge(sup, dataset, task, core), len(dataset)
    rows = shard_range(len(dataset), rank, world)
    try:
        local = _judge(sup, dataset.select(rows), task, core) if len(rows) else None
        failure = None
    except Exception as e:  # gathered below so that the other processes stop too
        local, failure = None, e
    parts = gather((local, None if failure is None else f"{type(failure).__name__}: {failure}"))
    if failure is not None:
        raise failure
    failed = [(r, msg) for r, (_, msg) in enumerate(parts) if msg is not None]
    if failed:
        r, msg = failed[0]
        raise RuntimeError(f"supervisor {sup.name!r} failed on process {r} of {world} while labelling: {msg}")
    shares = [p for p, _ in parts if p is not None]
    return {k: np.concatenate([s[k] for s in shares]) for k in shares[0]}, len(rows)


def _supervisor_key(
    sup: Supervisor, description: dict, dataset: Any, task: Task, core: list[str], hashes: dict[str, str]
) -> str:
    """The judgement-cache key of ``sup`` on ``dataset``: the supervisor's identity and settings and the content of
    every column it reads (hashes are memoised in ``hashes`` across supervisors)."""
    read = list(core) + list(
        sup.extra_columns if sup.extra_columns is not None else _implicit_columns(dataset, core)
    )
    for c in read:
        if c not in hashes:
            hashes[c] = column_hash(dataset, c)
    return sha256_json(
        {
            "format": _CACHE_FORMAT,
            "task": task,
            "kind": description["kind"],
            "identity": description["identity"],
            "settings": description["settings"],
            "data": [(c, hashes[c]) for c in read],
            "roles": core,
        }
    )


def _label_one(
    sup: Supervisor,
    description: dict,
    dataset: Any,
    task: Task,
    core: list[str],
    key: str,
    root: Path,
    cache: bool,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``sup``'s checked judgements of ``dataset`` (from the cache when allowed) and its provenance entry."""
    path = _cache_path(root, key)
    start = time.perf_counter()
    # every process takes the same branch (a cache on one machine's disk may be missing on another's)
    if all_true(cache and path.is_file()):
        result, scored = _read_cache(path, key), 0
        status = "hit"
        logger.info("%s: cached judgements %s", sup.name, path)
    else:
        result, scored = _judge_shared(sup, dataset, task, core)
        status = "miss" if cache else "disabled"
    _check_scores(sup.name, task, len(dataset), result)
    if status == "miss" and is_local_main():
        save_checked_arrays(path, key, result)
    entry = {
        **description,
        "columns": output_columns(sup),
        "cache": status,
        "cache_key": key,
        "rows_scored": scored,
        "processes": rank_and_world()[1],
        "seconds": round(time.perf_counter() - start, 3),
        "labelled_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return result, entry


def _judgement_columns(
    sup: Supervisor, task: Task, result: dict[str, np.ndarray]
) -> dict[str, tuple[list, Any]]:
    """The dataset columns (values and feature) of one supervisor's judgements."""
    from datasets import Sequence as HFSequence
    from datasets import Value

    if task == "preference":
        c_col, r_col = reward_columns(sup.name)
        return {
            c_col: (result["chosen"].tolist(), Value("float64")),
            r_col: (result["rejected"].tolist(), Value("float64")),
        }
    return {probs_column(sup.name): (result["probs"].tolist(), HFSequence(Value("float64")))}


def _provenance(
    dataset: Any,
    supervisors: Sequence[Supervisor],
    task: Task,
    core: list[str],
    hashes: dict[str, str],
    entries: list[dict],
) -> dict[str, Any]:
    """The provenance record of the labelled set: earlier supervisors not relabelled now, then this call's."""
    provenance = read_provenance(dataset) or {}
    kept = [
        e for e in provenance.get("supervisors", []) if e.get("name") not in {s.name for s in supervisors}
    ]
    return {
        "raven_align_version": __version__,
        "task": task,
        "columns": dict(zip(["prompt", "chosen", "rejected"], core, strict=False))
        if task == "preference"
        else {"input": core[0]},
        "dataset": {
            "num_rows": len(dataset),
            "fingerprint": getattr(dataset, "_fingerprint", None),
            "content_sha256": sha256_json([(c, hashes[c]) for c in core]),
        },
        "supervisors": kept + entries,
    }


def label_dataset(
    dataset: Any,
    supervisors: Sequence[Supervisor],
    *,
    task: Task | None = None,
    prompt_column: str = "prompt",
    chosen_column: str = "chosen",
    rejected_column: str = "rejected",
    input_column: str = "text",
    cache: bool = True,
    cache_dir: str | Path | None = None,
    overwrite: bool = False,
    show_progress: bool = True,
):
    """Return ``dataset`` with one judgement column per supervisor (two for preference) and provenance.

    Everything is validated before any scoring (empty data, missing columns, duplicate names, mixed tasks,
    existing output columns unless ``overwrite``); the scores are checked (finite; probabilities on the simplex)
    before they are cached or added. The input dataset is not modified.
    """
    from tqdm.auto import tqdm

    task = _infer_task(supervisors, task)
    core = [prompt_column, chosen_column, rejected_column] if task == "preference" else [input_column]
    _validate(dataset, supervisors, core, overwrite)
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    hashes: dict[str, str] = {}
    new_columns: dict[str, tuple[list, Any]] = {}
    entries = []
    quiet = not show_progress or len(supervisors) < 2 or rank_and_world()[0] != 0
    for sup in tqdm(supervisors, desc="Labelling", disable=quiet):
        description = sup.describe()  # once: a local model's identity hashes its weight files
        key = _supervisor_key(sup, description, dataset, task, core, hashes)
        result, entry = _label_one(sup, description, dataset, task, core, key, root, cache)
        new_columns.update(_judgement_columns(sup, task, result))
        entries.append(entry)

    out = dataset
    existing = [c for c in new_columns if c in out.column_names]
    if existing:
        out = out.remove_columns(existing)
    for name, (values, feature) in new_columns.items():
        out = out.add_column(name, values, feature=feature)
    return with_provenance(out, _provenance(dataset, supervisors, task, core, hashes, entries))


def label_dataset_dict(dataset_dict: Any, supervisors: Sequence[Supervisor], **kwargs: Any):
    """``label_dataset`` applied to every split of a ``DatasetDict``."""
    from datasets import DatasetDict

    return DatasetDict(
        {split: label_dataset(ds, supervisors, **kwargs) for split, ds in dataset_dict.items()}
    )
