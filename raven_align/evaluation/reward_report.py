"""Results of the reward program: ``results.json`` and a markdown table of held-out preference accuracies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def results_markdown(results: dict[str, Any]) -> str:
    """A markdown table: one row per test split, the trained model's accuracy and each supervisor's."""
    sups = list(results.get("supervisor_accuracy", {}))
    head = ["test pairs", "n", f"reward model ({results['supervision']})", *sups]
    lines = [
        f"Reward model `{results['model']}` trained on `{results['dataset']}` "
        f"({results['n_train']} pairs, {results['steps']} steps, {results['train_seconds']} s)",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for t, acc in results["accuracy"].items():
        cells = [
            t,
            str(results["n_test"][t]),
            f"{acc:.3f}",
            *(f"{results['supervisor_accuracy'][s][t]:.3f}" for s in sups),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if results.get("weights"):
        lines += [
            "",
            "Final supervisor weights: " + ", ".join(f"{k} {v:.3f}" for k, v in results["weights"].items()),
        ]
    return "\n".join(lines) + "\n"


def write_results(results: dict[str, Any], output_dir: str | Path) -> None:
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    (out / "results.md").write_text(results_markdown(results))
