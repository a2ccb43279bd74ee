"""The recipes' cache of reference margins of held-out pairs, verified before use: the file records its key (what
the margins were computed for: the reference model, the tokenizer, the pairs' content, ``max_length``, truncation and
the versions), and its checksum covers that key and the margins. Persisted datasets are verified by
``raven_align.labeling.persist``; model folders by ``raven_align.utils.cache.verify_model_dir``.

A cache that does not match is refused with its path and the fix (delete it; it is rebuilt): an edited cache, or one
computed for another model or data, must never change a result without a word.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..utils.cache import write_file_atomically
from ..utils.hashing import sha256_json

# Format 1, {"margins", "sha256"} with a checksum of the margins alone, is refused: it does not say what it was
# computed for, and its checksum could be recomputed after any edit.
_FORMAT = 2


def _margins_digest(margins: list[float], key: Any = None) -> str:
    """SHA-256 over the key and the margins (a file can neither be edited nor moved to another key unnoticed)."""
    return hashlib.sha256(json.dumps({"key": key, "margins": margins}, sort_keys=True).encode()).hexdigest()


def reference_margin_cache(dataset: Any, trainer: Any) -> tuple[str | None, dict | None]:
    """``(path, key)`` of the cached reference margins on ``dataset`` (beside its cached files), or ``(None, None)``
    when there is no such cache (reference log-probs not precomputed, or data only in memory). ``key`` is what the
    margins depend on; the file name hashes it, and :func:`read_margins` refuses a file whose key differs."""
    model_hash = trainer.reference_cache_key()
    if not model_hash or not dataset.cache_files:
        return None, None
    from importlib.metadata import version

    from ..labeling.label import column_hash
    from ..utils.hashing import hash_tokenizer
    from ..utils.version import __version__

    key = {
        "format": _FORMAT,
        "margins": "log p_ref(chosen | prompt) - log p_ref(rejected | prompt), summed over completion tokens",
        "reference_model": model_hash,
        "tokenizer": hash_tokenizer(trainer.processing_class),
        "max_length": trainer.args.max_length,
        "truncation_mode": trainer.args.truncation_mode,
        "pairs": len(dataset),
        "data": {c: column_hash(dataset, c) for c in ("prompt", "chosen", "rejected")},
        "versions": {"raven_align": __version__, "trl": version("trl")},
    }
    folder = os.path.dirname(dataset.cache_files[0]["filename"])
    return os.path.join(folder, f"raven_ref_margins-{sha256_json(key)[:24]}.json"), key


def read_margins(path: str | Path, num_pairs: int, key: dict | None = None) -> list[float] | None:
    """The cached reference margins at ``path`` (None when there are none yet), verified: readable, computed for
    ``key`` (see :func:`reference_margin_cache`), one per pair, matching their checksum (which covers the key)."""
    path = Path(path)
    if not path.is_file():
        return None
    hint = f"delete {path} to recompute it"
    try:
        data = json.loads(path.read_text())
        margins, digest, stored = data["margins"], data["sha256"], data["key"]
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise ValueError(
            f"reference-margin cache {path} is unreadable or in an old format (which does not record the model "
            f"and data it was computed for): {hint}"
        ) from e
    if stored != key:
        differ = (
            sorted(k for k in {*stored, *key} if stored.get(k) != key.get(k))
            if isinstance(stored, dict) and isinstance(key, dict)
            else "all"
        )
        raise ValueError(
            f"reference-margin cache {path} was computed for another model, data or settings (differing: {differ}) "
            f"and cannot be reused here: {hint}"
        )
    if not isinstance(margins, list) or len(margins) != num_pairs or _margins_digest(margins, key) != digest:
        raise ValueError(f"reference-margin cache {path} does not match its checksum or its pairs: {hint}")
    return margins


def write_margins(path: str | Path, margins: list[float], key: dict | None = None) -> None:
    """Write reference margins with ``key`` (what they were computed for) and a checksum of both, atomically."""
    margins = [float(m) for m in margins]
    data = {"format": _FORMAT, "key": key, "margins": margins, "sha256": _margins_digest(margins, key)}
    write_file_atomically(Path(path), json.dumps(data).encode())
