"""The gold reward model of generation evaluation: an oracle on the target's truth, never a supervisor."""

from __future__ import annotations


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
