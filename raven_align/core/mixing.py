"""Mixing supervisor judgements with simplex weights, and label-free per-supervisor calibration.

Shapes follow one convention everywhere: the supervisor axis is dim 1.
- class probabilities / logits: ``(batch, K, C)``
- preference margins ``d_k = r_k(x, y_a) - r_k(x, y_b)``: ``(batch, K)``
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

_EPS = 1e-12


def _check_weights(weights: torch.Tensor, k: int) -> None:
    if weights.ndim != 1 or weights.shape[0] != k:
        raise ValueError(f"weights must have shape ({k},), got {tuple(weights.shape)}")


def mix_probs(weights: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """Probability mixing (paper, vision): ``q_w(x) = sum_k w_k p_k(x)``; ``probs`` is ``(B, K, C)``."""
    if probs.ndim != 3:
        raise ValueError(f"probs must be (batch, supervisors, classes), got {tuple(probs.shape)}")
    _check_weights(weights, probs.shape[1])
    return torch.einsum("k,bkc->bc", weights.to(probs.dtype), probs)


def mix_logits(weights: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Logit mixing (paper, text): ``q_w(x) = softmax(sum_k w_k z_k(x))``; returns probabilities."""
    if logits.ndim != 3:
        raise ValueError(f"logits must be (batch, supervisors, classes), got {tuple(logits.shape)}")
    _check_weights(weights, logits.shape[1])
    return torch.softmax(torch.einsum("k,bkc->bc", weights.to(logits.dtype), logits), dim=-1)


def mix_margins(weights: torch.Tensor, margins: torch.Tensor) -> torch.Tensor:
    """Bradley–Terry on the mixed reward: returns the mixed margin ``sum_k w_k d_k`` (a logit).

    ``torch.sigmoid`` of the result is ``P_w(y_a > y_b)``. Keeping the logit lets losses use
    ``logsigmoid`` without loss of precision.
    """
    if margins.ndim != 2:
        raise ValueError(f"margins must be (batch, supervisors), got {tuple(margins.shape)}")
    _check_weights(weights, margins.shape[1])
    return margins @ weights.to(margins.dtype)


def margin_scales(margins: torch.Tensor, normalization: str = "none") -> torch.Tensor:
    """Per-supervisor divisors for margins computed over a training set ``(N, K)``.

    ``"none"`` (paper-faithful) returns ones; ``"std"`` returns each supervisor's margin standard
    deviation, so reward models with arbitrary scales enter the mixture on an equal footing.
    """
    if normalization == "none":
        return torch.ones(margins.shape[1], dtype=margins.dtype)
    if normalization != "std":
        raise ValueError(f"margin normalization must be 'none' or 'std', got {normalization!r}")
    if margins.shape[0] < 2:
        raise ValueError("margin normalization 'std' needs at least 2 pairs")
    std = margins.std(dim=0)
    if bool((std <= 0).any()):
        bad = [i for i, s in enumerate(std.tolist()) if s <= 0]
        raise ValueError(
            f"supervisors {bad} give constant margins; 'std' normalization is undefined for them"
        )
    return std


def entropy(probs: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Shannon entropy (nats) along ``dim``."""
    return -(probs * torch.log(probs.clamp_min(_EPS))).sum(dim)


def bernoulli_entropy(logit: torch.Tensor) -> torch.Tensor:
    """Entropy of a Bernoulli given by its logit, stable for large |logit|."""
    p = torch.sigmoid(logit)
    return -(p * torch.nn.functional.logsigmoid(logit) + (1 - p) * torch.nn.functional.logsigmoid(-logit))


def apply_temperature(probs: torch.Tensor, temperatures: torch.Tensor) -> torch.Tensor:
    """Temperature-scale each supervisor's probabilities ``(B, K, C)``: ``softmax(log p_k / T_k)``."""
    log_p = torch.log(probs.clamp_min(_EPS))
    return torch.softmax(log_p / temperatures.to(probs.dtype).view(1, -1, 1), dim=-1)


def _mean_entropy_at(log_p: torch.Tensor, t: float) -> float:
    return float(entropy(torch.softmax(log_p / t, dim=-1)).mean())


def fit_temperatures(
    probs: torch.Tensor,
    target_entropy: float | None = None,
    iters: int = 60,
    names: Sequence[str] | None = None,
) -> torch.Tensor:
    """Label-free calibration: one temperature per supervisor so all have the same mean entropy.

    Under the ``ce`` objective ``CE(p_k, f) = H(p_k) + KL(p_k || f)`` rewards confident supervisors
    whatever their accuracy; equalising the mean entropy removes that advantage without ground truth.
    ``probs`` is ``(N, K, C)``; the common target defaults to the supervisors' average mean entropy.
    Temperature scaling keeps each supervisor's argmax, so its accuracy is unchanged. ``names`` (one per
    supervisor) name them in the errors.
    """
    if probs.ndim != 3:
        raise ValueError(f"probs must be (N, supervisors, classes), got {tuple(probs.shape)}")
    names = list(names) if names is not None else [f"#{k}" for k in range(probs.shape[1])]
    probs = probs.double()
    log_p = torch.log(probs.clamp_min(_EPS))
    current = entropy(probs).mean(0)
    target = float(current.mean()) if target_entropy is None else float(target_entropy)
    max_h = float(torch.log(torch.tensor(float(probs.shape[-1]))))
    if target_entropy is None and not 0.0 < target < max_h:
        extreme = "one-hot (certain) on every row" if target <= 0 else "uniform on every row"
        raise ValueError(
            f"temperature calibration cannot work here: every supervisor {names} is {extreme}, so there is no "
            "spread of confidence to equalise and temperature scaling cannot change them; use "
            "supervisor_calibration='none'"
        )
    if not 0.0 < target < max_h:
        raise ValueError(f"target entropy must lie in (0, log C = {max_h:.4f}), got {target}")
    temps = []
    for k in range(probs.shape[1]):
        lo, hi = 1e-3, 1e3  # mean entropy increases monotonically with the temperature
        if _mean_entropy_at(log_p[:, k], hi) < target or _mean_entropy_at(log_p[:, k], lo) > target:
            raise ValueError(
                f"supervisor {names[k]!r} cannot reach the supervisors' common mean entropy {target:.4f} by "
                f"temperature scaling (its own is {float(current[k]):.4f}, at most log C = {max_h:.4f}; uniform "
                "rows stay uniform at any temperature): leave it out (supervisor_names) or use "
                "supervisor_calibration='none'"
            )
        for _ in range(iters):  # bisection in log-space
            mid = (lo * hi) ** 0.5
            if _mean_entropy_at(log_p[:, k], mid) < target:
                lo = mid
            else:
                hi = mid
        temps.append((lo * hi) ** 0.5)
    return torch.tensor(temps, dtype=torch.float32)
