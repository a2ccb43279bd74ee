"""Caches of the recipes verified before use: a persisted dataset folder (checksums of the files it was saved
as) and the reference margins of held-out pairs (a checksum and the number of pairs).

A cache that does not match is refused with its path and the fix (delete it; it is rebuilt): an edited cache must
never change a result without a word.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..cache import write_file_atomically

CHECKSUMS = "raven_checksums.json"


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_checksums(folder: str | Path) -> None:
    """Record the SHA-256 of every file now in ``folder`` (called while it is built, before it is published)."""
    folder = Path(folder)
    sums = {str(p.relative_to(folder)): _sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()}
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
        if not path.is_file() or _sha256_file(path) != digest:
            raise ValueError(
                f"cached dataset file {path} was changed or truncated since it was written: {hint}"
            )


def _margins_digest(margins: list[float]) -> str:
    return hashlib.sha256(json.dumps(margins).encode()).hexdigest()


def read_margins(path: str | Path, num_pairs: int) -> list[float] | None:
    """The cached reference margins at ``path`` (None when there are none yet), verified: readable, one per pair,
    matching their checksum."""
    path = Path(path)
    if not path.is_file():
        return None
    hint = f"delete {path} to recompute it"
    try:
        data = json.loads(path.read_text())
        margins, digest = data["margins"], data["sha256"]
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise ValueError(f"reference-margin cache {path} is unreadable or in an old format: {hint}") from e
    if len(margins) != num_pairs or _margins_digest(margins) != digest:
        raise ValueError(f"reference-margin cache {path} does not match its checksum or its pairs: {hint}")
    return margins


def write_margins(path: str | Path, margins: list[float]) -> None:
    """Write reference margins with their checksum, atomically."""
    data = {"margins": list(margins), "sha256": _margins_digest(list(margins))}
    write_file_atomically(Path(path), json.dumps(data).encode())
