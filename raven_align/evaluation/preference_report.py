"""Results of a preference-alignment run on held-out pairs with a known truth: JSON and a markdown table."""

from __future__ import annotations

import math

import torch

from ..columns import margins_from_dataset
from ..core.measures import (
    MIN_PGR_GAP,
    agreement,
    pgr,
    preference_accuracy,
    preference_hits,
    weight_accuracy_correlation,
    with_interval,
)
from .reporting import markdown_table


def split_results(
    dataset,
    truth: list[bool],
    names: list[str],
    weights: dict[str, float],
    scales: torch.Tensor,
    strong_before: dict[str, float],
    strong_after: dict[str, float],
    strong_h: list[float],
) -> dict:
    """Accuracy of each supervisor, of the learned and the uniform mixture, and of the strong model."""
    margins = margins_from_dataset(dataset, names).float() / scales
    w = torch.tensor([weights[n] for n in names])
    mixed = margins @ w
    uniform = margins.mean(dim=1)
    sup_acc = {n: preference_accuracy(margins[:, k], truth) for k, n in enumerate(names)}
    return {
        "num_pairs": len(dataset),
        "supervisor_accuracy": sup_acc,
        "mixture_accuracy": preference_accuracy(mixed, truth),
        "uniform_mixture_accuracy": preference_accuracy(uniform, truth),
        "strong_before": strong_before,
        "strong_after": strong_after,
        "weight_accuracy_spearman": weight_accuracy_correlation(
            [weights[n] for n in names], [sup_acc[n] for n in names]
        ),
        "strong_mixture_agreement": agreement(torch.tensor(strong_h), mixed),
        # bootstrap 95% interval over the pairs, and the pairs' hits (1 right, 0.5 tie, 0 wrong) for pooled intervals
        "implicit_reward_accuracy_interval": with_interval(preference_hits(strong_h, truth)),
        "per_pair_hits": preference_hits(strong_h, truth).tolist(),
        # misfit: how often the trained model's preference disagrees with each supervisor and with the mixture
        "misfit": {
            **{n: 1 - agreement(torch.tensor(strong_h), margins[:, k]) for k, n in enumerate(names)},
            "mixture": 1 - agreement(torch.tensor(strong_h), mixed),
        },
        "gain_over_mixture": strong_after["implicit_reward_accuracy"] - preference_accuracy(mixed, truth),
    }


def final_metrics(results: dict) -> dict[str, float | None]:
    """The numbers of a run's ``results`` that its trackers and model card show: per held-out split
    (``final/<split>/...``) the strong model's preference accuracy before training (log-prob margin) and after
    (implicit reward and log-prob margin), the learned and uniform mixtures', the strong–mixture agreement and PGR;
    the generation evaluation's mean gold rewards, win rate and KL (``final/generations/...``). None where a
    number was not measured."""
    out: dict[str, float | None] = {}
    for split, r in results["splits"].items():
        p = f"final/{split}/"
        out |= {
            p + "logprob_accuracy_before": r["strong_before"]["policy_logprob_accuracy"],
            p + "implicit_reward_accuracy_after": r["strong_after"]["implicit_reward_accuracy"],
            p + "logprob_accuracy_after": r["strong_after"]["policy_logprob_accuracy"],
            p + "mixture_accuracy": r["mixture_accuracy"],
            p + "uniform_mixture_accuracy": r["uniform_mixture_accuracy"],
            p + "strong_mixture_agreement": r["strong_mixture_agreement"],
            p + "pgr": r.get("pgr"),
        }
    g = results.get("generations")
    if g:
        out |= {
            "final/generations/gold_reward_reference": g["gold_reward_reference"]["mean"],
            "final/generations/gold_reward_policy": g["gold_reward_policy"]["mean"],
            "final/generations/win_rate": g["win_rate_vs_reference"]["mean"],
            "final/generations/kl": g["kl"]["mean"] if g.get("kl") else None,
        }
    return out


def add_pgr(results: dict, ceiling: float | None) -> None:
    """PGR of the strong model against the uniform mixture (the weak baseline), given a `gt` run's accuracy; NaN
    where the gap ``ceiling − uniform mixture`` (kept as ``pgr_gap``) is below noise (``MIN_PGR_GAP``)."""
    strong = results["strong_after"]["implicit_reward_accuracy"]
    results["pgr"] = (
        math.nan if ceiling is None else pgr(strong, results["uniform_mixture_accuracy"], ceiling)
    )
    if ceiling is not None:
        results["pgr_gap"] = ceiling - results["uniform_mixture_accuracy"]


def results_markdown(results: dict, title: str) -> str:
    """One table per evaluation split: supervisors, mixtures and the strong model before/after."""
    lines = [
        f"# {title}\n\n",
        f"supervision `{results['supervision']}`, final weights "
        + ", ".join(f"{n} {w:.3f}" for n, w in results["weights"].items())
        + "\n",
    ]
    for split, r in results["splits"].items():
        rows = [
            {"model": f"supervisor `{n}`", "preference accuracy": a, "weight": results["weights"][n]}
            for n, a in r["supervisor_accuracy"].items()
        ]
        rows += [
            {
                "model": "mixture (learned weights)",
                "preference accuracy": r["mixture_accuracy"],
                "weight": "",
            },
            {
                "model": "mixture (uniform, `ens` target)",
                "preference accuracy": r["uniform_mixture_accuracy"],
                "weight": "",
            },
            {
                "model": "strong, before (log-prob margin)",
                "preference accuracy": r["strong_before"]["policy_logprob_accuracy"],
                "weight": "",
            },
            {
                "model": "strong, after (implicit reward)",
                "preference accuracy": _interval(r["implicit_reward_accuracy_interval"])
                if "implicit_reward_accuracy_interval" in r
                else r["strong_after"]["implicit_reward_accuracy"],
                "weight": "",
            },
            {
                "model": "strong, after (log-prob margin)",
                "preference accuracy": r["strong_after"]["policy_logprob_accuracy"],
                "weight": "",
            },
        ]
        lines += [
            f"\n## {split} ({r['num_pairs']} held-out pairs)\n\n",
            markdown_table(rows),
            f"\nweight–accuracy Spearman ρ = {r['weight_accuracy_spearman']:.3f}; strong–mixture agreement "
            f"{r['strong_mixture_agreement']:.3f}; {_pgr_text(r)}\n",
        ]
    if results.get("generations"):
        lines.append(generations_markdown(results["generations"]))
    t = results["timing"]
    lines.append(
        f"\nwall time {t['wall_seconds']:.0f} s (labelling {t['labelling_seconds']:.0f} s, training "
        f"{t['train_seconds']:.0f} s, evaluation {t['eval_seconds']:.0f} s); {t['seconds_per_step']:.2f} s "
        f"per optimizer step over {t['steps']} steps\n"
    )
    return "".join(lines)


def _interval(m: dict) -> str:
    return f"{m['mean']:.3f} [{m['low']:.3f}, {m['high']:.3f}]"


def generations_markdown(g: dict) -> str:
    """The generation evaluation: gold rewards, win rate and KL with 95% intervals, and three examples."""
    rows = [
        {"measure": "gold reward, reference policy", "value [95% CI]": _interval(g["gold_reward_reference"])},
        {"measure": "gold reward, trained policy", "value [95% CI]": _interval(g["gold_reward_policy"])},
        {
            "measure": "win rate, trained vs reference",
            "value [95% CI]": _interval(g["win_rate_vs_reference"]),
        },
    ]
    if g.get("kl"):
        rows.append({"measure": "KL(π‖π_ref), nats per completion", "value [95% CI]": _interval(g["kl"])})
    gold = g.get("gold_model", {}).get("accuracy_on_target_test_pairs")
    if gold:
        rows.append(
            {
                "measure": "gold model accuracy on the target test pairs (oracle)",
                "value [95% CI]": _interval(gold),
            }
        )
    s = g["settings"]
    lines = [
        f"\n## Generations ({g['num_prompts']} held-out prompts, {s['max_new_tokens']} new tokens, "
        f"temperature {s['temperature']}, top-p {s['top_p']}, seed {s['seed']})\n\n",
        markdown_table(rows),
        "\nThe gold reward model is trained on the target's ground truth and is never a supervisor. A secondary "
        "measure: read the gold reward beside KL, since it grows with how far the policy moves whatever trained it "
        "(the oracle check in raven_align's docs/evaluation.md); the held-out accuracies above are primary.\n",
    ]
    for i, ex in enumerate(g["examples"], 1):
        lines.append(
            f"\n**{i}.** {ex['prompt']}\n\n- before ({ex['gold_before']:+.2f}): {ex['before'].strip()!r}\n"
            f"- after ({ex['gold_after']:+.2f}): {ex['after'].strip()!r}\n"
        )
    return "".join(lines)


def _pgr_text(r: dict) -> str:
    value = r.get("pgr", math.nan)
    if math.isnan(value) and "pgr_gap" in r:
        gap = r["pgr_gap"]
        return (
            f"PGR vs uniform mixture: n/a (gap below noise: gt − uniform mixture {gap:.3f} < {MIN_PGR_GAP})"
        )
    if math.isnan(value):
        return "PGR vs uniform mixture: give a `gt` run's results.json as --ceiling_results (bench/report.py pairs them)"
    return f"PGR vs uniform mixture {value:.3f}"
