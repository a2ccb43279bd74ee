"""The label models against an independent plain-numpy EM, closed forms, and synthetic supervisors whose confusion
matrices are known."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from raven_align.core.label_model import (
    DawidSkene,
    dawid_skene,
    fit_label_model,
    margin_votes,
    one_factor,
    to_simplex,
)
from raven_align.core.weights import label_model_init


def _sample_votes(confusion: np.ndarray, prior: np.ndarray, n: int, seed: int = 0):
    """Votes (N, K) drawn from known confusion matrices (K, C, C) given a truth drawn from ``prior``."""
    rng = np.random.default_rng(seed)
    y = rng.choice(len(prior), size=n, p=prior)
    cdf = confusion.cumsum(-1)[:, y]  # (K, N, C)
    u = rng.random((len(confusion), n, 1))
    votes = np.minimum((u > cdf).sum(-1), confusion.shape[2] - 1).T
    return y, votes


def _numpy_dawid_skene(votes: np.ndarray, c: int, smoothing: float, iters: int):
    """Dawid & Skene (1979) written out with loops over supervisors, from the vote counts."""
    n, k = votes.shape
    t = np.zeros((n, c))
    for i in range(n):  # majority vote
        for j in range(k):
            t[i, votes[i, j]] += 1
    t /= t.sum(1, keepdims=True)
    for _ in range(iters):
        prior = (t.sum(0) + smoothing) / (n + c * smoothing)
        conf = np.zeros((k, c, c))
        for j in range(k):
            for a in range(c):
                for b in range(c):
                    conf[j, a, b] = t[votes[:, j] == b, a].sum() + smoothing
            conf[j] /= conf[j].sum(1, keepdims=True)
        log_t = np.tile(np.log(prior), (n, 1))
        for j in range(k):
            log_t += np.log(conf[j][:, votes[:, j]]).T
        log_t -= log_t.max(1, keepdims=True)
        t = np.exp(log_t)
        t /= t.sum(1, keepdims=True)
    return prior, conf, t


def _confusions():
    good = np.array([[0.85, 0.10, 0.05], [0.10, 0.80, 0.10], [0.05, 0.15, 0.80]])
    fair = np.array([[0.65, 0.20, 0.15], [0.20, 0.60, 0.20], [0.25, 0.15, 0.60]])
    biased = np.array([[0.70, 0.25, 0.05], [0.05, 0.70, 0.25], [0.30, 0.05, 0.65]])
    constant = np.array([[0.0, 1.0, 0.0]] * 3)
    return np.stack([good, fair, biased, good[[1, 2, 0]][:, [1, 2, 0]], constant])


def test_dawid_skene_matches_an_independent_numpy_em():
    confusion, prior = _confusions(), np.array([0.5, 0.3, 0.2])
    _, votes = _sample_votes(confusion, prior, 600, seed=1)
    onehot = torch.nn.functional.one_hot(torch.as_tensor(votes), 3)
    model = dawid_skene(onehot, smoothing=0.5, tol=0.0, max_iter=30)
    ref_prior, ref_conf, ref_post = _numpy_dawid_skene(votes, 3, smoothing=0.5, iters=30)
    # our loop stops after an M-step; the reference's last parameters come from the same posterior
    assert np.allclose(model.prior.numpy(), ref_prior, atol=1e-10)
    assert np.allclose(model.confusion.numpy(), ref_conf, atol=1e-10)
    assert np.allclose(model.posterior(onehot.double()).numpy(), ref_post, atol=1e-8)


def test_dawid_skene_recovers_known_confusion_matrices():
    confusion, prior = _confusions(), np.array([0.5, 0.3, 0.2])
    y, votes = _sample_votes(confusion, prior, 8000, seed=2)
    probs = torch.nn.functional.one_hot(torch.as_tensor(votes), 3).double()
    model = fit_label_model(probs, "probs", "votes")
    assert model.converged
    assert np.abs(model.confusion.numpy() - confusion).max() < 0.04
    assert np.abs(model.prior.numpy() - prior).max() < 0.02
    true_acc = [(votes[:, k] == y).mean() for k in range(len(confusion))]
    assert np.allclose(model.accuracy.numpy(), true_acc, atol=0.03)
    # the constant supervisor carries no information and gets no weight under either weighting
    assert float(model.mutual_information()[-1]) < 1e-3
    for how in ("mi", "llr"):
        w = model.weights(how)
        assert float(w.sum()) == pytest.approx(1.0) and float(w[-1]) < 0.01
        assert min(float(w[0]), float(w[3])) > max(float(w[1]), float(w[2]))  # the two good ones lead
    # the posterior beats every single supervisor and the majority vote
    post_acc = (model.posterior(probs).argmax(-1).numpy() == y).mean()
    majority = (probs.sum(1).argmax(-1).numpy() == y).mean()
    assert post_acc > max(true_acc) + 0.03 and post_acc > majority


def test_binary_closed_forms():
    # symmetric binary supervisor with accuracy a, balanced prior: I = log 2 − H(a), LLR = log(a / (1 − a))
    a = torch.tensor([0.9, 0.7, 0.5])
    confusion = torch.stack([torch.tensor([[x, 1 - x], [1 - x, x]]) for x in a.tolist()]).double()
    model = DawidSkene(torch.tensor([0.5, 0.5]).double(), confusion, torch.zeros(3).double())
    h = -(a * a.log() + (1 - a) * (1 - a).log())
    assert torch.allclose(model.mutual_information().float(), math.log(2) - h, atol=1e-6)
    assert torch.allclose(
        model.log_likelihood_ratio().float(), torch.log(a / (1 - a)).clamp_min(0), atol=1e-6
    )
    assert torch.allclose(model.accuracy.float(), a)
    # posterior log-odds = log prior ratio + Σ_k ±LLR_k
    votes = torch.tensor([[[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]]).double()
    logit = model.posterior_logits(votes)
    expected = math.log(9) - math.log(7 / 3) + 0.0
    assert float(logit[0, 1] - logit[0, 0]) == pytest.approx(expected)


def test_soft_inputs_and_logits_agree_and_converge():
    confusion, prior = _confusions()[:4], np.array([0.4, 0.3, 0.3])
    y, votes = _sample_votes(confusion, prior, 1500, seed=3)
    onehot = torch.nn.functional.one_hot(torch.as_tensor(votes), 3).double()
    soft = 0.8 * onehot + 0.2 / 3  # probabilities whose argmax is the vote
    by_probs = fit_label_model(soft, "probs", "soft")
    by_logits = fit_label_model(soft.log(), "logits", "soft")
    assert torch.allclose(by_probs.confusion, by_logits.confusion, atol=1e-8)
    assert by_probs.soft and by_probs.converged
    votes_model = fit_label_model(soft, "probs", "votes")
    # the soft model sees blurred votes: same ranking, accuracies pulled toward chance
    assert torch.equal(by_probs.accuracy.argsort(), votes_model.accuracy.argsort())
    assert bool((by_probs.accuracy < votes_model.accuracy).all())
    again = fit_label_model(soft, "probs", "soft")
    assert torch.equal(again.confusion, by_probs.confusion)  # deterministic


def _pairs(accuracies, n=6000, seed=0, constant=True):
    """Margins (N, K) of pairs in random presented order: supervisor k's sign is right with probability a_k,
    its size random; plus a supervisor that always prefers the first-presented response."""
    g = torch.Generator().manual_seed(seed)
    truth = torch.where(torch.rand(n, generator=g) < 0.5, 1.0, -1.0)  # +1: the presented y_a is better
    cols = []
    for a in accuracies:
        right = torch.rand(n, generator=g) < a
        cols.append(torch.where(right, truth, -truth) * (0.1 + torch.rand(n, generator=g)))
    if constant:
        cols.append(torch.full((n,), 2.0))
    return truth, torch.stack(cols, 1)


@pytest.mark.parametrize("orientation", ["symmetric", "random", "presented"])
def test_two_coin_recovers_accuracies_and_ignores_a_first_position_supervisor(orientation):
    truth, margins = _pairs([0.85, 0.75, 0.65, 0.6])
    model = fit_label_model(margins, "margins", "votes", orientation=orientation)
    alpha, beta = model.confusion[:, 1, 1], model.confusion[:, 0, 0]  # P(+ | +), P(− | −)
    acc = torch.tensor([0.85, 0.75, 0.65, 0.6])
    assert torch.allclose(model.balanced_accuracy[:4].float(), acc, atol=0.02)
    # randomly flipped pairs leave the prior and the asymmetry of the coins weakly identified
    tol = 0.06 if orientation == "random" else 0.03
    assert torch.allclose(alpha[:4].float(), acc, atol=tol) and torch.allclose(
        beta[:4].float(), acc, atol=tol
    )
    if orientation == "symmetric":
        assert torch.allclose(alpha, beta, atol=1e-9) and float(model.prior[1]) == pytest.approx(0.5)
    if orientation == "presented":  # "always the first": P(+ | +) = 1, P(− | −) = 0, an uninformative bias
        assert float(alpha[4]) > 0.97 and float(beta[4]) < 0.03
    else:  # once the orientation is symmetrised or randomised it votes at chance whatever the truth
        assert abs(float(alpha[4]) - 0.5) < 0.03 and abs(float(beta[4]) - 0.5) < 0.03
    assert float(model.weights()[4]) < 0.01
    posterior = model.posterior(margins, "margins")[:, 1]
    acc = float(((posterior > 0.5).double() * 2 - 1 == truth).double().mean())
    assert acc > 0.855  # the Bayes rule gets 0.864 here; the best single supervisor 0.85


def test_two_coin_asymmetric_coins_on_presented_pairs():
    # a judge that saw the order: P(+ | +) = 0.9 but P(− | −) = 0.6 (it leans to the first response)
    g = torch.Generator().manual_seed(5)
    n = 8000
    truth = torch.rand(n, generator=g) < 0.5
    coins = [(0.9, 0.6), (0.8, 0.8), (0.7, 0.75), (0.65, 0.7)]
    cols = [
        torch.where(truth, torch.rand(n, generator=g) < a, torch.rand(n, generator=g) > b).double() * 2 - 1
        for a, b in coins
    ]
    model = fit_label_model(torch.stack(cols, 1), "margins", "votes", orientation="presented")
    assert torch.allclose(model.confusion[:, 1, 1].float(), torch.tensor([c[0] for c in coins]), atol=0.03)
    assert torch.allclose(model.confusion[:, 0, 0].float(), torch.tensor([c[1] for c in coins]), atol=0.03)


def test_abstain_quantile_turns_small_margins_into_abstentions():
    truth, margins = _pairs([0.85, 0.75, 0.65], constant=False)
    votes = margin_votes(margins, torch.tensor([0.5, 0.0, 0.0]))
    assert bool((votes[margins[:, 0].abs() <= 0.5, 0].sum(-1) == 0).all())
    assert torch.equal(votes[:, 1].sum(-1), torch.ones(len(margins), dtype=votes.dtype))
    model = fit_label_model(margins, "margins", "votes", abstain_quantile=0.3)
    assert torch.allclose(model.abstain.float(), torch.full((3,), 0.3), atol=0.01)
    assert torch.allclose(model.thresholds, torch.quantile(margins.double().abs(), 0.3, dim=0))
    # abstaining on small margins only loses information: mutual information scaled by (1 − abstain rate)
    assert float(model.mutual_information()[0]) > 0
    with pytest.raises(ValueError, match="quantile"):
        fit_label_model(margins, "margins", abstain_quantile=1.0)


def test_abstentions_scale_a_supervisors_information_by_its_voting_rate():
    # closed forms for a symmetric binary supervisor right with probability a where it votes and abstaining at rate
    # r: I = (1 − r)(log 2 − H(a)) and LLR = (1 − r) log(a / (1 − a)); the third is the first, abstaining 40%
    a, r = torch.tensor([0.9, 0.7, 0.9]).double(), torch.tensor([0.0, 0.0, 0.4]).double()
    confusion = torch.stack([torch.tensor([[x, 1 - x], [1 - x, x]]) for x in a.tolist()]).double()
    model = DawidSkene(torch.tensor([0.5, 0.5]).double(), confusion, r)
    h = -(a * a.log() + (1 - a) * (1 - a).log())
    assert torch.allclose(model.mutual_information(), (1 - r) * (math.log(2) - h), atol=1e-12)
    assert torch.allclose(model.log_likelihood_ratio(), (1 - r) * torch.log(a / (1 - a)), atol=1e-12)
    for how in ("mi", "llr"):  # the weights keep the ratio: the abstaining twin gets 0.6 of the other's
        w = model.weights(how)
        assert float(w[2] / w[0]) == pytest.approx(0.6)
    # fitted: the abstention rate is measured on the data and scales the fitted information, and only that
    truth, margins = _pairs([0.85, 0.75, 0.65], constant=False)
    fitted = fit_label_model(margins, "margins", "votes", abstain_quantile=0.3)
    voting = dataclasses.replace(fitted, abstain=torch.zeros_like(fitted.abstain))
    assert torch.allclose(fitted.abstain.float(), torch.full((3,), 0.3), atol=0.01)
    assert torch.allclose(fitted.mutual_information(), (1 - fitted.abstain) * voting.mutual_information())
    assert bool((fitted.mutual_information() < 0.75 * voting.mutual_information()).all())


def test_triplet_estimate_matches_the_closed_form_loadings():
    g = torch.Generator().manual_seed(7)
    n = 40000
    loadings = torch.tensor([0.8, 0.6, 0.4, 0.0, -0.3])
    y = torch.where(torch.rand(n, generator=g) < 0.5, 1.0, -1.0)
    eps = torch.randn(n, 5, generator=g)
    scale = torch.tensor([1.0, 3.0, 0.5, 2.0, 1.0])  # reward models of arbitrary scales
    margins = (loadings * y[:, None] + (1 - loadings**2).sqrt() * eps) * scale
    model = one_factor(margins)
    assert torch.allclose(model.loading.float(), loadings, atol=0.03)
    # a_i² = C_ij C_ik / C_jk on the exact population correlations
    c = torch.outer(loadings, loadings)
    assert float(c[0, 1] * c[0, 2] / c[1, 2]) == pytest.approx(0.64)
    w = model.weights("mi")
    assert float(w[3]) < 0.01 and float(w[4]) == 0.0 and float(w[0]) == float(w.max())
    fitted = fit_label_model(-margins, "margins", "triplet")  # flipping every pair flips no reliability
    assert torch.allclose(fitted.loading, model.loading, atol=1e-9)
    post = model.posterior(margins)[:, 1]
    assert float(((post > 0.5).double() * 2 - 1 == y).double().mean()) > 0.8
    with pytest.raises(ValueError, match="K >= 3"):
        one_factor(margins[:, :2])


def test_weights_normalise_and_floor():
    assert torch.equal(to_simplex(torch.zeros(3)), torch.full((3,), 1 / 3, dtype=torch.float64))
    confusion, prior = _confusions(), np.array([0.5, 0.3, 0.2])
    _, votes = _sample_votes(confusion, prior, 2000, seed=4)
    model = fit_label_model(torch.nn.functional.one_hot(torch.as_tensor(votes), 3).double(), "probs")
    w = label_model_init(model, "mi", floor=1e-3)
    assert float(w.sum()) == pytest.approx(1.0) and float(w.min()) >= 1e-3 * 0.99
    with pytest.raises(ValueError, match="weighting"):
        model.weights("entropy")
    with pytest.raises(ValueError, match="margins only"):
        fit_label_model(torch.ones(4, 3, 2) / 2, "probs", "triplet")


def test_em_that_stops_unconverged_says_so():
    """Dawid-Skene EM stopped by max_iter warns (its reliabilities may be off); a converged fit does not."""
    import warnings

    g = torch.Generator().manual_seed(0)
    votes = torch.nn.functional.one_hot(torch.randint(0, 2, (64, 3), generator=g), 2).float()
    with pytest.warns(RuntimeWarning, match="without converging"):
        assert not dawid_skene(votes, max_iter=2).converged
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert dawid_skene(votes).converged
