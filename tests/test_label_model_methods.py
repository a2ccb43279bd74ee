"""The label model in training: the `chance` weight objective against finite differences and its formula,
`weight_init="label_model"`, the `label_model` method and its `prepare` hook, in the reference loop and the
trainers."""

import pytest
import torch

from raven_align.core import (
    ClassificationWeightingArguments,
    DawidSkene,
    WeightingArguments,
    get_method,
    mix_margins,
    mix_probs,
)
from raven_align.core.losses import classification_loss, preference_loss, soft_cross_entropy
from raven_align.core.synthetic import make_linear_problem, train_linear_strong

pytestmark = pytest.mark.usefixtures("one_thread")


def _problem(b=8, k=3, c=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    probs = torch.softmax(torch.randn(b, k, c, generator=g, dtype=torch.float64) * 2, -1)
    probs[:, -1] = torch.softmax(torch.arange(c, dtype=torch.float64), -1)  # a constant supervisor
    logits = torch.randn(b, c, generator=g, dtype=torch.float64)
    w = torch.softmax(torch.randn(k, generator=g, dtype=torch.float64), 0)
    return probs, logits, w


def _grad(fn, x):
    x = x.clone().requires_grad_(True)
    fn(x).backward()
    return x.grad


def _fd(fn, x, eps=1e-6):
    return torch.stack(
        [(fn(x + eps * e) - fn(x - eps * e)) / (2 * eps) for e in torch.eye(len(x), dtype=x.dtype)]
    )


def test_chance_objective_weight_gradient_is_agreement_beyond_another_example():
    probs, logits, w = _problem()

    def loss(objective):
        return lambda w_: classification_loss(logits, mix_probs(w_, probs), objective).mean()

    def explicit(w_):  # CE on the same example minus CE on the batch's other example, written out
        f = logits.log_softmax(-1)
        other = torch.cat([probs[-1:], probs[:-1]])  # example i is paired with example i - 1
        q, q_other = mix_probs(w_, probs), mix_probs(w_, other)
        return (-(q * f).sum(-1) + (q_other * f).sum(-1)).mean()

    g = _grad(loss("chance"), w)
    assert torch.allclose(g, _fd(explicit, w), atol=1e-8)
    assert abs(float(g[-1])) < 1e-12  # the constant supervisor gets no gradient at all
    per_k = torch.stack(
        [
            (
                soft_cross_entropy(logits, probs[:, k]) - soft_cross_entropy(logits, probs[:, k].roll(1, 0))
            ).mean()
            for k in range(3)
        ]
    )
    assert torch.allclose(g, per_k, atol=1e-10)
    # the value and the strong model's gradient are those of `ce`
    assert float(loss("chance")(w)) == pytest.approx(float(loss("ce")(w)), abs=1e-12)
    lg = [
        _grad(lambda x, o=o: classification_loss(x, mix_probs(w, probs), o).mean(), logits)
        for o in ("ce", "chance")
    ]
    assert torch.allclose(lg[0], lg[1], atol=1e-12)


def test_chance_objective_on_pairs_matches_finite_differences():
    g = torch.Generator().manual_seed(3)
    margins = torch.randn(6, 3, generator=g, dtype=torch.float64) * 2
    h = torch.randn(6, generator=g, dtype=torch.float64)
    w = torch.softmax(torch.randn(3, generator=g, dtype=torch.float64), 0)
    beta = 0.5

    def soft(hh, m):
        p = torch.sigmoid(m)
        return p * torch.nn.functional.softplus(-beta * hh) + (1 - p) * torch.nn.functional.softplus(
            beta * hh
        )

    def explicit(w_):
        m = mix_margins(w_, margins)
        return (soft(h, m) - soft(h, m.roll(1, 0))).mean()

    grad = _grad(lambda w_: preference_loss(h, mix_margins(w_, margins), "soft", beta, "chance").mean(), w)
    assert torch.allclose(grad, _fd(explicit, w), atol=1e-8)
    value = preference_loss(h, mix_margins(w, margins), "soft", beta, "chance")
    assert torch.allclose(value, preference_loss(h, mix_margins(w, margins), "soft", beta), atol=1e-12)
    with pytest.raises(ValueError, match="soft"):
        preference_loss(h, mix_margins(w, margins), "paper_prob", beta, "chance")


def test_arguments_validate_and_build_label_model_weights():
    for bad in (
        dict(weight_init="lm"),
        dict(label_model="em"),
        dict(label_model_weighting="entropy"),
        dict(label_model_abstain=1.0),
        dict(weight_objective="chance2"),
    ):
        with pytest.raises(ValueError):
            WeightingArguments(**bad).validate_weighting()
    problem = make_linear_problem(
        [0.85, 0.75, 0.7, 0.5], error_kinds=["noise", "noise", "noise", "constant"], n_train=2000, seed=0
    )
    names, probs = problem.names, problem.probs_train
    fixed = WeightingArguments(supervision="label_model").build_weights(names, probs, "probs")
    assert not fixed.learnable and fixed.as_dict()["sup3"] < 1e-3
    assert fixed.weights[0] == fixed.weights.max()
    learned = WeightingArguments(weight_init="label_model", supervisor_lr=0.1).build_weights(
        names, probs, "probs"
    )
    assert learned.learnable and 1e-3 * 0.99 <= learned.as_dict()["sup3"] < 0.01  # floored, so it may regrow
    logits = WeightingArguments(weight_init="label_model").build_weights(names, probs.log(), "logits")
    assert torch.allclose(logits.initial, learned.initial)
    with pytest.raises(ValueError, match="judgements"):
        WeightingArguments(weight_init="label_model").build_weights(names)


@pytest.fixture(scope="module")
def degenerate():
    # a near-constant, confident supervisor (says class 1 on ~100% of inputs) beside three informative ones
    return make_linear_problem(
        [0.8, 0.7, 0.65, 0.5],
        error_kinds=["noise", "noise", "noise", "constant"],
        sharpness=[2.0, 4.0, 4.0, 4.0],
        n_train=2000,
        n_test=2000,
        seed=0,
    )


def test_the_paper_rule_collapses_on_a_constant_supervisor_and_the_label_model_does_not(degenerate):
    paper = train_linear_strong(degenerate, ClassificationWeightingArguments(), epochs=4)
    assert paper["weights"]["sup3"] > 0.9  # docs/options.md §4, reproduced on the synthetic problem
    lm = train_linear_strong(
        degenerate, ClassificationWeightingArguments(supervision="label_model"), epochs=4
    )
    combined = ClassificationWeightingArguments(
        weight_init="label_model",
        weight_objective="chance",
        weight_update_rule="exponentiated",
        supervisor_lr=0.1,
    )
    joint = train_linear_strong(degenerate, combined, epochs=4)
    assert joint["weights"]["sup3"] < 0.05 and joint["weights"]["sup0"] == max(joint["weights"].values())
    assert joint["history"][0] != joint["history"][-1]  # the weights were learned
    for r in (lm, joint):
        assert r["strong_accuracy"] > paper["strong_accuracy"] + 0.2


def test_label_model_method_trains_on_the_posterior():
    method = get_method("label_model")
    assert method.prepare is not None and method.weights == "label_model" and not method.easy_phase
    problem = make_linear_problem([0.85, 0.75, 0.7], n_train=512, n_test=256, seed=1)
    args = WeightingArguments(supervision="label_model")
    state = method.prepare(problem.probs_train, "probs", args)
    assert isinstance(state, DawidSkene)
    from raven_align.core.methods import ClassificationBatch

    logits = torch.randn(4, 2, requires_grad=True)
    batch = ClassificationBatch(logits, problem.probs_train[:4].mean(1), problem.probs_train[:4], state=state)
    loss = method.classification(batch, args)
    expected = soft_cross_entropy(logits, state.posterior(problem.probs_train[:4]).float())
    assert torch.allclose(loss, expected, atol=1e-6)
    with pytest.raises(ValueError, match="prepare"):
        method.classification(ClassificationBatch(logits, batch.target, batch.judgements), args)


def test_classification_trainer_label_model_reproduces_the_reference_loop(tmp_path):
    from test_classification_trainer import EPOCHS, LR, SEED, N, config, train_probe

    problem = make_linear_problem(
        [0.85, 0.75, 0.7, 0.5],
        error_kinds=["noise", "noise", "noise", "constant"],
        n_train=N,
        n_test=64,
        dim=8,
    )
    kw = dict(supervision="label_model")
    ref = train_linear_strong(
        problem, ClassificationWeightingArguments(**kw), epochs=EPOCHS, batch_size=N, lr=LR, seed=SEED
    )
    trainer = train_probe(problem, config(tmp_path / "lm", **kw))
    assert isinstance(trainer.raven_method_state, DawidSkene)
    with torch.no_grad():
        acc = float((trainer.model(problem.x_test).argmax(-1) == problem.y_test).float().mean())
    assert acc == pytest.approx(ref["strong_accuracy"], abs=1 / 64 + 1e-9)
    torch.testing.assert_close(
        torch.tensor(trainer.raven_weights.history[-1]), torch.tensor(ref["history"][-1])
    )
    # RAVEN from the label model with the chance objective: same start; the constant supervisor loses weight
    kw = dict(
        weight_init="label_model",
        weight_objective="chance",
        weight_update_rule="exponentiated",
        supervisor_lr=0.5,
        easy_phase_fraction=0.0,
    )
    trainer = train_probe(problem, config(tmp_path / "joint", per_device_train_batch_size=32, **kw))
    ref = train_linear_strong(
        problem, ClassificationWeightingArguments(**kw), epochs=EPOCHS, batch_size=32, lr=LR, seed=SEED
    )
    torch.testing.assert_close(
        torch.tensor(trainer.raven_weights.history[0]), torch.tensor(ref["history"][0])
    )
    assert trainer.raven_method_state is None
    w = trainer.raven_weights.as_dict()
    assert w["sup3"] <= trainer.raven_weights.initial[3] and w["sup0"] == max(w.values())


def test_reward_trainer_label_model_and_label_model_init(sup_tokenizer_plain, tmp_path):
    from test_reward_trainer import _data, _kw, _rm

    from raven_align.trainers import RavenRewardConfig, RavenRewardTrainer

    # pairs presented in a random order (`chosen` is the truly better response on 8 of 16); three judges of the
    # truth, right on 16, 14 and 11 pairs, and a position judge that always prefers the presented first response
    truth = [1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0]

    def judge(wrong):
        return [
            (0.5 + 0.1 * i) * (1 if t else -1) * (-1 if i in wrong else 1) for i, t in enumerate(truth)
        ], [0.0] * 16

    sups = {
        "a": judge(()),
        "b": judge((3, 9)),
        "c": judge((0, 4, 6, 10, 13)),
        "first": ([1.0] * 16, [0.0] * 16),
    }
    for kw in (
        dict(supervision="label_model"),
        dict(weight_init="label_model", weight_objective="chance", supervisor_lr=0.5),
    ):
        trainer = RavenRewardTrainer(
            _rm(sup_tokenizer_plain),
            args=RavenRewardConfig(**_kw(tmp_path / kw.get("supervision", "raven"), **kw)),
            train_dataset=_data(16, supervisors=sups),
            processing_class=sup_tokenizer_plain,
        )
        out = trainer.train()
        assert torch.isfinite(torch.tensor(out.training_loss))
        w = trainer.raven_weights.initial.tolist()
        assert sum(w) == pytest.approx(1.0)
        # no ties: the judges in the order of their accuracy, the position judge (at chance once the pairs count
        # in both orders) at the floor
        assert w[0] > w[1] > w[2] > 5 * w[3] and w[3] < 0.01, w
    assert isinstance(
        RavenRewardTrainer(
            _rm(sup_tokenizer_plain),
            args=RavenRewardConfig(**_kw(tmp_path / "x", supervision="label_model")),
            train_dataset=_data(16, supervisors=sups),
            processing_class=sup_tokenizer_plain,
        ).raven_method_state,
        DawidSkene,
    )
