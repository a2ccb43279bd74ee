"""Preference pairs and classification views of the review corpora, as ``datasets.DatasetDict``.

Pair format (TRL's standard preference format plus our columns):

- ``prompt``, ``chosen``, ``rejected``: strings (or message lists with ``conversational=True``);
- ``domain``: the corpus the pair comes from;
- ``gt_label``: 1 if the presented ``chosen`` is truly the better response (the positive review), else 0;
- ``pair_id``: a stable id (``<domain>/<split>/<n>``; ``<domain>/<part>/<split>/<n>`` outside the default
  ``experiment`` part) for joining across orientations.

With ``orientation="random"`` (the default) each pair is presented in a seeded random order, so "chosen" and
"rejected" are only the two presented sides and their order carries no information about the truth; the truth
lives in ``gt_label`` only, which trainers do not read (it is not named ``label``, a name the transformers
``Trainer`` keeps). With ``orientation="truth"`` ``chosen`` is the better response (``gt_label`` is all 1):
the ground-truth (``gt``) baseline and held-out preference accuracy use this. ``orient_pairs`` converts
between the two and swaps every ``*chosen*``/``*rejected*`` column pair with them (labels, reference log-probs).

Parts. Each domain that is a test split of the programs (``rotten_tomatoes``, the target; ``amazon_food``, the
in-distribution split) keeps a **reserve**: ``RESERVE_SHARES`` of its reviews, in whole split groups (movies,
products) drawn once with ``RESERVE_SEED`` from the full table, before any ``max_chars`` filter, the same for every
seed. Only the embedded supervisors and the gold model train on it
(:mod:`raven_align.pipeline.embedded_supervisors`); ``part="experiment"`` (the default of the pair loaders, so of
every program) is the rest, without any review whose text is in the reserve, and every experiment's train/test
split (any ``seed``, ``test_size``, ``max_chars``) is drawn from it: no test review of any run shares a movie,
a product or a text with what those models saw. ``part="all"`` is the whole table. ``drugs_com`` has no reserve
(never a test split here): its experiment part is all of it, and ``drugs_com_rm`` trains on it.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
import pandas as pd

from .reviews import review_table

Orientation = Literal["random", "truth"]
Part = Literal["experiment", "reserve", "all"]

#: Share of the reviews (whole split groups) of each test domain held in reserve for the embedded models.
RESERVE_SHARES = {"rotten_tomatoes": 0.3, "amazon_food": 0.4}
#: Draws the reserve, once: it does not depend on any run's seed.
RESERVE_SEED = 12345


def split_reviews(table: pd.DataFrame, test_size: float = 0.2, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Split by ``split_group``: groups in a seeded random order fill ``test`` up to ``test_size`` of the reviews."""
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be in (0, 1), got {test_size}")
    groups = table["split_group"].unique()
    order = np.random.default_rng(seed).permutation(len(groups))
    sizes = table["split_group"].value_counts().reindex(groups[order]).to_numpy()
    # A group goes to test while the test share, counted up to and including it, stays within test_size.
    in_test = np.cumsum(sizes) <= test_size * len(table)
    test_groups = set(groups[order][in_test])
    mask = table["split_group"].isin(test_groups).to_numpy()
    return {"train": table[~mask].reset_index(drop=True), "test": table[mask].reset_index(drop=True)}


def review_part(domain: str, part: Part = "experiment", max_chars: int | None = None) -> pd.DataFrame:
    """The reviews of one part of ``domain`` (see the module docstring), then those of at most ``max_chars``.

    ``"reserve"``: the split groups the embedded supervisors and the gold model train on; ``"experiment"``: the
    other groups, less any review whose text is in the reserve; ``"all"``: both. A domain without a reserve
    (``drugs_com``) has ``experiment`` = ``all`` and refuses ``reserve``.
    """
    if part not in ("experiment", "reserve", "all"):
        raise ValueError(f"part must be 'experiment', 'reserve' or 'all', got {part!r}")
    table = review_table(domain)
    share = RESERVE_SHARES.get(domain)
    if part == "reserve" and share is None:
        raise ValueError(
            f"{domain!r} has no reserve (only {sorted(RESERVE_SHARES)} do): use part='all' or 'experiment'"
        )
    if part != "all" and share is not None:
        reserve = split_reviews(table, share, RESERVE_SEED)["test"]
        if part == "reserve":
            table = reserve
        else:
            groups, texts = set(reserve["split_group"]), set(reserve["text"])
            inside = table["split_group"].isin(groups) | table["text"].isin(texts)
            table = table[~inside].reset_index(drop=True)
    if max_chars is not None:
        table = table[table["text"].str.len() <= max_chars].reset_index(drop=True)
    return table


def _id_prefix(domain: str, part: Part) -> str:
    """``<domain>`` for the experiment part (the ids programs see), ``<domain>/<part>`` for the others."""
    return domain if part == "experiment" else f"{domain}/{part}"


def _pairs(reviews: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Disjoint positive-vs-negative pairs within each ``pair_key`` (each review used at most once)."""
    # Shuffle, then number the positives and the negatives within each key: the k-th positive of a key is
    # paired with its k-th negative, so each key gives min(#pos, #neg) pairs.
    shuffled = reviews.iloc[rng.permutation(len(reviews))]
    rank = shuffled.groupby(["pair_key", "label"], sort=False).cumcount()
    shuffled = shuffled.assign(rank=rank.to_numpy())
    pos = shuffled[shuffled["label"] == 1]
    neg = shuffled[shuffled["label"] == 0]
    pairs = pos.merge(neg, on=["pair_key", "rank"], suffixes=("_pos", "_neg"))
    pairs = pairs.sort_values(["pair_key", "rank"], kind="stable")
    pairs = pd.DataFrame(
        {
            "prompt": pairs["prompt_pos"].to_numpy(),
            "better": pairs["text_pos"].to_numpy(),
            "worse": pairs["text_neg"].to_numpy(),
        }
    )
    return pairs.iloc[rng.permutation(len(pairs))].reset_index(drop=True)


def load_preference_pairs(
    domain: str,
    *,
    orientation: Orientation = "random",
    test_size: float = 0.2,
    seed: int = 0,
    n_train: int | None = None,
    n_test: int | None = None,
    max_chars: int | None = None,
    conversational: bool = False,
    part: Part = "experiment",
):
    """Real preference pairs (positive vs negative review of the same kind of item) of one domain.

    Args:
        domain: ``"rotten_tomatoes"`` (the target), ``"amazon_food"`` or ``"drugs_com"`` (sources).
        orientation: ``"random"`` (presented order carries no truth) or ``"truth"`` (chosen is better).
        test_size: share of the reviews in the test split (split by movie for Rotten Tomatoes).
        seed: fixes the split, the pairing, the orientation and any subsampling.
        n_train, n_test: keep at most this many pairs per split (a seeded subsample), ``None`` for all.
        max_chars: drop reviews longer than this before pairing (keeps sequences short for small CPUs).
        conversational: TRL's conversational format (message lists) instead of plain strings.
        part: ``"experiment"`` (the default: everything outside the reserve), ``"reserve"`` (what the embedded
            supervisors and the gold model train on) or ``"all"``; the split is drawn within the part.

    Returns:
        ``DatasetDict`` with ``train`` and ``test`` splits; see the module docstring for the columns.
    """
    from datasets import Dataset, DatasetDict

    if orientation not in ("random", "truth"):
        raise ValueError(f"orientation must be 'random' or 'truth', got {orientation!r}")
    table = review_part(domain, part, max_chars)
    out = {}
    for i, (split, reviews) in enumerate(split_reviews(table, test_size, seed).items()):
        rng = np.random.default_rng([seed, i])
        pairs = _pairs(reviews, rng)
        limit = {"train": n_train, "test": n_test}[split]
        if limit is not None:
            pairs = pairs.iloc[:limit]
        flip = rng.random(len(pairs)) < 0.5 if orientation == "random" else np.zeros(len(pairs), bool)
        chosen = np.where(flip, pairs["worse"], pairs["better"])
        rejected = np.where(flip, pairs["better"], pairs["worse"])
        prompts = pairs["prompt"].tolist()
        if conversational:
            prompts = [[{"role": "user", "content": p}] for p in prompts]
            chosen = [[{"role": "assistant", "content": c}] for c in chosen]
            rejected = [[{"role": "assistant", "content": r}] for r in rejected]
        out[split] = Dataset.from_dict(
            {
                "prompt": prompts,
                "chosen": list(chosen),
                "rejected": list(rejected),
                "domain": [domain] * len(pairs),
                "gt_label": (~flip).astype(np.int64).tolist(),
                "pair_id": [f"{_id_prefix(domain, part)}/{split}/{j}" for j in range(len(pairs))],
            }
        )
    return DatasetDict(out)


def load_reviews(
    domain: str,
    *,
    test_size: float = 0.2,
    seed: int = 0,
    n_train: int | None = None,
    n_test: int | None = None,
    max_chars: int | None = None,
    part: Part = "all",
):
    """Classification view (``text``, ``label`` ClassLabel negative/positive, ``domain``) of the same reviews.

    The split is the one ``load_preference_pairs`` uses with the same ``part``/``test_size``/``seed``/``max_chars``,
    so no test review of one view is a training review of the other. Unpaired reviews are included. Unlike the pair
    loaders, ``part`` defaults to ``"all"``: the classification program trains its own weak supervisors on these
    views, not on the embedded reward models, so it keeps the whole table (``part="experiment"`` gives the view of
    the pairs' default part).
    """
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    table = review_part(domain, part, max_chars)
    features = Features(
        {
            "text": Value("string"),
            "label": ClassLabel(names=["negative", "positive"]),
            "domain": Value("string"),
        }
    )
    out = {}
    for i, (split, reviews) in enumerate(split_reviews(table, test_size, seed).items()):
        reviews = reviews.sample(frac=1.0, random_state=np.random.default_rng([seed, i, 1]))
        limit = {"train": n_train, "test": n_test}[split]
        if limit is not None:
            reviews = reviews.iloc[:limit]
        out[split] = Dataset.from_dict(
            {
                "text": reviews["text"].tolist(),
                "label": reviews["label"].tolist(),
                "domain": [domain] * len(reviews),
            },
            features=features,
        )
    return DatasetDict(out)


_SIDE = re.compile(r"chosen|rejected")


def _counterpart(column: str) -> str:
    return _SIDE.sub(lambda m: "rejected" if m.group() == "chosen" else "chosen", column)


def _flip(truth):
    return not truth if isinstance(truth, bool) else 1 - truth


def swap_sides(dataset, swap: list[bool] | np.ndarray, truth_column: str = "gt_label"):
    """Swap ``chosen``/``rejected`` in the rows where ``swap`` is true, with every paired column.

    Every column whose name contains ``chosen`` and whose counterpart (``chosen`` → ``rejected``) exists is
    swapped too (``reward_chosen__k``, ``ref_chosen_logps``, ...), ``truth_column`` (0/1 or bool) is flipped and
    a TRL ``margin`` (chosen's reward gap over rejected) is negated.
    """
    swap = np.asarray(swap, dtype=bool)
    if len(swap) != len(dataset):
        raise ValueError(f"swap has {len(swap)} entries for {len(dataset)} rows")
    names = set(dataset.column_names)
    pairs = [(c, _counterpart(c)) for c in dataset.column_names if "chosen" in c and _counterpart(c) in names]

    def fn(batch, indices):
        s = swap[indices]
        out = {}
        for a, b in pairs:
            out[a] = [y if f else x for x, y, f in zip(batch[a], batch[b], s, strict=True)]
            out[b] = [x if f else y for x, y, f in zip(batch[a], batch[b], s, strict=True)]
        if truth_column in batch:
            out[truth_column] = [_flip(g) if f else g for g, f in zip(batch[truth_column], s, strict=True)]
        if "margin" in batch:
            out["margin"] = [-m if f else m for m, f in zip(batch["margin"], s, strict=True)]
        return out

    return dataset.map(fn, batched=True, with_indices=True, desc="Swapping sides")


def orient_pairs(dataset, by: Orientation = "truth", seed: int = 0):
    """Re-orient pairs: ``"truth"`` puts the better response in ``chosen`` (needs ``gt_label``); ``"random"``
    presents each pair in a seeded random order. Paired columns (rewards, reference log-probs) follow."""
    if by == "truth":
        if "gt_label" not in dataset.column_names:
            raise ValueError("orient_pairs(by='truth') needs the gt_label column")
        return swap_sides(dataset, np.asarray(dataset["gt_label"]) == 0)
    if by == "random":
        flip = np.random.default_rng(seed).random(len(dataset)) < 0.5
        if "gt_label" in dataset.column_names:  # random relative to the truth, not to the current order
            flip = flip != (np.asarray(dataset["gt_label"]) == 0)
        return swap_sides(dataset, flip)
    raise ValueError(f"by must be 'truth' or 'random', got {by!r}")


def load_verbosity_pairs(
    domain: str,
    *,
    min_ratio: float = 1.5,
    test_size: float = 0.2,
    seed: int = 0,
    n_train: int | None = None,
    n_test: int | None = None,
    max_chars: int | None = None,
    part: Part = "experiment",
):
    """ "More detail is better" pairs: two reviews of ``domain`` with the *same* sentiment, the longer one chosen.

    The verbosity preference of many RLHF datasets, isolated from sentiment: a reward model trained on it is good
    on its own source and knows nothing about which review is positive. Each review is used at most once; a pair
    is kept only when the chosen review has at least ``min_ratio`` times as many words as the rejected one. Same
    part and split as ``load_preference_pairs`` (same ``part``/``test_size``/``seed``/``max_chars``); columns as
    there, with ``gt_label`` all 1 (chosen is the preferred, longer response).
    """
    from datasets import Dataset, DatasetDict

    table = review_part(domain, part, max_chars)
    out = {}
    for i, (split, reviews) in enumerate(split_reviews(table, test_size, seed).items()):
        rng = np.random.default_rng([seed, i, 2])
        shuffled = reviews.iloc[rng.permutation(len(reviews))]
        rows = []
        for _, group in shuffled.groupby(["label", "pair_key"], sort=True):
            for a, b in zip(group.iloc[0::2].itertuples(), group.iloc[1::2].itertuples(), strict=False):
                long, short = (a, b) if len(a.text.split()) >= len(b.text.split()) else (b, a)
                if len(long.text.split()) >= min_ratio * len(short.text.split()):
                    rows.append((long.prompt, long.text, short.text))
        rows = [rows[j] for j in rng.permutation(len(rows))]
        limit = {"train": n_train, "test": n_test}[split]
        rows = rows[:limit] if limit is not None else rows
        out[split] = Dataset.from_dict(
            {
                "prompt": [r[0] for r in rows],
                "chosen": [r[1] for r in rows],
                "rejected": [r[2] for r in rows],
                "domain": [domain] * len(rows),
                "gt_label": [1] * len(rows),
                "pair_id": [f"{_id_prefix(domain, part)}/verbosity/{split}/{j}" for j in range(len(rows))],
            }
        )
    return DatasetDict(out)
