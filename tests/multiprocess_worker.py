"""Trains the three trainers on tiny models and records what every process saw (run by tests/test_multiprocess.py).

    accelerate launch --config_file accelerate_configs/multi_cpu.yaml --multi_gpu \
        tests/multiprocess_worker.py OUT_DIR --batch 2 [--accumulation 1]
    python tests/multiprocess_worker.py OUT_DIR --batch 4          # one process, the same global batch
    python tests/multiprocess_worker.py OUT_DIR --batch 4 --only reward --deepspeed 2 [--save_steps 1]
        [--resume CHECKPOINT]                                     # DeepSpeed ZeRO-2 (RANK etc. set by the caller)

Writes ``OUT_DIR/<trainer>-rank<r>.json``: the weights after every optimizer step and a checksum of the trained
parameters. The DPO run precomputes reference log-probs on an in-memory dataset.
"""

from __future__ import annotations

import argparse
import json
import os

import torch
from datasets import Dataset
from tiny_models import tiny_causal_lm, tiny_reward_model, train_tokenizer

from raven_align.core.synthetic import make_linear_problem
from raven_align.trainers import (
    RavenClassificationConfig,
    RavenClassificationTrainer,
    RavenDPOConfig,
    RavenDPOTrainer,
    RavenRewardConfig,
    RavenRewardTrainer,
)
from raven_align.trainers.probes import LinearProbe
from raven_align.utils.processes import close_process_group

PAIRS = [
    ("Review the movie Alien.", "A tense, beautifully made thriller.", "Dull, slow and far too long."),
    ("Review the tea.", "The tea tastes great.", "Awful taste, stale and overpriced."),
    ("Review the medication.", "It helped my migraines a lot.", "Terrible side effects."),
    ("Review the movie Alien.", "Excellent and tense.", "Boring and poor."),
]
N = 16
RESUME: dict = {"checkpoint": None}
#: settings every config of this run gets (DeepSpeed, checkpoints), set from the command line
EXTRA: dict = {}


def preference_data(seed: int = 0) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    rows = {k: [PAIRS[i % 4][j] for i in range(N)] for j, k in enumerate(("prompt", "chosen", "rejected"))}
    for name in ("good", "noisy", "bad"):
        rows[f"reward_chosen__{name}"] = torch.randn(N, generator=g).tolist()
        rows[f"reward_rejected__{name}"] = torch.randn(N, generator=g).tolist()
    return Dataset.from_dict(rows)


def common(out: str, batch: int, accumulation: int, **kw) -> dict:
    base = dict(
        save_strategy="no",
        output_dir=out,
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=accumulation,
        max_steps=3,
        seed=0,
        use_cpu=True,
        report_to="none",
        logging_steps=1,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    return {**base, **kw, **EXTRA}


def run_dpo(out: str, batch: int, accumulation: int):
    tok = train_tokenizer()
    args = RavenDPOConfig(
        **common(out, batch, accumulation, learning_rate=1e-3, beta=0.5, max_length=64),
        precompute_ref_log_probs=True,
        supervisor_lr=5.0,
        weight_update_rule="exponentiated",
        easy_phase_fraction=0.34,  # step 0 in the easy-first order, then learned weights
        gradient_checkpointing=False,
        bf16=False,
    )
    trainer = RavenDPOTrainer(
        tiny_causal_lm(tok, 0),
        ref_model=tiny_causal_lm(tok, 5),
        args=args,
        train_dataset=preference_data(),
        processing_class=tok,
    )
    trainer.train(resume_from_checkpoint=RESUME["checkpoint"])
    return trainer


def run_reward(out: str, batch: int, accumulation: int):
    tok = train_tokenizer()
    args = RavenRewardConfig(
        **common(out, batch, accumulation, learning_rate=5e-3, max_length=64),
        supervisor_lr=5.0,
        weight_update_rule="exponentiated",
        easy_phase_fraction=0.0,
        gradient_checkpointing=False,
        bf16=False,
    )
    trainer = RavenRewardTrainer(
        tiny_reward_model(tok, 0), args=args, train_dataset=preference_data(), processing_class=tok
    )
    trainer.train(resume_from_checkpoint=RESUME["checkpoint"])
    return trainer


def run_classification(out: str, batch: int, accumulation: int):
    problem = make_linear_problem([0.9, 0.7, 0.35], n_train=N * 4, n_test=8, dim=8, seed=0)
    cols = {"features": problem.x_train.tolist(), "label": problem.y_train.tolist()}
    cols.update({f"probs__{n}": problem.probs_train[:, k].tolist() for k, n in enumerate(problem.names)})
    args = RavenClassificationConfig(
        **common(out, batch, accumulation, learning_rate=0.1, optim="sgd", lr_scheduler_type="constant"),
        supervisor_lr=0.5,
        weight_update_rule="exponentiated",
        easy_phase_fraction=0.0,
    )
    torch.manual_seed(0)
    trainer = RavenClassificationTrainer(LinearProbe(8, 2), args, train_dataset=Dataset.from_dict(cols))
    trainer.train(resume_from_checkpoint=RESUME["checkpoint"])
    return trainer


def checksum(model) -> float:
    return float(sum(p.detach().double().abs().sum() for p in model.parameters() if p.requires_grad))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--accumulation", type=int, default=1)
    parser.add_argument("--only", default="dpo,reward,classification")
    parser.add_argument("--deepspeed", type=int, help="a ZeRO stage")
    parser.add_argument("--save_steps", type=int)
    parser.add_argument("--resume", help="a checkpoint folder to resume from")
    a = parser.parse_args()
    torch.set_num_threads(1)
    if a.deepspeed is not None:
        EXTRA["deepspeed"] = {
            "zero_optimization": {"stage": a.deepspeed},
            **{
                k: "auto"
                for k in ("train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "train_batch_size")
            },
        }
    if a.save_steps:
        EXTRA.update(save_strategy="steps", save_steps=a.save_steps)
    RESUME["checkpoint"] = a.resume
    for name in a.only.split(","):
        trainer = {"dpo": run_dpo, "reward": run_reward, "classification": run_classification}[name](
            os.path.join(a.out, name), a.batch, a.accumulation
        )
        rank = trainer.args.process_index
        record = {
            "world_size": trainer.args.world_size,
            "history": trainer.raven_weights.history,
            "checksum": checksum(trainer.accelerator.unwrap_model(trainer.model)),
            "steps": trainer.state.global_step,
        }
        with open(os.path.join(a.out, f"{name}-rank{rank}.json"), "w") as f:
            json.dump(record, f)
    close_process_group()


if __name__ == "__main__":
    main()
