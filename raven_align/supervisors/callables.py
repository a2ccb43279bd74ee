"""Supervisors from Python functions (TRL reward-function signature) and from precomputed dataset columns."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..utils.hashing import hash_callable
from .base import Supervisor, Task, no_progress


class CallableSupervisor(Supervisor):
    """A Python function as a supervisor.

    For ``task="preference"`` the function has TRL's reward-function signature
    ``f(prompts, completions, **kwargs) -> list[float]``; the other dataset columns are passed as keyword
    arguments (like TRL does), restricted to ``columns`` when given. For ``task="classification"`` it is
    ``f(inputs, **kwargs) -> (N, C)`` probabilities. It is called on chunks of ``batch_size`` rows.
    The identity is the function's qualified name and a hash of its source (and of ``version`` if given, for
    functions whose behaviour depends on more than their source).
    """

    kind = "callable"

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        task: Task = "preference",
        columns: Sequence[str] | None = None,
        batch_size: int = 256,
        version: str | None = None,
        show_progress: bool = True,
    ):
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        target = getattr(fn, "func", fn)
        default = re.sub(r"[^A-Za-z0-9_.\-]", "_", getattr(target, "__name__", type(target).__name__))
        super().__init__(name or default.strip("_.-") or "callable", task)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.fn, self.batch_size, self.version, self.show_progress = fn, batch_size, version, show_progress
        self.extra_columns = None if columns is None else tuple(columns)

    def identity(self) -> dict[str, Any]:
        out = hash_callable(self.fn)
        if self.version is not None:
            out["version"] = self.version
        return out

    def settings(self) -> dict[str, Any]:
        return {"columns": None if self.extra_columns is None else list(self.extra_columns)}

    def _chunks(self, n: int, desc: str):
        from tqdm.auto import tqdm

        for start in tqdm(
            range(0, n, self.batch_size),
            desc=desc,
            disable=no_progress(self.show_progress) or n <= self.batch_size,
        ):
            yield slice(start, min(start + self.batch_size, n))

    def score(self, prompts: list, completions: list, **columns: Any) -> np.ndarray:
        out = []
        for s in self._chunks(len(prompts), f"Scoring with {self.name}"):
            values = self.fn(
                list(prompts[s]), list(completions[s]), **{k: list(v[s]) for k, v in columns.items()}
            )
            values = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
            if values.shape != (s.stop - s.start,):
                raise ValueError(
                    f"{self.name}: the function returned {values.shape} values for "
                    f"{s.stop - s.start} completions"
                )
            out.append(values)
        return np.concatenate(out) if out else np.empty(0)

    def predict_proba(self, inputs: list, **columns: Any) -> np.ndarray:
        out = [
            np.asarray(
                self.fn(list(inputs[s]), **{k: list(v[s]) for k, v in columns.items()}), dtype=np.float64
            )
            for s in self._chunks(len(inputs), f"Classifying with {self.name}")
        ]
        return np.concatenate(out, axis=0)


class ColumnSupervisor(Supervisor):
    """Judgements that are already in the dataset (e.g. computed elsewhere, or a ground-truth oracle for tests).

    Preference: ``ColumnSupervisor(name, chosen_column="rm_c", rejected_column="rm_r")`` (float columns).
    Classification: ``ColumnSupervisor(name, column="p")`` (a list of C probabilities per row).
    The identity is the column names; the labelling cache also hashes the columns' contents.
    """

    kind = "column"

    def __init__(
        self,
        name: str,
        *,
        column: str | None = None,
        chosen_column: str | None = None,
        rejected_column: str | None = None,
    ):
        if column is not None and (chosen_column or rejected_column):
            raise ValueError(
                "Give either column (classification) or chosen_column and rejected_column (preference)"
            )
        if column is None and not (chosen_column and rejected_column):
            raise ValueError(
                "Give column (classification) or both chosen_column and rejected_column (preference)"
            )
        super().__init__(name, "classification" if column is not None else "preference")
        self.column, self.chosen_column, self.rejected_column = column, chosen_column, rejected_column
        self.extra_columns = (column,) if column is not None else (chosen_column, rejected_column)

    def identity(self) -> dict[str, Any]:
        return {"columns": list(self.extra_columns)}

    def score_pairs(
        self, prompts: list, chosen: list, rejected: list, **columns: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.asarray(columns[self.chosen_column], dtype=np.float64),
            np.asarray(columns[self.rejected_column], dtype=np.float64),
        )

    def predict_proba(self, inputs: list, **columns: Any) -> np.ndarray:
        return np.asarray(columns[self.column], dtype=np.float64)
