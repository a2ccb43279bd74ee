"""The gold reward model of generation evaluation: an oracle on the target's truth, never a supervisor."""

from __future__ import annotations

import os


def build_gold(spec: str, batch_size: int = 32):
    """The gold reward model as a scorer: ``embedded:gold_rm`` (trained on first use, cached) or a Hub ID / folder of
    a sequence-classification reward model (scored as TRL's RewardTrainer trains: prompt + completion + eos)."""
    from ..pipeline.embedded_supervisors import EMBEDDED_GOLD_MODELS, embedded_reward_model_path
    from ..supervisors import RewardModelSupervisor

    if spec.startswith("embedded:"):
        key = spec.removeprefix("embedded:")
        if key not in EMBEDDED_GOLD_MODELS:
            raise ValueError(
                f"unknown embedded gold model {spec!r}; available: embedded:{sorted(EMBEDDED_GOLD_MODELS)}"
            )
        path, max_length = str(embedded_reward_model_path(key)), EMBEDDED_GOLD_MODELS[key].max_length
    else:
        path, max_length = spec, 512
    return RewardModelSupervisor(
        path,
        name="gold",
        batch_size=batch_size,
        max_length=max_length,
        use_chat_template=False,
        show_progress=False,
    )


def _model_key(supervisor) -> tuple[str, str | None] | None:
    """Where a model-backed supervisor's weights come from: its resolved folder, or its Hub ID and revision."""
    src = getattr(supervisor, "src", None)
    source = getattr(src, "source", None)
    if source is None:
        return None
    if getattr(src, "is_local", False):
        return os.path.realpath(source), None
    return source, getattr(src, "revision", None)


def _weights_digest(supervisor) -> str | None:
    """The weight files' hash of a local model-backed supervisor (None for a Hub model or a heuristic)."""
    from ..utils.hashing import hash_local_model

    src = getattr(supervisor, "src", None)
    return hash_local_model(src.source, weights_only=True) if getattr(src, "is_local", False) else None


def check_gold_apart(gold, supervisors: list) -> None:
    """Refuse a gold model that is also a supervisor of the run, before any labelling: the same folder, the same
    Hub ID at the same or an unpinned revision, or local folders with the same weight files (a copy). The policy
    would be graded by a judge it was trained to please, and the gold reward and win rate would measure that, not
    alignment."""
    gold_key = _model_key(gold)
    if gold_key is None:
        return
    fix = (
        "the evaluation would grade the policy by a judge it was trained to please. Give a gold_model trained on "
        "the target's truth that is not a supervisor (e.g. embedded:gold_rm), or drop it from the supervisors"
    )
    for s in supervisors:
        key = _model_key(s)
        if key is None or key[0] != gold_key[0]:
            continue
        if key[1] is None or gold_key[1] is None or key[1] == gold_key[1]:
            raise ValueError(f"the gold model {gold.src.source} is also the supervisor {s.name!r}: {fix}")
    gold_digest = _weights_digest(gold)
    for s in supervisors:
        if gold_digest is not None and _weights_digest(s) == gold_digest:
            raise ValueError(
                f"the gold model {gold.src.source} has the same weights as the supervisor {s.name!r} "
                f"({s.src.source}, a copy): {fix}"
            )
