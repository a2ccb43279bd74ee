"""The user cache directory shared by the assets (converted models) and the labelling cache; atomic writes, array
files that carry a checksum of their content, and model folders that carry a manifest of their files (both refused
with their path when edited or truncated)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

from .hashing import sha256_file

ENV_VAR = "RAVEN_ALIGN_CACHE"


def cache_root() -> Path:
    """``$RAVEN_ALIGN_CACHE`` if set, else ``~/.cache/raven_align`` (created on demand)."""
    root = Path(os.environ.get(ENV_VAR) or Path.home() / ".cache" / "raven_align").expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def build_dir_atomically(final: Path, build: Callable[[Path], None], manifest: bool = False) -> Path:
    """Create the folder ``final`` by letting ``build`` fill a temporary sibling, then renaming it.

    A crash or a second process never leaves a half-written ``final``: readers either see nothing or the
    complete folder. If another process won the race, its folder is kept and ours is discarded. ``manifest``:
    record every file's SHA-256 and size in the folder before it is published (:func:`verify_model_dir` checks it).
    """
    final = Path(final)
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        build(tmp)
        if manifest:
            write_manifest(tmp)
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


# -- model folders: a manifest of their files, checked before every use ----------------------------------------

MANIFEST = "raven_manifest.json"
# folder -> the files' stat signature (size, mtime, ctime, inode) when this process last verified their hashes
_verified: dict[str, tuple] = {}


def _folder_files(folder: Path) -> list[str]:
    """The files of ``folder`` (relative POSIX paths) that a manifest covers: all but hidden ones and itself."""
    names = []
    for p in folder.rglob("*"):
        rel = p.relative_to(folder)
        if p.is_file() and rel.as_posix() != MANIFEST and not any(s.startswith(".") for s in rel.parts):
            names.append(rel.as_posix())
    return sorted(names)


def manifest_of(folder: str | Path) -> dict:
    """``{"format": 1, "files": {name: {"sha256", "size"}}}`` of every file now in ``folder`` (reads only)."""
    folder = Path(folder)
    files = {
        n: {"sha256": sha256_file(folder / n), "size": (folder / n).stat().st_size}
        for n in _folder_files(folder)
    }
    return {"format": 1, "files": files}


def write_manifest(folder: str | Path) -> None:
    """Record the manifest of ``folder`` in ``folder/raven_manifest.json`` (atomically)."""
    folder = Path(folder)
    write_file_atomically(
        folder / MANIFEST, json.dumps(manifest_of(folder), indent=1, sort_keys=True).encode()
    )


def _signature(folder: Path, names: list[str]) -> tuple:
    stats = [(n, os.stat(folder / n)) for n in [*names, MANIFEST]]
    return tuple((n, s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino) for n, s in stats)


def manifest_problems(folder: str | Path, recorded: dict) -> list[str]:
    """What differs between the files of ``folder`` and the manifest ``recorded`` (empty: they match; reads only)."""
    folder, files = Path(folder), recorded.get("files")
    if not isinstance(files, dict):
        return [f"its {MANIFEST} is not a manifest"]
    names = _folder_files(folder)
    problems = [f"file {n} is missing" for n in sorted(set(files) - set(names))]
    problems += [f"file {n} was not there when it was built" for n in sorted(set(names) - set(files))]
    for n in sorted(set(names) & set(files)):
        size = (folder / n).stat().st_size
        if size != files[n].get("size"):
            problems.append(
                f"file {n} is truncated or changed ({size} bytes, {files[n].get('size')} recorded)"
            )
        elif sha256_file(folder / n) != files[n].get("sha256"):
            problems.append(f"file {n} was changed (its SHA-256 differs from the one recorded)")
    return problems


def verify_model_dir(folder: str | Path, rebuild: str, required: tuple[str, ...] = ("config.json",)) -> Path:
    """``folder`` (a cached model folder) after checking every file against the manifest written when it was
    built: a changed, truncated, missing or extra file raises ``ValueError`` naming the folder, the file and the
    fix (delete the folder; it is rebuilt on next use: ``rebuild`` says how).

    The full SHA-256 check runs once per process and folder (0.7 s for the 540 MB SmolLM2 folder); later calls
    in the process re-hash only if a file's size, mtime, ctime or inode changed. A folder built before manifests
    existed gets one now, from its files as they are, with a warning (its content cannot be checked this once).
    """
    folder = Path(folder)
    hint = f"delete {folder} and it is rebuilt on next use ({rebuild})"
    if not (folder / MANIFEST).is_file():
        missing = [r for r in required if not (folder / r).is_file()]
        if missing:
            raise ValueError(
                f"cached model folder {folder} holds no complete model ({missing} missing): {hint}"
            )
        return _record_legacy(folder, hint)
    names = _folder_files(folder)
    signature = _signature(folder, names)
    if _verified.get(str(folder)) == signature:
        return folder
    try:
        recorded = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"cached model folder {folder}: its {MANIFEST} is unreadable ({e}): {hint}") from e
    problems = manifest_problems(folder, recorded if isinstance(recorded, dict) else {})
    if problems:
        raise ValueError(
            f"cached model folder {folder} does not match the manifest written when it was built: "
            f"{'; '.join(problems)}. It must not be used: {hint}"
        )
    _verified[str(folder)] = signature
    return folder


def _record_legacy(folder: Path, hint: str) -> Path:
    """A folder built before manifests: record its files now (warning once), so later changes are caught."""
    try:
        write_manifest(folder)
    except OSError as e:
        warnings.warn(
            f"cached model folder {folder} has no manifest and none could be recorded ({e}): it is used unchecked",
            UserWarning,
            stacklevel=3,
        )
        return folder
    warnings.warn(
        f"cached model folder {folder} has no manifest (built by an earlier raven_align): recorded now from its "
        f"files as they are, and checked on every later use; if you doubt its content, {hint}",
        UserWarning,
        stacklevel=3,
    )
    _verified[str(folder)] = _signature(folder, _folder_files(folder))
    return folder
