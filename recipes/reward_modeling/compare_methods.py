"""A strong reward model for the movie target from the embedded weak supervisors: RAVEN against the baselines.

    python recipes/reward_modeling/compare_methods.py --config recipes/reward_modeling/minilm_movies_weak.yaml

Labels the target's training pairs (random order) with the supervisors (cached), then trains the same MiniLM
reward model once per method with RavenRewardTrainer: ``gt`` (the truth: the ceiling), ``naive`` with the best and
with the worst single supervisor (best/worst by their accuracy on the *training* pairs' hidden truth: an oracle
choice, shown as a reference), ``ens`` (uniform fixed weights), and ``raven`` with the ``ce`` and the ``kl``
weight objective at the fixed settings of the YAML (not tuned on the test pairs). Reports held-out preference
accuracy on the target's test pairs, PGR against the uniform mixture of the supervisors, and the learned weights
with their rank correlation to the supervisors' (hidden) test accuracies. Writes results.json and results.md to
--output_dir.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
from transformers.utils import logging as hf_logging
from trl import ModelConfig, TrlParser

from raven_align.columns import reward_columns
from raven_align.core.measures import pgr, preference_accuracy, weight_accuracy_correlation
from raven_align.recipes.reward import (
    RewardScriptArguments,
    fit_reward_model,
    label_splits,
    load_reward_data,
    score_accuracy,
    supervisor_accuracy,
)
from raven_align.trainers import RavenRewardConfig


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
        f"naive (best: {best})": {"supervision": "naive", "naive_supervisor": best},
        f"naive (worst: {worst})": {"supervision": "naive", "naive_supervisor": worst},
        "ens": {"supervision": "ens"},
        "raven (ce)": {"supervision": "raven", "weight_objective": "ce"},
        "raven (kl)": {"supervision": "raven", "weight_objective": "kl"},
    }


def main(argv: list[str] | None = None) -> dict:
    parser = TrlParser((RewardScriptArguments, RavenRewardConfig, ModelConfig))
    script, base, model_args = parser.parse_args_and_config(args=argv)
    if script.torch_threads:
        import torch

        torch.set_num_threads(script.torch_threads)
    logging.basicConfig(format="%(message)s", level=logging.WARNING)
    hf_logging.set_verbosity_error()
    if not script.supervisors:
        raise SystemExit("compare_methods needs supervisors (see minilm_movies_weak.yaml)")

    train, tests = load_reward_data(script, weak=True)
    target = str(script.dataset_name)
    tests = {target: tests[target]}
    labelled_train, labelled_tests, provenance = label_splits(
        train, tests, script.supervisors, script, base.max_length
    )
    names = [e["name"] for e in provenance]
    sup_test = supervisor_accuracy(labelled_tests, names)
    truth = np.asarray(labelled_train["gt_label"]).astype(bool)
    sup_train = {
        n: preference_accuracy(np.asarray(labelled_train[c]) - np.asarray(labelled_train[r]), truth)
        for n, (c, r) in zip(names, map(reward_columns, names), strict=True)
    }
    weak = mixture_accuracy(labelled_tests[target], names)

    runs = {}
    for method, overrides in methods_for(sup_train).items():
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as scratch:  # nothing is saved: the models are scored in memory
            args = dataclasses.replace(base, output_dir=scratch, save_strategy="no", **overrides)
            trainer = fit_reward_model(labelled_train, args, model_args)
        seconds = time.perf_counter() - start
        acc = score_accuracy(
            trainer.model, trainer.processing_class, tests, base.max_length, script.label_batch_size
        )[target]
        weights = trainer.raven_weights.as_dict()
        runs[method] = {
            "accuracy": acc,
            "train_seconds": round(seconds, 1),
            "steps": trainer.state.global_step,
            "weights": weights,
        }
        print(
            f"{method}: accuracy {acc:.3f} ({seconds:.0f} s), weights "
            + ", ".join(f"{k} {v:.3f}" for k, v in weights.items()),
            flush=True,
        )

    ceiling = runs["gt"]["accuracy"]
    test_acc = [sup_test[n][target] for n in names]
    for method, r in runs.items():
        r["pgr"] = pgr(r["accuracy"], weak, ceiling)
        if method.startswith("raven"):
            r["weight_accuracy_rank_correlation"] = weight_accuracy_correlation(
                [r["weights"][n] for n in names], test_acc
            )
    results = {
        "target": target,
        "n_train": len(labelled_train),
        "n_test": len(tests[target]),
        "supervisors": script.supervisors,
        "supervisor_test_accuracy": {n: sup_test[n][target] for n in names},
        "supervisor_train_accuracy": sup_train,
        "uniform_mixture_test_accuracy": weak,
        "raven_setting": {
            k: getattr(base, k)
            for k in (
                "supervisor_lr",
                "weight_update_rule",
                "weight_init",
                "easy_phase_fraction",
                "easy_phase_mode",
                "margin_normalization",
                "uniform_pull",
                "supervisor_calibration",
            )
        },
        "training": {
            k: getattr(base, k)
            for k in (
                "max_length",
                "per_device_train_batch_size",
                "learning_rate",
                "num_train_epochs",
                "seed",
            )
        },
        "runs": runs,
    }
    out = Path(base.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "results.md").write_text(markdown(results))
    print(markdown(results))
    return results


def markdown(results: dict) -> str:
    names = list(results["supervisor_test_accuracy"])
    lines = [
        f"# Strong MiniLM reward model on `{results['target']}` from weak supervisors",
        "",
        f"{results['n_train']} training pairs labelled by the supervisors, {results['n_test']} held-out test "
        f"pairs; RAVEN setting (fixed, untuned): {results['raven_setting']}; training: {results['training']}.",
        "",
        "| method | test accuracy | PGR | " + " | ".join(f"w({n})" for n in names) + " | ρ(w, acc) |",
        "|---|---|---|" + "---|" * (len(names) + 1),
    ]
    for method, r in results["runs"].items():
        w = " | ".join("–" if method == "gt" else f"{r['weights'].get(n, 0.0):.3f}" for n in names)
        rho = r.get("weight_accuracy_rank_correlation")
        lines.append(
            f"| {method} | {r['accuracy']:.3f} | {r['pgr']:.2f} | {w} | "
            f"{'' if rho is None else f'{rho:.2f}'} |"
        )
    lines += [
        "",
        "Weak references on the test pairs: uniform mixture "
        f"{results['uniform_mixture_test_accuracy']:.3f}; single supervisors "
        + ", ".join(f"{n} {a:.3f}" for n, a in results["supervisor_test_accuracy"].items())
        + ".",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
