"""The supervisor weights on the simplex: initialisation, update rules, history and checkpoint state.

The weights are a leaf tensor that takes part in the strong model's forward (through the mixture), so
the single backward pass of a training step accumulates their gradient next to the model's. Once per
optimizer step :meth:`SupervisorWeights.step` averages that gradient over processes and applies the
update rule. Nothing here imports transformers.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch
import torch.distributed as dist

from .label_model import LabelModel
from .mixing import bernoulli_entropy, entropy, mix_logits, mix_margins, mix_probs

UPDATE_RULES = ("clamp", "exponentiated")
CLAMP_MIN = 1e-6


def uniform_init(k: int) -> torch.Tensor:
    """``w_k = 1 / K``."""
    return torch.full((k,), 1.0 / k, dtype=torch.float64)


def entropy_init(judgements: torch.Tensor, kind: str) -> torch.Tensor:
    """``w_k ∝ 1 / mean entropy`` of supervisor k's judgements.

    ``kind="probs"``: ``(N, K, C)`` probabilities; ``"logits"``: ``(N, K, C)`` logits;
    ``"margins"``: ``(N, K)`` preference margins, read as Bernoulli logits.
    """
    if kind == "probs":
        h = entropy(judgements.double()).mean(0)
    elif kind == "logits":
        h = entropy(torch.softmax(judgements.double(), -1)).mean(0)
    elif kind == "margins":
        h = bernoulli_entropy(judgements.double()).mean(0)
    else:
        raise ValueError(f"kind must be 'probs', 'logits' or 'margins', got {kind!r}")
    inv = 1.0 / h.clamp_min(1e-8)  # a one-hot supervisor would otherwise get infinite weight
    return inv / inv.sum()


def label_model_init(model: LabelModel, weighting: str = "mi", floor: float = 1e-3) -> torch.Tensor:
    """Weights from a fitted label model (:mod:`.label_model`): ∝ each supervisor's mutual information with the
    truth (``"mi"``) or its log-likelihood ratio clipped at 0 (``"llr"``); both ≈ 0 for a constant supervisor.
    ``floor`` keeps every entry at least that large (then renormalised), so that learned weights can still
    grow back under the exponentiated rule, which cannot move a zero."""
    w = model.weights(weighting).double()
    if floor > 0:
        w = w.clamp_min(floor)
    return w / w.sum()


def explicit_init(values: Sequence[float], k: int) -> torch.Tensor:
    """Validated user-given weights: K finite non-negative entries, normalised to sum 1."""
    w = torch.as_tensor(list(values), dtype=torch.float64)
    if w.ndim != 1 or w.numel() != k:
        raise ValueError(f"expected {k} initial weights (one per supervisor), got {w.numel()}")
    if not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
        raise ValueError(f"initial weights must be finite and non-negative, got {w.tolist()}")
    if float(w.sum()) <= 0:
        raise ValueError("initial weights must not all be zero")
    return w / w.sum()


class SupervisorWeights:
    """K supervisor weights on the simplex, learned jointly with the strong model.

    Args:
        names: one stable name per supervisor (used in logs and model cards).
        init: ``"uniform"``, ``"entropy"`` (needs ``judgements`` and ``judgement_kind``) or explicit values.
        lr: supervisor learning rate η; ``0`` keeps the weights fixed.
        update_rule: ``"clamp"`` (paper: ``w - ηg``, clamp at 1e-6, renormalise) or ``"exponentiated"``
            (mirror descent: ``w ⊙ exp(-ηg)``, renormalise).
        uniform_pull: strength λ of a pull toward uniform, the gradient of ``λ·KL(w || uniform)`` added
            at each update; counters premature collapse onto one supervisor.
    """

    def __init__(
        self,
        names: Sequence[str],
        init: str | Sequence[float] = "uniform",
        lr: float = 0.0,
        update_rule: str = "clamp",
        uniform_pull: float = 0.0,
        judgements: torch.Tensor | None = None,
        judgement_kind: str | None = None,
    ) -> None:
        names = list(names)
        if not names:
            raise ValueError("at least one supervisor is needed")
        if len(set(names)) != len(names):
            raise ValueError(f"supervisor names must be unique, got {names}")
        if update_rule not in UPDATE_RULES:
            raise ValueError(f"update_rule must be one of {UPDATE_RULES}, got {update_rule!r}")
        if lr < 0 or not math.isfinite(lr):
            raise ValueError(f"supervisor learning rate must be finite and >= 0, got {lr}")
        if uniform_pull < 0:
            raise ValueError(f"uniform_pull must be >= 0, got {uniform_pull}")
        self.names = names
        self.lr = float(lr)
        self.update_rule = update_rule
        self.uniform_pull = float(uniform_pull)
        k = len(names)
        if isinstance(init, str):
            if init == "uniform":
                w0 = uniform_init(k)
            elif init == "entropy":
                if judgements is None or judgement_kind is None:
                    raise ValueError("init='entropy' needs the supervisors' judgements and their kind")
                if judgements.shape[1] != k:
                    raise ValueError(f"judgements have {judgements.shape[1]} supervisors, expected {k}")
                w0 = entropy_init(judgements, judgement_kind)
            else:
                raise ValueError(f"init must be 'uniform', 'entropy' or a list of {k} weights, got {init!r}")
        else:
            w0 = explicit_init(init, k)
        self.initial = w0.float()
        self.weights = self.initial.clone().requires_grad_(self.lr > 0)
        self.num_updates = 0  # optimizer steps seen, frozen ones included
        self.num_clamp_collapses = 0
        self.history: list[list[float]] = [self.weights.detach().tolist()]

    @property
    def learnable(self) -> bool:
        return self.lr > 0

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.names, self.weights.detach().tolist(), strict=True))

    # -- mixing ------------------------------------------------------------------------------------
    def mix_probs(self, probs: torch.Tensor) -> torch.Tensor:
        return mix_probs(self.weights.to(probs.device), probs)

    def mix_logits(self, logits: torch.Tensor) -> torch.Tensor:
        return mix_logits(self.weights.to(logits.device), logits)

    def mix_margins(self, margins: torch.Tensor) -> torch.Tensor:
        return mix_margins(self.weights.to(margins.device), margins)

    # -- updates -----------------------------------------------------------------------------------
    def zero_grad(self) -> None:
        self.weights.grad = None

    def _reduced_grad(self, grad_scale: float = 1.0) -> torch.Tensor:
        grad = self.weights.grad
        grad = torch.zeros_like(self.weights) if grad is None else grad.detach().clone() / grad_scale
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            # Every process must hold the same weights: average the gradient like DDP does for θ.
            backend_device = "cuda" if dist.get_backend() == "nccl" else "cpu"
            buf = grad.to(backend_device)
            dist.all_reduce(buf, op=dist.ReduceOp.SUM)
            grad = buf.cpu() / dist.get_world_size()
        return grad.float()

    def step(self, frozen: bool = False, grad_scale: float = 1.0) -> torch.Tensor:
        """Apply one update from the accumulated gradient (call once per optimizer step).

        ``frozen=True`` (the easy-sample phase) skips the update but still counts the step and records
        the history. ``grad_scale`` undoes a mixed-precision loss scale (the optimizer unscales the
        model's gradients, not ours). A non-finite gradient (an fp16 overflow step) is skipped like
        the optimizer skips it. Returns the gradient that was used (after averaging over processes).
        """
        grad = self._reduced_grad(grad_scale) if self.learnable else torch.zeros_like(self.weights.detach())
        if not bool(torch.isfinite(grad).all()):
            frozen = True
            grad = torch.zeros_like(grad)
        if self.learnable and not frozen:
            w = self.weights.detach().double()
            g = grad.double()
            if self.uniform_pull > 0:
                # ∇ λ KL(w || u) = λ (log(K w) + 1); the constant is dropped so the pull is 0 at uniform.
                g = g + self.uniform_pull * torch.log(w.clamp_min(1e-30) * len(w))
            new = self._apply_rule(w, g)
            with torch.no_grad():
                self.weights.copy_(new.float())
        self.zero_grad()
        self.num_updates += 1
        self.history.append(self.weights.detach().tolist())
        return grad

    def _apply_rule(self, w: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        if self.update_rule == "exponentiated":
            logits = torch.log(w.clamp_min(1e-30)) - self.lr * g
            return torch.softmax(logits, dim=0)
        raw = w - self.lr * g
        if bool((raw <= CLAMP_MIN).all()) and len(w) > 1:
            self.num_clamp_collapses += 1
            if self.num_clamp_collapses == 1:
                warnings.warn(
                    "clamp update: every weight was clamped, so the weights were renormalised to uniform "
                    "(RAVEN silently became `ens`). Lower the supervisor learning rate or use "
                    "update_rule='exponentiated'.",
                    RuntimeWarning,
                    stacklevel=3,
                )
        clamped = raw.clamp_min(CLAMP_MIN)
        return clamped / clamped.sum()

    # -- checkpoints -------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "names": list(self.names),
            "weights": self.weights.detach().clone(),
            "initial": self.initial.clone(),
            "lr": self.lr,
            "update_rule": self.update_rule,
            "uniform_pull": self.uniform_pull,
            "num_updates": self.num_updates,
            "num_clamp_collapses": self.num_clamp_collapses,
            "history": [list(h) for h in self.history],
        }

    def load_state_dict(self, state: dict) -> None:
        if list(state["names"]) != self.names:
            raise ValueError(f"checkpoint supervisors {state['names']} do not match {self.names}")
        with torch.no_grad():
            self.weights.copy_(state["weights"].float())
        self.initial = state["initial"].float().clone()
        self.lr = float(state["lr"])
        self.update_rule = state["update_rule"]
        self.uniform_pull = float(state["uniform_pull"])
        self.weights.requires_grad_(self.lr > 0)
        self.num_updates = int(state["num_updates"])
        self.num_clamp_collapses = int(state["num_clamp_collapses"])
        self.history = [list(h) for h in state["history"]]
        self.zero_grad()
