"""Checks of the TrainingArguments fields that every Raven config shares (batch sizes, steps, DPO's β)."""

from __future__ import annotations

import math
from typing import Any

from ..utils.processes import share_group_with_deepspeed


def check_training_options(training_args: Any) -> None:
    """Training settings a Trainer accepts but that train nothing, or nothing meaningful: refused by every Raven
    config's ``__post_init__``, so at parse time in the programs and at construction from Python."""
    for name, fix in (
        ("per_device_train_batch_size", "give a batch size of at least 1"),
        ("per_device_eval_batch_size", "give a batch size of at least 1"),
        ("gradient_accumulation_steps", "give 1 for no accumulation"),
    ):
        value = getattr(training_args, name)
        if not value >= 1:
            raise ValueError(f"{name} must be at least 1, got {value}: {fix}")
    epochs, steps = training_args.num_train_epochs, training_args.max_steps
    if steps <= 0 and not epochs > 0:
        raise ValueError(
            f"num_train_epochs={epochs} with max_steps={steps} trains for no step, and the results would report "
            "the untrained model as trained: give num_train_epochs > 0 or max_steps > 0"
        )
    share_group_with_deepspeed(training_args.deepspeed)
    beta = getattr(training_args, "beta", None)  # the DPO temperature
    if beta is not None and not (math.isfinite(beta) and beta > 0):
        raise ValueError(
            f"beta must be a finite number > 0, got {beta}: with beta 0 every implicit reward is 0 and DPO "
            "learns nothing (TRL's default is 0.1)"
        )
