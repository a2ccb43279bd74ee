"""The supervisor interface: a frozen weak judge that gives rewards (preference) or class probabilities."""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

Task = Literal["preference", "classification"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class Supervisor(ABC):
    """A weak supervisor.

    Preference supervisors implement ``score(prompts, completions, **columns)`` (one reward per completion);
    classification supervisors implement ``predict_proba(inputs, **columns)`` (an ``(N, C)`` array of class
    probabilities). ``identity()`` says *what* the judge is (model id + revision, or content hashes) and
    ``settings()`` *how* it scores (max length, batch size, template use); both key the labelling cache and are
    written to the provenance of a labelled dataset. ``name`` becomes the column suffix
    (``reward_chosen__<name>``, ``probs__<name>``) and the label of its weight in the trainers.
    """

    task: Task
    #: Dataset columns (besides the scored ones) that this supervisor reads; ``None`` means all of them.
    extra_columns: Sequence[str] | None = ()
    kind: ClassVar[str] = "supervisor"

    def __init__(self, name: str, task: Task):
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(
                f"Supervisor name must match {_NAME.pattern} (it becomes a column suffix), got {name!r}"
            )
        if task not in ("preference", "classification"):
            raise ValueError(f"task must be 'preference' or 'classification', got {task!r}")
        self.name = name
        self.task = task

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """JSON-serialisable description of the judge itself (what changes its outputs for the same settings)."""

    def settings(self) -> dict[str, Any]:
        """JSON-serialisable scoring settings (what else changes its outputs)."""
        return {}

    def score(self, prompts: list, completions: list, **columns: Any) -> np.ndarray:
        """Rewards ``r(x, y)`` for each (prompt, completion), shape ``(N,)``."""
        raise NotImplementedError(f"{type(self).__name__} ({self.task}) does not score completions")

    def score_pairs(
        self, prompts: list, chosen: list, rejected: list, **columns: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rewards of both sides of each pair. By default one ``score`` call over both sides, so that batches can
        be length-sorted across them; ``columns`` are given to both halves."""
        n = len(prompts)
        doubled = {k: list(v) + list(v) for k, v in columns.items()}
        rewards = np.asarray(
            self.score(list(prompts) + list(prompts), list(chosen) + list(rejected), **doubled),
            dtype=np.float64,
        )
        if rewards.shape != (2 * n,):
            raise ValueError(
                f"Supervisor {self.name!r} returned {rewards.shape} rewards for {2 * n} completions"
            )
        return rewards[:n], rewards[n:]

    def predict_proba(self, inputs: list, **columns: Any) -> np.ndarray:
        """Class probabilities, shape ``(N, C)``, rows on the simplex."""
        raise NotImplementedError(f"{type(self).__name__} ({self.task}) does not classify")

    def describe(self) -> dict[str, Any]:
        """Name, kind, task, identity and settings in one dict (what provenance records)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "task": self.task,
            "identity": self.identity(),
            "settings": self.settings(),
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, task={self.task!r})"


# ---------------------------------------------------------------------------------------------- identity helpers


def sha256_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def hash_files(paths: Iterable[Path]) -> str:
    """SHA-256 over the names and bytes of ``paths`` (sorted), read in 1 MiB chunks."""
    h = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        h.update(path.name.encode() + b"\0")
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
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


def hash_local_model(path: str | Path) -> str:
    """Hash of a local model folder's weight, config and tokenizer files (not its README or logs)."""
    path = Path(path)
    files = (
        [path]
        if path.is_file()
        else [
            p
            for p in path.rglob("*")
            if p.is_file() and (p.suffix in _WEIGHT_SUFFIXES or p.name in _CONFIG_NAMES)
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


def best_device() -> str:
    """``cuda`` if available, else ``mps``, else ``cpu``."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def best_dtype(device: str):
    """bf16 on GPUs that support it, fp32 otherwise (CPU bf16 is slow, fp16 reward heads overflow)."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Index batches over examples sorted by length (longest first, so memory problems show up at once)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
