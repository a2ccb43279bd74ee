"""Recipe-level checks of what users give, run before anything expensive (labelling, model loads, training):
supervisor lists from YAML, checkpoints to resume from, and a Hub classifier's labels against the task."""

from __future__ import annotations

import json
import os
from typing import Any

from ..supervisors._hf import check_model_source

__all__ = [
    "check_checkpoint_supervisors",
    "check_classifier_labels",
    "check_model_source",
    "resolve_checkpoint",
    "spec_list",
]


def spec_list(value: Any, field: str = "supervisors") -> list[str]:
    """A list of supervisor specs; a single string (YAML ``supervisors: vader``) is one spec, not its letters."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{field} must be a list of spec strings, got {value!r}")
    return list(value)


def resolve_checkpoint(resume: str | bool | None, output_dir: str) -> str | None:
    """The checkpoint folder ``--resume_from_checkpoint`` names (``true``: the last one in ``output_dir``),
    checked to be a Trainer checkpoint; None when not resuming."""
    if resume in (None, False, "", "false", "False"):
        return None
    if resume in (True, "true", "True"):
        from transformers.trainer_utils import get_last_checkpoint

        last = get_last_checkpoint(output_dir) if os.path.isdir(output_dir) else None
        if last is None:
            raise FileNotFoundError(
                f"--resume_from_checkpoint true: there is no checkpoint-<step> folder in {output_dir}; give a "
                "checkpoint path, or drop the flag to start a new run"
            )
        return last
    if not os.path.isdir(resume):
        raise FileNotFoundError(
            f"checkpoint {resume} does not exist: give a checkpoint-<step> folder of a run"
        )
    if not os.path.isfile(os.path.join(resume, "trainer_state.json")):
        raise ValueError(
            f"{resume} is not a Trainer checkpoint (no trainer_state.json): give one of its checkpoint-<step> folders"
        )
    return str(resume)


def check_checkpoint_supervisors(checkpoint: str, names: list[str]) -> None:
    """Refuse a checkpoint whose supervisor weights belong to other supervisors, or cannot be read safely."""
    import torch

    state = os.path.join(checkpoint, "raven_weights.pt")
    summary = os.path.join(checkpoint, "raven_weights.json")
    try:
        if os.path.isfile(state):
            saved = list(torch.load(state, weights_only=True)["names"])  # tensors and plain values only
        elif os.path.isfile(summary):
            with open(summary) as f:
                saved = list(json.load(f)["supervisors"])
        else:
            return  # resuming then warns that the weights restart from their initial value
    except Exception as e:  # truncated, not a state, or a pickle payload refused by weights_only
        raise ValueError(
            f"cannot read the supervisor weights of checkpoint {checkpoint} ({type(e).__name__}: {e}); it may be "
            "truncated or not written by raven_align: resume from another checkpoint"
        ) from e
    if saved != list(names):
        raise ValueError(
            f"checkpoint {checkpoint} was trained with supervisors {saved}, this run has {list(names)}: give the "
            "same --supervisors (same names, same order) or start a new run"
        )


def check_classifier_labels(supervisor: Any, num_classes: int, class_names: list[str] | None) -> None:
    """Compare a Hub/folder classifier's labels (``num_labels``, ``id2label``) with the task's classes before any
    labelling: a classifier of other classes gives probabilities of the wrong things."""
    source = getattr(getattr(supervisor, "src", None), "source", None)
    if source is None:
        return
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(source)
    if config.num_labels != num_classes:
        raise ValueError(
            f"classifier {supervisor.name!r} ({source}) has {config.num_labels} labels {config.id2label}, the "
            f"task has {num_classes} classes: give a classifier of these classes (or set num_classes)"
        )
    theirs = [str(config.id2label[i]).lower() for i in range(num_classes)]
    generic = all(t == f"label_{i}" for i, t in enumerate(theirs))
    if class_names and not generic and theirs != [str(c).lower() for c in class_names]:
        raise ValueError(
            f"classifier {supervisor.name!r} ({source}) labels its classes {theirs}, the dataset's classes are "
            f"{list(class_names)} (in this order): map the dataset's labels to the classifier's order first"
        )
