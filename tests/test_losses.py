"""Losses against independent computations: finite differences, closed forms, TRL's formula, Monte Carlo."""

import math

import pytest
import torch
import torch.nn.functional as F

from raven_align.core import mix_margins, mix_probs
from raven_align.core.losses import (
    adaptive_confidence_loss,
    classification_loss,
    conf_alpha,
    confidence_loss,
    evidential_loss,
    margins_as_probs,
    masked_mean,
    preference_as_classification,
    preference_loss,
    soft_cross_entropy,
)


@pytest.fixture(autouse=True)
def _float64():
    # finite differences need double precision; restore the default for the other modules
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def _problem(b=8, k=3, c=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    probs = torch.softmax(torch.randn(b, k, c, generator=g) * 2, -1)
    logits = torch.randn(b, c, generator=g)
    w = torch.softmax(torch.randn(k, generator=g), 0)
    return probs, logits, w


def _mean_loss(w, probs, logits, objective="ce"):
    return classification_loss(logits, mix_probs(w, probs), objective).mean()


def test_weight_gradient_matches_finite_differences_and_closed_form():
    probs, logits, w = _problem()
    w = w.clone().requires_grad_(True)
    _mean_loss(w, probs, logits).backward()
    eps = 1e-6
    fd = torch.stack(
        [
            (
                _mean_loss(w.detach() + eps * e, probs, logits)
                - _mean_loss(w.detach() - eps * e, probs, logits)
            )
            / (2 * eps)
            for e in torch.eye(3)
        ]
    )
    assert torch.allclose(w.grad, fd, atol=1e-8)
    # docs/method.md: ∂L/∂w_k = E[CE(p_k, f)], i.e. E[CE(p_k, f) − CE(q_w, f)] up to a constant shared by all k
    ce_k = torch.stack([soft_cross_entropy(logits, probs[:, k]).mean() for k in range(3)])
    assert torch.allclose(w.grad, ce_k, atol=1e-10)
    ce_q = soft_cross_entropy(logits, mix_probs(w.detach(), probs)).mean()
    centred = w.grad - (w.detach() * w.grad).sum()
    assert torch.allclose(centred, ce_k - ce_q, atol=1e-10)


def test_kl_objective_changes_only_the_weights_gradient():
    probs, logits, w = _problem(seed=1)
    grads = {}
    for objective in ("ce", "kl"):
        wt = w.clone().requires_grad_(True)
        lt = logits.clone().requires_grad_(True)
        loss = _mean_loss(wt, probs, lt, objective)
        loss.backward()
        grads[objective] = (float(loss.detach()), wt.grad, lt.grad)
    assert grads["ce"][0] == pytest.approx(grads["kl"][0], abs=1e-12)  # the reported loss is CE in both
    assert torch.allclose(grads["ce"][2], grads["kl"][2])  # the strong model's gradient is identical
    # an independent KL(q_w || f)
    wt = w.clone().requires_grad_(True)
    q = mix_probs(wt, probs)
    kl = (q * (torch.log(q) - F.log_softmax(logits, -1))).sum(-1).mean()
    kl.backward()
    assert torch.allclose(grads["kl"][1], wt.grad, atol=1e-10)
    assert not torch.allclose(grads["ce"][1], grads["kl"][1])


def test_soft_preference_with_certain_mixture_is_sigmoid_dpo():
    h = torch.tensor([-3.0, -0.2, 0.0, 0.7, 5.0])
    beta = 0.1
    dpo = -F.logsigmoid(beta * h)
    assert torch.allclose(preference_loss(h, torch.full_like(h, math.inf), "soft", beta), dpo)
    assert torch.allclose(
        preference_loss(h, torch.full_like(h, -math.inf), "soft", beta), -F.logsigmoid(-beta * h)
    )


@pytest.mark.parametrize("p", [0.5, 0.7, 0.95])
def test_soft_preference_is_trl_label_smoothing(p):
    h = torch.linspace(-4, 4, 9)
    beta, eps = 0.5, 1 - p
    trl_style = -F.logsigmoid(beta * h) * (1 - eps) - F.logsigmoid(-beta * h) * eps  # TRL's sigmoid loss
    m = torch.full_like(h, math.log(p / (1 - p)))  # σ(m) = p
    assert torch.allclose(preference_loss(h, m, "soft", beta), trl_style, atol=1e-12)
    # the same number through the two-class view that the conf/vsup/bayes baselines use
    two_class = soft_cross_entropy(preference_as_classification(h, beta), margins_as_probs(m[:, None])[:, 0])
    assert torch.allclose(two_class, trl_style, atol=1e-12)


@pytest.mark.parametrize("q", [1.0, 0.9, 0.6])
def test_gt_confidence_is_conservative_dpo_on_the_truth(q):
    """supervision='gt' with gt_confidence q: -[q log σ(βh) + (1-q) log σ(-βh)] toward the truly better side."""
    from types import SimpleNamespace

    from raven_align.core.methods import PreferenceBatch, get_method

    h = torch.linspace(-4, 4, 9)
    truth = torch.tensor([True, False] * 4 + [True])
    beta = 0.5
    s = torch.where(truth, 1.0, -1.0)  # the truly better side's margin is s·h
    by_hand = -q * F.logsigmoid(beta * s * h) - (1 - q) * F.logsigmoid(-beta * s * h)
    batch = PreferenceBatch(h=h, mixed=torch.zeros_like(h), margins=torch.zeros(9, 2), truth=truth, beta=beta)
    loss = get_method("gt").preference(batch, SimpleNamespace(gt_confidence=q))
    assert torch.allclose(loss, by_hand, atol=1e-12)
    assert torch.isfinite(loss).all()


def test_soft_preference_weight_gradient_matches_finite_differences():
    g = torch.Generator().manual_seed(2)
    margins, h, w = (
        torch.randn(6, 3, generator=g),
        torch.randn(6, generator=g) * 3,
        torch.tensor([0.2, 0.5, 0.3]),
    )
    for objective in ("ce", "kl"):

        def f(wv, objective=objective):
            return preference_loss(h, mix_margins(wv, margins), "soft", 0.3, objective).mean()

        wt = w.clone().requires_grad_(True)
        f(wt).backward()
        fd = torch.stack([(f(w + 1e-6 * e) - f(w - 1e-6 * e)) / 2e-6 for e in torch.eye(3)])
        if objective == "ce":
            assert torch.allclose(wt.grad, fd, atol=1e-8)
        else:  # KL between the two Bernoulli preferences

            def kl(wv):
                p = torch.sigmoid(mix_margins(wv, margins))
                s = torch.sigmoid(0.3 * h)
                return (p * torch.log(p / s) + (1 - p) * torch.log((1 - p) / (1 - s))).mean()

            fd_kl = torch.stack([(kl(w + 1e-6 * e) - kl(w - 1e-6 * e)) / 2e-6 for e in torch.eye(3)])
            assert torch.allclose(wt.grad, fd_kl, atol=1e-8)


def test_paper_variants_orient_by_the_mixture():
    h = torch.tensor([1.0, 1.0, -2.0])
    m = torch.tensor([2.0, -2.0, -0.5], requires_grad=True)
    beta = 0.1
    p_chosen = torch.sigmoid(m.detach().abs())
    s = torch.tensor([1.0, -1.0, -1.0])
    expected_prob = -F.logsigmoid(p_chosen * s * h)
    got = preference_loss(h, m, "paper_prob", beta)
    assert torch.allclose(got, expected_prob)
    assert torch.allclose(preference_loss(h, m, "paper_prob", beta=7.0), got)  # β unused
    expected_bm = -F.logsigmoid((beta + 2 * p_chosen - 1) * s * h)
    assert torch.allclose(preference_loss(h, m, "paper_beta_margin", beta), expected_bm)
    got.sum().backward()
    assert bool((m.grad != 0).all())  # the weights are reached through c
    with pytest.raises(ValueError, match="soft"):
        preference_loss(h, m, "paper_prob", weight_objective="kl")
    with pytest.raises(ValueError, match="variant"):
        preference_loss(h, m, "ipo")


def test_masked_mean():
    v = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    assert float(masked_mean(v, torch.tensor([1.0, 0.0, 1.0])).detach()) == 2.0
    zero = masked_mean(v, torch.zeros(3))
    zero.backward()
    assert float(zero.detach()) == 0.0 and torch.equal(v.grad, torch.zeros(3))


def test_conf_schedule_and_loss():
    assert conf_alpha(0, 100) == 0.0
    assert conf_alpha(10, 100) == pytest.approx(0.25)
    assert conf_alpha(20, 100) == conf_alpha(90, 100) == 0.5
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.5]])
    q = torch.tensor([[0.2, 0.7, 0.1], [0.6, 0.2, 0.2]])
    target = 0.7 * q + 0.3 * torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert torch.allclose(confidence_loss(logits, q, 0.3), soft_cross_entropy(logits, target))


def test_vsup_matches_a_per_example_computation():
    logits = torch.tensor([[2.0, 0.0], [0.1, 0.0], [-1.0, 3.0]])
    q = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    got = adaptive_confidence_loss(logits, q)
    for i in range(3):
        f = torch.softmax(logits[i], 0).tolist()
        ys, yw = max(range(2), key=lambda c: f[c]), max(range(2), key=lambda c: float(q[i, c]))
        ce_s, ce_w = -math.log(f[ys]), -math.log(f[yw])
        a = math.exp(ce_s) / (math.exp(ce_s) + math.exp(ce_w))
        soft = -sum(float(q[i, c]) * math.log(f[c]) for c in range(2))
        assert float(got[i]) == pytest.approx(a * soft + (1 - a) * ce_s, rel=1e-10)


def test_evidential_loss_matches_monte_carlo_and_dirichlet_kl():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 3, generator=g)
    teachers = torch.softmax(torch.randn(2, 4, 3, generator=g), -1)
    alpha = F.softplus(logits) + 1
    torch.manual_seed(0)
    samples = torch.distributions.Dirichlet(alpha).sample((200_000,))  # (S, B, C)
    mc = -(teachers.mean(1) * torch.log(samples).mean(0)).sum(-1)
    assert torch.allclose(evidential_loss(logits, teachers, kl_weight=0.0), mc, rtol=5e-3)
    y = teachers.mean(1)
    alpha_t = y + (1 - y) * alpha
    kl = torch.distributions.kl_divergence(
        torch.distributions.Dirichlet(alpha_t), torch.distributions.Dirichlet(torch.ones(3))
    )
    full = evidential_loss(logits, teachers, kl_weight=0.5)
    assert torch.allclose(full, evidential_loss(logits, teachers, 0.0) + 0.5 * kl, atol=1e-10)
