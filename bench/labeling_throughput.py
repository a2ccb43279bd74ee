"""Labelling throughput of the embedded reward models against a raw forward and a per-example loop.

    python bench/labeling_throughput.py [--pairs 300] [--batch-size 64] [--repeats 3] [--threads 1]

On the same movie-target pairs and the same tokens, for each embedded reward model:

- ``label_dataset``: the labelling stage end to end (column hashing, tokenizing, length-sorted batches,
  no-grad forward, checks, new columns), with the cache off;
- ``raw``: a batched ``torch.inference_mode`` forward over the pre-tokenized sequences in dataset order (padding
  to each batch's longest), nothing else;
- ``raw_sorted``: the same over length-sorted batches (what ``label_dataset`` computes): the floor its overhead
  (hashing, tokenizing, checks, columns) is measured against;
- ``per_example``: tokenizing and scoring one sequence at a time (what a naive loop over a dataset does).

Pairs per second (two sequences per pair), best of ``--repeats`` after a warm-up; writes
``bench/results/labeling_throughput.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def best_rate(fn, n_pairs: int, repeats: int) -> float:
    """Pairs per second of ``fn()``, best of ``repeats`` runs."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return n_pairs / min(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    from raven_align.embedded import load_preference_pairs
    from raven_align.labeling.label import label_dataset
    from raven_align.pipeline.embedded_supervisors import EMBEDDED_REWARD_MODELS, embedded_supervisor
    from raven_align.supervisors._hf import pad_right
    from raven_align.supervisors.base import length_sorted_batches

    hf_logging.set_verbosity_error()
    data = load_preference_pairs("rotten_tomatoes", n_train=args.pairs)["train"]
    prompts = list(data["prompt"]) * 2
    completions = list(data["chosen"]) + list(data["rejected"])
    rows = {}
    for key in EMBEDDED_REWARD_MODELS:
        sup = embedded_supervisor(key, batch_size=args.batch_size, device="cpu", show_progress=False)
        label_dataset(data.select(range(8)), [sup], cache=False, show_progress=False)  # load + hash once
        model = sup.src.get()
        ids = [sup.tokenize(p, c)[: sup.max_length] for p, c in zip(prompts, completions, strict=True)]
        pad = sup.tokenizer.pad_token_id

        in_order = [
            list(range(i, min(i + args.batch_size, len(ids)))) for i in range(0, len(ids), args.batch_size)
        ]
        by_length = length_sorted_batches([len(x) for x in ids], args.batch_size)

        def raw(batches, model=model, ids=ids, pad=pad):
            with torch.inference_mode():
                for batch in batches:
                    input_ids, mask = pad_right([ids[i] for i in batch], pad, "cpu")
                    model(input_ids=input_ids, attention_mask=mask)

        def per_example(model=model, sup=sup):
            with torch.inference_mode():
                for p, c in zip(prompts, completions, strict=True):
                    x = torch.tensor([sup.tokenize(p, c)[: sup.max_length]])
                    model(input_ids=x, attention_mask=torch.ones_like(x))

        def labelling(sup=sup):
            label_dataset(data, [sup], cache=False, show_progress=False)

        model.eval()
        rates = {
            "label_dataset": best_rate(labelling, len(data), args.repeats),
            "raw": best_rate(lambda b=in_order: raw(b), len(data), args.repeats),
            "raw_sorted": best_rate(lambda b=by_length: raw(b), len(data), args.repeats),
            "per_example": best_rate(per_example, len(data), max(1, args.repeats - 1)),
        }
        rows[key] = {
            **{k: round(v, 1) for k, v in rates.items()},
            "label_vs_raw": round(rates["label_dataset"] / rates["raw"], 3),
            "label_vs_raw_sorted": round(rates["label_dataset"] / rates["raw_sorted"], 3),
            "label_vs_per_example": round(rates["label_dataset"] / rates["per_example"], 2),
            "mean_tokens": round(sum(map(len, ids)) / len(ids), 1),
            "max_length": sup.max_length,
        }
        print(key, rows[key], flush=True)

    results = {
        "pairs": len(data),
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "torch_threads": args.threads,
        "device": "cpu",
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "models": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "labeling_throughput.json").write_text(json.dumps(results, indent=1))
    lines = [
        "# Labelling throughput (pairs/s, higher is better)",
        "",
        f"{len(data)} Rotten Tomatoes pairs ({2 * len(data)} sequences), batch {args.batch_size}, CPU, "
        f"{args.threads} torch thread(s), best of {args.repeats} (per-example: of {max(1, args.repeats - 1)}), "
        "on a shared 2-core machine.",
        "",
        "| reward model | mean tokens | label_dataset | raw forward, dataset order | raw forward, length-sorted "
        "| per-example loop | label / raw | label / raw sorted | label / per-example |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, r in rows.items():
        lines.append(
            f"| {key} | {r['mean_tokens']} | {r['label_dataset']} | {r['raw']} | {r['raw_sorted']} "
            f"| {r['per_example']} | {r['label_vs_raw']} | {r['label_vs_raw_sorted']} "
            f"| {r['label_vs_per_example']} |"
        )
    (RESULTS / "labeling_throughput.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
