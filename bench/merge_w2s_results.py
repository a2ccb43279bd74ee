"""Merge a classification recipe run of some methods (``--only``) into a benchmark's stored results.

    python bench/merge_w2s_results.py NEW_OUTPUT_DIR bench/results/text_classification --title "..." [--replace]

The runs of every method in the new run replace the stored runs of that method; the other stored runs stay. The
supervisors (same seeds, same data) must match the stored ones, so the rows stay comparable. ``--replace`` stores
the new run alone (a full rerun). Writes compact ``results.json`` (each run's first and last weights) and
``weight_histories.json`` (per-step weights rounded to 4 digits; not in git), then ``results.md`` and the weight
plots.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from raven_align.evaluation.classification_report import write_report
from raven_align.programs.classify import write_results


def _same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(math.isclose(x, y, abs_tol=1e-9) for x, y in zip(a, b, strict=True))


def load(out_dir: Path) -> dict:
    """A recipe's results with the per-step weight histories put back where ``weight_histories.json`` exists."""
    results = json.loads((out_dir / "results.json").read_text())
    path = out_dir / "weight_histories.json"
    if path.is_file():
        for r, h in zip(results["runs"], json.loads(path.read_text()), strict=True):
            if (r["scenario"], r["method"], r["seed"]) != (h["scenario"], h["method"], h["seed"]):
                raise ValueError(f"{path} does not match {out_dir / 'results.json'}: delete one of them")
            r["history"] = h["history"]
    return results


def merge(new: dict, old: dict) -> dict:
    if new["supervisor_names"] != old["supervisor_names"]:
        raise ValueError(f"supervisors differ: {new['supervisor_names']} vs {old['supervisor_names']}")
    stored = {(s["seed"], s["scenario"]): s for s in old["supervisors"]}
    for s in new["supervisors"]:
        ref = stored.get((s["seed"], s["scenario"]))
        if ref is None or not _same(s["accuracy"], ref["accuracy"]):
            raise ValueError(f"seed {s['seed']} {s['scenario']}: the supervisors differ from the stored run")
    replaced = {r["method"] for r in new["runs"]}
    order = list(dict.fromkeys([r["method"] for r in old["runs"]] + [r["method"] for r in new["runs"]]))
    runs = [r for r in old["runs"] if r["method"] not in replaced] + new["runs"]
    runs.sort(key=lambda r: (order.index(r["method"]), r["scenario"], r["seed"]))
    for r in runs:
        r["history"] = [[round(w, 4) for w in h] for h in r["history"]]
    recipe = dict(old.get("recipe", {}))
    recipe["methods"] = {**recipe.get("methods", {}), **new.get("recipe", {}).get("methods", {})}
    return {**old, "runs": runs, "recipe": recipe}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("new_dir")
    parser.add_argument("dest_dir")
    parser.add_argument("--title", required=True)
    parser.add_argument("--replace", action="store_true", help="store the new run alone")
    args = parser.parse_args()
    dest = Path(args.dest_dir)
    new = load(Path(args.new_dir))
    merged = merge(new, new if args.replace else load(dest))
    write_results(merged, dest)
    print(write_report(merged, dest, title=args.title))


if __name__ == "__main__":
    main()
