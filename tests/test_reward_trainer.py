"""RavenRewardTrainer: plain Bradley–Terry with the truth, and a strong reward model from weak supervisors."""

import copy

import pytest
import torch
from datasets import Dataset
from tiny_models import tiny_reward_model
from trl import RewardConfig, RewardTrainer

from raven_align.trainers import RavenRewardConfig, RavenRewardTrainer

ROWS = [
    ("Review the tea.", "The tea tastes great and arrived quickly.", "Awful taste, stale and overpriced."),
    ("Review the medication.", "This medication helped my migraines a lot.", "Terrible side effects."),
    (
        "Write a short review of the movie Alien.",
        "A tense, beautifully made thriller.",
        "Dull, slow, too long.",
    ),
    ("Write a short review of the movie Alien.", "Excellent and tense.", "Boring and poor."),
]


def _data(n=8, supervisors=None):
    cols = {k: [ROWS[i % 4][j] for i in range(n)] for j, k in enumerate(("prompt", "chosen", "rejected"))}
    for name, (ch, rj) in (supervisors or {}).items():
        cols[f"reward_chosen__{name}"] = ch[:n]
        cols[f"reward_rejected__{name}"] = rj[:n]
    return Dataset.from_dict(cols)


def _rm(tok):
    return tiny_reward_model(tok, seed=0)


def _kw(tmp_path, **kw):
    base = dict(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        max_steps=3,
        learning_rate=5e-3,
        bf16=False,
        use_cpu=True,
        gradient_checkpointing=False,
        report_to="none",
        save_strategy="no",
        seed=0,
        max_length=64,
        logging_steps=1,
    )
    return {**base, **kw}


def test_always_correct_single_supervisor_matches_plain_reward_training(sup_tokenizer_plain, tmp_path):
    model = _rm(sup_tokenizer_plain)
    plain = RewardTrainer(
        copy.deepcopy(model),
        args=RewardConfig(**_kw(tmp_path / "plain")),
        train_dataset=_data(),
        processing_class=sup_tokenizer_plain,
    )
    oracle = {"oracle": ([1e4] * 8, [-1e4] * 8)}  # always prefers the true chosen, with certainty
    raven = RavenRewardTrainer(
        copy.deepcopy(model),
        args=RavenRewardConfig(**_kw(tmp_path / "raven", supervisor_lr=0.1)),
        train_dataset=_data(supervisors=oracle),
        processing_class=sup_tokenizer_plain,
    )
    plain.train()
    raven.train()
    for (name, a), (_, b) in zip(plain.model.named_parameters(), raven.model.named_parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), name
    assert raven.raven_weights.as_dict() == {"oracle": 1.0}


def test_gt_without_supervisors_is_trl_reward_training(sup_tokenizer_plain, tmp_path):
    model = _rm(sup_tokenizer_plain)
    plain = RewardTrainer(
        copy.deepcopy(model),
        args=RewardConfig(**_kw(tmp_path / "p")),
        train_dataset=_data(),
        processing_class=sup_tokenizer_plain,
    )
    gt = RavenRewardTrainer(
        copy.deepcopy(model),
        args=RavenRewardConfig(**_kw(tmp_path / "g", supervision="gt")),
        train_dataset=_data(),
        processing_class=sup_tokenizer_plain,
    )
    plain.train()
    gt.train()
    assert all(
        torch.equal(a, b) for a, b in zip(plain.model.parameters(), gt.model.parameters(), strict=True)
    )


def test_weights_move_toward_the_supervisor_the_model_agrees_with(sup_tokenizer_plain, tmp_path):
    # "right" agrees with the truth, "wrong" reverses it; a model first fitted to the truth pulls weight to "right"
    model = _rm(sup_tokenizer_plain)
    warm = RewardTrainer(
        model,
        args=RewardConfig(**_kw(tmp_path / "w", max_steps=15)),
        train_dataset=_data(),
        processing_class=sup_tokenizer_plain,
    )
    warm.train()
    sups = {"right": ([1.0] * 8, [-1.0] * 8), "wrong": ([-1.0] * 8, [1.0] * 8)}
    raven = RavenRewardTrainer(
        warm.model,
        args=RavenRewardConfig(
            **_kw(
                tmp_path / "r",
                supervisor_lr=0.5,
                easy_phase_fraction=0.0,
                weight_update_rule="exponentiated",
                learning_rate=1e-6,
            )
        ),
        train_dataset=_data(supervisors=sups),
        processing_class=sup_tokenizer_plain,
    )
    raven.train()
    w = raven.raven_weights.as_dict()
    assert w["right"] > 0.6 > 0.4 > w["wrong"]


def test_missing_columns_fail_early(sup_tokenizer_plain, tmp_path):
    with pytest.raises(ValueError, match="no supervisor judgement columns"):
        RavenRewardTrainer(
            _rm(sup_tokenizer_plain),
            args=RavenRewardConfig(**_kw(tmp_path)),
            train_dataset=_data(),
            processing_class=sup_tokenizer_plain,
        )


def test_model_card_cites_raven_and_the_reward_loss(sup_tokenizer_plain, tmp_path):
    sups = {"a": ([1.0] * 8, [0.0] * 8), "b": ([0.0] * 8, [1.0] * 8)}
    trainer = RavenRewardTrainer(
        _rm(sup_tokenizer_plain),
        args=RavenRewardConfig(**_kw(tmp_path, max_steps=1)),
        train_dataset=_data(supervisors=sups),
        processing_class=sup_tokenizer_plain,
    )
    trainer.train()
    trainer.create_model_card(dataset_name="embedded:rotten_tomatoes")
    card = (tmp_path / "README.md").read_text()
    assert "a method introduced in [Weak-to-Strong Generalization under Distribution Shifts]" in card
    assert "Bradley–Terry reward modelling" in card and "DPO: Rafailov" not in card
    assert "@inproceedings{jeon2025raven" in card and "huggingface.co/datasets/" not in card
