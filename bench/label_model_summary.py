"""The label-model results side by side (issue 12), from the stored benchmark results; trains nothing.

    python bench/label_model_summary.py

Reads ``bench/results/{text,image}_classification/results.json``, ``bench/results/reward_methods/results.json``
(reward models), ``bench/results/dpo_runs/*.json`` (DPO, the reserve data) and ``bench/results/synthetic_w2s.json`` and writes ``bench/results/label_model.md``: for every task the strong model's test accuracy (mean ± std over seeds
and a 95% t-interval) of `gt`, the best and worst single supervisor, `ens`, `label_model`, the paper's RAVEN and
the recommended setting with its ablations (each task with the setting its runs recorded), then the issue's targets
on the OOD scenarios, judged on the differences paired by seed and their 95% t-interval over seeds.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from raven_align.core.measures import seed_interval, weight_accuracy_correlation
from raven_align.evaluation.reporting import markdown_table

RESULTS = Path(__file__).parent / "results"
#: the frozen config of the DPO runs (bench/dpo_methods.py): a run's setting is this with its recorded flags on top
DPO_CONFIG = Path(__file__).parent / "configs" / "dpo_embedded_default.yaml"
#: the options a RAVEN setting is described by (those a task's records hold)
SETTING_KEYS = ("weight_init", "weight_objective", "weight_update_rule", "supervisor_lr", "supervisor_calibration",
                "margin_normalization")  # fmt: skip
NEW = "raven-lm"  # the recommended setting (WEIGHTING_PRESETS["recommended"])
ROWS = ["gt", "best single", "worst single", "ens", "label_model", "raven", NEW]
ABLATIONS = ["raven-lm-ce", "raven-chance", "raven-lm-fixed", "raven-default"]
#: the preference benchmarks' method names -> rows (the paper's RAVEN is `raven-paper` there)
PREFERENCE_ROWS = {"gt": "gt", "naive-best": "best single", "naive-worst": "worst single", "ens": "ens",
                   "label_model": "label_model", "raven-paper": "raven", NEW: NEW, "raven-default": "raven-default"}  # fmt: skip
#: No preference supervisor is constant; the degenerate one there is the below-chance length judge.
PREFERENCE_DEGENERATE = "verbosity_rm"
TASKS = {  # results folder -> (title, the degenerate supervisor)
    "text_classification": ("movie sentiment (text)", "drug_nb"),
    "image_classification": ("blurred digits (image)", "uci"),
}
stats = seed_interval  # mean, sample std and 95% t-interval over seeds


def fmt(s: dict | None) -> str:
    if not s:
        return "–"
    return f"{s['mean']:.3f} ± {s['std']:.3f} [{s['low']:.3f}, {s['high']:.3f}]"


def classification(folder: str) -> tuple[list[str], dict]:
    res = json.loads((RESULTS / folder / "results.json").read_text())
    names = res["supervisor_names"]
    sup = {(s["seed"], s["scenario"]): s for s in res["supervisors"]}
    out = {}
    for scenario in ("id", "ood"):
        runs = [r for r in res["runs"] if r["scenario"] == scenario]
        by = {}
        for r in runs:
            by.setdefault(r["method"], []).append(r)
        naive = {
            m: statistics.fmean(r["accuracy"] for r in rs) for m, rs in by.items() if m.startswith("naive:")
        }
        alias = {"best single": max(naive, key=naive.get), "worst single": min(naive, key=naive.get)}
        table = {}
        for row in ROWS + ABLATIONS:
            rs = by.get(alias.get(row, row))
            if not rs:
                continue
            learned = [r for r in rs if r["history"][0] != r["history"][-1]]
            rho = [
                weight_accuracy_correlation(r["weights"], sup[(r["seed"], scenario)]["accuracy"])
                for r in learned
            ]
            table[row] = {
                "method": alias.get(row, row),
                "accuracy": stats([r["accuracy"] for r in rs]),
                "by_seed": {r["seed"]: r["accuracy"] for r in rs},
                "weights": [statistics.fmean(w) for w in zip(*(r["weights"] for r in rs), strict=True)],
                "rho": statistics.fmean(rho) if rho else math.nan,
            }
        out[scenario] = table
    return names, out, res["recipe"]["methods"].get(NEW)


def _preference_table(runs: list[dict]) -> dict:
    """Rows from preference runs ``{"method", "accuracy", "weights": {name: w}, "rho"}`` (one per seed)."""
    table = {}
    for method, row in sorted(PREFERENCE_ROWS.items(), key=lambda kv: _order(kv[1])):
        rs = [r for r in runs if r["method"] == method]
        if rs:
            names = list(rs[0]["weights"])
            rho = [r["rho"] for r in rs if r["rho"] is not None and not math.isnan(r["rho"])]
            table[row] = {
                "method": method,
                "accuracy": stats([r["accuracy"] for r in rs]),
                "by_seed": {r["seed"]: r["accuracy"] for r in rs},
                "weights": [statistics.fmean(r["weights"][n] for r in rs) for n in names],
                "rho": statistics.fmean(rho) if rho and row.startswith("raven") else math.nan,
            }
    return table


def reward_models() -> tuple[list[str], dict, dict | None] | None:
    """The reward-model comparison (bench/reward_methods.py), one row per method over its seeds, and the recorded
    setting of `raven-lm`: the base setting with the run's overrides on top, of the options the reward config has
    (its run keys also hash a `supervisor_calibration`, a classification option reward training never reads)."""
    path = RESULTS / "reward_methods" / "results.json"
    res = json.loads(path.read_text()) if path.is_file() else {}
    if "per_seed" not in res:
        return None
    runs = []
    for s in res["per_seed"]:
        for method, r in s["runs"].items():
            names = list(r["weights"])
            acc = [s["supervisor_test_accuracy"][n] for n in names]
            runs.append({"method": method, "seed": s["seed"], "accuracy": r["accuracy"], "weights": r["weights"],
                         "rho": weight_accuracy_correlation([r["weights"][n] for n in names], acc)})  # fmt: skip
    new = next((s["runs"][NEW] for s in res["per_seed"] if NEW in s["runs"]), None)
    if new is None:
        return names, _preference_table(runs), None
    options = set(res["setting"]) - {"supervisor_calibration"}  # hashed into the first runs' keys, never read
    setting = {k: v for k, v in {**res["setting"], **new["overrides"]}.items() if k in options}
    return names, _preference_table(runs), setting


#: the DPO runs of the label-model study: those on the reserve data (issue 22); the runs measured before it are in
#: dpo_runs_before_reserve/ and are not mixed with these (a seed draws other pairs there).
DPO_RUNS = RESULTS / "dpo_runs"


def dpo_setting(flags: list[str]) -> dict:
    """A DPO run's setting: the frozen config with the run's recorded flags on top."""
    import yaml

    given = {k.removeprefix("--"): v for k, v in zip(flags[::2], flags[1::2], strict=True)}
    return {**yaml.safe_load(DPO_CONFIG.read_text()), **given}


def dpo() -> tuple[list[str], dict, list[int], dict | None] | None:
    """The DPO comparison (bench/dpo_methods.py): implicit-reward accuracy on the target's test pairs, over the
    seeds that every method of the targets has run (a seed draws the pairs: means over other seeds don't compare)."""
    runs = []
    for path in sorted(DPO_RUNS.glob("*.json")):
        r = json.loads(path.read_text())
        target = r["splits"]["target"]
        runs.append({"method": r["method"], "seed": r["seed"], "weights": r["weights"], "flags": r["flags"],
                     "accuracy": target["strong_after"]["implicit_reward_accuracy"],
                     "rho": target.get("weight_accuracy_spearman")})  # fmt: skip
    needed = (NEW, "ens", "label_model", "naive-best")
    seeds = sorted(set.intersection(*({r["seed"] for r in runs if r["method"] == m} for m in needed)))
    runs = [r for r in runs if r["seed"] in seeds]
    if not runs:
        return None
    new = next((r for r in runs if r["method"] == NEW), None)
    return (
        list(runs[0]["weights"]),
        _preference_table(runs),
        seeds,
        None if new is None else dpo_setting(new["flags"]),
    )


def _order(row: str) -> int:
    return (ROWS + ABLATIONS).index(row) if row in ROWS + ABLATIONS else len(ROWS + ABLATIONS)


def synthetic() -> dict:
    res = json.loads((RESULTS / "synthetic_w2s.json").read_text())
    rename = {
        "naive (best)": "best single",
        "naive (worst)": "worst single",
        "raven clamp η=0.01 (paper rule, default)": "raven",
        "raven lm-init exp η=0.1 chance+temperature (recommended)": NEW,
        "raven lm-init exp η=0.1 ce+temperature (= raven-lm-ce)": "raven-lm-ce",
        "raven exp η=0.1 chance+temperature (= raven-chance)": "raven-chance",
        "raven lm-init η=0 (label-model weights, fixed)": "raven-lm-fixed",
    }
    out = {}
    for problem, methods in res.items():
        table = {}
        for m, rs in sorted(methods.items(), key=lambda kv: _order(rename.get(kv[0], kv[0]))):
            row = rename.get(m, m)
            if row in ROWS + ABLATIONS:
                accs = [r["supervisor_accuracies"] for r in rs]
                rho = [
                    weight_accuracy_correlation(list(r["weights"].values()), a)
                    for r, a in zip(rs, accs, strict=True)
                ]
                table[row] = {
                    "method": m,
                    "accuracy": stats([r["strong_accuracy"] for r in rs]),
                    "weights": [
                        statistics.fmean(w) for w in zip(*(r["weights"].values() for r in rs), strict=True)
                    ],
                    "rho": statistics.fmean(rho) if row.startswith("raven") else math.nan,
                }
        out[problem] = table
    return out


def _table(table: dict) -> str:
    rows = [
        {
            "row": row,
            "method": t["method"],
            "strong acc: mean ± std [95% t-interval]": fmt(t["accuracy"]),
            "final weights (mean)": " / ".join(f"{w:.2f}" for w in t["weights"]),
            "ρ(w, acc)": t["rho"],
        }
        for row, t in table.items()
    ]
    return markdown_table(rows)


def _verdict(diff: float, threshold: float, met: str = "met", missed: str = "missed") -> str:
    """`met (+0.012)`; a fourth decimal where three would round onto the threshold and hide the verdict."""
    digits = 4 if round(diff, 3) == round(threshold, 3) else 3
    return f"{met if diff >= threshold else missed} ({diff:+.{digits}f})"


def _seed_verdict(diffs: list[float], threshold: float, met: str = "met", missed: str = "missed") -> str:
    """The verdict on differences paired by seed: `met` when their 95% t-interval over seeds lies at or above
    the threshold, `missed` when it lies below, `within noise` when it straddles it (one seed: the point)."""
    s = seed_interval(diffs)
    if s["n"] < 2:
        return f"{_verdict(s['mean'], threshold, met, missed)}, one seed"
    word = met if s["low"] >= threshold else missed if s["high"] < threshold else "within noise"
    return f"{word} ({s['mean']:+.3f} [{s['low']:+.3f}, {s['high']:+.3f}])"


def _paired(table: dict, a: str, b: str) -> list[float]:
    """``a − b`` per seed, over the seeds both rows ran."""
    x, y = table[a]["by_seed"], table[b]["by_seed"]
    return [x[s] - y[s] for s in sorted(x.keys() & y.keys())]


def targets(title: str, table: dict, names: list[str], degenerate: str) -> dict:
    missing = [k for k in (NEW, "ens", "label_model", "best single") if k not in table]
    if missing:
        return {"task (OOD)": title, "new ≥ ens": f"not run yet: {', '.join(missing)}"}
    w_deg = table[NEW]["weights"][names.index(degenerate)]
    return {
        "task (OOD)": title,
        "new ≥ ens": _seed_verdict(_paired(table, NEW, "ens"), 0.0),
        "new ≥ label_model − 0.01": _seed_verdict(_paired(table, NEW, "label_model"), -0.01),
        "new ≥ best single": _seed_verdict(_paired(table, NEW, "best single"), 0.0, "yes", "no"),
        "ρ ≥ 0.5": f"{'met' if table[NEW]['rho'] >= 0.5 else 'missed'} ({table[NEW]['rho']:.2f})",
        "degenerate weight ≤ 0.2": f"{'met' if w_deg <= 0.2 else 'missed'} ({degenerate}: {w_deg:.2f})",
    }


def setting_text(setting: dict | None) -> str:
    """`raven-lm`'s recorded setting, in words."""
    if not setting:
        return ""
    return (
        f"\n`{NEW}` here, as its runs recorded it: "
        + ", ".join(f"{k} = {setting[k]}" for k in SETTING_KEYS if k in setting)
        + ".\n"
    )


INTRO = (
    "# Label-free supervisor reliability: results (issue 12)\n",
    f"\n`{NEW}` is the recommended setting (`named_setting('recommended', task)`: label-model start, `chance` "
    "objective, exponentiated rule; the step size η, and temperature calibration (a classification option), "
    "differ by task, so each section gives the setting its runs recorded), chosen on the synthetic problems and "
    "label-free signals (docs/label_model.md); `raven` is the paper's rule. Accuracy of the strong model on "
    "the test split: mean ± std over 3 seeds, and a 95% t-interval (n = 3, so wide). Best/worst single = the "
    "`naive:<name>` run with the highest/lowest mean. ρ = rank correlation of the final weights with the "
    "supervisors' test accuracies (learned weights only).\n",
)


def main() -> None:
    md, check = list(INTRO), []
    for folder, (title, degenerate) in TASKS.items():
        names, tables, setting = classification(folder)
        md += [f"\n## {title}: weights in the order {' / '.join(names)}\n", setting_text(setting)]
        for scenario, table in tables.items():
            md += [f"\n### {scenario.upper()}\n\n", _table(table)]
        check.append(targets(title, tables["ood"], names, degenerate))
    tasks = [("movie reward model (MiniLM)", reward_models())]
    if (found := dpo()) is not None:
        names, table, seeds, setting = found
        title = f"movie DPO (SmolLM2, implicit acc., seeds {', '.join(map(str, seeds))}, {DPO_RUNS.name})"
        tasks.append((title, (names, table, setting)))
    for title, task in tasks:
        if task:
            names, table, setting = task
            md += [f"\n## {title}: weights in the order {' / '.join(names)}\n", setting_text(setting), "\n"]
            md.append(_table(table))
            check.append(targets(title, table, names, PREFERENCE_DEGENERATE))
    md.append("\n## Synthetic problems (`bench/results/synthetic_w2s.md`)\n")
    for problem, table in synthetic().items():
        md += [f"\n### {problem}\n\n", _table(table)]
    md += [
        "\n## The issue's targets on the OOD scenarios\n\nEach accuracy target is judged on the differences "
        "paired by seed (same seed, same data): mean [95% t-interval over seeds]; `met`/`yes` when the whole "
        "interval clears the threshold, `missed`/`no` when it lies below it, `within noise` when it straddles it. "
        "In the preference tasks no supervisor is constant; the degenerate one there is "
        f"`{PREFERENCE_DEGENERATE}`, a length judge below chance on the target.\n\n"
    ]
    md.append(markdown_table(check))
    (RESULTS / "label_model.md").write_text("".join(md))
    print("".join(md))


if __name__ == "__main__":
    main()
