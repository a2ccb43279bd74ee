"""The numbers of the DPO comparison's tables, from the run summaries of bench/dpo_methods.py (bench/report.py
renders them): levels and paired differences with `ens` over seeds, PGR against each truth-trained ceiling, and
the oracle check. The seed is the unit of every interval: a 95% t-interval over the seeds' values, and for the
paired comparisons also a two-level bootstrap (seeds, then items within a seed)."""

from __future__ import annotations

import numpy as np

from raven_align.core.measures import (
    pgr_over_seeds,
    rank_correlation,
    seed_interval,
    two_level_bootstrap,
    win_indicators,
)

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


def _by_seed(runs: dict[str, list[dict]], method: str) -> dict[int, dict]:
    """A method's runs keyed by seed (empty where it has none)."""
    return {r["seed"]: r for r in runs.get(method, [])}


def dpo_rows(runs: dict[str, list[dict]]) -> list[dict]:
    """One row per method: means over seeds with 95% t-intervals over seeds; win rate and accuracy paired with the
    `ens` run of the same seed (same pairs, same prompts), also with a two-level bootstrap; PGR against the
    uniform mixture with the `gt` run of the same seed as ceiling, and with the `gt-soft` run (the truth at the
    mixture's confidence) where there is one."""
    ens = _by_seed(runs, "ens")
    ceilings = {c: _by_seed(runs, c) for c in ORACLES if runs.get(c)}
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
    ens = _by_seed(runs, "ens")
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


def _gap_line(runs: dict[str, list[dict]]) -> str:
    """The PGR denominator ceiling − weak per seed, with its mean and t-interval, for each ceiling."""
    ens = _by_seed(runs, "ens")
    lines = []
    for c in ORACLES:
        per_seed = pgr_seeds(runs.get(c, []), ens, _by_seed(runs, c))
        if per_seed:
            gaps = [ceiling - weak for _, weak, ceiling in per_seed]
            lines.append(
                f"PGR's gap {c} − weak on implicit accuracy, per seed: "
                f"{', '.join(f'{x:.3f}' for x in gaps)} (mean {_seeds(gaps)}).\n"
            )
    return "\n" + "\n".join(lines) if lines else ""
