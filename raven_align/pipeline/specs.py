"""Supervisors from short spec strings (the ``raven-align label -s`` and recipe ``supervisors:`` syntax).

A spec is ``[NAME=]KIND[:TARGET]``; ``NAME`` becomes the column suffix (``reward_chosen__<NAME>``).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any, Literal

from ..supervisors.base import Supervisor, Task

SPEC_HELP = """\
Supervisor specs, each optionally prefixed with NAME= (the column suffix):
  vader                         VADER sentiment compound score (needs vaderSentiment)
  length                        number of words of the response
  embedded:NAME                 an embedded default supervisor for the movie target: amazon_food_rm,
                                drugs_com_rm, verbosity_rm, vader, length (reward models are trained on first
                                use and score with the max length they were trained with)
  reward_model:ID_OR_PATH[@REV] a sequence-classification reward model (alias rm:)
  classifier:ID_OR_PATH[@REV]   a text/image classifier (classification data)
  implicit:POLICY[,REF]         a DPO policy's implicit reward (REF optional for a PEFT adapter; see --beta)
  callable:MODULE:FUNCTION      a Python function f(prompts, completions, **kw) -> list[float]
  column:CHOSEN,REJECTED        precomputed reward columns (column:COL for class probabilities)
"""
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.\-]*)=(.+)$")
_TEMPLATE = {"auto": None, "yes": True, "no": False}


def _model_and_revision(target: str) -> tuple[str, str | None]:
    """``org/model@rev`` -> (``org/model``, ``rev``); a local path containing ``@`` is kept whole."""
    if "@" in target and not Path(target).exists():
        model, revision = target.rsplit("@", 1)
        if model and revision:
            return model, revision
        raise ValueError(f"Bad model@revision {target!r}")
    return target, None


def build_supervisor(
    spec: str,
    *,
    batch_size: int = 16,
    device: str | None = None,
    max_length: int | None = 512,
    chat_template: Literal["auto", "yes", "no"] = "auto",
    beta: float = 0.1,
    task: Task | None = None,
) -> Supervisor:
    """A :class:`Supervisor` from a spec string (see ``SPEC_HELP``).

    ``batch_size``, ``device`` and ``max_length`` are the scoring settings of model-backed supervisors;
    ``chat_template`` says whether string pairs go through the tokenizer's chat template (``auto``: when it has
    one); ``beta`` scales implicit rewards; ``task`` is the task of ``callable:`` supervisors (default preference).
    Raises ``ValueError`` for a spec it cannot parse.
    """
    from ..supervisors import (
        CallableSupervisor,
        ClassifierSupervisor,
        ColumnSupervisor,
        ImplicitRewardSupervisor,
        RewardModelSupervisor,
    )

    if chat_template not in _TEMPLATE:
        raise ValueError(f"chat_template must be auto, yes or no, got {chat_template!r}")
    name, body = None, spec.strip()
    match = _NAME.match(body)
    if match and ":" not in match.group(1):
        name, body = match.group(1), match.group(2)
    kind, _, target = body.partition(":")
    template = _TEMPLATE[chat_template]
    common: dict[str, Any] = {"batch_size": batch_size, "device": device}
    if kind in ("vader", "length") and not target:
        from ..embedded import length_reward, vader_reward

        return CallableSupervisor(vader_reward if kind == "vader" else length_reward, name=name or kind)
    if kind == "embedded" and target:
        from .embedded_supervisors import embedded_supervisor

        return embedded_supervisor(target, name=name, **common)
    if kind in ("reward_model", "rm") and target:
        model, revision = _model_and_revision(target)
        return RewardModelSupervisor(
            model, name=name, revision=revision, max_length=max_length, use_chat_template=template, **common
        )
    if kind == "classifier" and target:
        model, revision = _model_and_revision(target)
        return ClassifierSupervisor(model, name=name, revision=revision, max_length=max_length, **common)
    if kind == "implicit" and target:
        policy, _, ref = target.partition(",")
        if policy:
            return ImplicitRewardSupervisor(
                policy,
                ref or None,
                name=name,
                beta=beta,
                max_length=max_length,
                use_chat_template=bool(template),
                **common,
            )
    if kind == "callable" and target.count(":") == 1:
        module, function = target.split(":")
        if module and function:
            fn = getattr(importlib.import_module(module), function)
            return CallableSupervisor(fn, name=name, task=task or "preference", batch_size=batch_size)
    if kind == "column" and target:
        cols = target.split(",")
        if len(cols) == 2 and all(cols):
            return ColumnSupervisor(name or cols[0], chosen_column=cols[0], rejected_column=cols[1])
        if len(cols) == 1:
            return ColumnSupervisor(name or cols[0], column=cols[0])
    raise ValueError(f"Cannot parse supervisor spec {spec!r}.\n{SPEC_HELP}")
