"""Label-free diagnostics of the label model on the classification benchmarks' training judgements.

    python bench/label_model_diagnostics.py [--configs recipes/classification/reviews.yaml ...] [--out bench/results]

For every seed and scenario of a recipe config, the label model (Dawid–Skene on argmax votes) is fitted on the
strong-training split's judgements, without labels, exactly where the trainers fit it (a method's ``prepare``
hook). Per supervisor it reports the predicted-class shares (a degenerate supervisor shows here), the estimated
accuracy, and the weights (``mi``, ``llr``); per task, the estimated class prior and a check of conditional
independence: the largest gap between the observed and the model-implied agreement of two supervisors' votes.
The supervisors' test accuracies, from the recipe's own report, are printed beside the estimates to validate
them; nothing is chosen from them. Writes ``label_model_diagnostics.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch

from raven_align.core import SupervisionMethod, get_method, register_method
from raven_align.core.label_model import as_probs, fit_label_model
from raven_align.evaluation.reporting import markdown_table

RECORDS: list[dict] = []


def independence_gap(votes: torch.Tensor, model) -> tuple[float, tuple[int, int]]:
    """Largest |observed − implied| pairwise agreement ``P(v_j = v_k)`` over supervisor pairs, and the pair."""
    implied = torch.einsum("c,jcl,kcl->jk", model.prior, model.confusion, model.confusion)
    observed = torch.einsum("njl,nkl->jk", votes, votes) / len(votes)
    gap = (observed - implied).abs()
    gap.fill_diagonal_(0)
    j, k = divmod(int(gap.argmax()), gap.shape[1])
    return float(gap.max()), (j, k)


def record(judgements: torch.Tensor, kind: str, args) -> None:
    probs = as_probs(judgements, kind)
    model = fit_label_model(probs, "probs", "votes")
    votes = torch.nn.functional.one_hot(probs.argmax(-1), probs.shape[-1]).double()
    shares = votes.mean(0)  # (K, C) predicted-class shares
    gap, pair = independence_gap(votes, model)
    RECORDS.append(
        {
            "top_class_share": shares.max(-1).values.tolist(),
            "estimated_accuracy": model.accuracy.tolist(),
            "weights_mi": model.weights("mi").tolist(),
            "weights_llr": model.weights("llr").tolist(),
            "prior": model.prior.tolist(),
            "independence_gap": gap,
            "gap_pair": pair,
            "iterations": model.iterations,
            "converged": model.converged,
            "n": len(probs),
        }
    )


def run(config: str) -> dict:
    from raven_align.programs.classify import main

    ens = get_method("ens")
    register_method(
        SupervisionMethod(
            "lm_diagnostics",
            "records the label model",
            "uniform",
            ens.classification,
            ens.preference,
            prepare=record,
        ),
        overwrite=True,
    )
    RECORDS.clear()
    with tempfile.TemporaryDirectory() as tmp:
        results = main(
            [
                "--config",
                config,
                "--methods",
                json.dumps({"lm_diagnostics": {"supervision": "lm_diagnostics"}}),
                "--naive_each",
                "false",
                "--max_steps",
                "1",
                "--output_dir",
                str(Path(tmp) / "run"),
            ]
        )
    keys = [(s["seed"], s["scenario"]) for s in results["supervisors"]]
    assert len(keys) == len(RECORDS), "one label model per seed and scenario"
    return {
        "supervisor_names": results["supervisor_names"],
        "runs": [
            {"seed": seed, "scenario": sc, **rec, "test_accuracy": sup["accuracy"]}
            for (seed, sc), rec, sup in zip(keys, RECORDS, results["supervisors"], strict=True)
        ],
    }


def _ms(values: list[float]) -> str:
    return f"{statistics.fmean(values):.2f} ± {statistics.pstdev(values):.2f}"


def report(task: str, res: dict) -> list[str]:
    names = res["supervisor_names"]
    md = [f"\n## {task}\n"]
    for sc in ("id", "ood"):
        runs = [r for r in res["runs"] if r["scenario"] == sc]
        if not runs:
            continue
        rows = [
            {
                "supervisor": n,
                "top-class share": _ms([r["top_class_share"][k] for r in runs]),
                "estimated acc": _ms([r["estimated_accuracy"][k] for r in runs]),
                "weight (mi)": _ms([r["weights_mi"][k] for r in runs]),
                "weight (llr)": _ms([r["weights_llr"][k] for r in runs]),
                "test acc (validation only)": _ms([r["test_accuracy"][k] for r in runs]),
            }
            for k, n in enumerate(names)
        ]
        gaps = ", ".join(
            f"{r['independence_gap']:.3f} ({names[r['gap_pair'][0]]}–{names[r['gap_pair'][1]]})" for r in runs
        )
        md += [
            f"\n### {sc.upper()} (seeds {[r['seed'] for r in runs]}, {runs[0]['n']} training examples)\n\n",
            markdown_table(rows),
            f"\nLargest conditional-independence gap per seed: {gaps}. EM iterations "
            f"{[r['iterations'] for r in runs]}, all converged: {all(r['converged'] for r in runs)}.\n",
        ]
    return md


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--configs",
        nargs="+",
        default=["recipes/classification/reviews.yaml", "recipes/classification/digits.yaml"],
    )
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    all_results, md = {}, ["# The label model on the classification benchmarks (label-free)\n"]
    for config in args.configs:
        res = run(config)
        all_results[config] = res
        md += report(config, res)
    (out / "label_model_diagnostics.json").write_text(json.dumps(all_results))
    (out / "label_model_diagnostics.md").write_text("".join(md))
    print("".join(md))


if __name__ == "__main__":
    main()
