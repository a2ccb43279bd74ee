"""Accuracy of each embedded weak supervisor on its own source and on the movie target, and first-use cost.

    python bench/embedded_supervisors.py [--cache-dir DIR] [--threads 1]

Builds ``embedded_supervisors()`` (training the reward models if the cache does not hold them yet, timed),
labels the held-out test pairs of every embedded domain (and the verbosity pairs the ``verbosity_rm`` was trained
for) with ``label_dataset`` and reports preference accuracy against the truth. Writes
``bench/results/embedded_supervisors.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cache-dir", help="raven_align cache (default: $RAVEN_ALIGN_CACHE or ~/.cache/raven_align)"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 is fastest on a shared 2-core CPU)"
    )
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    from raven_align.columns import reward_columns
    from raven_align.core.measures import preference_accuracy
    from raven_align.embedded import DOMAINS, load_preference_pairs
    from raven_align.labeling import label_dataset
    from raven_align.pipeline.embedded_supervisors import (
        EMBEDDED_REWARD_MODELS,
        embedded_reward_model_path,
        embedded_supervisors,
    )

    hf_logging.set_verbosity_error()
    start = time.perf_counter()
    supervisors = embedded_supervisors(cache_dir=args.cache_dir, show_progress=False)
    build_seconds = time.perf_counter() - start
    records = {}
    for key in EMBEDDED_REWARD_MODELS:
        folder = embedded_reward_model_path(key, args.cache_dir)
        records[key] = json.loads((folder / "raven_embedded.json").read_text())

    tests = {d: load_preference_pairs(d, orientation="truth")["test"] for d in DOMAINS}
    tests["amazon_food (verbosity pairs)"] = EMBEDDED_REWARD_MODELS["verbosity_rm"].load_pairs("test")
    accuracy: dict[str, dict[str, float]] = {s.name: {} for s in supervisors}
    n_pairs = {}
    label_seconds = {}
    for test_name, ds in tests.items():
        t0 = time.perf_counter()
        labelled = label_dataset(ds, supervisors, cache_dir=args.cache_dir, show_progress=False)
        label_seconds[test_name] = round(time.perf_counter() - t0, 1)
        n_pairs[test_name] = len(ds)
        for s in supervisors:
            c, r = reward_columns(s.name)
            accuracy[s.name][test_name] = preference_accuracy(
                np.asarray(labelled[c]) - np.asarray(labelled[r])
            )

    own = {
        k: (f"{v.domain} (verbosity pairs)" if v.pairs == "verbosity" else v.domain)
        for k, v in EMBEDDED_REWARD_MODELS.items()
    }
    results = {
        "target": "rotten_tomatoes",
        "n_test_pairs": n_pairs,
        "accuracy": accuracy,
        "own_source": own,
        "first_use": {
            "wall_seconds_this_run": round(build_seconds, 1),
            "train_seconds": {k: r["train_seconds"] for k, r in records.items()},
            "train_seconds_total": round(sum(r["train_seconds"] for r in records.values()), 1),
            "steps": {k: r["steps"] for k, r in records.items()},
            "n_train": {k: r["n_train"] for k, r in records.items()},
        },
        "label_seconds": label_seconds,
        "torch_threads": args.threads,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "embedded_supervisors.json").write_text(json.dumps(results, indent=1))
    cols = list(tests)
    lines = [
        "# Embedded weak supervisors: held-out preference accuracy",
        "",
        "Own source in **bold**; the movie target is `rotten_tomatoes`. Seed-0 test splits of the experiment data "
        "(the gold model's reserve excluded). Test pairs: "
        + ", ".join(f"{t} {n}" for t, n in n_pairs.items())
        + ".",
        "",
        "| supervisor | " + " | ".join(cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for name, row in accuracy.items():
        cells = [f"**{row[t]:.3f}**" if own.get(name) == t else f"{row[t]:.3f}" for t in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "First-use training (CPU, 1 torch thread, a shared 2-core machine): "
        + ", ".join(
            f"{k} {v} s ({records[k]['n_train']} pairs, {records[k]['steps']} steps)"
            for k, v in results["first_use"]["train_seconds"].items()
        )
        + f"; {results['first_use']['train_seconds_total']} s in all.",
    ]
    (RESULTS / "embedded_supervisors.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
