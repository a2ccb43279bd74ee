"""Strong models by name: ``embedded:smollm2`` or a Hub ID / local folder, loaded per TRL's ModelConfig."""

from __future__ import annotations

from .data import EMBEDDED_PREFIX

EMBEDDED_MODELS = {"smollm2": ("smollm2_path", "HuggingFaceTB/SmolLM2-135M-Instruct")}


def resolve_model(name: str) -> tuple[str, str | None]:
    """(local path or Hub ID to load, Hub ID to name in the model card)."""
    if not name.startswith(EMBEDDED_PREFIX):
        return name, name
    key = name[len(EMBEDDED_PREFIX) :]
    if key not in EMBEDDED_MODELS:
        raise ValueError(f"unknown embedded model {key!r}; available: {sorted(EMBEDDED_MODELS)}")
    from .. import assets

    fn, hub_id = EMBEDDED_MODELS[key]
    return str(getattr(assets, fn)()), hub_id


def load_causal_lm(model_args):
    """Model and tokenizer as TRL's example scripts load them (dtype, revision, 4/8-bit quantisation)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import get_kbit_device_map, get_quantization_config

    path, hub_id = resolve_model(model_args.model_name_or_path)
    dtype = model_args.dtype if model_args.dtype in ("auto", None) else getattr(torch, model_args.dtype)
    quantization_config = get_quantization_config(model_args)
    model = AutoModelForCausalLM.from_pretrained(
        path,
        revision=model_args.model_revision,
        dtype=dtype,
        attn_implementation=model_args.attn_implementation,
        quantization_config=quantization_config,
        device_map=get_kbit_device_map() if quantization_config is not None else None,
        trust_remote_code=model_args.trust_remote_code,
    )
    tokenizer = AutoTokenizer.from_pretrained(path, revision=model_args.model_revision)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, hub_id
