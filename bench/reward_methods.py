"""A strong reward model for the movie target from the embedded weak supervisors: RAVEN against the baselines.

    python bench/reward_methods.py --config bench/configs/reward_minilm_movies_weak.yaml \
        --output_dir bench/results/reward_methods --seeds 0 1 2

Labels the target's training pairs (random order) with the supervisors (cached), then trains the same MiniLM
reward model once per method and seed with RavenRewardTrainer: ``gt`` (the truth: the ceiling), ``naive-best`` and
``naive-worst`` (the single supervisor with the highest / lowest accuracy on the *training* pairs' hidden truth: an
oracle choice, shown as a reference), ``ens`` (uniform fixed weights), ``label_model`` (the label model's
posterior, no labels), ``raven-paper`` (the paper's rule: ``named_setting("paper", "reward")``) and ``raven-lm``
(the recommended setting: ``named_setting("recommended", "reward")``). Nothing is tuned on the test pairs. A seed
draws the training pairs, their presented order and the reward head.

Each (method, seed) result is cached in ``<output_dir>/runs/<key>.json`` (``key`` hashes the configuration), so a
rerun only trains what is missing. Reports held-out preference accuracy on the target's test pairs (mean over
seeds with a 95% t-interval), PGR against the uniform mixture of the supervisors, and the learned weights with
their rank correlation to the supervisors' (hidden) test accuracies. Writes results.json and results.md.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from transformers.utils import logging as hf_logging
from trl import ModelConfig

from raven_align import __version__
from raven_align.columns import reward_columns
from raven_align.core import named_setting
from raven_align.core.measures import (
    pgr_over_seeds,
    preference_accuracy,
    seed_interval,
    weight_accuracy_correlation,
)
from raven_align.pipeline.deprecations import ProgramParser
from raven_align.pipeline.reward_models import fit_reward_model, score_accuracy
from raven_align.programs.reward import (
    RewardScriptArguments,
    label_splits,
    load_reward_data,
    supervisor_accuracy,
)
from raven_align.trainers import RavenRewardConfig

METHODS = ["gt", "naive-best", "naive-worst", "ens", "label_model", "raven-paper", "raven-lm"]
#: the recorded settings of the base config (the methods' overrides come on top)
SETTING_KEYS = ("supervisor_lr", "weight_update_rule", "weight_init", "weight_objective", "easy_phase_fraction",
                "easy_phase_mode", "margin_normalization", "uniform_pull")  # fmt: skip
#: The first runs' keys also hashed ``supervisor_calibration`` (a classification option that reward configs never
#: read, and now do not have): in the base setting ("none") and in the presets' overrides. It stays in the keys at
#: the value they hashed, so that the cached runs keep their keys; it changes nothing in training.
KEY_CALIBRATION = {"raven-paper": "none", "raven-lm": "temperature"}
TRAINING_KEYS = ("max_length", "per_device_train_batch_size", "learning_rate", "num_train_epochs")
#: script options under the names they had when the cached runs were keyed (a rename keeps every run's key)
KEYED_NAMES = {
    "max_train_samples": "n_train",
    "max_eval_samples": "n_test",
    "supervisor_batch_size": "label_batch_size",
}


@dataclass
class CompareArguments:
    """What to compare: the methods and the seeds (each seed draws new training pairs, order and head)."""

    seeds: list[int] = field(default_factory=lambda: [0], metadata={"help": "Seeds to run."})
    methods: list[str] = field(default_factory=lambda: list(METHODS), metadata={"help": f"Of {METHODS}."})


def mixture_accuracy(ds, names: list[str]) -> float:
    """Accuracy of the uniform mixture of the supervisors' margins (the "weak" reference of PGR)."""
    margins = [np.asarray(ds[c]) - np.asarray(ds[r]) for c, r in map(reward_columns, names)]
    return preference_accuracy(np.mean(margins, axis=0))


def methods_for(train_accuracy: dict[str, float]) -> dict[str, dict]:
    """The runs: name -> overrides of the YAML's RavenRewardConfig."""
    best = max(train_accuracy, key=train_accuracy.get)
    worst = min(train_accuracy, key=train_accuracy.get)
    return {
        "gt": {"supervision": "gt", "gt_column": "gt_label"},
        "naive-best": {"supervision": "naive", "naive_supervisor": best},
        "naive-worst": {"supervision": "naive", "naive_supervisor": worst},
        "ens": {"supervision": "ens"},
        "label_model": {"supervision": "label_model"},
        "raven-paper": {"supervision": "raven", **named_setting("paper", "reward")},
        "raven-lm": {"supervision": "raven", **named_setting("recommended", "reward")},
    }


def run_key(method: str, overrides: dict, seed: int, script, base, model_args) -> str:
    """A run's cache key: everything that changes its result."""
    keyed = {KEYED_NAMES.get(k, k): v for k, v in dataclasses.asdict(script).items()}
    spec = {
        "script": {**keyed, "pairs_seed": seed},  # the seed drew the pairs (once the script's pairs_seed)
        "setting": {k: getattr(base, k) for k in (*SETTING_KEYS, *TRAINING_KEYS)}
        | {"supervisor_calibration": "none"},
        "model": model_args.model_name_or_path,
        "overrides": overrides
        | ({"supervisor_calibration": KEY_CALIBRATION[method]} if method in KEY_CALIBRATION else {}),
        "seed": seed,
        "version": __version__,
    }
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"{method}-s{seed}-{digest}"


def run_seed(seed: int, methods: list[str], script, base, model_args, runs_dir: Path) -> dict:
    """Label this seed's training pairs and train every missing method on them; returns this seed's results."""
    base = dataclasses.replace(base, seed=seed)
    train, tests = load_reward_data(script, weak=True, seed=seed)
    target = next(iter(tests))  # the target's own test split comes first (named without `embedded:`)
    tests = {target: tests[target]}
    labelled_train, labelled_tests, provenance = label_splits(
        train, tests, script.supervisors, script, base.max_length
    )
    names = [e["name"] for e in provenance]
    sup_test = {n: a[target] for n, a in supervisor_accuracy(labelled_tests, names).items()}
    truth = np.asarray(labelled_train["gt_label"]).astype(bool)
    sup_train = {
        n: preference_accuracy(np.asarray(labelled_train[c]) - np.asarray(labelled_train[r]), truth)
        for n, (c, r) in zip(names, map(reward_columns, names), strict=True)
    }
    runs = {}
    for method, overrides in methods_for(sup_train).items():
        if method not in methods:
            continue
        path = runs_dir / f"{run_key(method, overrides, seed, script, base, model_args)}.json"
        if path.is_file():
            runs[method] = json.loads(path.read_text())
            print(f"cached  {method} seed {seed}: {runs[method]['accuracy']:.3f}", flush=True)
            continue
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as scratch:  # nothing is saved: the models are scored in memory
            args = dataclasses.replace(base, output_dir=scratch, save_strategy="no", **overrides)
            trainer = fit_reward_model(labelled_train, args, model_args)
        seconds = time.perf_counter() - start
        acc = score_accuracy(
            trainer.model, trainer.processing_class, tests, base.max_length, script.supervisor_batch_size
        )[target]
        runs[method] = {
            "method": method,
            "seed": seed,
            "overrides": overrides,
            "accuracy": acc,
            "train_seconds": round(seconds, 1),
            "steps": trainer.state.global_step,
            "weights": trainer.raven_weights.as_dict(),
        }
        runs_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(runs[method], indent=1))
        print(f"done    {method} seed {seed}: accuracy {acc:.3f} ({seconds:.0f} s)", flush=True)
    return {
        "seed": seed,
        "n_train": len(labelled_train),
        "n_test": len(tests[target]),
        "supervisor_test_accuracy": sup_test,
        "supervisor_train_accuracy": sup_train,
        "uniform_mixture_test_accuracy": mixture_accuracy(labelled_tests[target], names),
        "runs": runs,
    }


def summarize(seeds: list[dict]) -> dict[str, dict]:
    """Per method over seeds: accuracy mean/std/t-interval, the difference from `ens` paired by seed (mean and
    t-interval), PGR against the uniform mixture (per seed, then mean and t-interval; None where the gap gt −
    uniform mixture is below noise), weights and ρ."""
    out = {}
    for method in [m for m in METHODS if all(m in s["runs"] for s in seeds)]:
        acc = seed_interval([s["runs"][method]["accuracy"] for s in seeds])
        trios = [(s["runs"][method]["accuracy"], s["uniform_mixture_test_accuracy"], s["runs"]["gt"]["accuracy"])
                 for s in seeds if "gt" in s["runs"]]  # fmt: skip
        gain = pgr_over_seeds(*zip(*trios, strict=True)) if trios else None
        diff = [
            s["runs"][method]["accuracy"] - s["runs"]["ens"]["accuracy"] for s in seeds if "ens" in s["runs"]
        ]
        vs_ens = seed_interval(diff) if diff and method != "ens" else None
        rhos = []
        for s in seeds:
            if method.startswith("raven"):
                w = s["runs"][method]["weights"]
                rhos.append(weight_accuracy_correlation([w[n] for n in w],
                                                        [s["supervisor_test_accuracy"][n] for n in w]))  # fmt: skip
        names = list(seeds[0]["runs"][method]["weights"])
        out[method] = {
            "accuracy_mean": acc["mean"],
            "accuracy_std": acc["std"],
            "accuracy_interval": [acc["low"], acc["high"]],
            "minus_ens": None if vs_ens is None else [vs_ens["mean"], vs_ens["low"], vs_ens["high"]],
            "pgr": None if gain is None or gain["below_noise"] else gain["pgr"]["mean"],
            "pgr_interval": None
            if gain is None or gain["below_noise"]
            else [gain["pgr"]["low"], gain["pgr"]["high"]],
            "pgr_below_noise": bool(gain and gain["below_noise"]),
            "weights": {n: float(np.mean([s["runs"][method]["weights"][n] for s in seeds])) for n in names},
            "weight_accuracy_rank_correlation": float(np.nanmean(rhos)) if rhos else None,
            "naive_supervisors": sorted(
                {s["runs"][method]["overrides"].get("naive_supervisor", "") for s in seeds} - {""}
            ),  # fmt: skip
        }
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = ProgramParser(
        (RewardScriptArguments, RavenRewardConfig, ModelConfig, CompareArguments), program="reward"
    )
    script, base, model_args, compare = parser.parse_args_and_config(args=argv)
    unknown = sorted(set(compare.methods) - set(METHODS))
    if unknown:
        raise SystemExit(f"unknown methods {unknown}; choose from {METHODS}")
    if script.torch_threads:
        import torch

        torch.set_num_threads(script.torch_threads)
    logging.basicConfig(format="%(message)s", level=logging.WARNING)
    hf_logging.set_verbosity_error()
    if not script.supervisors:
        raise SystemExit("compare_methods needs supervisors (see minilm_movies_weak.yaml)")

    out = Path(base.output_dir)
    seeds = [run_seed(s, compare.methods, script, base, model_args, out / "runs") for s in compare.seeds]
    results = {
        "target": str(script.dataset_name).removeprefix("embedded:"),
        "seeds": compare.seeds,
        "supervisors": script.supervisors,
        "setting": {k: getattr(base, k) for k in SETTING_KEYS},
        "training": {k: getattr(base, k) for k in TRAINING_KEYS},
        "per_seed": seeds,
        "methods": summarize(seeds),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "results.md").write_text(markdown(results))
    print(markdown(results))
    return results


def _pgr_cell(r: dict) -> str:
    if r.get("pgr_below_noise"):
        return "n/a (gap below noise)"
    if r["pgr"] is None:
        return "–"
    lo, hi = r.get("pgr_interval") or (np.nan, np.nan)
    return f"{r['pgr']:.2f}" + ("" if np.isnan(lo) else f" [{lo:.2f}, {hi:.2f}]")


def markdown(results: dict) -> str:
    seeds = results["per_seed"]
    names = list(seeds[0]["supervisor_test_accuracy"])
    mean_sup = {n: np.mean([s["supervisor_test_accuracy"][n] for s in seeds]) for n in names}
    lines = [
        f"# Strong MiniLM reward model on `{results['target']}` from weak supervisors",
        "",
        f"{seeds[0]['n_train']} training pairs per seed labelled by the supervisors, {seeds[0]['n_test']} held-out "
        f"test pairs; seeds {results['seeds']}. Base setting (the YAML's; `raven-paper` and `raven-lm` put their "
        f"presets on top): {results['setting']}; training: {results['training']}. Test accuracy: mean ± std over "
        "seeds [95% t-interval]; − ens: the accuracy difference from `ens` paired by seed, mean [95% t-interval over "
        "seeds]; PGR against the uniform mixture with `gt` as ceiling, per seed, then mean [95% t-interval] (n/a "
        "where the gap gt − uniform mixture is below noise: under 0.05 at some seed, or its interval reaching 0); "
        "weights: mean final weights; ρ: rank correlation of the weights with the supervisors' test accuracies.",
        "",
        "| method | test accuracy | − ens (paired by seed) | PGR | "
        + " | ".join(f"w({n})" for n in names)
        + " | ρ(w, acc) |",
        "|---|---|---|---|" + "---|" * (len(names) + 1),
    ]
    for method, r in results["methods"].items():
        label = f"{method} ({', '.join(r['naive_supervisors'])})" if r["naive_supervisors"] else method
        w = " | ".join("–" if method == "gt" else f"{r['weights'].get(n, 0.0):.3f}" for n in names)
        lo, hi = r["accuracy_interval"]
        rho = r["weight_accuracy_rank_correlation"]
        d = r.get("minus_ens")
        diff = "" if d is None else f"{d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}]"
        lines.append(
            f"| {label} | {r['accuracy_mean']:.3f} ± {r['accuracy_std']:.3f} [{lo:.3f}, {hi:.3f}] | {diff} | "
            f"{_pgr_cell(r)} | {w} | {'' if rho is None else f'{rho:.2f}'} |"
        )
    lines += [
        "",
        "Weak references on the test pairs (mean over seeds): uniform mixture "
        f"{np.mean([s['uniform_mixture_test_accuracy'] for s in seeds]):.3f}; single supervisors "
        + ", ".join(f"{n} {a:.3f}" for n, a in mean_sup.items())
        + ".",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
