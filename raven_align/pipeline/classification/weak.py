"""Weak supervisors of the classification recipes: small scikit-learn models trained on source domains, and a
lexicon, wrapped as :class:`~raven_align.supervisors.CallableSupervisor` s for the labeller.

Kinds (``kind`` in a recipe's supervisor entry):

- ``logreg``: logistic regression (``C``) on TF-IDF word 1–2-grams (text) or on raw pixels (images);
- ``nb``: multinomial naive Bayes on word counts (text; notoriously over-confident);
- ``static``: logistic regression (``C``) on the mean of an encoder's static input word embeddings (text; the
  packaged MiniLM's by default, ``encoder`` to change): word meaning without context, a small model;
- ``vader``: the VADER sentiment lexicon (text, binary negative/positive; trained on nothing here),
  ``p(positive) = σ(scale · compound)``.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...supervisors import CallableSupervisor

KINDS = ("logreg", "nb", "static", "vader")


class SklearnProbs:
    """``f(inputs) -> (N, C)`` class probabilities from a fitted scikit-learn model, with every class of the
    task present (columns for classes missing from the weak training set are 0)."""

    def __init__(self, model: Any, num_classes: int, modality: str) -> None:
        self.model, self.num_classes, self.modality = model, num_classes, modality

    def __call__(self, inputs: Sequence[Any], **_: Any) -> np.ndarray:
        x = (
            list(inputs)
            if self.modality == "text"
            else np.asarray(inputs, dtype=np.float32).reshape(len(inputs), -1)
        )
        p = self.model.predict_proba(x)
        out = np.zeros((len(inputs), self.num_classes))
        out[:, np.asarray(self.model.classes_, dtype=int)] = p
        return out


class StaticEmbedding:
    """Text → L2-normalised mean of an encoder's input token embeddings (no attention: a bag of word vectors)."""

    def __init__(self, encoder: str | None = None, max_length: int = 128) -> None:
        from transformers import AutoModel, AutoTokenizer

        if encoder is None:
            from ...embedded import minilm_path

            encoder = str(minilm_path())
        self.encoder, self.max_length = str(encoder), max_length
        self.tokenizer = AutoTokenizer.from_pretrained(self.encoder)
        self.table = AutoModel.from_pretrained(self.encoder).get_input_embeddings().weight.detach().numpy()

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        ids = self.tokenizer(
            [str(t) for t in texts], truncation=True, max_length=self.max_length, add_special_tokens=False
        )["input_ids"]
        out = np.stack(
            [self.table[i].mean(0) if i else np.zeros(self.table.shape[1], np.float32) for i in ids]
        )
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def fit(self, x, y=None):
        return self

    def __getstate__(self):  # pickled for the identity hash: the encoder's name, not its tensors
        return {"encoder": self.encoder, "max_length": self.max_length}


class VaderProbs:
    """Binary sentiment probabilities from the VADER lexicon's compound score."""

    def __init__(self, scale: float = 3.0) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.scale, self.analyzer = scale, SentimentIntensityAnalyzer()

    def __call__(self, inputs: Sequence[str], **_: Any) -> np.ndarray:
        c = np.array([self.analyzer.polarity_scores(str(t))["compound"] for t in inputs])
        p = 1.0 / (1.0 + np.exp(-self.scale * c))
        return np.stack([1 - p, p], axis=1)


def _sklearn_model(kind: str, modality: str, c: float, seed: int, encoder: str | None = None):
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import make_pipeline

    clf = LogisticRegression(C=c, max_iter=1000, random_state=seed)
    if kind == "logreg":
        if modality == "text":
            return make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True), clf)
        return clf
    if kind == "static" and modality == "text":
        return make_pipeline(StaticEmbedding(encoder), clf)
    if kind == "nb" and modality == "text":
        return make_pipeline(CountVectorizer(), MultinomialNB())
    raise ValueError(f"weak model kind {kind!r} is not available for {modality}; choose from {KINDS}")


def train_weak_supervisor(
    name: str,
    kind: str,
    modality: str,
    num_classes: int,
    inputs: Sequence[Any] | None = None,
    labels: Sequence[int] | None = None,
    c: float = 1.0,
    scale: float = 3.0,
    seed: int = 0,
    encoder: str | None = None,
) -> CallableSupervisor:
    """Fit a weak model of ``kind`` on ``(inputs, labels)`` and wrap it for the labeller (its identity
    includes a hash of the fitted model, so relabelling with a retrained model never hits a stale cache)."""
    if kind == "vader":
        if modality != "text" or num_classes != 2:
            raise ValueError("the vader supervisor is for binary (negative/positive) text classification")
        return CallableSupervisor(
            VaderProbs(scale),
            name=name,
            task="classification",
            columns=[],
            version=f"vader-scale={scale}",
            show_progress=False,
        )
    if inputs is None or labels is None or len(inputs) == 0:
        raise ValueError(f"supervisor {name!r} ({kind}) needs training rows: give it source `domains`")
    model = _sklearn_model(kind, modality, c, seed, encoder)
    x = list(inputs) if modality == "text" else np.asarray(inputs, dtype=np.float32).reshape(len(inputs), -1)
    model.fit(x, np.asarray(labels))
    fn = SklearnProbs(model, num_classes, modality)
    version = hashlib.sha256(pickle.dumps(model)).hexdigest()
    return CallableSupervisor(
        fn, name=name, task="classification", columns=[], version=version, show_progress=False
    )
