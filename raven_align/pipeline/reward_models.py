"""Reward models as the pipeline builds them: load a one-label sequence classifier, tokenize pairs the way the
``RewardModelSupervisor`` scores them, fit it with :class:`RavenRewardTrainer`, and score held-out accuracy.

Shared by the reward program and the embedded weak supervisors (``embedded_supervisors``), which are reward models
trained here once and cached.

Pairs are tokenized here, with the same function the ``RewardModelSupervisor`` scores with, and cut to
``max_length`` tokens: TRL's ``RewardTrainer`` would otherwise *drop* every longer pair (most Amazon reviews at
64 tokens), and training and scoring would see different tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def tokenize_pairs(
    dataset: Any, tokenizer: Any, max_length: int | None, use_chat_template: bool = False
) -> Any:
    """Add TRL's ``chosen_ids``/``rejected_ids`` (the supervisor's tokens, first ``max_length`` kept)."""
    from ..supervisors.reward_model import reward_input_ids

    def fn(example: dict) -> dict:
        out = {}
        for side in ("chosen", "rejected"):
            ids = reward_input_ids(tokenizer, example["prompt"], example[side], use_chat_template)
            out[f"{side}_ids"] = ids[:max_length] if max_length is not None else ids
        return out

    return dataset.map(fn, desc="Tokenizing pairs")


def load_reward_model(model_args: Any, training_args: Any):
    """``(model, tokenizer)``: a one-label sequence classifier (embedded MiniLM if no model is named)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, set_seed

    from ..embedded import minilm_path
    from ..supervisors._hf import ensure_pad_token

    path = model_args.model_name_or_path or str(minilm_path())
    revision = None if Path(path).exists() else model_args.model_revision
    dtype = model_args.dtype if model_args.dtype in (None, "auto") else getattr(torch, model_args.dtype)
    remote = bool(getattr(training_args, "trust_remote_code", False))
    set_seed(training_args.seed)  # the new reward head is drawn here
    kwargs: dict[str, Any] = {"num_labels": 1, "dtype": dtype, "trust_remote_code": remote}
    if model_args.attn_implementation:
        kwargs["attn_implementation"] = model_args.attn_implementation
    from trl import get_quantization_config

    quantization = get_quantization_config(model_args)
    if quantization is not None:
        kwargs["quantization_config"] = quantization
    model = AutoModelForSequenceClassification.from_pretrained(path, revision=revision, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(path, revision=revision, trust_remote_code=remote)
    ensure_pad_token(tokenizer, model)
    return model, tokenizer


def score_accuracy(
    model: Any,
    tokenizer: Any,
    tests: dict[str, Any],
    max_length: int | None,
    batch_size: int,
    device: str | None = None,
) -> dict[str, float]:
    """Held-out preference accuracy of a reward model on each test split (chosen = truly better)."""
    from ..core.measures import preference_accuracy
    from ..supervisors import RewardModelSupervisor

    judge = RewardModelSupervisor(
        model,
        tokenizer,
        name="trained",
        batch_size=batch_size,
        max_length=max_length,
        use_chat_template=False,
        device=device,
        show_progress=False,
    )
    out = {}
    for name, ds in tests.items():
        chosen, rejected = judge.score_pairs(ds["prompt"], ds["chosen"], ds["rejected"])
        out[name] = preference_accuracy(chosen - rejected)
    return out


def fit_reward_model(train: Any, training_args: Any, model_args: Any, held_push: Any = None):
    """Train a reward model on ``train`` (plain pairs or pairs with judgement columns); returns the trainer.
    ``held_push``: the run's push (:func:`~raven_align.pipeline.outputs.hold_push`), whose ``hub_strategy`` the
    saves during training follow."""
    from trl import get_peft_config

    from ..trainers import RavenRewardTrainer
    from .outputs import push_checkpoints

    model, tokenizer = load_reward_model(model_args, training_args)
    train = tokenize_pairs(train, tokenizer, training_args.max_length)
    trainer = RavenRewardTrainer(
        model,
        args=training_args,
        train_dataset=train,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
    )
    push_checkpoints(trainer, held_push)
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    return trainer
