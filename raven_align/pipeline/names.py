"""The one ``embedded:`` resolver: names of packaged data, models and supervisors for every recipe.

- data: ``embedded:<domain>`` (``rotten_tomatoes``, ``amazon_food``, ``drugs_com``) gives preference pairs to
  a preference recipe (from the experiment part: never the reserve the embedded supervisors and the gold model
  train on, :func:`raven_align.embedded.pairs.review_part`) and labelled reviews to a classification recipe; ``embedded:reviews`` (all three review
  domains with a ``domain`` column) and ``embedded:digits`` (UCI + MNIST digits) are classification benchmarks;
- models: ``embedded:smollm2`` (SmolLM2-135M-Instruct), ``embedded:minilm`` (all-MiniLM-L6-v2);
- supervisors: ``embedded:<key>`` specs (see :mod:`raven_align.pipeline.specs`) and the ``embedded`` default set.

A bare domain name (``amazon_food``) is accepted where earlier configs used one.
"""

from __future__ import annotations

from typing import Any, Literal

EMBEDDED_PREFIX = "embedded:"
#: model key -> (loader in raven_align.embedded, the Hub ID it is a copy of)
EMBEDDED_MODELS = {
    "smollm2": ("smollm2_path", "HuggingFaceTB/SmolLM2-135M-Instruct"),
    "minilm": ("minilm_path", "sentence-transformers/all-MiniLM-L6-v2"),
}
CLASSIFICATION_BENCHMARKS = ("reviews", "digits")


def embedded_key(name: str | None) -> str | None:
    """``rotten_tomatoes`` for ``embedded:rotten_tomatoes`` or a bare embedded domain name; None otherwise."""
    from ..embedded import DOMAINS

    if not name:
        return None
    if name.startswith(EMBEDDED_PREFIX):
        return name[len(EMBEDDED_PREFIX) :]
    return name if name in DOMAINS else None


def load_embedded_data(
    name: str,
    task: Literal["preference", "classification"],
    *,
    orientation: Literal["random", "truth"] = "random",
    n_train: int | None = None,
    n_test: int | None = None,
    max_chars: int | None = None,
    seed: int = 0,
) -> Any:
    """The embedded dataset ``name`` as a ``DatasetDict`` (train/test) shaped for ``task``."""
    from ..embedded import DOMAINS, load_preference_pairs, load_reviews

    key = embedded_key(name)
    choices = sorted(DOMAINS) if task == "preference" else [*sorted(DOMAINS), *CLASSIFICATION_BENCHMARKS]
    if key not in choices:
        raise ValueError(f"unknown embedded {task} dataset {name!r}; choose from embedded:{choices}")
    if task == "preference":
        return load_preference_pairs(
            key, orientation=orientation, n_train=n_train, n_test=n_test, max_chars=max_chars, seed=seed
        )
    if key == "reviews":
        return review_domains()
    if key == "digits":
        from ..embedded.digits import digits_dataset

        return digits_dataset()
    return load_reviews(key, n_train=n_train, n_test=n_test, max_chars=max_chars, seed=seed)


def review_domains(max_target_train: int = 4000, max_target_test: int = 2000):
    """Movie (Rotten Tomatoes), Amazon fine-food and drugs.com reviews with a ``domain`` column, one
    ``DatasetDict`` (each domain's own split by movie/product/review, as ``raven_align.embedded`` makes it)."""
    from datasets import DatasetDict, concatenate_datasets

    from ..embedded import load_reviews

    parts = [
        load_reviews("rotten_tomatoes", n_train=max_target_train, n_test=max_target_test),
        load_reviews("amazon_food"),
        load_reviews("drugs_com"),
    ]
    return DatasetDict({s: concatenate_datasets([p[s] for p in parts]) for s in ("train", "test")})


def resolve_model(name: str) -> tuple[str, str | None]:
    """(local path or Hub ID to load, Hub ID to name in the model card) for a model name."""
    if not name.startswith(EMBEDDED_PREFIX):
        return name, name
    key = name[len(EMBEDDED_PREFIX) :]
    if key not in EMBEDDED_MODELS:
        raise ValueError(f"unknown embedded model {key!r}; available: {sorted(EMBEDDED_MODELS)}")
    from .. import embedded

    fn, hub_id = EMBEDDED_MODELS[key]
    return str(getattr(embedded, fn)()), hub_id


def name_hub_base(trainer, model_path: str, hub_id: str | None) -> None:
    """Record the Hub ID an embedded model is a copy of (``embedded:smollm2``: ``model_path`` is its local folder)
    as the base of the trainer's PEFT adapter, before anything is saved: PEFT would write the local folder into
    every ``adapter_config.json`` (final and checkpoints), which loads nowhere else. The model card says which
    weights the adapter was trained on and how to load them (:func:`~raven_align.embedded.models.converted_origin`).
    A model given by Hub ID or by the user's own folder is left as it is."""
    if not hub_id or hub_id == model_path:
        return
    model = trainer.accelerator.unwrap_model(trainer.model)
    for config in (getattr(model, "peft_config", None) or {}).values():
        config.base_model_name_or_path = hub_id


def model_init_kwargs(model_args) -> dict:
    """What TRL's trainers pass to ``from_pretrained`` when given a model name (its ``model_init_kwargs``)."""
    kwargs = {"revision": model_args.model_revision, "dtype": model_args.dtype or "float32"}
    if model_args.attn_implementation is not None:
        kwargs["attn_implementation"] = model_args.attn_implementation
    return kwargs


def check_policy(model_args) -> None:
    """Resolve the strong model's config and tokenizer (no weights) before any labelling, which can take hours: a
    missing or misspelt model fails now, with the fix, not at trainer construction."""
    from transformers import AutoConfig, AutoTokenizer

    path, _ = resolve_model(model_args.model_name_or_path)
    kwargs = {"revision": model_args.model_revision}
    try:
        AutoConfig.from_pretrained(path, **kwargs)
        AutoTokenizer.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as e:
        raise ValueError(
            f"the policy model {model_args.model_name_or_path!r} cannot be loaded ({type(e).__name__}: {e}); give "
            "a folder with config.json and a tokenizer, or a Hub ID you can reach (and its revision), before "
            "anything is labelled"
        ) from e
