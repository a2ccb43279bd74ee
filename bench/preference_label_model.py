"""Label-free diagnostics of the preference label model on the movie target's training pairs (DPO and reward).

    python bench/preference_label_model.py [--seeds 0 1 2] [--out bench/results]

For the embedded DPO recipe (512 training pairs per seed) and the reward-model comparison (1,000 pairs per seed),
the pairs are labelled by the embedded supervisors (from the labelling cache when it has them) and the two-coin
label model is fitted on the supervisors' margins exactly as `weight_init="label_model"` and
`supervision="label_model"` fit it, with no labels. Per supervisor it reports the estimated accuracy, the
weights the label model gives (`mi`, the start of `raven-lm`), and how often the supervisor agrees with the
majority of the others. The supervisors' accuracy on the training pairs' hidden truth is printed beside the
estimates to validate them; nothing is chosen from it. Writes ``preference_label_model.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch

from raven_align.core.label_model import fit_label_model
from raven_align.core.measures import preference_accuracy, weight_accuracy_correlation
from raven_align.core.weights import label_model_init
from raven_align.evaluation.reporting import markdown_table

ROOT = Path(__file__).resolve().parents[1]


def dpo_train(seed: int):
    """The DPO recipe's training pairs for ``seed`` (embedded default), labelled by its supervisors (cached)."""
    from dpo_methods import current_config  # (bench/) the DPO comparison's frozen config, under today's names

    from raven_align.labeling import label_dataset
    from raven_align.pipeline.data import load_preference_splits
    from raven_align.programs.dpo import build_supervisors, make_parser

    with tempfile.TemporaryDirectory() as tmp:
        config = current_config(Path(tmp) / "config.yaml")
        script, _, _ = make_parser().parse_args_and_config(
            args=["--config", str(config), "--output_dir", "unused"]
        )
    data = load_preference_splits(script.dataset_name, max_train=script.max_train_samples, max_test=script.max_eval_samples,
                                  max_chars=script.max_chars, test_size=script.test_size, seed=seed)["train"]  # fmt: skip
    return label_dataset(data, build_supervisors(script))


def reward_train(seed: int):
    """The reward-model comparison's training pairs for ``seed``, labelled by its supervisors (cached)."""
    from raven_align.programs.reward import label_splits, load_reward_data, make_parser

    config = ROOT / "bench" / "configs" / "reward_minilm_movies_weak.yaml"  # the reward comparison's pairs
    script, base, _ = make_parser().parse_args_and_config(args=["--config", str(config)])
    train, _ = load_reward_data(script, weak=True, seed=seed)
    return label_splits(train, {}, script.supervisors, script, base.max_length)[0]


TASKS = {
    "DPO (embedded default, 512 pairs)": dpo_train,
    "reward model (minilm_movies_weak, 1,000 pairs)": reward_train,
}


def diagnose(dataset) -> dict:
    from raven_align.columns import find_preference_supervisors, margins_from_dataset

    names = find_preference_supervisors(dataset.column_names)
    margins = margins_from_dataset(dataset, names).float()
    truth = torch.tensor(dataset["gt_label"]).bool()
    model = fit_label_model(margins, "margins")
    votes = torch.sign(margins)
    others = (votes.sum(dim=1, keepdim=True) - votes) / (len(names) - 1)
    return {
        "names": names,
        "estimated_accuracy": model.accuracy.tolist(),
        "label_model_weights": label_model_init(model, "mi").tolist(),
        "agreement_with_others": [
            float((votes[:, k] * others[:, k] > 0).float().mean()) for k in range(len(names))
        ],
        "train_accuracy (hidden truth)": [
            preference_accuracy(margins[:, k], truth) for k in range(len(names))
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args()
    results = {task: [diagnose(load(s)) | {"seed": s} for s in args.seeds] for task, load in TASKS.items()}
    md = ["# The preference label model on the movie target's training pairs (label-free)\n\n",
          f"Seeds {args.seeds}; mean over seeds. `est. acc.` and `weight` use no labels; `train acc.` (the "
          "training pairs' hidden truth) only validates them. ρ: rank correlation of the label model's weights "
          "with the supervisors' training accuracies.\n"]  # fmt: skip
    for task, runs in results.items():
        names = runs[0]["names"]

        def mean(key, k, runs=runs):
            return statistics.fmean(r[key][k] for r in runs)

        rows = [{"supervisor": n, "est. acc.": mean("estimated_accuracy", k),
                 "weight (mi)": mean("label_model_weights", k), "agrees with the others": mean("agreement_with_others", k),
                 "train acc. (hidden)": mean("train_accuracy (hidden truth)", k)}
                for k, n in enumerate(names)]  # fmt: skip
        rho = statistics.fmean(
            weight_accuracy_correlation(r["label_model_weights"], r["train_accuracy (hidden truth)"])
            for r in runs
        )
        md += [f"\n## {task}\n\n", markdown_table(rows), f"\nρ(weights, train accuracy) = {rho:.2f}\n"]
    out = Path(args.out)
    (out / "preference_label_model.json").write_text(json.dumps(results, indent=1))
    (out / "preference_label_model.md").write_text("".join(md))
    print("".join(md))


if __name__ == "__main__":
    main()
