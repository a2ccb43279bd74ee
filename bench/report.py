"""bench/RESULTS.md and its figures, regenerated from the cached benchmark results by one command:

    python bench/report.py

Sections: the DPO method comparison (from the run summaries of bench/dpo_methods.py, any number of seeds), then
the tables the other benchmarks wrote (classification, reward models, synthetic problems, labelling throughput,
DPO step overhead). The seed is the unit of every interval of the DPO table: a 95% t-interval over the seeds'
values, and for the paired comparisons with `ens` also a two-level bootstrap (seeds, then items within a seed).
The settings it describes are read from the runs' recorded flags over the frozen config they name.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from raven_align.core.arguments import WeightingArguments
from raven_align.core.measures import (
    pgr_over_seeds,
    rank_correlation,
    seed_interval,
    two_level_bootstrap,
    win_indicators,
)
from raven_align.evaluation.reporting import markdown_table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
FIGURES = RESULTS / "report"
#: the frozen config every DPO run of bench/dpo_methods.py starts from (its text is hashed into the run keys)
CONFIG = ROOT / "bench" / "configs" / "dpo_embedded_default.yaml"
ORDER = [
    "gt",
    "gt-soft",
    "naive-best",
    "ens",
    "label_model",
    "raven-default",
    "raven-paper",
    "raven-lm",
    "naive-worst",
]
#: the truth-trained policies: the oracle check asks whether each ranks above `ens` on the primary measure
ORACLES = ("gt", "gt-soft")
#: the primary DPO measure is the strong model's implicit-reward accuracy on the target's held-out pairs, judged by
#: their truth; the generation measures (gold reward, win rate, KL) are secondary: a learned gold model judges them
PRIMARY = "implicit acc. (target, primary)"
#: the weighting options a RAVEN run's setting is described by
RAVEN_KEYS = ("weight_init", "weight_update_rule", "supervisor_lr", "weight_objective", "margin_normalization",
              "easy_phase_fraction", "easy_phase_mode")  # fmt: skip
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


def _fmt(m: dict | None, digits: int = 3, sign: str = "") -> str:
    """``mean [low, high]``; one seed has no interval over seeds."""
    if not m:
        return "–"
    if m.get("n", 2) < 2 or not np.isfinite(m["low"]):
        return f"{m['mean']:{sign}.{digits}f} (1 seed)"
    return f"{m['mean']:{sign}.{digits}f} [{m['low']:{sign}.{digits}f}, {m['high']:{sign}.{digits}f}]"


def _seeds(values: list[float], digits: int = 3, sign: str = "") -> str:
    """The mean over seeds with its 95% t-interval."""
    return _fmt(seed_interval(values), digits, sign) if values else "–"


def pgr_text(result: dict | None, digits: int = 2) -> str:
    """A PGR cell from :func:`raven_align.core.measures.pgr_over_seeds`."""
    if result is None:
        return "–"
    if result["below_noise"]:
        return "n/a (gap below noise)"
    return _fmt(result["pgr"], digits)


def load_runs(quick: bool = False) -> dict[str, list[dict]]:
    by_method: dict[str, list[dict]] = defaultdict(list)
    for path in sorted((RESULTS / "dpo_runs").glob("*.json")):
        run = json.loads(path.read_text())
        if run.get("quick", False) == quick:
            by_method[run["method"]].append(run)
    # runs of different data constructions draw different splits (issue 22's reserve): pairing them by seed
    # would compare different test pairs, so one report reads one construction
    kinds = {run.get("data", "before-reserve") for rs in by_method.values() for run in rs}
    if len(kinds) > 1:
        raise ValueError(
            f"bench/results/dpo_runs/ mixes runs of different data constructions {sorted(kinds)}: move the older "
            "ones to an archive folder"
        )
    return {m: sorted(rs, key=lambda r: r["seed"]) for m, rs in by_method.items()}


def _gold(run: dict) -> np.ndarray | None:
    g = run.get("generations")
    return None if not g else np.asarray(g["per_prompt"]["gold_policy"])


def _acc(run: dict) -> float:
    return run["splits"]["target"]["strong_after"]["implicit_reward_accuracy"]


def _hits(run: dict) -> np.ndarray:
    return np.asarray(run["splits"]["target"]["per_pair_hits"], dtype=float)


def pgr_seeds(rs: list[dict], ens: dict[int, dict], gt: dict[int, dict]) -> list[tuple[float, float, float]]:
    """(method, weak, ceiling) per seed of ``rs`` that has an `ens` run (which records the weak reference, the
    uniform mixture's accuracy on that seed's target pairs) and a `gt` run (the ceiling)."""
    return [
        (_acc(r), ens[s]["splits"]["target"]["uniform_mixture_accuracy"], _acc(gt[s]))
        for r in rs
        if (s := r["seed"]) in ens and s in gt
    ]


def dpo_rows(runs: dict[str, list[dict]]) -> list[dict]:
    """One row per method: means over seeds with 95% t-intervals over seeds; win rate and accuracy paired with the
    `ens` run of the same seed (same pairs, same prompts), also with a two-level bootstrap; PGR against the
    uniform mixture with the `gt` run of the same seed as ceiling, and with the `gt-soft` run (the truth at the
    mixture's confidence) where there is one."""
    ens = {r["seed"]: r for r in runs.get("ens", [])}
    ceilings = {c: {r["seed"]: r for r in runs[c]} for c in ORACLES if runs.get(c)}
    rows = []
    for method in sorted(runs, key=lambda m: ORDER.index(m) if m in ORDER else len(ORDER)):
        rs = runs[method]
        target = [r["splits"]["target"] for r in rs]
        paired = [(r, ens[r["seed"]]) for r in rs if r["seed"] in ens]
        # the same held-out pairs at the same seed: per-pair differences, one array per seed
        diff = [_hits(r) - _hits(e) for r, e in paired]
        wins = [
            win_indicators(_gold(r), _gold(e))
            for r, e in paired
            if _gold(r) is not None and _gold(e) is not None
        ]
        versus = method != "ens"
        kl = [r["generations"]["kl"]["mean"] for r in rs if (r.get("generations") or {}).get("kl")]
        pgrs = {}
        for c in ORACLES:
            ratio = pgr_seeds(rs, ens, ceilings.get(c, {}))
            pgrs[c] = pgr_text(pgr_over_seeds(*zip(*ratio, strict=True)) if ratio else None)
        rho = [t["weight_accuracy_spearman"] for t in target]
        rows.append({
            "method": method,
            "seeds": ", ".join(str(r["seed"]) for r in rs),
            PRIMARY: _seeds([_acc(r) for r in rs]),
            "acc. − ens (paired)": _seeds([float(d.mean()) for d in diff], sign="+") if diff and versus else "",
            "acc. − ens, two-level bootstrap": _fmt(two_level_bootstrap(diff), sign="+") if diff and versus else "",
            "PGR (acc.)": pgrs["gt"],
            **({"PGR (acc., gt-soft ceiling)": pgrs["gt-soft"]} if "gt-soft" in ceilings else {}),
            "gold reward": _seeds([float(g.mean()) for r in rs if (g := _gold(r)) is not None]),
            "win rate vs ens": _seeds([float(w.mean()) for w in wins]) if versus else "",
            "win rate, two-level bootstrap": _fmt(two_level_bootstrap(wins)) if wins and versus else "",
            "KL(π‖π_ref)": _seeds(kl, 2),
            "weights ρ": f"{np.nanmean(rho):.2f}" if method.startswith("raven") else "",
            "misfit (mixture)": f"{np.mean([t['misfit']['mixture'] for t in target]):.3f}",
            "gain over mixture": _seeds([t["gain_over_mixture"] for t in target], sign="+"),
        })  # fmt: skip
    return rows


def _side(interval: dict) -> str:
    """Where a paired difference with ``ens`` lies, read from its t-interval over seeds."""
    if interval["n"] < 2:
        return "one seed: no interval"
    if interval["low"] > 0:
        return "above ens"
    return "below ens" if interval["high"] < 0 else "not separated from ens"


def oracle_rows(runs: dict[str, list[dict]]) -> list[dict]:
    """The oracle check: each truth-trained policy against the `ens` run of the same seed, on the primary measure
    (where it lies by the t-interval over seeds of the paired differences) and on the secondary ones."""
    ens = {r["seed"]: r for r in runs.get("ens", [])}
    rows = []
    for method in ORACLES:
        paired = [(r, ens[r["seed"]]) for r in runs.get(method, []) if r["seed"] in ens]
        if not paired:
            continue
        acc = seed_interval([_acc(r) - _acc(e) for r, e in paired])
        gen = [(r, e) for r, e in paired if r.get("generations") and e.get("generations")]
        gold = [float(_gold(r).mean() - _gold(e).mean()) for r, e in gen]
        kl = [(r["generations"]["kl"]["mean"], e["generations"]["kl"]["mean"]) for r, e in gen]
        rows.append({
            "truth-trained policy": method,
            "seeds (paired with ens)": ", ".join(str(r["seed"]) for r, _ in paired),
            "acc. − ens (primary)": _fmt(acc, sign="+"),
            "on the primary measure": _side(acc),
            "gold reward − ens": _seeds(gold, sign="+"),
            "on gold reward": _side(seed_interval(gold)) if gold else "–",
            "KL: policy / ens": " / ".join(f"{np.mean(k):.2f}" for k in zip(*kl, strict=True)) if kl else "–",
        })  # fmt: skip
    return rows


def gold_follows_kl(runs: dict[str, list[dict]]) -> str:
    """How far the gold reward's gain over the reference follows KL(π‖π_ref) across every run with generations:
    a judge whose scores rank the runs by how far they moved, whatever trained them, cannot tell label quality."""
    pts = [
        (
            r["generations"]["kl"]["mean"],
            float(np.mean(_gold(r)) - np.mean(r["generations"]["per_prompt"]["gold_reference"])),
        )
        for rs in runs.values()
        for r in rs
        if r.get("generations")
    ]
    if len(pts) < 3:
        return ""
    kl, gain = zip(*pts, strict=True)
    return (
        f"Across all {len(pts)} runs, the gold reward's gain over the reference policy against KL(π‖π_ref): rank "
        f"correlation ρ = {rank_correlation(kl, gain):.2f} (KL {min(kl):.2f}–{max(kl):.2f} nats, gain "
        f"{min(gain):+.2f} to {max(gain):+.2f}).\n"
    )


def recorded_settings(runs: dict[str, list[dict]]) -> tuple[dict, dict[str, dict]]:
    """The frozen config, and per method the setting its runs recorded: the config with the run's flags on top
    (the weighting options the config leaves out at WeightingArguments' defaults). Methods whose seeds recorded
    different flags raise: their rows would mix settings."""
    import yaml

    config = yaml.safe_load(CONFIG.read_text())
    defaults = {f.name: f.default for f in dataclasses.fields(WeightingArguments)}
    out = {}
    for method, rs in runs.items():
        flags = {tuple(r["flags"]) for r in rs}
        if len(flags) != 1:
            raise ValueError(f"the runs of {method} recorded different flags: {sorted(flags)}")
        (f,) = flags
        given = {k.removeprefix("--"): v for k, v in zip(f[::2], f[1::2], strict=True)}
        out[method] = {"flags": " ".join(f), **defaults, **config, **given}
    return config, out


def settings_rows(settings: dict[str, dict]) -> list[dict]:
    """The recorded setting of each method (the RAVEN options only for RAVEN's runs)."""
    rows = []
    for method in sorted(settings, key=lambda m: ORDER.index(m) if m in ORDER else len(ORDER)):
        s = settings[method]
        raven = s["supervision"] == "raven"
        flags = f"`{s['flags']}`" if s["flags"] else "none"
        options = {k: str(s[k]) if raven else "" for k in RAVEN_KEYS}
        rows.append(
            {"method": method, "flags over the frozen config": flags, "supervision": s["supervision"]}
            | options
        )
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


def _describe(s: dict) -> str:
    return ", ".join(
        f"{k} {s[k]}" for k in ("weight_init", "weight_objective", "weight_update_rule", "supervisor_lr")
    )


def _gap_line(runs: dict[str, list[dict]]) -> str:
    """The PGR denominator ceiling − weak per seed, with its mean and t-interval, for each ceiling."""
    ens = {r["seed"]: r for r in runs.get("ens", [])}
    lines = []
    for c in ORACLES:
        per_seed = pgr_seeds(runs.get(c, []), ens, {r["seed"]: r for r in runs.get(c, [])})
        if per_seed:
            gaps = [ceiling - weak for _, weak, ceiling in per_seed]
            lines.append(
                f"PGR's gap {c} − weak on implicit accuracy, per seed: "
                f"{', '.join(f'{x:.3f}' for x in gaps)} (mean {_seeds(gaps)}).\n"
            )
    return "\n" + "\n".join(lines) if lines else ""


def dpo_section(runs: dict[str, list[dict]]) -> str:
    if not runs:
        return "No DPO runs yet: `python bench/dpo_methods.py`.\n"
    rows = dpo_rows(runs)
    figs = plots(runs)
    config, settings = recorded_settings(runs)
    all_runs = [r for rs in runs.values() for r in rs]
    g = all_runs[0].get("generations") or {}
    sizes = sorted({r["splits"]["target"]["num_pairs"] for r in all_runs})
    n_pairs = f"{sizes[0]}" if len(sizes) == 1 else f"{sizes[0]}–{sizes[-1]} (by seed)"
    steps = sorted({r["timing"]["steps"] for r in all_runs})
    batch = config["per_device_train_batch_size"] * config.get("gradient_accumulation_steps", 1)
    own = settings.get("raven-default") or next(iter(settings.values()))
    lm = (
        f"; `raven-lm` the recommended one ({_describe(settings['raven-lm'])})"
        if "raven-lm" in settings
        else ""
    )
    data = all_runs[0].get("data", "before-reserve")
    oracle = oracle_rows(runs)
    lines = [
        f"The DPO recipe's frozen benchmark config (`{CONFIG.relative_to(ROOT)}`: `{config['model_name_or_path']}` "
        f"+ LoRA r = {config['lora_r']}, {config['max_train_pairs']} training pairs, "
        f"{'/'.join(map(str, steps))} optimizer steps of {batch}) under each method, with the flags each run "
        f"recorded (table below); `raven-default` is that config's own rule ({_describe(own)}){lm}. Data "
        f"construction `{data}`: the gold model and the Amazon-trained supervisors train on a reserve that shares "
        "no movie, product or review with any seed's test splits (`tests/test_disjoint_data.py`).\n\n"
        f"**Primary measure**: the strong model's implicit-reward accuracy on all {n_pairs} target test pairs, "
        "judged by their truth. **Secondary**: generations for "
        f"{g.get('num_prompts', '–')} held-out prompts scored by the gold reward model (a learned oracle trained on "
        "the reserve's truth, never a supervisor), the win rate against `ens` on the same prompts and seeds, and "
        "KL(π‖π_ref); methods move the policy by different amounts in the same steps, so read gold reward beside "
        "KL (figure below). `gt` trains on the truth as hard labels (plain DPO), `gt-soft` on the truth at the "
        "uniform mixture's mean training-side confidence (`gt_confidence`, conservative DPO), so that it differs "
        "from `ens` only in which side each label favours. `naive-best`/`naive-worst` are named by their target "
        "accuracy (an oracle choice, a reference row).\n\n"
        "**Intervals are over seeds**: mean over seeds [95% t-interval of the seeds' values]; with 3 seeds "
        "t(0.975, 2) = 4.30, so they are wide. The paired comparisons with `ens` also give a two-level bootstrap "
        "(resample the seeds, then the pairs or prompts within each drawn seed); with 3 seeds the first level has "
        "only 10 distinct draws and understates the spread, so a difference is called real here only when the "
        "t-interval excludes 0. PGR (acc.): (method − weak) / (gt − weak) per seed with weak = the uniform "
        "mixture of the supervisors on that seed's target pairs (recorded by the `ens` run) and the `gt` run of "
        'the same seed as ceiling, then its mean and t-interval over seeds; "n/a (gap below noise)" where some '
        "seed's gap gt − weak is under 0.05 or the gap's t-interval reaches 0 (the gaps are given below the "
        "table); the same with the `gt-soft` run as ceiling in its own column (both are given: the choice was not "
        "made in advance). There is no PGR on gold reward: the weak reference is a labeller, not a policy, so it has no "
        "generations.\n\n",
        *(
            [
                "**Oracle check**: does a policy trained on the truth rank above `ens`? Differences paired by seed, "
                "read from their t-interval over seeds.\n\n",
                markdown_table(oracle),
                "\n",
                gold_follows_kl(runs),
                "\n",
            ]
            if oracle
            else []
        ),
        "**All methods**:\n\n",
        markdown_table(rows),
        _gap_line(runs),
        "\nRecorded settings (the runs' flags over the frozen config; RAVEN options for RAVEN's runs):\n\n",
        markdown_table(settings_rows(settings)),
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
