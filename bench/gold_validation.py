"""How the embedded gold model is trained, chosen on validation data: the Rotten Tomatoes reserve's own test split.

    python bench/gold_validation.py

The gold model trains on the training pairs of the reserve (whole movies never in any run's splits) and is judged
here on the reserve's *test* pairs (other reserve movies), never on a run's target test split. Each variant is
trained once on the CPU (cached by its settings in ``bench/results/gold_validation.json``) and scored on the
reserve test pairs of every length and on those whose reviews have at most 140 characters (the DPO program's
filter). Writes
``bench/results/gold_validation.md``.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
VARIANTS = {
    "140-char reviews, 1 epoch": {"max_chars": 140, "num_train_epochs": 1.0},
    "all lengths, 1 epoch": {"num_train_epochs": 1.0},
    "all lengths, 2 epochs": {"num_train_epochs": 2.0},
    "all lengths, 3 epochs": {"num_train_epochs": 3.0},
}


def _score(spec, folder: str) -> dict[str, float]:
    from raven_align.core.measures import preference_accuracy
    from raven_align.supervisors import RewardModelSupervisor

    judge = RewardModelSupervisor(
        folder,
        name="gold",
        max_length=spec.max_length,
        use_chat_template=False,
        device="cpu",
        show_progress=False,
    )
    out = {}
    # the test split of the unfiltered reserve (a filtered one would be split differently, onto training movies)
    every = replace(spec, max_chars=None).load_pairs("test")  # truth orientation: chosen is better
    short = every.filter(lambda r: len(r["chosen"]) <= 140 and len(r["rejected"]) <= 140)
    for label, test in (("all", every), ("<=140", short)):
        chosen, rejected = judge.score_pairs(test["prompt"], test["chosen"], test["rejected"])
        out[label] = {"accuracy": preference_accuracy(chosen - rejected), "pairs": len(test)}
    return out


def main() -> None:
    import torch

    from raven_align.pipeline.embedded_supervisors import EMBEDDED_GOLD_MODELS, _train

    torch.set_num_threads(2)
    base = EMBEDDED_GOLD_MODELS["gold_rm"]
    path = RESULTS / "gold_validation.json"
    runs = json.loads(path.read_text()) if path.is_file() else {}
    for name, change in VARIANTS.items():
        spec = replace(base, **change)
        key = json.dumps(asdict(spec), sort_keys=True)
        if key not in runs:
            # every variant trains on movies of the unfiltered reserve's training split (never its test movies)
            data = replace(spec, max_chars=None).load_pairs("train")
            if spec.max_chars is not None:
                data = data.filter(
                    lambda r, n=spec.max_chars: len(r["chosen"]) <= n and len(r["rejected"]) <= n
                )
            with tempfile.TemporaryDirectory() as tmp:
                info = _train(spec, data, Path(tmp))
                runs[key] = {"name": name, "n_train": len(data), "steps": info["steps"], **_score(spec, tmp)}
            path.write_text(json.dumps(runs, indent=1))  # each variant kept as soon as it is measured
    chosen = json.dumps(asdict(base), sort_keys=True)
    lines = [
        "# The gold model's training, chosen on the reserve's test pairs",
        "",
        "`python bench/gold_validation.py`: MiniLM reward models trained on the Rotten Tomatoes reserve's training "
        "pairs and scored on its test pairs (movies no run ever sees). Preference accuracy (chosen = fresh review).",
        "",
        "| variant | training pairs | steps | accuracy, all reserve test pairs | accuracy, ≤140 characters | in use |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for key, r in runs.items():
        lines.append(
            f"| {r['name']} | {r['n_train']} | {r['steps']} | {r['all']['accuracy']:.3f} ({r['all']['pairs']}) | "
            f"{r['<=140']['accuracy']:.3f} ({r['<=140']['pairs']}) | {'yes' if key == chosen else ''} |"
        )
    text = "\n".join(lines) + "\n"
    (RESULTS / "gold_validation.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
