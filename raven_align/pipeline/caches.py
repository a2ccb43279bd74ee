"""The recipes' cache of reference margins of held-out pairs, verified before use (a checksum and the number of
pairs). Persisted datasets are verified by ``raven_align.labeling.persist``.

A cache that does not match is refused with its path and the fix (delete it; it is rebuilt): an edited cache must
never change a result without a word.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..utils.cache import write_file_atomically


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
