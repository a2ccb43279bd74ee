"""The user cache directory shared by the assets (converted models) and the labelling cache."""

from __future__ import annotations

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
