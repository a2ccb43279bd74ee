"""Strong models by name: ``embedded:smollm2`` (a packaged model) or a Hub ID / local folder."""

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


def model_init_kwargs(model_args) -> dict:
    """What TRL's trainers pass to ``from_pretrained`` when given a model name (its ``model_init_kwargs``)."""
    kwargs = {"revision": model_args.model_revision, "dtype": model_args.dtype or "float32"}
    if model_args.attn_implementation is not None:
        kwargs["attn_implementation"] = model_args.attn_implementation
    return kwargs
