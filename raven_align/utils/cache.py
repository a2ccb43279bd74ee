"""The user cache directory shared by the assets (converted models) and the labelling cache; atomic writes, and
array files that carry a checksum of their content (refused with their path when edited or truncated)."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

ENV_VAR = "RAVEN_ALIGN_CACHE"


def cache_root() -> Path:
    """``$RAVEN_ALIGN_CACHE`` if set, else ``~/.cache/raven_align`` (created on demand)."""
    root = Path(os.environ.get(ENV_VAR) or Path.home() / ".cache" / "raven_align").expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def build_dir_atomically(final: Path, build: Callable[[Path], None]) -> Path:
    """Create the folder ``final`` by letting ``build`` fill a temporary sibling, then renaming it.

    A crash or a second process never leaves a half-written ``final``: readers either see nothing or the
    complete folder. If another process won the race, its folder is kept and ours is discarded.
    """
    final = Path(final)
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        build(tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def write_file_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace`` (atomic on POSIX)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


_CHECKSUM = "__sha256__"


def _checksum(key: str, arrays: dict) -> str:
    h = hashlib.sha256(key.encode())
    for name in sorted(arrays):
        value = arrays[name]
        h.update(f"{name}:{value.dtype.str}:{value.shape}".encode())
        h.update(value.tobytes())
    return h.hexdigest()


def save_checked_arrays(path: Path, key: str, arrays: dict) -> None:
    """Write ``arrays`` (numpy) to ``path`` (``.npz``, atomically) with a checksum of ``key`` and their content."""
    import numpy as np

    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    buf = io.BytesIO()
    np.savez(buf, **arrays, **{_CHECKSUM: np.asarray(_checksum(key, arrays))})
    write_file_atomically(path, buf.getvalue())


def load_checked_arrays(path: Path, key: str, hint: str) -> dict:
    """The arrays saved by :func:`save_checked_arrays`, verified (``np.load`` never unpickles); an edited,
    truncated or foreign file raises ``ValueError`` with its path and ``hint`` (how to recompute)."""
    import numpy as np

    try:
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:  # zipfile.BadZipFile, EOFError, ValueError, OSError ...
        raise ValueError(f"cache file {path} is unreadable ({type(e).__name__}: {e}): {hint}") from e
    stored = str(arrays.pop(_CHECKSUM, ""))
    if stored != _checksum(key, arrays):
        raise ValueError(f"cache file {path} does not match its checksum (edited or corrupted): {hint}")
    return arrays
