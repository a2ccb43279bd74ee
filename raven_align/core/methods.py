"""The supervision-method registry: what each ``supervision=`` value trains on, for every task.

A method says how its supervisor weights are made (learned, uniform, entropy-fixed or one-hot), whether it
has an easy-sample phase, and its per-example loss for a classification batch and for a preference batch.
Every trainer and the plain-PyTorch reference (``core.synthetic``) dispatch through :func:`get_method`, so
adding a method is one :func:`register_method` call. The methods are described in ``docs/methods.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from .label_model import LabelModel
from .losses import (
    adaptive_confidence_loss,
    classification_loss,
    conf_alpha,
    confidence_loss,
    evidential_loss,
    margins_as_probs,
    preference_as_classification,
    preference_loss,
    soft_cross_entropy,
)
from .pairwise import PairLoss

WeightKind = Literal["learned", "uniform", "entropy", "single", "label_model"]
WEIGHT_KINDS = ("learned", "uniform", "entropy", "single", "label_model")


@dataclass
class ClassificationBatch:
    """What a classification loss may use. ``target`` is the mixture ``q_w`` (differentiable in the weights);
    ``judgements`` are the (calibrated) supervisor probabilities ``(B, K, C)``; ``labels`` the truth or None;
    ``state`` what the method's ``prepare`` returned (None without one)."""

    logits: torch.Tensor
    target: torch.Tensor
    judgements: torch.Tensor
    labels: torch.Tensor | None = None
    step: int = 0
    total_steps: int = 1
    state: Any = None


@dataclass
class PreferenceBatch:
    """What a preference loss may use. ``h`` is the strong model's margin for the presented pair (the DPO
    log-ratio margin, or a reward difference); ``mixed`` the mixture's margin (differentiable in the weights);
    ``margins`` the supervisors' ``(B, K)``; ``truth`` whether the presented ``chosen`` is better, or None;
    ``state`` what the method's ``prepare`` returned (None without one); ``pair_loss`` the DPO trainer's TRL loss
    bound to the batch's log-ratios (None: TRL's sigmoid loss on ``h``)."""

    h: torch.Tensor
    mixed: torch.Tensor
    margins: torch.Tensor
    truth: torch.Tensor | None = None
    beta: float = 1.0
    variant: str = "soft"
    step: int = 0
    total_steps: int = 1
    state: Any = None
    pair_loss: PairLoss | None = None


ClassificationLoss = Callable[[ClassificationBatch, Any], torch.Tensor]
PreferenceLoss = Callable[[PreferenceBatch, Any], torch.Tensor]
#: ``prepare(judgements, kind, args) -> state``, called once on the whole training set's judgements
Prepare = Callable[[torch.Tensor, str, Any], Any]


@dataclass(frozen=True)
class SupervisionMethod:
    """One ``supervision=`` value. The loss functions take the batch and the trainer's config (a
    :class:`~raven_align.core.arguments.WeightingArguments`) and return a per-example loss. ``prepare``, if
    given, is called once where the trainer builds its weights, on the training judgements (``kind``
    ``"probs"``, ``"logits"`` or ``"margins"``); what it returns reaches the losses as ``batch.state``.
    ``pairwise_losses``: whether its preference loss takes the expectation of any of TRL's pairwise DPO losses
    (``batch.pair_loss``); False for the losses that act on ``βh`` as two-class classification (TRL's ``sigmoid``)."""

    name: str
    summary: str
    weights: WeightKind
    classification: ClassificationLoss
    preference: PreferenceLoss
    easy_phase: bool = False
    needs_truth: bool = False
    prepare: Prepare | None = None
    pairwise_losses: bool = True

    @property
    def single_supervisor(self) -> bool:
        return self.weights == "single"


_REGISTRY: dict[str, SupervisionMethod] = {}


def register_method(method: SupervisionMethod, *, overwrite: bool = False) -> SupervisionMethod:
    """Add ``method`` to the registry (an error if the name is taken, unless ``overwrite``)."""
    if method.weights not in WEIGHT_KINDS:
        raise ValueError(f"method {method.name!r}: unknown weight kind {method.weights!r}")
    if method.name in _REGISTRY and not overwrite:
        raise ValueError(f"supervision method {method.name!r} is already registered")
    _REGISTRY[method.name] = method
    return method


def get_method(name: str) -> SupervisionMethod:
    """The registered method ``name``; a ``ValueError`` that lists the choices otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"supervision must be one of {method_names()}, got {name!r}") from None


def method_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


# -- the losses -------------------------------------------------------------------------------------------


def _mixture_ce(batch: ClassificationBatch, args: Any) -> torch.Tensor:
    return classification_loss(batch.logits, batch.target, args.weight_objective)


def _mixture_preference(batch: PreferenceBatch, args: Any) -> torch.Tensor:
    return preference_loss(
        batch.h, batch.mixed, batch.variant, batch.beta, args.weight_objective, batch.pair_loss
    )


def _truth_ce(batch: ClassificationBatch, args: Any) -> torch.Tensor:
    if batch.labels is None:
        raise ValueError("supervision='gt' needs the ground-truth labels in every batch")
    onehot = F.one_hot(batch.labels, batch.logits.shape[-1]).to(batch.logits.dtype)
    return soft_cross_entropy(batch.logits, onehot)


def _truth_preference(batch: PreferenceBatch, args: Any) -> torch.Tensor:
    truth = (
        torch.ones_like(batch.h, dtype=torch.bool) if batch.truth is None else batch.truth.to(batch.h.device)
    )
    # gt_confidence q < 1 (cDPO) puts the truth at logit ±log(q / (1 - q)); q = 1 is plain DPO (logit ±inf)
    q = getattr(args, "gt_confidence", 1.0)
    logit = math.log(q / (1 - q)) if q < 1 else math.inf
    certain = torch.where(truth, logit, -logit).to(batch.h.dtype)
    return preference_loss(batch.h, certain, "soft", batch.beta, pair_loss=batch.pair_loss)


def _conf(batch: ClassificationBatch, args: Any) -> torch.Tensor:
    alpha = conf_alpha(batch.step, batch.total_steps, args.conf_alpha_max, args.conf_warmup_fraction)
    return confidence_loss(batch.logits, batch.target.detach(), alpha)


def _vsup(batch: ClassificationBatch, args: Any) -> torch.Tensor:
    return adaptive_confidence_loss(batch.logits, batch.target.detach())


def _bayes(batch: ClassificationBatch, args: Any) -> torch.Tensor:
    return evidential_loss(batch.logits, batch.judgements, args.bayes_kl_weight)


def _fit_label_model(judgements: torch.Tensor, kind: str, args: Any) -> LabelModel:
    return args.fit_label_model(judgements, kind)


def _label_model_state(batch: ClassificationBatch | PreferenceBatch) -> LabelModel:
    if batch.state is None:
        raise ValueError("supervision='label_model' needs the label model fitted by its `prepare` hook")
    return batch.state


def _posterior_ce(batch: ClassificationBatch, args: Any) -> torch.Tensor:
    posterior = _label_model_state(batch).posterior(batch.judgements.detach(), "probs")
    return soft_cross_entropy(batch.logits, posterior.to(batch.logits.dtype))


def _posterior_preference(batch: PreferenceBatch, args: Any) -> torch.Tensor:
    log_post = _label_model_state(batch).posterior_logits(batch.margins.detach(), "margins")
    return preference_loss(
        batch.h,
        (log_post[:, 1] - log_post[:, 0]).to(batch.h.dtype),
        batch.variant,
        batch.beta,
        pair_loss=batch.pair_loss,
    )


def as_classification(batch: PreferenceBatch) -> ClassificationBatch:
    """A preference batch as two-class classification (class 1 = the presented ``chosen`` is better), so
    that classification baselines act on pairs."""
    return ClassificationBatch(
        logits=preference_as_classification(batch.h, batch.beta),
        target=margins_as_probs(batch.mixed.detach()[:, None])[:, 0],
        judgements=margins_as_probs(batch.margins),
        step=batch.step,
        total_steps=batch.total_steps,
    )


def _on_pairs(loss: ClassificationLoss) -> PreferenceLoss:
    def preference(batch: PreferenceBatch, args: Any) -> torch.Tensor:
        if batch.pair_loss is not None and not batch.pair_loss.spec.is_plain_sigmoid:
            raise ValueError(
                "this method acts on βh as two-class classification: it needs loss_type=['sigmoid']"
            )
        return loss(as_classification(batch), args)

    return preference


_MIXTURE = dict(classification=_mixture_ce, preference=_mixture_preference)
for _method in (
    SupervisionMethod(
        "raven", "learned weights + easy-sample phase (RAVEN)", "learned", **_MIXTURE, easy_phase=True
    ),
    SupervisionMethod(
        "gt",
        "ground-truth labels or preferences: the ceiling",
        "uniform",
        _truth_ce,
        _truth_preference,
        needs_truth=True,
    ),
    SupervisionMethod("naive", "one weak supervisor (`naive_supervisor`)", "single", **_MIXTURE),
    SupervisionMethod("ens", "uniform, fixed weights; no easy-sample phase", "uniform", **_MIXTURE),
    SupervisionMethod("static", "weights fixed at the entropy initialisation", "entropy", **_MIXTURE),
    SupervisionMethod(
        "conf",
        "uniform mixture + auxiliary confidence loss (Burns et al.)",
        "uniform",
        _conf,
        _on_pairs(_conf),
        pairwise_losses=False,
    ),
    SupervisionMethod(
        "vsup",
        "uniform mixture + adaptive confidence (Guo et al.)",
        "uniform",
        _vsup,
        _on_pairs(_vsup),
        pairwise_losses=False,
    ),
    SupervisionMethod(
        "bayes",
        "evidential loss over the teachers (Cui et al.)",
        "uniform",
        _bayes,
        _on_pairs(_bayes),
        pairwise_losses=False,
    ),
    SupervisionMethod(
        "select",
        "one supervisor (naive_supervisor) picked on labelled validation data by the caller; in the trainers "
        "the same as naive (the classification program picks it on val_size labelled examples)",
        "single",
        **_MIXTURE,
    ),
    SupervisionMethod(
        "label_model",
        "the label model's posterior, fitted once on the training judgements (Snorkel-style)",
        "label_model",
        _posterior_ce,
        _posterior_preference,
        prepare=_fit_label_model,
    ),
):
    register_method(_method)

__all__ = [
    "ClassificationBatch",
    "PreferenceBatch",
    "SupervisionMethod",
    "WEIGHT_KINDS",
    "as_classification",
    "get_method",
    "method_names",
    "register_method",
]
