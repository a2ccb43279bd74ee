"""A weak-to-strong problem with a known answer, and RAVEN's joint objective in plain PyTorch.

The truth is ``y = 1[u·x > 0]`` for Gaussian ``x``. Supervisor k scores ``t_k(x)`` and says
``p_k(y=1|x) = σ(s_k · t_k(x))``, its sharpness ``s_k`` setting its confidence. Two kinds of error:
- ``"noise"`` (a less capable model): ``t_k = u·x + σ_k ε`` with ``ε`` private to the supervisor, so
  the strong model cannot learn the error; accuracy ``1 - atan(σ_k)/π``.
- ``"bias"`` (a systematic error from distribution shift): ``t_k = v_k·x`` with ``v_k`` at angle ``θ_k``
  from ``u`` along a feature of its own, so the error is learnable; accuracy ``1 - θ_k/π``.
- ``"constant"`` (a degenerate supervisor that leans to one class): ``t_k = u·x + b_k``; it says class 1 on a
  share ``Φ(b_k) = 1.5 - a_k`` of the inputs, so accuracy ``a_k = 0.5`` is a constant supervisor (``t_k = 1``).
Noisy supervisors given the same ``groups`` id share a part ``group_correlation`` of their noise variance:
correlated errors, which break the label model's conditional independence.
The strong model is linear on ``x``: it can represent the truth or any biased supervisor. This module is both a test bed and the smallest
complete reference of the training loop the trainers implement (one backward, one weight update per
optimizer step, easy-sample phase, baselines); both drive the same :class:`~.lifecycle.RavenLifecycle`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .arguments import ClassificationWeightingArguments
from .lifecycle import RavenLifecycle
from .losses import masked_mean
from .measures import accuracy
from .methods import ClassificationBatch
from .mixing import apply_temperature, fit_temperatures


@dataclass
class LinearW2SProblem:
    x_train: torch.Tensor
    y_train: torch.Tensor
    probs_train: torch.Tensor  # (N, K, 2)
    x_test: torch.Tensor
    y_test: torch.Tensor
    probs_test: torch.Tensor
    names: list[str]

    def supervisor_accuracies(self, split: str = "test") -> list[float]:
        probs, y = (self.probs_test, self.y_test) if split == "test" else (self.probs_train, self.y_train)
        return [accuracy(probs[:, k], y) for k in range(probs.shape[1])]


def make_linear_problem(
    accuracies: Sequence[float],
    error_kinds: Sequence[str] | None = None,
    sharpness: Sequence[float] | None = None,
    n_train: int = 4000,
    n_test: int = 4000,
    dim: int = 16,
    seed: int = 0,
    groups: Sequence[int | None] | None = None,
    group_correlation: float = 0.9,
) -> LinearW2SProblem:
    """Build the problem; supervisor k has accuracy ``accuracies[k]`` (in expectation), error kind
    ``error_kinds[k]`` (default ``"noise"`` above chance, ``"bias"`` below), sharpness ``sharpness[k]`` and
    noise group ``groups[k]`` (None: private noise)."""
    k = len(accuracies)
    kinds = (
        list(error_kinds) if error_kinds is not None else ["noise" if a > 0.5 else "bias" for a in accuracies]
    )
    groups = list(groups) if groups is not None else [None] * k
    _check_supervisors(accuracies, kinds, groups, group_correlation, dim)
    sharpness = list(sharpness) if sharpness is not None else [4.0] * k
    g = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g))
    u = basis[:, 0]
    # Biased supervisors lean along a feature of their own; noisy ones look straight at u.
    dirs = torch.stack(
        [
            math.cos(math.pi * (1 - a)) * u + math.sin(math.pi * (1 - a)) * basis[:, j + 1]
            if kind == "bias"
            else u
            for j, (a, kind) in enumerate(zip(accuracies, kinds, strict=True))
        ]
    )
    noise = torch.tensor(
        [
            math.tan(math.pi * (1 - a)) if kind == "noise" else 0.0
            for a, kind in zip(accuracies, kinds, strict=True)
        ]
    )
    normal = torch.distributions.Normal(0.0, 1.0)
    offsets = torch.tensor(
        [
            (math.inf if a == 0.5 else float(normal.icdf(torch.tensor(1.5 - a))))
            if kind == "constant"
            else 0.0
            for a, kind in zip(accuracies, kinds, strict=True)
        ]
    )
    ids = sorted({grp for grp in groups if grp is not None})
    shared = torch.tensor([float(grp is not None) * group_correlation for grp in groups]).sqrt()

    def split(n: int):
        x = torch.randn(n, dim, generator=g)
        y = (x @ u > 0).long()
        eps = torch.randn(n, k, generator=g)
        if ids:  # drawn only when asked for, so that the other problems keep their random streams
            common = torch.randn(n, len(ids), generator=g)
            mine = torch.stack(
                [common[:, ids.index(grp)] if grp is not None else torch.zeros(n) for grp in groups], 1
            )
            eps = shared * mine + (1 - shared**2).sqrt() * eps
        scores = x @ dirs.T + noise.view(1, -1) * eps
        scores = torch.where(offsets.isinf(), torch.ones_like(scores), scores + offsets.nan_to_num(0.0, 0.0))
        p1 = torch.sigmoid(torch.tensor(sharpness).view(1, -1) * scores)  # (n, K)
        return x, y, torch.stack([1 - p1, p1], dim=-1)

    x_tr, y_tr, p_tr = split(n_train)
    x_te, y_te, p_te = split(n_test)
    return LinearW2SProblem(x_tr, y_tr, p_tr, x_te, y_te, p_te, [f"sup{j}" for j in range(k)])


def _check_supervisors(
    accuracies: Sequence[float], kinds: list[str], groups: list, group_correlation: float, dim: int
) -> None:
    """Refuse a supervisor that cannot have its accuracy with its kind of error, and inconsistent groups or dim."""
    for a, kind in zip(accuracies, kinds, strict=True):
        if (
            kind not in ("noise", "bias", "constant")
            or not 0.0 < a < 1.0
            or (kind == "noise" and a <= 0.5)
            or (kind == "constant" and a < 0.5)
        ):
            raise ValueError(
                f"invalid supervisor: accuracy {a}, kind {kind!r} ('noise' needs accuracy > 0.5, "
                "'constant' >= 0.5)"
            )
    k = len(accuracies)
    if len(groups) != k or not 0.0 <= group_correlation <= 1.0:
        raise ValueError("groups needs one entry per supervisor and group_correlation must be in [0, 1]")
    if dim < k + 1:
        raise ValueError(f"dim must exceed the number of supervisors ({k}), got {dim}")


def train_linear_strong(
    problem: LinearW2SProblem,
    args: ClassificationWeightingArguments,
    epochs: int = 8,
    batch_size: int = 64,
    lr: float = 0.05,
    seed: int = 0,
) -> dict:
    """Train the linear strong model from the supervisors with ``args.supervision``; returns results. The data
    are shuffled every epoch, except that the `order` mode visits the easy examples first in the first epoch (the
    trainers' sampler)."""
    args.validate_weighting()
    torch.manual_seed(seed)
    probs = problem.probs_train
    if args.supervisor_calibration == "temperature":
        probs = apply_temperature(probs, fit_temperatures(probs))
    model = torch.nn.Linear(problem.x_train.shape[1], 2)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    n = len(problem.x_train)
    steps_per_epoch = math.ceil(n / batch_size)
    total = epochs * steps_per_epoch
    run = RavenLifecycle(args, problem.names, probs, "probs", seed=seed)
    run.start(total)
    weights, easy = run.weights, run.easy
    sampler = run.sampler()  # the `order` mode's data order, as the trainers' train sampler
    g = torch.Generator().manual_seed(seed)
    step, grad_norms = 0, []
    for epoch in range(epochs):
        if sampler is None:
            order = torch.randperm(n, generator=g)
        else:
            sampler.set_epoch(epoch)
            order = torch.tensor(list(sampler))
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            logits = model(problem.x_train[idx])
            target = weights.mix_probs(probs[idx])
            batch = ClassificationBatch(
                logits, target, probs[idx], problem.y_train[idx], step, total, run.method_state
            )
            per_example = args.method.classification(batch, args)
            loss = masked_mean(per_example, run.loss_mask(step, easy[idx]))
            opt.zero_grad()
            loss.backward()  # one backward: θ and w both get their gradient here
            opt.step()
            grad = run.optimizer_step(step)
            if weights.learnable and not run.phase.active(step):
                grad_norms.append(float(grad.norm()))  # a label-free signal for choosing η
            step += 1
    with torch.no_grad():
        test_logits = model(problem.x_test)
        mixture_test = weights.mix_probs(problem.probs_test)
    return {
        "method": args.supervision,
        "strong_accuracy": accuracy(test_logits, problem.y_test),
        "mixture_accuracy": accuracy(mixture_test, problem.y_test),
        "weights": weights.as_dict(),
        "history": weights.history,
        "phase_steps": run.phase.num_steps,
        "easy_fraction": float(easy.float().mean()),
        "weight_grad_norm": sum(grad_norms) / len(grad_norms) if grad_norms else 0.0,
    }
