"""Label-free supervisor reliability: label models fitted on the supervisors' judgements alone.

The supervisors' agreements *with each other* identify how reliable each one is, with no labels and without the
strong model (Dawid & Skene 1979; Ratner et al. 2016, Snorkel). Assumptions (``docs/label_model.md``): the
supervisors are conditionally independent given the truth, and at least three of them are informative.

- Classification: :func:`dawid_skene`, class-conditional confusion matrices ``P(vote = j | y = c)`` per
  supervisor and a class prior, fitted by EM on argmax votes or on soft probabilities (soft counts).
- Preference pairs: the same EM with two classes ("two-coin": ``P(+ | y = +)``, ``P(− | y = −)`` per
  supervisor) on the votes ``sign(d_k)``, with an optional per-supervisor abstain quantile on ``|d_k|``; or
  :func:`one_factor`, a closed-form triplet estimate on standardised margins.

:func:`fit_label_model` picks the estimator from the judgements' kind, and :meth:`weights` turns a fitted model
into simplex weights that give an uninformative (e.g. constant) supervisor ≈ 0.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass

import torch

ESTIMATORS = ("votes", "soft", "triplet")
WEIGHTINGS = ("mi", "llr")
ORIENTATIONS = ("symmetric", "random", "presented")
_TINY = 1e-12


def _xlogy_ratio(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``p log(p / q)`` with ``0 log 0 = 0``."""
    return torch.where(p > 0, p * (torch.log(p.clamp_min(_TINY)) - torch.log(q.clamp_min(_TINY))), 0.0)


@dataclass
class DawidSkene:
    """A fitted Dawid–Skene model. ``confusion[k, c, j] = P(vote_k = j | y = c)`` (rows sum to 1),
    ``prior[c] = P(y = c)``; ``abstain[k]`` is supervisor k's abstention rate (independent of y by assumption).
    ``pairs`` marks a preference model (class 1 = the presented ``y_a`` is better), whose ``thresholds`` are
    the per-supervisor ``|d_k|`` below which a vote is an abstention and whose ``symmetric`` posterior
    averages the two orientations of a pair."""

    prior: torch.Tensor
    confusion: torch.Tensor
    abstain: torch.Tensor
    soft: bool = False
    pairs: bool = False
    thresholds: torch.Tensor | None = None
    symmetric: bool = False
    log_likelihood: float = math.nan
    iterations: int = 0
    converged: bool = False

    @property
    def num_classes(self) -> int:
        return self.prior.numel()

    def votes(self, judgements: torch.Tensor, kind: str) -> torch.Tensor:
        """Judgements as the votes this model was fitted on: ``(N, K, C)`` one-hot, soft, or all-zero rows
        for abstentions."""
        if self.pairs:
            return margin_votes(judgements, self.thresholds, self.soft)
        probs = as_probs(judgements, kind)
        return probs if self.soft else _one_hot_votes(probs)

    def posterior_logits(self, judgements: torch.Tensor, kind: str = "probs") -> torch.Tensor:
        """``log P(y | judgements)`` up to a per-example constant, ``(N, C)``."""
        v = self.votes(judgements, kind).double()
        log_pi = torch.log(self.confusion.clamp_min(_TINY)).to(v.device)
        scores = torch.log(self.prior.clamp_min(_TINY)).to(v.device) + torch.einsum("nkj,kcj->nc", v, log_pi)
        if self.symmetric:  # the same pair presented the other way round: average the two log-odds
            flipped = torch.einsum("nkj,kcj->nc", v.flip(-1), log_pi) + torch.log(self.prior.clamp_min(_TINY))
            scores = 0.5 * (scores + flipped.flip(-1))
        return scores

    def posterior(self, judgements: torch.Tensor, kind: str = "probs") -> torch.Tensor:
        """``P(y | judgements)``, ``(N, C)``; for pairs column 1 is ``P(y_a ≻ y_b)``."""
        return torch.softmax(self.posterior_logits(judgements, kind), -1)

    @property
    def accuracy(self) -> torch.Tensor:
        """Estimated accuracy of each supervisor where it votes, ``Σ_c P(y = c) P(vote = c | y = c)``."""
        return torch.einsum("c,kc->k", self.prior, torch.diagonal(self.confusion, dim1=1, dim2=2))

    @property
    def balanced_accuracy(self) -> torch.Tensor:
        """Mean over classes of ``P(vote = c | y = c)``; ``1/C`` for a constant supervisor."""
        return torch.diagonal(self.confusion, dim1=1, dim2=2).mean(-1)

    def mutual_information(self) -> torch.Tensor:
        """``I(vote_k; y)`` in nats under the fitted model: the expected log-likelihood ratio of a vote, 0 for
        a vote independent of the truth (a constant supervisor). Abstentions carry no information."""
        joint = self.prior.view(1, -1, 1) * self.confusion  # (K, C, C): P(y = c, vote = j)
        marginal = joint.sum(1, keepdim=True)
        mi = _xlogy_ratio(self.confusion, marginal).mul(self.prior.view(1, -1, 1)).sum((1, 2))
        return (1 - self.abstain) * mi.clamp_min(0.0)

    def log_likelihood_ratio(self) -> torch.Tensor:
        """Log-odds of a correct vote against chance, from the balanced accuracy, clipped at 0:
        ``max(0, log(b (C − 1) / (1 − b)))``; 0 for a constant supervisor."""
        b = self.balanced_accuracy.clamp(_TINY, 1 - 1e-9)
        return (1 - self.abstain) * torch.log(b * (self.num_classes - 1) / (1 - b)).clamp_min(0.0)

    def weights(self, how: str = "mi") -> torch.Tensor:
        """Simplex weights ∝ the supervisors' information about the truth (see :func:`to_simplex`)."""
        return to_simplex(self.mutual_information() if how == "mi" else self.log_likelihood_ratio(), how)


@dataclass
class OneFactor:
    """A one-factor model of standardised preference margins: ``z_k = a_k y + sqrt(1 − a_k²) ε_k``,
    ``y = ±1`` the latent truth (+1: ``y_a`` better), ``ε_k`` independent. ``scale`` is each supervisor's
    root-mean-square margin (orientation-free), ``loading`` the signed ``a_k`` (the correlation of the
    standardised margin with the truth)."""

    loading: torch.Tensor
    scale: torch.Tensor

    def posterior_logits(self, margins: torch.Tensor, kind: str = "margins") -> torch.Tensor:
        """Two-class log-odds ``[0, Σ_k 2 a_k z_k / (1 − a_k²)]`` (Gaussian class-conditionals)."""
        a = self.loading.clamp(-0.99, 0.99).to(margins.device)
        z = margins.double() / self.scale.to(margins.device).clamp_min(_TINY)
        logit = (z * 2 * a / (1 - a**2)).sum(-1)
        return torch.stack([torch.zeros_like(logit), logit], -1)

    def posterior(self, margins: torch.Tensor, kind: str = "margins") -> torch.Tensor:
        return torch.softmax(self.posterior_logits(margins, kind), -1)

    @property
    def accuracy(self) -> torch.Tensor:
        """Probability that the margin's sign is right under the Gaussian model: ``Φ(a / sqrt(1 − a²))``."""
        a = self.loading.clamp(-0.99, 0.99)
        return 0.5 * (1 + torch.erf(a / torch.sqrt(2 * (1 - a**2))))

    def mutual_information(self) -> torch.Tensor:
        """``−½ log(1 − a_k²)`` (Gaussian), clipped at 0 for a negative loading (an anti-correlated one)."""
        a = self.loading.clamp(0.0, 0.99)
        return -0.5 * torch.log1p(-(a**2))

    def log_likelihood_ratio(self) -> torch.Tensor:
        """The coefficient ``a_k / (1 − a_k²)`` of a standardised margin in the posterior log-odds (÷2), ≥ 0."""
        a = self.loading.clamp(0.0, 0.99)
        return a / (1 - a**2)

    def weights(self, how: str = "mi") -> torch.Tensor:
        return to_simplex(self.mutual_information() if how == "mi" else self.log_likelihood_ratio(), how)


LabelModel = DawidSkene | OneFactor


def to_simplex(scores: torch.Tensor, how: str = "mi") -> torch.Tensor:
    """Non-negative reliability scores normalised to sum 1; uniform when every score is ~0 (nothing is known)."""
    if how not in WEIGHTINGS:
        raise ValueError(f"label-model weighting must be one of {WEIGHTINGS}, got {how!r}")
    s = scores.double().clamp_min(0.0)
    if float(s.sum()) <= 1e-12:
        return torch.full_like(s, 1.0 / s.numel())
    return s / s.sum()


# -- inputs ---------------------------------------------------------------------------------------------------


def as_probs(judgements: torch.Tensor, kind: str) -> torch.Tensor:
    """``(N, K, C)`` class probabilities from ``probs`` or ``logits`` judgements."""
    if judgements.ndim != 3:
        raise ValueError(f"classification judgements must be (N, K, C), got {tuple(judgements.shape)}")
    if kind == "logits":
        return torch.softmax(judgements.double(), -1)
    if kind != "probs":
        raise ValueError(f"kind must be 'probs', 'logits' or 'margins', got {kind!r}")
    return judgements.double()


def _one_hot_votes(probs: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.one_hot(probs.argmax(-1), probs.shape[-1]).double()


def abstain_thresholds(margins: torch.Tensor, quantile: float = 0.0) -> torch.Tensor:
    """Per-supervisor ``|d_k|`` thresholds: the ``quantile`` of ``|d_k|`` over the pairs (0: only exact ties
    abstain)."""
    if not 0.0 <= quantile < 1.0:
        raise ValueError(f"abstain quantile must be in [0, 1), got {quantile}")
    if quantile == 0.0:
        return torch.zeros(margins.shape[1], dtype=torch.float64)
    return torch.quantile(margins.double().abs(), quantile, dim=0)


def margin_votes(margins: torch.Tensor, thresholds: torch.Tensor | None = None, soft: bool = False):
    """Two-class votes ``(N, K, 2)`` from margins ``(N, K)`` (class 1 = ``y_a``): one-hot on ``sign(d_k)``, or
    ``[1 − σ(d), σ(d)]`` when ``soft``; an all-zero row (abstention) where ``|d_k| ≤`` its threshold."""
    if margins.ndim != 2:
        raise ValueError(f"preference margins must be (N, K), got {tuple(margins.shape)}")
    d = margins.double()
    p = torch.sigmoid(d) if soft else (d > 0).double()
    votes = torch.stack([1 - p, p], -1)
    t = torch.zeros(d.shape[1], dtype=d.dtype) if thresholds is None else thresholds.to(d)
    voting = (d.abs() > t.to(d.device)).double().unsqueeze(-1)
    return votes * voting


# -- estimators -----------------------------------------------------------------------------------------------


def dawid_skene(
    votes: torch.Tensor,
    init: torch.Tensor | None = None,
    smoothing: float = 1.0,
    tol: float = 1e-6,
    max_iter: int = 500,
) -> DawidSkene:
    """EM for the Dawid–Skene model on votes ``(N, K, C)``: one-hot rows (hard votes), probability rows (soft
    counts) or all-zero rows (abstentions, which contribute nothing).

    ``init``: the initial posterior ``(N, C)``; default the normalised vote counts (majority vote, or the mean
    probabilities for soft votes). ``smoothing``: Dirichlet pseudo-counts added to every confusion cell and
    class count (keeps logs finite). Stops when no parameter moves by more than ``tol``. Deterministic.
    """
    if votes.ndim != 3:
        raise ValueError(f"votes must be (N, K, C), got {tuple(votes.shape)}")
    v = votes.double()
    n, k, c = v.shape
    if n == 0 or c < 2:
        raise ValueError("the label model needs at least one example and two classes")
    if init is None:
        counts = v.sum(1)
        empty = counts.sum(-1, keepdim=True) <= 0
        init = torch.where(
            empty, torch.full_like(counts, 1.0 / c), counts / counts.sum(-1, keepdim=True).clamp_min(_TINY)
        )
    t = init.double()
    abstain = 1 - v.sum(-1).clamp(0, 1).mean(0)
    prior = confusion = None
    ll, converged, iterations = math.nan, False, 0
    while not converged and iterations < max_iter:
        iterations += 1
        # M-step: class prior and confusion matrices from the soft assignment t.
        new_prior = (t.sum(0) + smoothing) / (n + c * smoothing)
        cells = torch.einsum("nc,nkj->kcj", t, v) + smoothing
        new_conf = cells / cells.sum(-1, keepdim=True)
        # E-step: posterior of every example under the new parameters.
        scores = torch.log(new_prior) + torch.einsum("nkj,kcj->nc", v, torch.log(new_conf))
        ll = float(torch.logsumexp(scores, -1).sum())
        t = torch.softmax(scores, -1)
        if prior is not None:
            delta = max(float((new_prior - prior).abs().max()), float((new_conf - confusion).abs().max()))
            if delta < tol:
                converged = True
        prior, confusion = new_prior, new_conf
    if not converged:
        warnings.warn(
            f"Dawid-Skene EM stopped at max_iter={max_iter} without converging (a parameter still moved by more "
            f"than tol={tol}): its reliabilities, and any weights started from them, may be off; raise max_iter or "
            "check for supervisors that always agree",
            RuntimeWarning,
            stacklevel=2,
        )
    return DawidSkene(
        prior, confusion, abstain, log_likelihood=ll, iterations=iterations, converged=converged
    )


def one_factor(margins: torch.Tensor, min_correlation: float = 0.05) -> OneFactor:
    """Closed-form one-factor loadings from margins ``(N, K)``, ``K ≥ 3``: ``a_i² = C_ij C_ik / C_jk`` averaged
    over the triplets whose ``|C_jk|`` exceeds ``min_correlation``, the signs from ``sign(C_ij)`` relative to the
    most reliable supervisor, the global sign fixed so that the majority of loadings is positive.

    ``C`` is the correlation of uncentred margins: margins are antisymmetric (``d(b, a) = −d(a, b)``), so the
    uncentred moments are those of the pairs presented in both orders, independent of the presented order.
    """
    if margins.ndim != 2 or margins.shape[1] < 3:
        raise ValueError(f"the triplet estimate needs margins (N, K) with K >= 3, got {tuple(margins.shape)}")
    d = margins.double()
    scale = d.pow(2).mean(0).sqrt()
    z = d / scale.clamp_min(_TINY)
    corr = (z.T @ z) / len(z)
    k = d.shape[1]
    sq = torch.zeros(k, dtype=torch.float64)
    for i in range(k):
        est = [
            corr[i, j] * corr[i, m] / corr[j, m]
            for j, m in itertools.combinations([o for o in range(k) if o != i], 2)
            if abs(float(corr[j, m])) > min_correlation
        ]
        sq[i] = torch.stack(est).mean().clamp(0.0, 0.99**2) if est else 0.0
    mag = sq.sqrt()
    ref = int(mag.argmax())
    sign = torch.sign(corr[ref])
    sign[ref] = 1.0
    sign[sign == 0] = 1.0
    loading = sign * mag
    if float((loading > 0).double().sum()) < float((loading < 0).double().sum()):
        loading = -loading
    return OneFactor(loading, scale)


def fit_label_model(
    judgements: torch.Tensor,
    kind: str,
    estimator: str = "votes",
    abstain_quantile: float = 0.0,
    orientation: str = "symmetric",
    seed: int = 0,
    **em_kwargs,
) -> LabelModel:
    """Fit a label model on training judgements: ``kind`` ``"probs"``/``"logits"`` ``(N, K, C)`` for classes,
    ``"margins"`` ``(N, K)`` for pairs.

    ``estimator``: ``"votes"`` (Dawid–Skene on argmax votes / two-coin on ``sign(d_k)``), ``"soft"`` (on the
    probabilities / ``σ(d_k)``) or ``"triplet"`` (pairs only: :func:`one_factor`). For pairs, ``orientation``
    says how the presented order is treated: ``"symmetric"`` counts every pair in both orders (margins are
    antisymmetric), ``"random"`` flips a seeded random half of the pairs, ``"presented"`` keeps the given order
    (for judgements that are not antisymmetric, e.g. a judge that saw the order; then the pairs must be
    presented in random order, so that always preferring the first is a bias, not accuracy).
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"label-model estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if orientation not in ORIENTATIONS:
        raise ValueError(f"orientation must be one of {ORIENTATIONS}, got {orientation!r}")
    if kind != "margins":
        if estimator == "triplet":
            raise ValueError("the triplet estimate is defined for preference margins only")
        probs = as_probs(judgements, kind)
        model = dawid_skene(probs if estimator == "soft" else _one_hot_votes(probs), **em_kwargs)
        model.soft = estimator == "soft"
        return model
    if estimator == "triplet":
        return one_factor(judgements)
    thresholds = abstain_thresholds(judgements, abstain_quantile)
    votes = margin_votes(judgements, thresholds, soft=estimator == "soft")
    if orientation == "symmetric":
        votes = torch.cat([votes, votes.flip(-1)])
    elif orientation == "random":
        # an offset stream, so that data drawn with the same small seed cannot line up with the flips
        flip = torch.rand(len(votes), generator=torch.Generator().manual_seed(1_000_003 + seed)) < 0.5
        votes = torch.where(flip.view(-1, 1, 1), votes.flip(-1), votes)
    model = dawid_skene(votes, **em_kwargs)
    model.soft, model.pairs, model.thresholds = estimator == "soft", True, thresholds
    model.symmetric = orientation != "presented"
    return model


__all__ = [
    "ESTIMATORS",
    "ORIENTATIONS",
    "WEIGHTINGS",
    "DawidSkene",
    "LabelModel",
    "OneFactor",
    "abstain_thresholds",
    "as_probs",
    "dawid_skene",
    "fit_label_model",
    "margin_votes",
    "one_factor",
    "to_simplex",
]
