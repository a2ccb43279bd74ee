"""Frozen features for linear probes, cached on disk (the cheap strong model of the classification recipes).

``text_embeddings`` mean-pools an HF encoder (all-MiniLM-L6-v2 by default, the way sentence-transformers
pools it) and L2-normalises. Embedding ten thousand reviews takes minutes on a CPU, so results are cached
under ``<cache>/features/``, keyed by the model's file hashes, the texts and the settings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...utils.cache import cache_root, load_checked_arrays, save_checked_arrays
from ...utils.hashing import hash_local_model, sha256_json


def _texts_hash(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode() + b"\0")
    return h.hexdigest()


def text_embeddings(
    texts: Sequence[str],
    model_path: str | Path | None = None,
    *,
    batch_size: int = 64,
    max_length: int = 128,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    show_progress: bool = True,
) -> np.ndarray:
    """``(N, D)`` float32 L2-normalised mean-pooled embeddings of ``texts`` from a local encoder folder.

    ``model_path`` defaults to the packaged all-MiniLM-L6-v2 (``raven_align.embedded.minilm_path()``).
    """
    if model_path is None:
        from ...embedded import minilm_path

        model_path = minilm_path()
    model_path = Path(model_path)
    texts = [str(t) for t in texts]
    key = sha256_json(
        {
            "model": hash_local_model(model_path),
            "texts": _texts_hash(texts),
            "pool": "mean-l2",
            "max_length": max_length,
        }
    )
    path = Path(cache_dir or cache_root()) / "features" / key[:2] / f"{key}.npz"
    if cache and path.is_file():  # verified against its checksum; an edited or truncated file is refused
        return load_checked_arrays(path, key, f"delete {path} (or pass cache=False) to embed again")["x"]
    out = _embed(texts, model_path, batch_size, max_length, show_progress)
    if cache:
        save_checked_arrays(path, key, {"x": out})
    return out


def _embed(
    texts: list[str], model_path: Path, batch_size: int, max_length: int, show_progress: bool
) -> np.ndarray:
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    model = AutoModel.from_pretrained(str(model_path)).eval()
    order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths share a batch: less padding
    out = np.empty((len(texts), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in tqdm(range(0, len(texts), batch_size), desc="Embedding", disable=not show_progress):
            idx = order[start : start + batch_size]
            enc = tokenizer(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)
            out[idx] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    return out
