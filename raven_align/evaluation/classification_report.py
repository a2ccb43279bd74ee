"""Tables and plots of a recipe's results (mean ± std over seeds): ``results.md`` and ``raven_weights*.png``."""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from pathlib import Path

from ..core.measures import pgr_over_seeds, weight_accuracy_correlation
from .reporting import markdown_table, plot_weight_history


def _ms(values: list[float]) -> tuple[float, float] | float:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return math.nan
    return (statistics.fmean(values), statistics.pstdev(values) if len(values) > 1 else 0.0)


def _weights(ws: list[list[float]]) -> str:
    return " / ".join(f"{statistics.fmean(col):.2f}" for col in zip(*ws, strict=True))


def with_val_selected(results: dict, prefix: str = "raven") -> list[dict]:
    """The runs plus, per (seed, scenario), a ``<prefix> (best on val)`` run: the ``<prefix>*`` variant whose
    strong model is most accurate on the small labelled validation slice (the slice `select` uses) — a setting
    tuned on labelled data, to be read beside `select`, never instead of the fixed default."""
    runs = list(results["runs"])
    best: dict[tuple[int, str], dict] = {}
    for r in runs:
        if r["method"].startswith(prefix) and "val_accuracy" in r:
            key = (r["seed"], r["scenario"])
            if key not in best or r["val_accuracy"] > best[key]["val_accuracy"]:
                best[key] = r
    return runs + [{**r, "method": f"{prefix} (best on val)", "picked": r["method"]} for r in best.values()]


PGR_BELOW_NOISE = "n/a (gap below noise)"


def _pgr(trios: list[tuple[float, float, float]]) -> dict:
    """``pgr`` (``(mean, std)`` over seeds, NaN without a `gt` run, or ``PGR_BELOW_NOISE``) and ``pgr_interval``."""
    if not trios:
        return {"pgr": math.nan, "pgr_interval": None}
    res = pgr_over_seeds(*zip(*trios, strict=True))
    if res["below_noise"]:
        return {"pgr": PGR_BELOW_NOISE, "pgr_interval": None}
    values = [(m - w) / (c - w) for m, w, c in trios]
    return {"pgr": _ms(values), "pgr_interval": (res["pgr"]["low"], res["pgr"]["high"])}


def _pgr_cell(s: dict):
    """``mean ± std [95% t-interval over seeds]``, or the reason there is none."""
    if s["pgr_interval"] is None or math.isnan(s["pgr_interval"][0]):
        return s["pgr"]
    (mean, std), (low, high) = s["pgr"], s["pgr_interval"]
    return f"{mean:.3f} ± {std:.3f} [{low:.3f}, {high:.3f}]"


def summarize(results: dict) -> dict[str, dict[str, dict]]:
    """scenario -> method -> {accuracy, pgr, mixture_accuracy, agreement, weights, rank_correlation} over seeds.

    PGR = (method − uniform mixture of the supervisors) / (gt − uniform mixture), per seed, over the seeds with a
    `gt` run: ``(mean, std)`` with ``pgr_interval`` its 95% t-interval over seeds, or ``PGR_BELOW_NOISE`` where
    the gap gt − uniform mixture is below noise (:func:`~raven_align.core.measures.pgr_over_seeds`). The rank
    correlation is between a run's final weights and the supervisors' test accuracies (learned weights only).
    """
    sup = {(s["seed"], s["scenario"]): s for s in results["supervisors"]}
    gt = {(r["seed"], r["scenario"]): r["accuracy"] for r in results["runs"] if r["supervision"] == "gt"}
    grouped: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in with_val_selected(results):
        grouped[(r["scenario"], r["method"])].append(r)
    out: dict[str, dict[str, dict]] = defaultdict(dict)
    for (scenario, method), rs in grouped.items():
        trios, corr = [], []
        for r in rs:
            s = sup[(r["seed"], scenario)]
            if (r["seed"], scenario) in gt:
                trios.append((r["accuracy"], s["uniform_mixture_accuracy"], gt[(r["seed"], scenario)]))
            learned = r["history"][0] != r["history"][-1]
            corr.append(weight_accuracy_correlation(r["weights"], s["accuracy"]) if learned else math.nan)
        out[scenario][method] = {
            "accuracy": _ms([r["accuracy"] for r in rs]),
            **_pgr(trios),
            "mixture_accuracy": _ms([r["mixture_accuracy"] for r in rs]),
            "agreement": _ms([r["agreement"] for r in rs]),
            "weights": _weights([r["weights"] for r in rs]),
            "rank_correlation": _ms(corr),
            "seeds": len(rs),
            "picked": ", ".join(
                f"{m} ×{n}" for m, n in Counter(r["picked"] for r in rs if "picked" in r).items()
            ),
        }
    return out


def write_report(results: dict, out_dir: str | Path, title: str, plot_method: str = "raven") -> str:
    """Write ``results.md`` and the weight plots; returns the markdown."""
    out = Path(out_dir)
    summary = summarize(results)
    names = results["supervisor_names"]
    scenarios = [s for s in ("id", "ood") if s in summary]
    methods = list(dict.fromkeys(r["method"] for r in with_val_selected(results)))
    rows = []
    for m in methods:
        row: dict[str, object] = {"method": m}
        for sc in scenarios:
            s = summary[sc].get(m)
            if s is None:
                continue
            tag = sc.upper()
            if s["picked"]:
                row["method"] = f"{row['method']}; {tag}: {s['picked']}"
            row.update(
                {
                    f"{tag} acc": s["accuracy"],
                    f"{tag} PGR": _pgr_cell(s),
                    f"{tag} weights": s["weights"],
                    f"{tag} ρ(w, acc)": s["rank_correlation"],
                }
            )
        rows.append(row)
    sup_rows = []
    for k, n in enumerate(names):
        row = {"supervisor": n}
        for sc in scenarios:
            infos = [s for s in results["supervisors"] if s["scenario"] == sc]
            row[f"{sc.upper()} acc"] = _ms([i["accuracy"][k] for i in infos])
            row[f"{sc.upper()} confidence"] = _ms([i["confidence"][k] for i in infos])
            row[f"{sc.upper()} picked by select"] = f"{sum(i['select'] == n for i in infos)}/{len(infos)}"
        sup_rows.append(row)
    mix_row = {"supervisor": "uniform mixture (PGR's weak)"}
    for sc in scenarios:
        mix_row[f"{sc.upper()} acc"] = _ms(
            [i["uniform_mixture_accuracy"] for i in results["supervisors"] if i["scenario"] == sc]
        )
    sup_rows.append(mix_row)
    seeds = sorted({r["seed"] for r in results["runs"]})
    md = [
        f"# {title}\n",
        f"Strong-model test accuracy, mean ± std over seeds {seeds}. Weights in the order "
        f"{' / '.join(names)} (mean final weights); ρ = rank correlation of learned weights with the "
        "supervisors' test accuracies. PGR = (method − uniform mixture) / (gt − uniform mixture) per seed: mean ± "
        "std [95% t-interval over seeds]; none where the gap gt − uniform mixture is below noise (under 0.05 at "
        "some seed, or its t-interval over seeds reaching 0).\n",
        markdown_table(rows),
        "\n## Supervisors on the test sets\n",
        markdown_table(sup_rows),
    ]
    text = "\n".join(md)
    (out / "results.md").write_text(text)
    _plots(results, out, plot_method, names)
    return text


def _plots(results: dict, out: Path, plot_method: str, names: list[str]) -> None:
    first_seed = min(r["seed"] for r in results["runs"])
    for r in results["runs"]:
        if r["seed"] != first_seed or r["history"][0] == r["history"][-1]:
            continue
        title = f"{r['method']} ({r['scenario'].upper()}, seed {first_seed})"
        safe = r["method"].replace(":", "_").replace("/", "_")
        plot_weight_history(
            r["history"], names, out / f"weights_{r['scenario']}_{safe}.png", r["phase_steps"], title
        )
        if r["method"] == plot_method and r["scenario"] == (
            "ood" if any(x["scenario"] == "ood" for x in results["runs"]) else "id"
        ):
            plot_weight_history(r["history"], names, out / "raven_weights.png", r["phase_steps"], title)
