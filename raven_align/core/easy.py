"""Easy examples (all supervisors agree) and the easy-sample phase of RAVEN's initialisation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.utils.data import Sampler

EASY_PHASE_MODES = ("mask", "order", "none")


def easy_mask(judgements: torch.Tensor, kind: str) -> torch.Tensor:
    """Boolean mask of the examples on which every supervisor agrees.

    ``kind="classification"``: ``judgements`` is ``(B, K, C)`` (probabilities or logits) and an example
    is easy when all supervisors have the same argmax class.
    ``kind="preference"``: ``judgements`` is ``(B, K)`` margins and an example is easy when all margins
    have the same non-zero sign (a tie is not agreement).
    """
    if kind == "classification":
        if judgements.ndim != 3:
            raise ValueError(f"classification judgements must be (B, K, C), got {tuple(judgements.shape)}")
        top = judgements.argmax(dim=-1)
        return (top == top[:, :1]).all(dim=1)
    if kind == "preference":
        if judgements.ndim != 2:
            raise ValueError(f"preference margins must be (B, K), got {tuple(judgements.shape)}")
        sign = torch.sign(judgements)
        return (sign != 0).all(dim=1) & (sign == sign[:, :1]).all(dim=1)
    raise ValueError(f"kind must be 'classification' or 'preference', got {kind!r}")


def easy_first_order(easy: torch.Tensor, seed: int = 0) -> list[int]:
    """An epoch order with the easy examples first (each group shuffled): the `order` mode."""
    g = torch.Generator().manual_seed(seed)
    idx_easy = torch.nonzero(easy, as_tuple=False).flatten()
    idx_hard = torch.nonzero(~easy, as_tuple=False).flatten()
    idx_easy = idx_easy[torch.randperm(len(idx_easy), generator=g)]
    idx_hard = idx_hard[torch.randperm(len(idx_hard), generator=g)]
    return torch.cat([idx_easy, idx_hard]).tolist()


class EasyFirstSampler(Sampler[int]):
    """The `order` mode of the easy-sample phase: the first epoch in a given easy-first order, later epochs freshly
    shuffled (deterministically from ``seed``, so every process draws the same order). Only the first epoch is
    ordered because the paper's curriculum is the start of training; repeating it every epoch would make each
    epoch's last batches all hard. Used as the trainers' train sampler and by the reference loop alike."""

    def __init__(self, first_epoch_order: list[int], seed: int = 0) -> None:
        self.order = list(first_epoch_order)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self):
        if self.epoch == 0:
            yield from self.order
        else:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            yield from (self.order[i] for i in torch.randperm(len(self.order), generator=g).tolist())


@dataclass
class EasySamplePhase:
    """The first ``fraction`` of optimizer steps: weights frozen, strong model learns from easy examples.

    ``mode``: ``"mask"`` (loss only on easy examples during the phase, paper vision), ``"order"`` (easy
    examples first in the data order, paper DPO) or ``"none"`` (weights frozen only).
    """

    fraction: float = 0.0
    mode: str = "mask"
    total_steps: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"easy phase fraction must be in [0, 1], got {self.fraction}")
        if self.mode not in EASY_PHASE_MODES:
            raise ValueError(f"easy phase mode must be one of {EASY_PHASE_MODES}, got {self.mode!r}")
        if self.total_steps < 0:
            raise ValueError(f"total_steps must be >= 0, got {self.total_steps}")

    @property
    def num_steps(self) -> int:
        """Number of optimizer steps in the phase (``ceil`` so that any positive fraction is >= 1 step)."""
        return math.ceil(self.fraction * self.total_steps)

    def active(self, step: int) -> bool:
        """Whether optimizer step ``step`` (0-based, counting completed steps) is inside the phase."""
        return step < self.num_steps

    def loss_mask(self, step: int, easy: torch.Tensor) -> torch.Tensor | None:
        """Per-example multiplier for the loss at ``step``: the easy mask in `mask` mode, else ``None``."""
        if self.mode == "mask" and self.active(step):
            return easy.to(torch.float32)
        return None
