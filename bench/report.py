"""bench/RESULTS.md and its figures, regenerated from the cached benchmark results by one command:

    python bench/report.py

Sections: the DPO method comparison (from the run summaries of bench/dpo_methods.py, any number of seeds), then
the tables the other benchmarks wrote (classification, reward models, synthetic problems, labelling throughput,
DPO step overhead). Intervals are percentile-bootstrap 95% intervals over items pooled across seeds.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from raven_align.core.measures import pgr, win_indicators, with_interval
from raven_align.evaluation.reporting import markdown_table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
FIGURES = RESULTS / "report"
ORDER = ["gt", "naive-best", "ens", "label_model", "raven-default", "raven-paper", "raven-lm", "naive-worst"]
SECTIONS = [  # (title, markdown file written by another benchmark, the command that writes it)
    ("Text classification (movie sentiment, 3 seeds)", "text_classification/results.md",
     "python recipes/classification/run.py --config recipes/classification/reviews.yaml"),
    ("Image classification (blurred digits, 3 seeds)", "image_classification/results.md",
     "python recipes/classification/run.py --config recipes/classification/digits.yaml"),
    ("Label-free weighting: label models and the recommended RAVEN setting", "label_model.md",
     "python bench/label_model_summary.py"),
    ("Reward models (movie target, 3 seeds)", "reward_methods/results.md",
     "python bench/reward_methods.py --config bench/configs/reward_minilm_movies_weak.yaml "
     "--output_dir bench/results/reward_methods --seeds 0 1 2"),
    ("Synthetic problems with a known answer", "synthetic_w2s.md", "python bench/synthetic_w2s.py"),
    ("Labelling throughput", "labeling_throughput.md", "python bench/labeling_throughput.py"),
    ("DPO step overhead (RavenDPOTrainer / TRL DPOTrainer)", "dpo_step_profile.md", "python bench/dpo_step_profile.py"),
]  # fmt: skip


def _fmt(m: dict | None, digits: int = 3) -> str:
    if not m:
        return "–"
    return f"{m['mean']:.{digits}f} [{m['low']:.{digits}f}, {m['high']:.{digits}f}]"


def _kl_interval(gens: list[dict]) -> dict | None:
    """KL(π‖π_ref) over the prompts of all runs: a pooled bootstrap where the runs kept per-prompt values; else
    (runs made before they were kept) each run's bootstrap interval as a normal standard error, pooled."""
    if not gens:
        return None
    if all("kl" in g["per_prompt"] for g in gens):
        return with_interval(np.concatenate([g["per_prompt"]["kl"] for g in gens]))
    means = np.array([g["kl"]["mean"] for g in gens])
    se = np.array([(g["kl"]["high"] - g["kl"]["low"]) / (2 * 1.96) for g in gens])
    half = 1.96 * np.sqrt(np.sum(se**2)) / len(gens)
    return {
        "mean": float(means.mean()),
        "low": float(means.mean() - half),
        "high": float(means.mean() + half),
    }


def load_runs(quick: bool = False) -> dict[str, list[dict]]:
    by_method: dict[str, list[dict]] = defaultdict(list)
    for path in sorted((RESULTS / "dpo_runs").glob("*.json")):
        run = json.loads(path.read_text())
        if run.get("quick", False) == quick:
            by_method[run["method"]].append(run)
    return {m: sorted(rs, key=lambda r: r["seed"]) for m, rs in by_method.items()}


def _gold(run: dict) -> np.ndarray | None:
    g = run.get("generations")
    return None if not g else np.asarray(g["per_prompt"]["gold_policy"])


def _pgr_cell(values: list[float], rs: list[dict], ens: dict, gt: dict) -> str:
    """Mean PGR over the seeds where `gt` beat `ens` (n of N when that is not every paired seed)."""
    paired = sum(r["seed"] in ens and r["seed"] in gt for r in rs)
    if not values:
        return "– (gt ≤ ens)" if paired else "–"
    return f"{np.mean(values):.2f}" + (f" ({len(values)} of {paired} seeds)" if len(values) < paired else "")


def dpo_rows(runs: dict[str, list[dict]]) -> list[dict]:
    """One row per method: means over seeds with pooled-bootstrap intervals; win rate and PGR against `ens`."""
    ens = {r["seed"]: r for r in runs.get("ens", [])}
    gt = {r["seed"]: r for r in runs.get("gt", [])}
    rows = []
    for method in sorted(runs, key=lambda m: ORDER.index(m) if m in ORDER else len(ORDER)):
        rs = runs[method]
        target = [r["splits"]["target"] for r in rs]
        hits = np.concatenate([t["per_pair_hits"] for t in target])
        # paired with ens: the same held-out pairs at the same seed, so the pair-to-pair spread cancels
        diff = [
            np.subtract(t["per_pair_hits"], ens[r["seed"]]["splits"]["target"]["per_pair_hits"])
            for r, t in zip(rs, target, strict=True)
            if r["seed"] in ens
        ]
        gold = [g for r in rs if (g := _gold(r)) is not None]
        wins = [
            win_indicators(_gold(r), _gold(ens[r["seed"]]))
            for r in rs
            if r["seed"] in ens and _gold(r) is not None
        ]
        kl = _kl_interval([r["generations"] for r in rs if r.get("generations", {}).get("kl")])
        # PGR against ens with the gt run of the same seed as ceiling, on the implicit-reward accuracy and on gold
        pgr_acc, pgr_gold = [], []
        for r in rs:
            s = r["seed"]
            if s in ens and s in gt:
                acc = lambda x: x["splits"]["target"]["strong_after"]["implicit_reward_accuracy"]  # noqa: E731
                if acc(gt[s]) > acc(ens[s]):  # a ceiling at or below the weak reference defines no gap
                    pgr_acc.append(pgr(acc(r), acc(ens[s]), acc(gt[s])))
                if _gold(r) is not None and _gold(gt[s]) is not None and _gold(ens[s]) is not None:
                    top, base = _gold(gt[s]).mean(), _gold(ens[s]).mean()
                    if top > base:
                        pgr_gold.append(pgr(_gold(r).mean(), base, top))
        rho = [t["weight_accuracy_spearman"] for t in target]
        rows.append({
            "method": method,
            "seeds": len(rs),
            "gold reward": _fmt(with_interval(np.concatenate(gold))) if gold else "–",
            "win rate vs ens": _fmt(with_interval(np.concatenate(wins))) if wins else "–",
            "implicit acc. (target)": _fmt(with_interval(hits)),
            "acc. − ens (paired)": _fmt(with_interval(np.concatenate(diff))) if diff and method != "ens" else "",
            "KL(π‖π_ref)": _fmt(kl, 2),
            "PGR (acc.)": _pgr_cell(pgr_acc, rs, ens, gt),
            "PGR (gold)": _pgr_cell(pgr_gold, rs, ens, gt),
            "weights ρ": f"{np.nanmean(rho):.2f}" if method.startswith("raven") else "",
            "misfit (mixture)": f"{np.mean([t['misfit']['mixture'] for t in target]):.3f}",
            "gain over mixture": f"{np.mean([t['gain_over_mixture'] for t in target]):+.3f}",
        })  # fmt: skip
    return rows


def plots(runs: dict[str, list[dict]]) -> list[str]:
    """Weights of the learned-weight runs over training, and gain against misfit across every run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    FIGURES.mkdir(parents=True, exist_ok=True)
    made = []
    learned = [
        (m, r)
        for m, rs in runs.items()
        for r in rs
        if len(r.get("weight_history") or []) > 1 and m.startswith("raven")
    ]
    if learned:
        names = list(learned[0][1]["weights"])
        fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 2.8), sharey=True)
        for k, (ax, name) in enumerate(zip(np.atleast_1d(axes), names, strict=True)):
            for m, r in learned:
                ax.plot([h[k] for h in r["weight_history"]], label=f"{m} s{r['seed']}", alpha=0.8)
            ax.set_title(name, fontsize=9)
            ax.set_xlabel("optimizer step")
        np.atleast_1d(axes)[0].set_ylabel("weight")
        np.atleast_1d(axes)[-1].legend(fontsize=6)
        fig.tight_layout()
        fig.savefig(FIGURES / "dpo_weights.png", dpi=120)
        plt.close(fig)
        made.append("report/dpo_weights.png")
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    for m, rs in runs.items():
        t = [r["splits"]["target"] for r in rs]
        ax.scatter([x["misfit"]["mixture"] for x in t], [x["gain_over_mixture"] for x in t], label=m, s=18)
    ax.axhline(0, color="grey", lw=0.5)
    made.append(_scatter_done(fig, ax, "misfit: strong model vs mixture (disagreement)",
                              "gain over the mixture (accuracy)", "dpo_misfit.png"))  # fmt: skip
    # the DPO paper's view: gold reward against KL(π‖π_ref), one point per run (methods move the policy by
    # different amounts in the same number of steps, so gold reward alone conflates "further" with "better")
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    for m, rs in runs.items():
        pts = [(r["generations"]["kl"]["mean"], float(np.mean(_gold(r)))) for r in rs if r.get("generations")]
        if pts:
            ax.scatter(*zip(*pts, strict=True), label=m, s=18)
    refs = [np.mean(r["generations"]["per_prompt"]["gold_reference"]) for rs in runs.values() for r in rs
            if r.get("generations")]  # fmt: skip
    if refs:
        ax.scatter([0.0], [np.mean(refs)], marker="*", s=80, color="black", label="reference policy")
    made.append(
        _scatter_done(fig, ax, "KL(π‖π_ref), nats per completion", "mean gold reward", "dpo_gold_vs_kl.png")
    )
    return made


def _scatter_done(fig, ax, xlabel: str, ylabel: str, name: str) -> str:
    """Label, save and close a scatter of the report; its path relative to bench/results."""
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(FIGURES / name, dpi=120)
    plt.close(fig)
    return f"report/{name}"


def dpo_section(runs: dict[str, list[dict]]) -> str:
    if not runs:
        return "No DPO runs yet: `python bench/dpo_methods.py`.\n"
    rows = dpo_rows(runs)
    figs = plots(runs)
    any_run = next(iter(runs.values()))[0]
    g = any_run.get("generations") or {}
    sizes = sorted({r["splits"]["target"]["num_pairs"] for rs in runs.values() for r in rs})
    n_pairs = f"{sizes[0]}" if len(sizes) == 1 else f"{sizes[0]}–{sizes[-1]} (by seed)"
    lines = [
        "The DPO recipe's frozen benchmark config (`bench/configs/dpo_embedded_default.yaml`: SmolLM2-135M + LoRA, "
        "512 training pairs, 64 steps of 8) under each method; `raven-default` is that config's own rule (uniform "
        "start, `ce`, exponentiated η = 10), `raven-lm` the recommended one (label-model start, `chance`), which "
        "the main job now uses; "
        f"implicit-reward accuracy on all {n_pairs} target test pairs; generations: "
        f"{g.get('num_prompts', '–')} held-out prompts, scored by the gold reward model (an oracle trained on the "
        "target's truth, never a supervisor); win rate against `ens` on the same prompts and seeds. "
        "`naive-best`/`naive-worst` are named by their target accuracy (an oracle choice, a reference row). "
        "`acc. − ens`: the implicit-accuracy difference on the same pairs and seeds. "
        "Intervals: bootstrap 95% over prompts or pairs pooled across seeds (KL, for runs that kept only their "
        "own interval: a normal approximation from those intervals). PGR: (method − ens) / (gt − ens) per "
        'seed, averaged over the seeds where `gt` is above `ens` on that measure; "gt ≤ ens": it never was, so '
        "there is no gap to recover.\n\n",
        markdown_table(rows),
        "\n",
        *(f"\n![]({f})\n" for f in figs),
    ]
    return "".join(lines)


def main() -> None:
    runs = load_runs()
    parts = [
        "# Results\n\nRegenerate with `python bench/report.py` (each section names the command behind it).\n\n",
        "## DPO method comparison (`python bench/dpo_methods.py`)\n\n",
        dpo_section(runs),
    ]
    for title, rel, command in SECTIONS:
        path = RESULTS / rel
        body = path.read_text() if path.is_file() else "not run yet\n"
        body = "\n".join(("#" + line) if line.startswith("#") else line for line in body.splitlines())
        parts.append(f"\n## {title} (`{command}`)\n\n{body}\n")
    (ROOT / "bench" / "RESULTS.md").write_text("".join(parts))
    print(f"wrote bench/RESULTS.md from {sum(map(len, runs.values()))} DPO runs")


if __name__ == "__main__":
    main()
