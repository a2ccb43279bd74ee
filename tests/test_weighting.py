"""The weighting core: initialisation, mixing, update rules, easy examples, phase, state."""

import math
import warnings

import pytest
import torch

from raven_align.core import (
    EasySamplePhase,
    SupervisorWeights,
    WeightingArguments,
    apply_temperature,
    easy_first_order,
    easy_mask,
    entropy,
    fit_temperatures,
    margin_scales,
    mix_logits,
    mix_margins,
    mix_probs,
)


def _random_probs(b=6, k=3, c=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(b, k, c, generator=g), -1)


# -- initialisation -----------------------------------------------------------------------------------


def test_uniform_and_explicit_init():
    assert torch.allclose(SupervisorWeights(["a", "b", "c", "d"]).weights, torch.full((4,), 0.25))
    w = SupervisorWeights(["a", "b"], init=[3.0, 1.0])
    assert torch.allclose(w.weights, torch.tensor([0.75, 0.25]))


@pytest.mark.parametrize(
    "values, message",
    [
        ([1.0], "expected 2"),
        ([1.0, -0.5], "non-negative"),
        ([0.0, 0.0], "all be zero"),
        ([1.0, math.nan], "finite"),
    ],
)
def test_explicit_init_is_validated(values, message):
    with pytest.raises(ValueError, match=message):
        SupervisorWeights(["a", "b"], init=values)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="unique"):
        SupervisorWeights(["a", "a"])
    with pytest.raises(ValueError, match="at least one"):
        SupervisorWeights([])
    with pytest.raises(ValueError, match="update_rule"):
        SupervisorWeights(["a"], update_rule="adam")
    with pytest.raises(ValueError, match="learning rate"):
        SupervisorWeights(["a"], lr=-1.0)
    with pytest.raises(ValueError, match="judgements"):
        SupervisorWeights(["a", "b"], init="entropy")


def test_entropy_init_favours_confident_supervisors():
    # supervisor 0 is one-hot-ish, supervisor 1 uniform-ish: w ∝ 1 / mean entropy
    probs = torch.tensor([[[0.97, 0.03], [0.55, 0.45]], [[0.02, 0.98], [0.5, 0.5]]])
    w = SupervisorWeights(["sharp", "flat"], init="entropy", judgements=probs, judgement_kind="probs").weights
    h = entropy(probs).mean(0)
    expected = (1 / h) / (1 / h).sum()
    assert torch.allclose(w, expected.float(), atol=1e-6)
    assert w[0] > 0.8
    # margins are read as Bernoulli logits: larger |margin| means lower entropy, more weight
    margins = torch.tensor([[4.0, 0.1], [-5.0, -0.2]])
    wm = SupervisorWeights(
        ["big", "small"], init="entropy", judgements=margins, judgement_kind="margins"
    ).weights
    assert wm[0] > wm[1]


# -- mixing -------------------------------------------------------------------------------------------


def test_mixing_matches_explicit_sums():
    probs = _random_probs()
    w = torch.tensor([0.5, 0.3, 0.2])
    expected = sum(w[k] * probs[:, k] for k in range(3))
    assert torch.allclose(mix_probs(w, probs), expected)
    logits = torch.log(probs)
    expected_l = torch.softmax(sum(w[k] * logits[:, k] for k in range(3)), -1)
    assert torch.allclose(mix_logits(w, logits), expected_l)
    margins = torch.randn(5, 3)
    assert torch.allclose(mix_margins(w, margins), (margins * w).sum(1))
    with pytest.raises(ValueError, match="shape"):
        mix_probs(torch.tensor([0.5, 0.5]), probs)


def test_margin_normalization_divides_by_std():
    margins = torch.tensor([[1.0, 10.0], [3.0, 30.0], [5.0, 50.0]])
    assert torch.allclose(margin_scales(margins, "none"), torch.ones(2))
    scales = margin_scales(margins, "std")
    assert torch.allclose(margins / scales, (margins / scales)[:, :1].expand(-1, 2))
    with pytest.raises(ValueError, match="constant"):
        margin_scales(torch.tensor([[1.0, 2.0], [1.0, 3.0]]), "std")


def test_temperature_calibration_equalises_entropy_and_keeps_argmax():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(200, 3, 4, generator=g) * torch.tensor([0.5, 2.0, 8.0]).view(1, 3, 1)
    probs = torch.softmax(logits, -1)
    temps = fit_temperatures(probs)
    calibrated = apply_temperature(probs, temps)
    h = entropy(calibrated).mean(0)
    assert torch.allclose(h, h.mean().expand(3), atol=1e-3)
    assert torch.equal(calibrated.argmax(-1), probs.argmax(-1))
    assert temps[2] > temps[1] > temps[0]  # the most over-confident supervisor is cooled down the most


# -- update rules -------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:clamp update")
@pytest.mark.parametrize("rule", ["clamp", "exponentiated"])
def test_weights_stay_on_simplex(rule):
    g = torch.Generator().manual_seed(0)
    w = SupervisorWeights([f"s{i}" for i in range(5)], lr=0.3, update_rule=rule)
    for _ in range(200):
        w.weights.grad = torch.randn(5, generator=g) * 3
        w.step()
        assert float(w.weights.detach().min()) >= 0.0
        assert abs(float(w.weights.detach().sum()) - 1.0) < 1e-5
    assert len(w.history) == 201 and w.num_updates == 200


def test_update_rules_match_their_formulas():
    g = torch.tensor([0.2, -0.1, 0.4])
    w = SupervisorWeights(["a", "b", "c"], init=[0.5, 0.3, 0.2], lr=0.1, update_rule="exponentiated")
    w.weights.grad = g.clone()
    w.step()
    expected = torch.tensor([0.5, 0.3, 0.2]) * torch.exp(-0.1 * g)
    assert torch.allclose(w.weights, expected / expected.sum(), atol=1e-6)
    c = SupervisorWeights(["a", "b", "c"], init=[0.5, 0.3, 0.2], lr=1.0, update_rule="clamp")
    c.weights.grad = torch.tensor([0.1, 0.5, -0.1])
    c.step()
    raw = torch.tensor([0.4, 1e-6, 0.3])  # 0.3 - 0.5 < 0 is clamped at 1e-6
    assert torch.allclose(c.weights, raw / raw.sum(), atol=1e-6)


def test_zero_lr_and_frozen_steps_leave_weights_unchanged():
    w = SupervisorWeights(["a", "b"], init=[0.7, 0.3], lr=0.0)
    assert not w.weights.requires_grad
    for _ in range(5):
        w.step()
    assert torch.equal(w.weights, torch.tensor([0.7, 0.3]))
    v = SupervisorWeights(["a", "b"], lr=1.0)
    v.weights.grad = torch.tensor([1.0, -1.0])
    v.step(frozen=True)
    assert torch.allclose(v.weights, torch.tensor([0.5, 0.5]))
    assert v.weights.grad is None  # the frozen step still consumes the accumulated gradient


def test_clamp_collapse_to_uniform_warns():
    w = SupervisorWeights(["a", "b", "c"], init=[0.6, 0.3, 0.1], lr=100.0, update_rule="clamp")
    w.weights.grad = torch.tensor([1.0, 2.0, 3.0])
    with pytest.warns(RuntimeWarning, match="became `ens`"):
        w.step()
    assert torch.allclose(w.weights, torch.full((3,), 1 / 3))
    e = SupervisorWeights(["a", "b", "c"], init=[0.6, 0.3, 0.1], lr=100.0, update_rule="exponentiated")
    e.weights.grad = torch.tensor([1.0, 2.0, 3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e.step()
    assert e.weights[0] > 0.99  # the largest step simply goes to the best vertex


def test_uniform_pull_moves_toward_uniform():
    w = SupervisorWeights(
        ["a", "b", "c"], init=[0.8, 0.15, 0.05], lr=0.5, update_rule="exponentiated", uniform_pull=1.0
    )
    start = float(entropy(w.weights.detach()))
    for _ in range(50):
        w.step()  # no data gradient: only the pull acts
    assert float(entropy(w.weights.detach())) > start
    assert torch.allclose(w.weights, torch.full((3,), 1 / 3), atol=1e-3)
    # against a constant gradient the pull keeps every weight strictly away from 0
    free = SupervisorWeights(["a", "b"], lr=0.5, update_rule="exponentiated")
    pulled = SupervisorWeights(["a", "b"], lr=0.5, update_rule="exponentiated", uniform_pull=0.5)
    for s in (free, pulled):
        for _ in range(100):
            s.weights.grad = torch.tensor([0.0, 0.3])
            s.step()
    assert float(free.weights[1]) < 1e-5 < 0.05 < float(pulled.weights[1])


# -- easy examples and the phase ----------------------------------------------------------------------


def test_easy_mask_classification_and_preference():
    probs = torch.tensor(
        [
            [[0.9, 0.1], [0.6, 0.4], [0.7, 0.3]],  # all say class 0: easy
            [[0.9, 0.1], [0.4, 0.6], [0.7, 0.3]],  # one disagrees
        ]
    )
    assert easy_mask(probs, "classification").tolist() == [True, False]
    margins = torch.tensor([[1.0, 2.0], [-1.0, -0.1], [1.0, -1.0], [0.0, 1.0]])
    assert easy_mask(margins, "preference").tolist() == [True, True, False, False]  # a tie is no agreement
    with pytest.raises(ValueError, match="kind"):
        easy_mask(margins, "regression")


def test_easy_phase_switches_at_the_right_step():
    phase = EasySamplePhase(fraction=0.25, mode="mask", total_steps=10)
    assert phase.num_steps == 3  # ceil(2.5)
    assert [phase.active(s) for s in range(5)] == [True, True, True, False, False]
    easy = torch.tensor([True, False])
    assert phase.loss_mask(2, easy).tolist() == [1.0, 0.0]
    assert phase.loss_mask(3, easy) is None
    assert EasySamplePhase(0.25, "order", 10).loss_mask(0, easy) is None
    assert EasySamplePhase(0.0, "mask", 10).num_steps == 0
    with pytest.raises(ValueError, match="mode"):
        EasySamplePhase(0.1, "shuffle", 10)
    with pytest.raises(ValueError, match="fraction"):
        EasySamplePhase(1.5, "mask", 10)


def test_easy_first_order_puts_easy_examples_first():
    easy = torch.tensor([False, True, False, True, True, False])
    order = easy_first_order(easy, seed=3)
    assert sorted(order) == list(range(6))
    assert all(easy[i] for i in order[:3]) and not any(easy[i] for i in order[3:])


def test_arguments_build_the_baselines():
    names = ["a", "b", "c"]
    probs = _random_probs(k=3)
    assert WeightingArguments(supervision="ens").build_weights(names).lr == 0
    naive = WeightingArguments(supervision="naive", naive_supervisor="b").build_weights(names)
    assert naive.weights.tolist() == [0.0, 1.0, 0.0]
    static = WeightingArguments(supervision="static").build_weights(names, probs, "probs")
    assert static.lr == 0 and not torch.allclose(static.weights, torch.full((3,), 1 / 3))
    raven = WeightingArguments(supervisor_lr=0.1, weight_update_rule="exponentiated").build_weights(names)
    assert raven.learnable and raven.update_rule == "exponentiated"
    assert WeightingArguments(supervision="ens").build_phase(100).num_steps == 0
    assert WeightingArguments(easy_phase_fraction=0.1).build_phase(100).num_steps == 10
    with pytest.raises(ValueError, match="naive_supervisor"):
        WeightingArguments(supervision="naive").validate_weighting()
    with pytest.raises(ValueError, match="not among"):
        WeightingArguments(supervision="naive", naive_supervisor="z").build_weights(names)
    with pytest.raises(ValueError, match="supervision"):
        WeightingArguments(supervision="magic").validate_weighting()


# -- checkpoint state ---------------------------------------------------------------------------------


def _run(weights, grads):
    for g in grads:
        weights.weights.grad = g.clone()
        weights.step()


@pytest.mark.parametrize("rule", ["clamp", "exponentiated"])
def test_state_round_trip_resumes_the_same_trajectory(rule):
    grads = [torch.randn(3, generator=torch.Generator().manual_seed(i)) for i in range(10)]
    full = SupervisorWeights(["a", "b", "c"], lr=0.2, update_rule=rule, uniform_pull=0.1)
    _run(full, grads)
    first = SupervisorWeights(["a", "b", "c"], lr=0.2, update_rule=rule, uniform_pull=0.1)
    _run(first, grads[:4])
    state = first.state_dict()
    resumed = SupervisorWeights(["a", "b", "c"])  # constructed with other settings on purpose
    resumed.load_state_dict(state)
    _run(resumed, grads[4:])
    assert torch.equal(resumed.weights, full.weights)
    assert resumed.history == full.history and resumed.num_updates == 10
    with pytest.raises(ValueError, match="do not match"):
        SupervisorWeights(["x", "y", "z"]).load_state_dict(state)
