"""RAVEN and every baseline on the synthetic weak-to-strong problems, over several seeds.

    python bench/synthetic_w2s.py [--seeds 0 1 2] [--out bench/results]

Writes ``synthetic_w2s.json``, ``synthetic_w2s.md`` (mean ± std over seeds) and a weights plot per
problem. The problems are those of ``tests/test_synthetic.py``; the settings below are fixed, not tuned
on the test split (the test split is only read for the final numbers).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from raven_align.core import WeightingArguments
from raven_align.core.measures import pgr, weight_accuracy_correlation
from raven_align.core.synthetic import make_linear_problem, train_linear_strong
from raven_align.reporting import markdown_table, plot_weight_history

PROBLEMS = {
    "ordered (0.9 noise, 0.7 noise, 0.35 bias)": dict(accuracies=[0.9, 0.7, 0.35]),
    "over-confident (0.86 soft noise, 0.64 sharp bias)": dict(
        accuracies=[0.86, 0.64], error_kinds=["noise", "bias"], sharpness=[1.0, 40.0]
    ),
}
RAVEN = {
    "raven clamp η=0.01 (paper rule, default)": dict(supervisor_lr=0.01),
    "raven exp η=0.02 ce": dict(supervisor_lr=0.02, weight_update_rule="exponentiated"),
    "raven exp η=0.1 ce": dict(supervisor_lr=0.1, weight_update_rule="exponentiated"),
    "raven exp η=0.1 kl": dict(supervisor_lr=0.1, weight_update_rule="exponentiated", weight_objective="kl"),
    "raven exp η=0.1 ce+temperature": dict(
        supervisor_lr=0.1, weight_update_rule="exponentiated", supervisor_calibration="temperature"
    ),
    "raven exp η=0.1 ce+pull 0.5": dict(
        supervisor_lr=0.1, weight_update_rule="exponentiated", uniform_pull=0.5
    ),
}


def methods(names: list[str], accs: list[float]) -> dict[str, WeightingArguments]:
    best, worst = (
        names[max(range(len(accs)), key=accs.__getitem__)],
        names[min(range(len(accs)), key=accs.__getitem__)],
    )
    out = {m: WeightingArguments(supervision=m) for m in ("gt", "ens", "static", "conf", "vsup", "bayes")}
    out["naive (best)"] = WeightingArguments(supervision="naive", naive_supervisor=best)
    out["naive (worst)"] = WeightingArguments(supervision="naive", naive_supervisor=worst)
    out.update({name: WeightingArguments(**kw) for name, kw in RAVEN.items()})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results, md = {}, ["# Synthetic weak-to-strong problems\n"]
    for pi, (pname, spec) in enumerate(PROBLEMS.items()):
        runs: dict[str, list[dict]] = {}
        for seed in args.seeds:
            problem = make_linear_problem(seed=seed, **spec)
            accs = problem.supervisor_accuracies()
            ens_mix = None
            for mname, margs in methods(problem.names, accs).items():
                t0 = time.perf_counter()
                r = train_linear_strong(problem, margs, seed=seed)
                r["seconds"] = time.perf_counter() - t0
                r["supervisor_accuracies"] = accs
                if mname == "ens":
                    ens_mix = r["mixture_accuracy"]
                runs.setdefault(mname, []).append(r)
            for rs in runs.values():  # PGR against the uniform mixture, ceiling = gt
                rs[-1]["weak"] = ens_mix
        ceiling = [r["strong_accuracy"] for r in runs["gt"]]
        rows = []
        for mname, rs in runs.items():
            acc = [r["strong_accuracy"] for r in rs]
            gains = [pgr(a, r["weak"], c) for a, r, c in zip(acc, rs, ceiling, strict=True)]
            corr = [
                weight_accuracy_correlation(list(r["weights"].values()), r["supervisor_accuracies"])
                for r in rs
            ]
            mean_w = [statistics.mean(r["weights"][n] for r in rs) for n in rs[0]["weights"]]
            rows.append(
                {
                    "method": mname,
                    "strong acc": (statistics.mean(acc), statistics.pstdev(acc)),
                    "PGR": (statistics.mean(gains), statistics.pstdev(gains)),
                    "weights (mean)": "[" + ", ".join(f"{w:.2f}" for w in mean_w) + "]",
                    "weight–acc ρ": statistics.mean(corr) if mname.startswith("raven") else float("nan"),
                    "s/run": statistics.mean(r["seconds"] for r in rs),
                }
            )
        sup_acc = [
            statistics.mean(r["supervisor_accuracies"][k] for r in runs["ens"])
            for k in range(len(spec["accuracies"]))
        ]
        md += [
            f"\n## {pname}\n",
            f"Supervisor test accuracies: {[round(a, 3) for a in sup_acc]}; uniform mixture accuracy "
            f"{statistics.mean(r['weak'] for r in runs['ens']):.3f}; seeds {args.seeds}.\n\n",
            markdown_table(rows),
        ]
        first = runs["raven exp η=0.02 ce"][0]
        plot_weight_history(
            first["history"],
            list(first["weights"]),
            out / f"synthetic_w2s_weights_{pi}.png",
            phase_steps=first["phase_steps"],
            title=f"RAVEN weights: {pname}",
        )
        results[pname] = {
            m: [{k: v for k, v in r.items() if k != "history"} for r in rs] for m, rs in runs.items()
        }
    (out / "synthetic_w2s.json").write_text(json.dumps(results, indent=1))
    (out / "synthetic_w2s.md").write_text("".join(md))
    print("".join(md))


if __name__ == "__main__":
    main()
