"""Supervisors from short spec strings (the ``raven-align label -s`` and recipe ``supervisors:`` syntax).

A spec is ``[NAME=]KIND[:TARGET][?OPTION=VALUE]``; ``NAME`` becomes the column suffix (``reward_chosen__<NAME>``);
the one option, ``chat_template``, is a per-supervisor choice for model-backed pair scorers.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any, Literal

from ..columns import reward_columns
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
  column:NAME                   pairs (dpo, reward, label --task preference): the data's own
                                reward_chosen__NAME / reward_rejected__NAME (judgement columns already in the
                                data are trained on only when named so); otherwise a column of class probabilities
  column:CHOSEN,REJECTED        two precomputed reward columns of any names
reward_model: and implicit: specs take ?chat_template=auto|yes|no ("rm=reward_model:you/rm?chat_template=yes",
quoted in a shell):
  auto (the default, or the program's --chat_template): message lists go through the model's own chat template,
  strings through none, as reward models are trained on them (TRL's RewardTrainer); yes: strings are wrapped in
  a user and an assistant turn of the template; no: strings are never wrapped.
"""
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.\-]*)=(.+)$")
_TEMPLATE = {"auto": None, "yes": True, "no": False}
#: spec kinds that take ``?chat_template=``
_TEMPLATE_KINDS = ("reward_model", "rm", "implicit")


def _spec_options(spec: str, kind: str, target: str) -> tuple[str, dict[str, str]]:
    """``PATH?chat_template=no`` -> (``PATH``, ``{"chat_template": "no"}``); a local path containing ``?`` is kept
    whole. Refuses an option other than ``chat_template=auto|yes|no``, and one on a kind that does not take it."""
    if "?" not in target or Path(target).exists():
        return target, {}
    target, _, query = target.partition("?")
    options: dict[str, str] = {}
    for item in query.split("&"):
        key, eq, value = item.partition("=")
        if key != "chat_template" or not eq:
            raise ValueError(
                f"Unknown option {item!r} in supervisor spec {spec!r}: the one option is "
                "?chat_template=auto|yes|no (reward_model: and implicit: specs)"
            )
        if value not in _TEMPLATE:
            raise ValueError(
                f"chat_template must be auto, yes or no, got {value!r} in supervisor spec {spec!r} (auto: "
                "message lists through the model's chat template, strings through none; yes: strings too)"
            )
        options[key] = value
    if kind not in _TEMPLATE_KINDS:
        raise ValueError(
            f"?chat_template applies to reward_model:, rm: and implicit: specs, not {kind!r} ({spec!r}): "
            "drop the option"
        )
    return target, options


def _model_and_revision(target: str) -> tuple[str, str | None]:
    """``org/model@rev`` -> (``org/model``, ``rev``); a local path containing ``@`` is kept whole."""
    if "@" in target and not Path(target).exists():
        model, revision = target.rsplit("@", 1)
        if model and revision:
            return model, revision
        raise ValueError(f"Bad model@revision {target!r}")
    return target, None


def _column_supervisor(name: str | None, target: str, task: Task | None) -> Supervisor | None:
    """``column:CHOSEN,REJECTED`` (two reward columns of any names); ``column:NAME``: for pairs, the data's own
    ``reward_chosen__NAME``/``reward_rejected__NAME``, else a column of class probabilities. None: unparsable."""
    from ..supervisors import ColumnSupervisor

    cols = target.split(",")
    if len(cols) == 2 and all(cols):
        return ColumnSupervisor(name or cols[0], chosen_column=cols[0], rejected_column=cols[1])
    if len(cols) != 1:
        return None
    if task == "preference":
        chosen, rejected = reward_columns(cols[0])
        return ColumnSupervisor(name or cols[0], chosen_column=chosen, rejected_column=rejected)
    return ColumnSupervisor(name or cols[0], column=cols[0])


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
    ``chat_template`` is the chat-template choice of ``reward_model:``/``implicit:`` specs without their own
    ``?chat_template=`` (``auto``: message lists through the model's template, strings through none, as reward
    models are trained; ``yes``: strings too; ``no``: strings never); ``beta`` scales implicit rewards; ``task`` is
    the task of ``callable:`` supervisors (default preference) and the meaning of a one-name ``column:NAME``: the
    data's ``reward_chosen__NAME``/``reward_rejected__NAME`` for ``preference``, otherwise a column of class
    probabilities. Raises ``ValueError`` for a spec it cannot parse.
    """
    from ..supervisors import (
        CallableSupervisor,
        ClassifierSupervisor,
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
    target, options = _spec_options(spec, kind, target)
    template = _TEMPLATE[options.get("chat_template", chat_template)]
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
    if kind == "column" and target and (column := _column_supervisor(name, target, task)) is not None:
        return column
    raise ValueError(f"Cannot parse supervisor spec {spec!r}.\n{SPEC_HELP}")
