"""Content hashing: the identities that caches and provenance records key on (JSON values, files, model folders,
in-memory modules, tokenizers, Python callables)."""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np


def sha256_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _update_from_file(h: Any, path: Path) -> None:
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)


def sha256_file(path: str | Path) -> str:
    """SHA-256 of one file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    _update_from_file(h, Path(path))
    return h.hexdigest()


def hash_files(paths: Iterable[Path]) -> str:
    """SHA-256 over the names and bytes of ``paths`` (sorted), read in 1 MiB chunks."""
    h = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        h.update(path.name.encode() + b"\0")
        _update_from_file(h, path)
    return h.hexdigest()


_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
_CONFIG_NAMES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
    "preprocessor_config.json",
    "chat_template.jinja",
    "adapter_config.json",
    "tokenizer.model",
)


def hash_local_model(path: str | Path, weights_only: bool = False) -> str:
    """Hash of a local model folder's weight, config and tokenizer files (not its README or logs); with
    ``weights_only``, of its weight files alone, so that a copy beside another tokenizer or config hashes the same."""
    path = Path(path)
    files = (
        [path]
        if path.is_file()
        else [
            p
            for p in path.rglob("*")
            if p.is_file()
            and (p.suffix in _WEIGHT_SUFFIXES or (not weights_only and p.name in _CONFIG_NAMES))
        ]
    )
    if not files:
        raise ValueError(f"No weight or config files under {path}")
    return hash_files(files)


def hash_module(module: Any) -> str:
    """Hash of a torch module's parameters and buffers (names, dtypes, shapes and bytes)."""
    import torch

    h = hashlib.sha256()
    for key, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        h.update(f"{key}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def hash_tokenizer(tokenizer: Any) -> str | None:
    """Hash of a tokenizer's vocabulary/merges, special tokens and chat template (``None`` if not a tokenizer)."""
    if tokenizer is None:
        return None
    parts: dict[str, Any] = {
        "class": type(tokenizer).__name__,
        "chat_template": getattr(tokenizer, "chat_template", None),
    }
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        parts["backend"] = backend.to_str()
    elif hasattr(tokenizer, "get_vocab"):
        parts["vocab"] = sorted(tokenizer.get_vocab().items())
    else:  # image processors and the like: their config dict
        parts["config"] = tokenizer.to_dict() if hasattr(tokenizer, "to_dict") else repr(tokenizer)
    for attr in ("bos_token", "eos_token", "pad_token", "padding_side", "truncation_side"):
        parts[attr] = str(getattr(tokenizer, attr, None))
    return sha256_json(parts)


def _state(x: Any, depth: int = 0) -> Any:
    """A run-independent description of a value that a callable depends on (defaults, closure, attributes)."""
    if isinstance(x, str | int | float | bool | bytes | type(None)):
        return x
    if depth > 3:
        return type(x).__qualname__
    if isinstance(x, list | tuple | set | frozenset):
        items = [_state(v, depth + 1) for v in x]
        return sorted(items, key=repr) if isinstance(x, set | frozenset) else items
    if isinstance(x, dict):
        return {str(k): _state(v, depth + 1) for k, v in sorted(x.items(), key=lambda kv: str(kv[0]))}
    if isinstance(x, np.ndarray):
        return {"ndarray": hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest(), "shape": x.shape}
    if inspect.isroutine(x) or isinstance(x, type):
        return f"{getattr(x, '__module__', '')}.{getattr(x, '__qualname__', repr(x))}"
    text = repr(x)
    # The default repr carries a memory address that changes every run: keep only the type then.
    return type(x).__qualname__ if " at 0x" in text else text


def hash_callable(fn: Any) -> dict[str, Any]:
    """Qualified name, a hash of the source, and a hash of what else the callable depends on: a partial's
    arguments, default values, closure variables and an object's public attributes (those not starting with
    ``_``, so private bookkeeping such as call counters does not defeat caching). Things with no stable
    description (models, open files) are reduced to their type: pass ``version=`` to ``CallableSupervisor``
    when such state changes."""
    target, bound = fn, {}
    if hasattr(fn, "func") and hasattr(fn, "args") and hasattr(fn, "keywords"):  # functools.partial
        target, bound = fn.func, {"args": fn.args, "keywords": fn.keywords}
    is_function = inspect.isroutine(target)
    module = getattr(target, "__module__", None) or type(target).__module__
    qualname = getattr(target, "__qualname__", None) or type(target).__qualname__
    try:
        source = inspect.getsource(target if is_function else type(target))
    except (OSError, TypeError):
        source = repr(target) if is_function else type(target).__qualname__
    if is_function:
        closure = getattr(target, "__closure__", None) or ()
        state = {
            "defaults": getattr(target, "__defaults__", None),
            "kwdefaults": getattr(target, "__kwdefaults__", None),
            "closure": [c.cell_contents for c in closure if _cell_ok(c)],
        }
    else:
        state = (
            {k: v for k, v in vars(target).items() if not k.startswith("_")}
            if hasattr(target, "__dict__")
            else {}
        )
    state["bound"] = bound
    return {
        "callable": f"{module}.{qualname}",
        "source_sha256": hashlib.sha256(source.encode()).hexdigest(),
        "state_sha256": sha256_json(_state(state)),
    }


def _cell_ok(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
        return True
    except ValueError:
        return False


def model_identity(model: Any, source: str | None, revision: str | None) -> dict[str, Any]:
    """``{"model_id", "revision"}`` for a Hub model, ``{"path", "sha256"}`` for a local folder, or a hash of the
    in-memory weights for a model object."""
    if source is not None and Path(source).exists():
        return {"path": str(Path(source).resolve()), "sha256": hash_local_model(source)}
    if source is not None:
        commit = getattr(getattr(model, "config", None), "_commit_hash", None)
        return {"model_id": source, "revision": commit or revision or "main"}
    return {"class": type(model).__name__, "weights_sha256": hash_module(model)}
