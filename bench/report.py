"""bench/RESULTS.md and its figures, regenerated from the cached benchmark results by one command:

    python bench/report.py

Sections: the DPO method comparison (from the run summaries of bench/dpo_methods.py, any number of seeds), then
the tables the other benchmarks wrote (classification, reward models, synthetic problems, labelling throughput,
DPO step overhead). The DPO tables' numbers come from bench/_dpo_stats.py; the seed is the unit of every interval: a 95% t-interval over the seeds'
values, and for the paired comparisons with `ens` also a two-level bootstrap (seeds, then items within a seed).
The settings it describes are read from the runs' recorded flags over the frozen config they name.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from raven_align.core.arguments import WeightingArguments
from raven_align.evaluation.reporting import markdown_table

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling _dpo_stats, also when loaded by path
from _dpo_stats import ORDER, _gap_line, _gold, dpo_rows, gold_follows_kl, oracle_rows  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
FIGURES = RESULTS / "report"
#: the frozen config every DPO run of bench/dpo_methods.py starts from (its text is hashed into the run keys)
CONFIG = ROOT / "bench" / "configs" / "dpo_embedded_default.yaml"
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
        "from `ens` only in which side each label favours. `naive-best`/`naive-worst` train on the single supervisor "
        "with the best/worst mean target accuracy over seeds 0–2 (an oracle choice, a reference row; the "
        "settings table names it).\n\n"
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
