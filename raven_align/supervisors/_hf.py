"""Shared plumbing for supervisors backed by transformers models: sources, revisions, devices, padding."""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..utils.hashing import hash_tokenizer, model_identity
from .base import best_device, best_dtype


def default_name(model: Any, fallback: str) -> str:
    """A column-safe name from a Hub id or path (``org/My-RM`` → ``My-RM``)."""
    if isinstance(model, str | Path):
        base = Path(str(model).rstrip("/")).name
        name = re.sub(r"[^A-Za-z0-9_.\-]", "_", base).lstrip("_.-")
        if name:
            return name
    return fallback


def resolve_revision(model_id: str, revision: str | None) -> str | None:
    """The commit a Hub revision points to (from the Hub, or the local cache offline); ``revision`` if unknown."""
    from transformers.utils.hub import resolve_revision as _resolve

    resolved = _resolve(model_id, revision)
    return getattr(resolved, "resolved", None) or revision


def looks_like_path(name: str) -> bool:
    """Whether ``name`` can only be a local path (a Hub ID is ``name`` or ``org/name``)."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name or name.endswith("/")


def check_model_source(name: str) -> None:
    """A clear error for a local model path that does not exist (instead of the Hub's "Repo id must be ...")."""
    if isinstance(name, str) and looks_like_path(name) and not Path(name).expanduser().exists():
        raise FileNotFoundError(
            f"model path {name!r} does not exist: give an existing model folder (with config.json) or a Hub ID "
            "such as org/name"
        )


class HFModelSource:
    """A model given as a Hub id, a local folder, or an already built ``torch.nn.Module``; loaded lazily.

    Identity is computed without loading the weights (revision, or file hashes), so a labelling cache hit
    never loads the model. A given module is moved to the device in place (``nn.Module.to``), and cast only
    when a ``dtype`` is asked for.
    """

    def __init__(
        self, model: Any, revision: str | None, device: str | None, dtype: Any, model_kwargs: dict | None
    ):
        self.source = str(model) if isinstance(model, str | Path) else None
        if self.source is not None:
            check_model_source(self.source)
        self.is_local = self.source is not None and Path(self.source).exists()
        self.revision = (
            resolve_revision(self.source, revision) if self.source and not self.is_local else revision
        )
        self._model = None if self.source is not None else model
        self.device = device or best_device()
        self.dtype = dtype
        self.model_kwargs = dict(model_kwargs or {})
        self._identity: dict | None = None
        self._loaded = None

    def identity(self) -> dict[str, Any]:
        """Recomputed for model objects (their weights may have changed since), memoised for Hub ids and
        for local folders whose files have not changed."""
        if self.source is None:
            return model_identity(self._model, None, None)
        stamp = None
        if self.is_local:
            root = Path(self.source)
            stamp = sorted(
                (str(p), p.stat().st_mtime_ns, p.stat().st_size)
                for p in ([root] if root.is_file() else root.rglob("*"))
                if p.is_file()
            )
        if self._identity is None or self._identity[0] != stamp:
            self._identity = (stamp, model_identity(self._model, self.source, self.revision))
        return self._identity[1]

    @property
    def dtype_setting(self) -> str:
        """The dtype scores are computed in, as a string, known before loading (part of the cache key)."""
        if self.dtype is not None:
            return str(self.dtype)
        # A given module keeps its dtype: changing it would change what it computes.
        return str(best_dtype(self.device)) if self.source is not None else "as-is"

    def require_head(self, words: tuple[str, ...], what: str) -> None:
        """Refuse, before any scoring, a model whose architectures (config.json) have no head of this kind
        (``words``: e.g. ``ForSequenceClassification``): loading it would draw a random head and score noise."""
        if self.source is None:
            return
        try:
            from transformers import AutoConfig

            kwargs = {"revision": self.revision} if self.revision and not self.is_local else {}
            architectures = AutoConfig.from_pretrained(self.source, **kwargs).architectures or []
        except Exception:  # config not reachable now: the check at load time still applies
            return
        if architectures and not any(w in a for a in architectures for w in words):
            raise ValueError(
                f"{self.source} is not a {what} (its architectures are {architectures}): its head would be "
                f"initialised at random. Give a model with a trained {what} head (e.g. trained with "
                "`raven-align reward`)"
            )

    def get(self, auto_class: Any = None, strict_head: bool = False, **kwargs: Any):
        """The model on the chosen device and dtype (loaded from its source on first use; with ``strict_head`` a
        model whose head would be newly initialised is refused)."""
        if self._loaded is None:
            model = self._model
            if model is None:
                load_kwargs = {**kwargs, **self.model_kwargs}
                if not self.is_local and self.revision:
                    load_kwargs["revision"] = self.revision
                if strict_head:
                    load_kwargs["output_loading_info"] = True
                with unpartitioned():
                    model = auto_class.from_pretrained(self.source, **load_kwargs)
                model, info = model if strict_head else (model, {})
                base = getattr(model, "base_model_prefix", "")
                new = [k for k in info.get("missing_keys", []) if not (base and k.startswith(base))]
                if new:
                    raise ValueError(
                        f"{self.source} has no trained weights for {sorted(new)}: the head would be random. Give "
                        f"a model saved as {auto_class.__name__}"
                    )
            dtype = self.dtype or (best_dtype(self.device) if self.source is not None else None)
            self._loaded = model.to(self.device) if dtype is None else model.to(self.device, dtype=dtype)
        return self._loaded


@contextmanager
def unpartitioned():
    """Models loaded inside are whole on every process, even while DeepSpeed ZeRO-3 is configured for the strong
    model: a supervisor or gold model is never trained, and partitioning it would make every load and forward a
    collective that all processes must join (a load on one process alone would hang)."""
    from transformers.integrations import deepspeed as hf_deepspeed

    config = hf_deepspeed._hf_deepspeed_config_weak_ref  # set by TrainingArguments(deepspeed=...)
    hf_deepspeed.unset_hf_deepspeed_config()
    try:
        yield
    finally:
        hf_deepspeed._hf_deepspeed_config_weak_ref = config


@contextmanager
def eval_mode(*models: Any):
    """Eval mode (no dropout) inside, and each model's previous train/eval mode restored after."""
    modes = [m.training for m in models]
    for m in models:
        m.eval()
    try:
        yield
    finally:
        for m, mode in zip(models, modes, strict=True):
            m.train(mode)


def load_tokenizer(tokenizer: Any, model: Any, revision: str | None, **kwargs: Any):
    """The given tokenizer/processor, or one loaded from the model's source; ``None`` if neither exists."""
    if tokenizer is not None and not isinstance(tokenizer, str | Path):
        return tokenizer
    source = tokenizer if tokenizer is not None else (model if isinstance(model, str | Path) else None)
    if source is None:
        return None
    from transformers import AutoTokenizer

    if revision and not Path(str(source)).exists():
        kwargs["revision"] = revision
    return AutoTokenizer.from_pretrained(str(source), **kwargs)


def ensure_pad_token(tokenizer: Any, model: Any | None = None) -> None:
    """Use EOS as padding when the tokenizer has none (as TRL does) and tell the model which id pads."""
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError("The tokenizer has neither a pad nor an eos token; set tokenizer.pad_token")
        tokenizer.pad_token = tokenizer.eos_token
    if model is not None and getattr(model, "config", None) is not None:
        model.config.get_text_config().pad_token_id = tokenizer.pad_token_id


def tokenizer_identity(tokenizer: Any) -> str | None:
    return hash_tokenizer(tokenizer)


def pad_right(sequences: list[list[int]], pad_id: int, device: str):
    """Right-padded ``input_ids`` and ``attention_mask`` tensors."""
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, s in enumerate(sequences):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, : len(s)] = 1
    return ids.to(device), mask.to(device)
