"""Merge a classification recipe run of some methods (``--only``) into a benchmark's stored results.

    python bench/merge_w2s_results.py NEW_OUTPUT_DIR bench/results/text_classification --title "..." [--replace]

The runs of every method in the new run replace the stored runs of that method; the other stored runs stay. The
supervisors (same seeds, same data) must match the stored ones, so the rows stay comparable. ``--replace`` stores
the new run alone (a full rerun). Writes compact
``results.json`` (no indentation, histories rounded to 4 digits), then ``results.md`` and the weight plots.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from raven_align.recipes.classification.report import write_report


def _same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(math.isclose(x, y, abs_tol=1e-9) for x, y in zip(a, b, strict=True))


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
    new = json.loads((Path(args.new_dir) / "results.json").read_text())
    merged = merge(new, new if args.replace else json.loads((dest / "results.json").read_text()))
    (dest / "results.json").write_text(json.dumps(merged, separators=(",", ":"), default=float))
    print(write_report(merged, dest, title=args.title))


if __name__ == "__main__":
    main()
