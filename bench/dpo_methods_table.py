"""The table of the DPO method comparison (bench/dpo_methods.sh) from the runs' results.json files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from raven_align.core.measures import pgr
from raven_align.reporting import markdown_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", help="folder holding one output_dir per method")
    parser.add_argument("--out", default="bench/results/dpo_methods.md")
    args = parser.parse_args()
    runs = {p.parent.name: json.loads(p.read_text()) for p in sorted(Path(args.root).glob("*/results.json"))}
    ceiling = runs.get("gt", {}).get("splits", {}).get("target", {}).get("strong_after", {})
    ceiling = ceiling.get("implicit_reward_accuracy")
    rows = []
    for name, r in runs.items():
        t, i = r["splits"]["target"], r["splits"].get("in_distribution", {})
        strong = t["strong_after"]["implicit_reward_accuracy"]
        rows.append(
            {
                "method": name,
                "target acc (after)": strong,
                "target acc (before)": t["strong_before"]["policy_logprob_accuracy"],
                "ID acc (after)": i.get("strong_after", {}).get("implicit_reward_accuracy", float("nan")),
                # PGR is only defined when the ceiling (gt) beats the weak uniform mixture
                "PGR vs uniform mixture": pgr(strong, t["uniform_mixture_accuracy"], ceiling)
                if ceiling and ceiling > t["uniform_mixture_accuracy"]
                else float("nan"),
                "weights": ", ".join(f"{n} {w:.2f}" for n, w in r["weights"].items()),
                "weight–acc ρ": t["weight_accuracy_spearman"],
                "wall s": r["timing"]["wall_seconds"],
                "s/step": r["timing"]["seconds_per_step"],
            }
        )
    first = next(iter(runs.values()))["splits"]["target"]
    sup = ", ".join(f"{n} {a:.3f}" for n, a in first["supervisor_accuracy"].items())
    md = (
        "# RavenDPOTrainer on the embedded default, by supervision method\n\n"
        f"SmolLM2-135M-Instruct + LoRA, {first['num_pairs']} held-out Rotten Tomatoes pairs. Supervisor accuracy on "
        f"the target: {sup}; uniform mixture {first['uniform_mixture_accuracy']:.3f}. Reproduce: "
        "`bash bench/dpo_methods.sh`.\n\n"
        + markdown_table(rows)
        + "\n`wall s` of the first run includes first-use labelling; later runs read the labels from the cache.\n"
    )
    Path(args.out).write_text(md)
    print(md)


if __name__ == "__main__":
    main()
