"""The supervisor interface: a frozen weak judge that gives rewards (preference) or class probabilities."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np

Task = Literal["preference", "classification"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class Supervisor(ABC):
    """A weak supervisor.

    Preference supervisors implement ``score(prompts, completions, **columns)`` (one reward per completion);
    classification supervisors implement ``predict_proba(inputs, **columns)`` (an ``(N, C)`` array of class
    probabilities). ``identity()`` says *what* the judge is (model id + revision, or content hashes) and
    ``settings()`` *how* it scores (max length, batch size, template use); both key the labelling cache and are
    written to the provenance of a labelled dataset. ``name`` becomes the column suffix
    (``reward_chosen__<name>``, ``probs__<name>``) and the label of its weight in the trainers.
    """

    task: Task
    #: Dataset columns (besides the scored ones) that this supervisor reads; ``None`` means all of them.
    extra_columns: Sequence[str] | None = ()
    kind: ClassVar[str] = "supervisor"

    def __init__(self, name: str, task: Task):
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(
                f"Supervisor name must match {_NAME.pattern} (it becomes a column suffix), got {name!r}"
            )
        if task not in ("preference", "classification"):
            raise ValueError(f"task must be 'preference' or 'classification', got {task!r}")
        self.name = name
        self.task = task

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """JSON-serialisable description of the judge itself (what changes its outputs for the same settings)."""

    def settings(self) -> dict[str, Any]:
        """JSON-serialisable scoring settings (what else changes its outputs)."""
        return {}

    def score(self, prompts: list, completions: list, **columns: Any) -> np.ndarray:
        """Rewards ``r(x, y)`` for each (prompt, completion), shape ``(N,)``."""
        raise NotImplementedError(f"{type(self).__name__} ({self.task}) does not score completions")

    def score_pairs(
        self, prompts: list, chosen: list, rejected: list, **columns: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rewards of both sides of each pair. By default one ``score`` call over both sides, so that batches can
        be length-sorted across them; ``columns`` are given to both halves."""
        n = len(prompts)
        doubled = {k: list(v) + list(v) for k, v in columns.items()}
        rewards = np.asarray(
            self.score(list(prompts) + list(prompts), list(chosen) + list(rejected), **doubled),
            dtype=np.float64,
        )
        if rewards.shape != (2 * n,):
            raise ValueError(
                f"Supervisor {self.name!r} returned {rewards.shape} rewards for {2 * n} completions"
            )
        return rewards[:n], rewards[n:]

    def predict_proba(self, inputs: list, **columns: Any) -> np.ndarray:
        """Class probabilities, shape ``(N, C)``, rows on the simplex."""
        raise NotImplementedError(f"{type(self).__name__} ({self.task}) does not classify")

    def describe(self) -> dict[str, Any]:
        """Name, kind, task, identity and settings in one dict (what provenance records)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "task": self.task,
            "identity": self.identity(),
            "settings": self.settings(),
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, task={self.task!r})"


def no_progress(show_progress: bool) -> bool:
    """Whether a supervisor's progress bar stays hidden: when not asked for, and on every process but the first
    (each scores its share of the rows; one bar is enough)."""
    from ..utils.processes import rank_and_world

    return not show_progress or rank_and_world()[0] != 0


def best_device() -> str:
    """``cuda`` if available, else ``mps``, else ``cpu``."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def best_dtype(device: str):
    """bf16 on GPUs that support it, fp32 otherwise (CPU bf16 is slow, fp16 reward heads overflow)."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Index batches over examples sorted by length (longest first, so memory problems show up at once)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
