"""Provenance of labelled datasets: stored in ``dataset.info.description`` (JSON) and, when saved, a sidecar file.

The JSON sits under the key ``raven_align_provenance``; a description the dataset had before is kept under
``description``. ``save_labeled`` also writes ``raven_provenance.json`` next to the data, and
``push_labeled_to_hub`` uploads it beside the pushed dataset.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

_KEY = "raven_align_provenance"
SIDECAR = "raven_provenance.json"


def read_provenance(dataset_or_path: Any) -> dict[str, Any] | None:
    """The provenance dict of a labelled ``Dataset``/``DatasetDict`` or a folder saved by ``save_labeled``
    (``None`` if there is none). A ``DatasetDict`` gives ``{split: provenance}``."""
    if isinstance(dataset_or_path, str | os.PathLike):
        sidecar = Path(dataset_or_path) / SIDECAR
        if sidecar.is_file():
            return json.loads(sidecar.read_text())
        from datasets import load_from_disk

        return read_provenance(load_from_disk(str(dataset_or_path)))
    if hasattr(dataset_or_path, "info"):
        description = dataset_or_path.info.description or ""
        try:
            data = json.loads(description)
        except ValueError:
            return None
        return data.get(_KEY) if isinstance(data, dict) else None
    if hasattr(dataset_or_path, "items"):  # DatasetDict
        out = {split: read_provenance(ds) for split, ds in dataset_or_path.items()}
        return out if any(v is not None for v in out.values()) else None
    raise TypeError(f"Cannot read provenance from {type(dataset_or_path).__name__}")


def supervisor_identity(entry: dict[str, Any]) -> str:
    """A short, human-readable identity of one provenance entry (Hub ID, local folder + hash, or function)."""
    ident = entry.get("identity", {})
    if "model_id" in ident:
        return f"{ident['model_id']}@{ident.get('revision', 'main')}"
    if "path" in ident:
        return f"{os.path.basename(ident['path'])} (sha256 {str(ident.get('sha256', ''))[:12]})"
    return str(ident.get("callable") or entry.get("kind", "?"))


def supervisor_identities(dataset: Any) -> dict[str, str]:
    """``{supervisor name: identity}`` from a labelled dataset's provenance (empty without provenance)."""
    provenance = read_provenance(dataset) if hasattr(dataset, "info") else None
    return {e["name"]: supervisor_identity(e) for e in (provenance or {}).get("supervisors", [])}


def with_provenance(dataset: Any, provenance: dict[str, Any]):
    """A copy of ``dataset`` (shares the data) whose ``info.description`` carries ``provenance``."""
    from datasets import Dataset

    info = dataset.info.copy()
    previous = info.description or ""
    try:
        old = json.loads(previous)
        previous = old.get("description", "") if isinstance(old, dict) and _KEY in old else previous
    except ValueError:
        pass
    info.description = json.dumps({_KEY: provenance, "description": previous}, sort_keys=True)
    return Dataset(
        dataset.data,
        info=info,
        split=dataset.split,
        indices_table=dataset._indices,
        fingerprint=dataset._fingerprint,
    )


def save_labeled(dataset: Any, path: str | os.PathLike) -> Path:
    """``save_to_disk`` plus the ``raven_provenance.json`` sidecar; returns the folder."""
    provenance = read_provenance(dataset)
    if provenance is None:
        raise ValueError("The dataset has no raven_align provenance: label it with label_dataset first")
    dataset.save_to_disk(str(path))
    (Path(path) / SIDECAR).write_text(json.dumps(provenance, indent=2, sort_keys=True))
    return Path(path)


def load_labeled(path: str | os.PathLike) -> tuple[Any, dict[str, Any]]:
    """``(dataset, provenance)`` from a folder written by ``save_labeled``."""
    from datasets import load_from_disk

    provenance = read_provenance(path)
    if provenance is None:
        raise ValueError(f"{path} has no raven_align provenance (not written by save_labeled?)")
    return load_from_disk(str(path)), provenance


def push_labeled_to_hub(
    dataset: Any, repo_id: str, *, token: str | None = None, private: bool | None = None, **kwargs: Any
) -> None:
    """Push a labelled dataset and its provenance file to the Hub.

    Fails with a clear error, before any upload, when there is no token or the Hub is switched off
    (``HF_HUB_OFFLINE``), and wraps network failures in one that says what to check.
    """
    from huggingface_hub import HfApi, constants, get_token

    provenance = read_provenance(dataset)
    if provenance is None:
        raise ValueError("The dataset has no raven_align provenance: label it with label_dataset first")
    if constants.HF_HUB_OFFLINE:
        raise RuntimeError(
            f"Cannot push {repo_id!r}: HF_HUB_OFFLINE is set. Save locally with save_labeled()."
        )
    token = token or get_token()
    if not token:
        raise RuntimeError(
            f"Cannot push {repo_id!r}: no Hugging Face token. Run `hf auth login` or set HF_TOKEN, "
            "or save locally with save_labeled()."
        )
    try:
        dataset.push_to_hub(repo_id, token=token, private=private, **kwargs)
        HfApi(token=token).upload_file(
            path_or_fileobj=json.dumps(provenance, indent=2, sort_keys=True).encode(),
            path_in_repo=SIDECAR,
            repo_id=repo_id,
            repo_type="dataset",
        )
    except Exception as e:
        raise RuntimeError(
            f"Pushing {repo_id!r} to the Hub failed ({type(e).__name__}: {e}). Check the network "
            "connection and that the token can write to this repository."
        ) from e
