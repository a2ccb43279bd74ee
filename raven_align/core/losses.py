"""Per-example losses of RAVEN and of its baselines.

Every function returns one value per example (no reduction) so that trainers can mask (easy-sample
phase) or weight them; :func:`masked_mean` reduces. Targets built from the mixture carry the gradient
to the supervisor weights; everything here is plain PyTorch.

Preference losses take the strong policy's log-ratio margin
``h = (log π(y_a|x) - log π_ref(y_a|x)) - (log π(y_b|x) - log π_ref(y_b|x))`` and the mixture's margin
logit ``m = Σ_k w_k d_k`` (so ``P_w(y_a ≻ y_b) = σ(m)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .mixing import bernoulli_entropy, entropy
from .pairwise import PAIRWISE_LOSS_TYPES, PairLogRatios, PairLoss, PairwiseLoss

WEIGHT_OBJECTIVES = ("ce", "kl", "chance")


@dataclass(frozen=True)
class PreferenceRule:
    """One preference variant's row of the loss rules: the weight objectives it defines, the TRL DPO loss types
    (``loss_type``) it combines with, and the objectives it defines only with ``loss_type=sigmoid`` alone."""

    objectives: tuple[str, ...]
    loss_types: tuple[str, ...]
    sigmoid_only_objectives: tuple[str, ...] = ()


#: The loss rules, defined once, per preference variant (``raven_loss_type``). ``soft`` takes the expectation of any
#: pairwise TRL loss under the mixture (:mod:`.pairwise`); ``kl`` subtracts the mixture's Bernoulli entropy, which
#: makes the weights' objective a KL only for the log-loss (``sigmoid``). The paper's variants are specific forms of
#: the sigmoid loss that orient each pair by the mixture and have no entropy or chance term, so only ``ce`` and
#: ``sigmoid``. Read by :func:`preference_loss` and by the preference configs' parse-time check
#: (:func:`check_preference_loss`).
PREFERENCE_RULES = {
    "soft": PreferenceRule(WEIGHT_OBJECTIVES, PAIRWISE_LOSS_TYPES, sigmoid_only_objectives=("kl",)),
    "paper_prob": PreferenceRule(("ce",), ("sigmoid",)),
    "paper_beta_margin": PreferenceRule(("ce",), ("sigmoid",)),
}
#: The objectives column of :data:`PREFERENCE_RULES` (with ``loss_type=sigmoid``, the reward trainer's loss)
PREFERENCE_OBJECTIVES = {variant: rule.objectives for variant, rule in PREFERENCE_RULES.items()}
PREFERENCE_VARIANTS = tuple(PREFERENCE_RULES)


def check_preference_loss(
    variant: str, weight_objective: str, loss_types: Sequence[str] = ("sigmoid",)
) -> None:
    """Raise ``ValueError`` unless ``variant`` is a preference variant that defines ``weight_objective`` and
    combines with every TRL ``loss_types`` (:data:`PREFERENCE_RULES`; the loss types themselves are checked by
    :func:`~.pairwise.check_pairwise_loss`)."""
    if variant not in PREFERENCE_RULES:
        raise ValueError(
            f"raven_loss_type (the preference variant) must be one of {PREFERENCE_VARIANTS}, got {variant!r}"
        )
    if weight_objective not in WEIGHT_OBJECTIVES:
        raise ValueError(f"weight_objective must be one of {WEIGHT_OBJECTIVES}, got {weight_objective!r}")
    rule = PREFERENCE_RULES[variant]
    if weight_objective not in rule.objectives:
        needs = tuple(v for v, r in PREFERENCE_RULES.items() if weight_objective in r.objectives)
        raise ValueError(
            f"weight_objective={weight_objective!r} is not defined for raven_loss_type={variant!r} (it defines "
            f"{rule.objectives}); weight_objective={weight_objective!r} needs raven_loss_type in {needs}"
        )
    others = [t for t in loss_types if t not in rule.loss_types]
    if others:
        needs = tuple(v for v, r in PREFERENCE_RULES.items() if set(loss_types) <= set(r.loss_types))
        raise ValueError(
            f"raven_loss_type={variant!r} combines only with loss_type in {rule.loss_types}, got loss_type="
            f"{list(loss_types)}; loss_type={others[0]!r} needs raven_loss_type in {needs}"
        )
    if weight_objective in rule.sigmoid_only_objectives and set(loss_types) != {"sigmoid"}:
        raise ValueError(
            f"weight_objective={weight_objective!r} is defined only with loss_type=['sigmoid'] (it subtracts the "
            f"mixture's Bernoulli entropy, a KL only for the log-loss), got loss_type={list(loss_types)}; use "
            f"weight_objective in {tuple(o for o in rule.objectives if o not in rule.sigmoid_only_objectives)}"
        )


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of ``values`` over the examples where ``mask`` is set (all of them when ``mask`` is None).

    An all-zero mask gives a zero loss that is still connected to the graph, so a micro-batch without
    easy examples does not break gradient accumulation or DDP (and no host sync is needed).
    """
    if mask is None:
        return values.mean()
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``CE(target, softmax(logits)) = -Σ_c target_c log softmax(logits)_c``, per example."""
    if logits.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} must match")
    return -(target * F.log_softmax(logits, dim=-1)).sum(-1)


def _objective_correction(target_entropy: torch.Tensor, weight_objective: str) -> torch.Tensor:
    """A term whose *value* is zero and whose gradient turns the weights' CE objective into KL.

    ``KL(q_w || f) = CE(q_w, f) - H(q_w)``; ``H(q_w)`` does not depend on the strong model, so adding
    ``-H + H.detach()`` changes only the gradient reaching the weights, never the reported loss.
    """
    if weight_objective == "ce":
        return torch.zeros_like(target_entropy)
    if weight_objective == "kl":
        return target_entropy.detach() - target_entropy
    raise ValueError(f"weight_objective must be 'ce', 'kl' or 'chance', got {weight_objective!r}")


def _other_example(values: torch.Tensor) -> torch.Tensor:
    """Each example paired with another one of the batch (the next, cyclically; batches are shuffled, so this is
    a random other example). A batch of one is paired with itself."""
    return values.roll(1, dims=0)


def _chance_correction(chance_loss: torch.Tensor) -> torch.Tensor:
    """The ``chance`` objective: a zero-valued term whose gradient subtracts, from the weights' gradient, the
    loss of the strong model's prediction for example i against the mixture of *another* example (the strong
    model's side detached). The weights then descend ``CE(q_w(x_i), f_i) − CE(q_w(x_j), f_i)``: agreement beyond
    what a supervisor gets by chance, so a supervisor whose judgement is the same everywhere gets no gradient
    (exactly so under probability mixing)."""
    return chance_loss.detach() - chance_loss


def classification_loss(
    logits: torch.Tensor, target: torch.Tensor, weight_objective: str = "ce"
) -> torch.Tensor:
    """RAVEN's classification loss ``CE(q_w, softmax f_θ)`` per example.

    The strong model's gradient is the same under ``ce``, ``kl`` and ``chance``; only the weights' differs.
    """
    ce = soft_cross_entropy(logits, target)
    if weight_objective == "chance":
        return ce + _chance_correction(soft_cross_entropy(logits.detach(), _other_example(target)))
    return ce + _objective_correction(entropy(target), weight_objective)


def orientation(mixed_margin: torch.Tensor) -> torch.Tensor:
    """+1 where the mixture prefers ``y_a`` (ties count as ``y_a``), -1 where it prefers ``y_b``."""
    return torch.where(mixed_margin.detach() >= 0, 1.0, -1.0).to(mixed_margin.dtype)


def preference_loss(
    h: torch.Tensor,
    mixed_margin: torch.Tensor,
    variant: str = "soft",
    beta: float = 0.1,
    weight_objective: str = "ce",
    pair_loss: PairLoss | None = None,
) -> torch.Tensor:
    """Per-pair preference loss between the strong policy's margin ``h`` and the mixture.

    - ``soft``: the expected TRL pairwise loss under ``P = σ(m)``, ``P·ℓ(y_a ≻ y_b) + (1−P)·ℓ(y_b ≻ y_a)``
      (:mod:`.pairwise`). ``pair_loss`` is the DPO trainer's ``loss_type`` bound to the batch's log-ratios; without
      it, TRL's ``sigmoid`` on the margin ``h``: ``-[P log σ(βh) + (1-P) log σ(-βh)]``, TRL's sigmoid DPO loss
      with a per-pair label smoothing of ``1 - P`` (exactly DPO when ``P ∈ {0, 1}``).
    - ``paper_prob`` (the released code's default): orient each pair toward the side the mixture
      prefers (no gradient through the orientation), ``c = P_w(chosen)``, loss ``-log σ(c·h)``; β unused.
    - ``paper_beta_margin`` (the released code's OOD config): as above with ``c = β + (2 P_w(chosen) - 1)``.

    The paper variants combine with ``loss_type=sigmoid`` only (:data:`PREFERENCE_RULES`), scaled by its weight.
    """
    if h.shape != mixed_margin.shape:
        raise ValueError(f"h {tuple(h.shape)} and mixed_margin {tuple(mixed_margin.shape)} must match")
    if pair_loss is None:
        pair_loss = PairLoss(PairwiseLoss(beta=beta), PairLogRatios.from_margin(h))
    spec = pair_loss.spec
    check_preference_loss(variant, weight_objective, spec.loss_types)
    if variant == "soft":
        loss = pair_loss.expected(torch.sigmoid(mixed_margin))
        if weight_objective == "chance":
            q = torch.sigmoid(_other_example(mixed_margin))
            return loss + _chance_correction(pair_loss.detach().expected(q))
        correction = _objective_correction(bernoulli_entropy(mixed_margin), weight_objective)
        weight = sum(spec.loss_weights)  # kl: loss_type is sigmoid alone (the rules), so weight · KL
        return loss + (correction if weight == 1.0 else weight * correction)
    s = orientation(mixed_margin)
    p_chosen = torch.sigmoid(s * mixed_margin)  # in [0.5, 1)
    c = p_chosen if variant == "paper_prob" else beta + (2 * p_chosen - 1)
    loss = F.softplus(-c * s * h)  # -log σ(c · h_chosen-vs-rejected)
    return loss if spec.loss_weights == (1.0,) else spec.loss_weights[0] * loss


def preference_as_classification(h: torch.Tensor, beta: float) -> torch.Tensor:
    """Two-class logits ``[0, βh]`` whose softmax is ``[σ(-βh), σ(βh)]``: lets classification
    baselines (`conf`, `vsup`, `bayes`) act on preference pairs (class 1 = ``y_a`` preferred)."""
    return torch.stack([torch.zeros_like(h), beta * h], dim=-1)


def margins_as_probs(margins: torch.Tensor) -> torch.Tensor:
    """Supervisor margins ``(B, K)`` as two-class probabilities ``(B, K, 2)`` (class 1 = ``y_a``)."""
    p = torch.sigmoid(margins)
    return torch.stack([1 - p, p], dim=-1)


# -- baselines (docs/methods.md) ------------------------------------------------------------------


def conf_alpha(step: int, total_steps: int, alpha_max: float = 0.5, warmup_fraction: float = 0.2) -> float:
    """Burns et al.'s schedule: α rises linearly from 0 to ``alpha_max`` over the first steps."""
    warmup = max(1.0, warmup_fraction * total_steps)
    return float(alpha_max * min(1.0, step / warmup))


def confidence_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float) -> torch.Tensor:
    """`conf`: CE against ``(1-α)·q + α·onehot(argmax f_θ)`` (the strong model's own hard label)."""
    hard = F.one_hot(logits.detach().argmax(-1), logits.shape[-1]).to(target.dtype)
    return soft_cross_entropy(logits, (1 - alpha) * target + alpha * hard)


def adaptive_confidence_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """`vsup` (Guo et al. 2024, AdaptConf): per-example mix of the weak label and the strong hard label.

    With ``ŷ_s = argmax f`` and ``ŷ_w = argmax q``, the weak label's share is
    ``α_i = e^{CE(f, ŷ_s)} / (e^{CE(f, ŷ_s)} + e^{CE(f, ŷ_w)})`` (no gradient through α): when the strong
    model confidently disagrees with the weak label, ``CE(f, ŷ_w)`` is large and the weak label counts
    less. Where they agree α = 1/2 and both labels coincide.
    """
    log_f = F.log_softmax(logits, dim=-1)
    c = logits.shape[-1]
    hard_s = F.one_hot(logits.detach().argmax(-1), c).to(target.dtype)
    hard_w = F.one_hot(target.detach().argmax(-1), c).to(target.dtype)
    ce_s = -(hard_s * log_f).sum(-1).detach()
    ce_w = -(hard_w * log_f).sum(-1).detach()
    alpha = torch.softmax(torch.stack([ce_s, ce_w], -1), -1)[..., 0]  # e^{ce_s} / (e^{ce_s} + e^{ce_w})
    return alpha * soft_cross_entropy(logits, target) + (1 - alpha) * soft_cross_entropy(logits, hard_s)


def evidential_loss(
    logits: torch.Tensor, supervisor_probs: torch.Tensor, kl_weight: float = 0.1
) -> torch.Tensor:
    """`bayes` (Cui et al. 2024): Dirichlet evidential loss averaged over the K teachers.

    The strong model's outputs are evidence ``e = softplus(logits)``, Dirichlet ``α = e + 1``. For each
    teacher's soft label ``y_k`` the expected cross-entropy under the Dirichlet is
    ``Σ_c y_kc (ψ(S) - ψ(α_c))`` with ``S = Σ α``; a KL term toward the flat Dirichlet on the evidence
    that no teacher supports (``α̃ = y + (1 - y) α`` with ``y`` the teachers' mean) penalises
    misleading evidence. ``supervisor_probs`` is ``(B, K, C)``.
    """
    if supervisor_probs.ndim != 3 or supervisor_probs.shape[0] != logits.shape[0]:
        raise ValueError(f"supervisor_probs must be (B, K, C), got {tuple(supervisor_probs.shape)}")
    alpha = F.softplus(logits) + 1.0
    strength = alpha.sum(-1, keepdim=True)
    expected_nll = torch.digamma(strength) - torch.digamma(alpha)  # E[-log p_c] under Dir(α)
    fit = (supervisor_probs * expected_nll.unsqueeze(1)).sum(-1).mean(1)
    if kl_weight == 0:
        return fit
    y = supervisor_probs.mean(1)
    alpha_t = y + (1 - y) * alpha
    return fit + kl_weight * _kl_dirichlet_to_flat(alpha_t)


def _kl_dirichlet_to_flat(alpha: torch.Tensor) -> torch.Tensor:
    """``KL(Dir(α) || Dir(1))`` per row."""
    c = alpha.shape[-1]
    s = alpha.sum(-1)
    return (
        torch.lgamma(s)
        - torch.lgamma(torch.tensor(float(c), dtype=alpha.dtype, device=alpha.device))
        - torch.lgamma(alpha).sum(-1)
        + ((alpha - 1) * (torch.digamma(alpha) - torch.digamma(s).unsqueeze(-1))).sum(-1)
    )
