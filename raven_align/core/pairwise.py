"""TRL's pairwise DPO losses under a supervisor mixture: the expected loss over the order of each pair.

TRL's ``DPOTrainer`` (1.16) trains as if the presented ``chosen`` were the better response of every pair. Under weak
supervision the order is uncertain: the mixture says ``chosen`` is better with probability ``P_w = σ(Σ_k w_k d_k)``.
For every TRL loss ``ℓ`` that is a function of one (chosen, rejected) pair, the strong policy and the weights train
on its expectation under that probability,

    L = P_w · ℓ(chosen ≻ rejected) + (1 − P_w) · ℓ(rejected ≻ chosen),

where ``ℓ(rejected ≻ chosen)`` is the same loss with the roles of the two responses swapped (their log-ratios and,
for the length-normalised losses, their completion lengths). At ``P_w = 1`` it is TRL's loss; at ``P_w = 0`` TRL's
loss on the swapped pair; the weights get their gradient through ``P_w``. Several ``loss_type`` values add up with
their ``loss_weights``, as in TRL (the expectation is linear). What the construction gives, per loss:

- ``sigmoid``: ``−[P_w log σ(βΔ) + (1 − P_w) log σ(−βΔ)]``, RAVEN's ``soft`` loss (Δ the log-ratio margin). At
  ``P_w = 1 − ε`` it is the label-smoothed ("conservative") DPO loss ``−(1−ε) log σ(βΔ) − ε log σ(−βΔ)``, the form TRL
  1.16 applies with ``label_smoothing`` in ``aot``/``aot_unpaired`` (its ``sigmoid`` reads no ``label_smoothing``): the
  mixture sets each pair's smoothing, ``1 − P_w``.
- ``robust``: ``[(P_w − ε) ℓ₊ + (1 − P_w − ε) ℓ₋] / (1 − 2ε)`` with ``ℓ₊ = −log σ(βΔ)``, ``ℓ₋ = −log σ(−βΔ)``: the
  robust-DPO correction for a flip rate ε applied to a soft label. It is not a smoothing of ``sigmoid`` (no ``P_w``
  gives it); it equals TRL's ``robust`` with the same ``label_smoothing`` at ``P_w = 1``.
- ``ipo``: ``(Δ̄ − (2P_w − 1)/(2β))² + P_w(1 − P_w)/β²`` (Δ̄ the per-token margin): IPO's target margin scaled by
  the mixture's confidence, plus a term without the policy in it.
- ``sppo_hard``: ``(c − (2P_w − 1)/(2β))² + (r + (2P_w − 1)/(2β))²`` + a term without the policy in it: SPPO with the
  mixture's probability as the soft win probability that TRL's hard version sets to 1.
- ``exo_pair`` (ε from ``label_smoothing``), ``hinge``, ``nca_pair``, ``bco_pair``, ``apo_zero``, ``apo_down``,
  ``discopop``, ``sigmoid_norm``: the expectation as written above.

Refused (:data:`REFUSED_LOSS_TYPES`): the losses whose per-pair term is not a function of one pair. Torch only: the
trainers bind a :class:`PairwiseLoss` to a batch's log-ratios (:class:`PairLoss`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class PairLogRatios:
    """One batch of pairs seen by a DPO loss: the log-ratios ``log π(y|x) − log π_ref(y|x)`` of the presented
    ``chosen`` and ``rejected`` responses, and their completion lengths in tokens (clamped at 1; read by ``ipo`` and
    ``sigmoid_norm`` only)."""

    chosen: torch.Tensor
    rejected: torch.Tensor
    chosen_tokens: torch.Tensor | None = None
    rejected_tokens: torch.Tensor | None = None

    @classmethod
    def from_margin(cls, h: torch.Tensor) -> PairLogRatios:
        """A pair known only by its margin ``h`` (e.g. a reward difference): ``chosen = h``, ``rejected = 0``, enough
        for the losses of the margin alone (``sigmoid``, ``hinge``, ``robust``, ``exo_pair``, ``discopop``)."""
        return cls(h, torch.zeros_like(h))

    @property
    def margin(self) -> torch.Tensor:
        return self.chosen - self.rejected

    def token_margin(self, loss_type: str) -> torch.Tensor:
        """The margin of the per-token log-ratios (TRL's ``ipo`` and ``sigmoid_norm``)."""
        if self.chosen_tokens is None or self.rejected_tokens is None:
            raise ValueError(f"loss_type={loss_type!r} needs the completion lengths of the pair")
        return self.chosen / self.chosen_tokens - self.rejected / self.rejected_tokens

    def swapped(self) -> PairLogRatios:
        """The same pair with the roles of the two responses exchanged."""
        return PairLogRatios(self.rejected, self.chosen, self.rejected_tokens, self.chosen_tokens)

    def detach(self) -> PairLogRatios:
        return PairLogRatios(
            self.chosen.detach(), self.rejected.detach(), self.chosen_tokens, self.rejected_tokens
        )


# -- TRL 1.16's per-pair losses, ℓ(chosen ≻ rejected), as its DPOTrainer._compute_loss writes them --------------


def _sigmoid(x: PairLogRatios, s: PairwiseLoss) -> torch.Tensor:
    return F.softplus(-s.beta * x.margin)  # −log σ(βΔ)


def _hinge(x: PairLogRatios, s: PairwiseLoss) -> torch.Tensor:
    return torch.relu(1 - s.beta * x.margin)


def _ipo(x: PairLogRatios, s: PairwiseLoss) -> torch.Tensor:
    return (x.token_margin("ipo") - 1 / (2 * s.beta)) ** 2


def _exo_pair(x: PairLogRatios, s: PairwiseLoss) -> torch.Tensor:
    # KL(softmax(β·[log-ratios]) ‖ [1 − ε, ε]) over {chosen, rejected}
    z, eps = s.beta * x.margin, s.label_smoothing
    return torch.sigmoid(z) * (F.logsigmoid(z) - math.log1p(-eps)) + torch.sigmoid(-z) * (
        F.logsigmoid(-z) - math.log(eps)
    )


def _nca_pair(x: PairLogRatios, s: PairwiseLoss) -> torch.Tensor:
    c, r = s.beta * x.chosen, s.beta * x.rejected
    return -F.logsigmoid(c) - 0.5 * F.logsigmoid(-c) - 0.5 * F.logsigmoid(-r)


def _robust(x: PairLogRatios, s: PairwiseLoss) -> torch.Tensor:
    z, eps = s.beta * x.margin, s.label_smoothing
    return ((1 - eps) * F.softplus(-z) - eps * F.softplus(z)) / (1 - 2 * eps)


def _bco_pair(x: PairLogRatios, s: PairwiseLoss) -> torch.Tensor:
    return -F.logsigmoid(s.beta * x.chosen) - F.logsigmoid(-s.beta * x.rejected)


def _sppo_hard(x: PairLogRatios, s: PairwiseLoss) -> torch.Tensor:
    return (x.chosen - 0.5 / s.beta) ** 2 + (x.rejected + 0.5 / s.beta) ** 2


def _apo_zero(x: PairLogRatios, s: PairwiseLoss) -> torch.Tensor:
    return (1 - torch.sigmoid(s.beta * x.chosen)) + torch.sigmoid(s.beta * x.rejected)


def _apo_down(x: PairLogRatios, s: PairwiseLoss) -> torch.Tensor:
    return torch.sigmoid(s.beta * x.chosen) + (1 - torch.sigmoid(s.beta * x.margin))


def _discopop(x: PairLogRatios, s: PairwiseLoss) -> torch.Tensor:
    z = s.beta * x.margin
    modulation = torch.sigmoid(z / s.discopop_tau)
    # TRL's exp(−z)·σ(z/τ), written as one exponent: finite where exp(−z) alone overflows (the swapped order's
    # large margins), the same number elsewhere
    return F.softplus(-z) * (1 - modulation) + torch.exp(F.logsigmoid(z / s.discopop_tau) - z)


def _sigmoid_norm(x: PairLogRatios, s: PairwiseLoss) -> torch.Tensor:
    return F.softplus(-s.beta * x.token_margin("sigmoid_norm"))


#: The TRL DPO loss types that are a function of one (chosen, rejected) pair, in TRL's order: the supported ones
PAIRWISE_LOSSES: dict[str, Callable[[PairLogRatios, PairwiseLoss], torch.Tensor]] = {
    "sigmoid": _sigmoid,
    "hinge": _hinge,
    "ipo": _ipo,
    "exo_pair": _exo_pair,
    "nca_pair": _nca_pair,
    "robust": _robust,
    "bco_pair": _bco_pair,
    "sppo_hard": _sppo_hard,
    "apo_zero": _apo_zero,
    "apo_down": _apo_down,
    "discopop": _discopop,
    "sigmoid_norm": _sigmoid_norm,
}
PAIRWISE_LOSS_TYPES = tuple(PAIRWISE_LOSSES)
#: TRL's other DPO loss types, refused at parse, with the reason
REFUSED_LOSS_TYPES = {
    "aot": "it sorts the batch's policy and reference margins separately and matches them by rank, so a pair's "
    "term depends on the other pairs of the batch and there is no per-pair order to take the expectation over",
    "aot_unpaired": "it sorts the chosen and the rejected log-ratios separately over the batch and matches them by "
    "rank, so each term mixes responses of different pairs and there is no per-pair order to take the expectation "
    "over",
    "sft": "it is not a comparison of the two responses: one token-mean negative log-likelihood of the presented "
    "`chosen` responses over the whole batch, and under weak supervision the presented order carries no truth",
}
#: The loss types that read ``label_smoothing`` (TRL 1.16): robust DPO's flip rate, EXO's ε
SMOOTHED_LOSS_TYPES = ("robust", "exo_pair")


def check_pairwise_loss(
    loss_types: Sequence[str], loss_weights: Sequence[float] | None = None, label_smoothing: float = 0.0
) -> None:
    """Raise ``ValueError`` unless every loss type is supported and ``loss_weights``/``label_smoothing`` are what
    those loss types can run with (the DPO config's parse-time check)."""
    for loss_type in loss_types:
        if loss_type in REFUSED_LOSS_TYPES:
            raise ValueError(
                f"loss_type={loss_type!r} cannot be trained under a supervisor mixture: "
                f"{REFUSED_LOSS_TYPES[loss_type]}. Supported: {', '.join(PAIRWISE_LOSS_TYPES)}"
            )
        if loss_type not in PAIRWISE_LOSSES:
            raise ValueError(f"loss_type must be among {PAIRWISE_LOSS_TYPES}, got {loss_type!r}")
    if not loss_types:
        raise ValueError("loss_type needs at least one loss type")
    if loss_weights is not None and (
        len(loss_weights) != len(loss_types) or not all(math.isfinite(w) for w in loss_weights)
    ):
        raise ValueError(f"loss_weights must be one finite number per loss_type, got {list(loss_weights)}")
    eps = label_smoothing
    if eps and not set(loss_types) & set(SMOOTHED_LOSS_TYPES):
        raise ValueError(
            f"label_smoothing={eps} is read only by loss_type in {SMOOTHED_LOSS_TYPES}; with loss_type="
            f"{list(loss_types)} the mixture sets each pair's label (P_w): leave label_smoothing at 0"
        )
    if "robust" in loss_types and not 0 <= eps < 0.5:
        raise ValueError(f"loss_type='robust' needs label_smoothing (its flip rate) in [0, 0.5), got {eps}")
    if "exo_pair" in loss_types and not 0 < eps < 1:
        raise ValueError(
            f"loss_type='exo_pair' needs label_smoothing (EXO's ε, e.g. 1e-3) in (0, 1), got {eps}"
        )


@dataclass(frozen=True)
class PairwiseLoss:
    """TRL's DPO loss settings: ``loss_type`` (one or several, summed with ``loss_weights``), β, ``label_smoothing``
    (robust, EXO) and ``discopop_tau``; checked when built."""

    loss_types: tuple[str, ...] = ("sigmoid",)
    loss_weights: tuple[float, ...] | None = None
    beta: float = 0.1
    label_smoothing: float = 0.0
    discopop_tau: float = 0.05

    def __post_init__(self):
        check_pairwise_loss(self.loss_types, self.loss_weights, self.label_smoothing)
        if self.loss_weights is None:
            object.__setattr__(self, "loss_weights", (1.0,) * len(self.loss_types))

    @property
    def is_plain_sigmoid(self) -> bool:
        """TRL's default: the sigmoid loss alone, with weight 1."""
        return self.loss_types == ("sigmoid",) and self.loss_weights == (1.0,)

    def expected(self, pair: PairLogRatios, p: torch.Tensor) -> torch.Tensor:
        """``Σ_t weight_t · [p · ℓ_t(chosen ≻ rejected) + (1 − p) · ℓ_t(rejected ≻ chosen)]`` per pair."""
        swapped = pair.swapped()
        total = None
        for loss_type, weight in zip(self.loss_types, self.loss_weights, strict=True):
            loss = PAIRWISE_LOSSES[loss_type]
            term = p * loss(pair, self) + (1 - p) * loss(swapped, self)
            if weight != 1.0:
                term = weight * term
            total = term if total is None else total + term
        return total


@dataclass(frozen=True)
class PairLoss:
    """A :class:`PairwiseLoss` bound to one batch's log-ratios: what a preference loss needs besides ``P_w``."""

    spec: PairwiseLoss
    pair: PairLogRatios

    def expected(self, p: torch.Tensor) -> torch.Tensor:
        return self.spec.expected(self.pair, p)

    def detach(self) -> PairLoss:
        """The same loss on the detached log-ratios (the strong model's side held fixed)."""
        return PairLoss(self.spec, self.pair.detach())


__all__ = [
    "PAIRWISE_LOSSES",
    "PAIRWISE_LOSS_TYPES",
    "REFUSED_LOSS_TYPES",
    "SMOOTHED_LOSS_TYPES",
    "PairLogRatios",
    "PairLoss",
    "PairwiseLoss",
    "check_pairwise_loss",
]
