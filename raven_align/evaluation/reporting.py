"""What users look at: the weights plot and markdown results tables."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence


def plot_weight_history(
    history: Sequence[Sequence[float]],
    names: Sequence[str],
    path: str | os.PathLike,
    phase_steps: int = 0,
    title: str = "RAVEN supervisor weights",
) -> str:
    """Save a line plot of the weights over optimizer steps (the easy-sample phase shaded)."""
    import matplotlib

    matplotlib.use("Agg")  # headless: never needs a display
    import matplotlib.pyplot as plt

    if not history or len(history[0]) != len(names):
        raise ValueError("history must be a non-empty list of per-step weight vectors, one entry per name")
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=120)
    steps = range(len(history))
    for k, name in enumerate(names):
        ax.plot(steps, [h[k] for h in history], label=name, linewidth=1.8)
    if phase_steps > 0:
        ax.axvspan(0, phase_steps, color="0.85", label="easy-sample phase")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("weight")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return str(path)


def _fmt(v) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.3f}"
    if (
        isinstance(v, Sequence)
        and not isinstance(v, str)
        and len(v) == 2
        and all(isinstance(x, float) for x in v)
    ):
        return f"{v[0]:.3f} ± {v[1]:.3f}"  # (mean, std)
    return str(v)


def markdown_table(rows: Sequence[Mapping[str, object]], columns: Sequence[str] | None = None) -> str:
    """A GitHub markdown table; floats get 3 decimals, ``(mean, std)`` pairs print as ``m ± s``."""
    if not rows:
        return ""
    columns = list(columns or rows[0].keys())
    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines) + "\n"
