"""Datasets saved once under the cache directory, keyed by content, verified by checksums before every use.

An in-memory dataset gives TRL's caches (tokenisation, precomputed reference log-probs) a temporary home that dies
with the process, and that other processes cannot open; a dataset on disk lets every process and every later run
with the same data and model reuse them. Used by the recipes (labelled data) and by the DPO trainer (in-memory
datasets under several processes).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..utils.cache import build_dir_atomically, cache_root
from ..utils.hashing import sha256_file
from ..utils.processes import local_main_first
from .label import column_hash

CHECKSUMS = "raven_checksums.json"


def write_checksums(folder: str | Path) -> None:
    """Record the SHA-256 of every file now in ``folder`` (called while it is built, before it is published)."""
    folder = Path(folder)
    sums = {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()}
    (folder / CHECKSUMS).write_text(json.dumps(sums, indent=1))


def verify_checksums(folder: str | Path) -> None:
    """Refuse a cached folder whose files differ from those recorded by :func:`write_checksums`."""
    folder = Path(folder)
    hint = f"delete {folder} and run again to rebuild it"
    try:
        sums = json.loads((folder / CHECKSUMS).read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"cached dataset {folder} has no readable {CHECKSUMS}: {hint}") from e
    for name, digest in sums.items():
        path = folder / name
        if not path.is_file() or sha256_file(path) != digest:
            raise ValueError(
                f"cached dataset file {path} was changed or truncated since it was written: {hint}"
            )


def persist_dataset(dataset: Any, kind: str = "labelled") -> Any:
    """The same rows, saved once under ``<cache>/<kind>/<content key>`` and memory-mapped from there."""
    import datasets

    key = hashlib.sha256(
        repr(["v2", *((c, column_hash(dataset, c)) for c in dataset.column_names)]).encode()
    ).hexdigest()[:24]

    def build(tmp: Path) -> None:
        dataset.save_to_disk(str(tmp))
        write_checksums(tmp)

    # one process per machine writes it; the others then find it
    path = local_main_first(lambda: build_dir_atomically(cache_root() / kind / key, build))
    verify_checksums(path)  # an edited or truncated copy is refused before anything reads it
    loaded = datasets.load_from_disk(str(path))
    loaded.info.description = dataset.info.description  # provenance travels in the description
    return loaded
