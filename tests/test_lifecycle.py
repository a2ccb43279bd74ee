"""RavenLifecycle: the one training lifecycle the trainers and the reference loop share (core/lifecycle.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

import raven_align.core.arguments as arguments
from raven_align.core import ClassificationWeightingArguments, RavenLifecycle, easy_mask, label_model_init
from raven_align.core.synthetic import make_linear_problem, train_linear_strong

pytestmark = pytest.mark.usefixtures("one_thread")

N, SEED = 96, 3
ORDER = dict(easy_phase_mode="order", easy_phase_fraction=0.2, supervisor_lr=0.1)


@pytest.fixture(scope="module")
def problem():
    return make_linear_problem([0.9, 0.7, 0.35], n_train=N, n_test=16, dim=8, seed=0)


def lifecycle(problem, **kw) -> RavenLifecycle:
    args = ClassificationWeightingArguments(**kw)
    return RavenLifecycle(args, problem.names, problem.probs_train, "probs", seed=SEED)


def epoch_orders(sampler, epochs: int) -> list[list[int]]:
    orders = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        orders.append(list(sampler))
    return orders


def is_easy_first(flags: torch.Tensor) -> bool:
    return bool((flags[:-1].int() >= flags[1:].int()).all())


def test_order_mode_is_easy_first_in_the_first_epoch_only(problem):
    run = lifecycle(problem, **ORDER)
    easy = run.easy
    assert torch.equal(easy, easy_mask(problem.probs_train, "classification")) and 0 < easy.sum() < N
    orders = epoch_orders(run.sampler(), 3)
    assert all(sorted(o) == list(range(N)) for o in orders)
    assert is_easy_first(easy[orders[0]])
    assert not is_easy_first(easy[orders[1]]) and not is_easy_first(easy[orders[2]])  # shuffled
    assert orders[1] != orders[2]
    assert epoch_orders(lifecycle(problem, **ORDER).sampler(), 3) == orders  # deterministic from the seed
    for kw in (dict(easy_phase_mode="mask"), dict(easy_phase_mode="none"), dict(easy_phase_fraction=0.0)):
        assert lifecycle(problem, **{**ORDER, **kw}).sampler() is None  # the caller shuffles
    assert lifecycle(problem, **{**ORDER, "supervision": "ens"}).sampler() is None  # no phase


def test_trainer_sampler_and_reference_loop_follow_the_same_order(problem, tmp_path, monkeypatch):
    from datasets import Dataset

    from raven_align.trainers.classification import RavenClassificationConfig, RavenClassificationTrainer
    from raven_align.trainers.probes import LinearProbe

    data = {"features": problem.x_train.tolist(), "label": problem.y_train.tolist()}
    data.update({f"probs__{n}": problem.probs_train[:, k].tolist() for k, n in enumerate(problem.names)})
    config = RavenClassificationConfig(
        output_dir=str(tmp_path), use_cpu=True, report_to="none", save_strategy="no", seed=SEED, **ORDER
    )
    trainer = RavenClassificationTrainer(LinearProbe(8, 2), config, train_dataset=Dataset.from_dict(data))
    expected = epoch_orders(lifecycle(problem, **ORDER).sampler(), 3)
    assert epoch_orders(trainer._get_train_sampler(), 3) == expected

    seen: list[torch.Tensor] = []  # the easy flags of every batch the reference loop trains on, in order
    loss_mask = RavenLifecycle.loss_mask

    def spy(self, step, easy):
        seen.append(easy)
        return loss_mask(self, step, easy)

    monkeypatch.setattr(RavenLifecycle, "loss_mask", spy)
    train_linear_strong(
        problem, ClassificationWeightingArguments(**ORDER), epochs=3, batch_size=32, seed=SEED
    )
    visited = torch.cat(seen).view(3, N)
    easy = trainer.raven_train_easy
    for epoch in range(3):
        assert torch.equal(visited[epoch], easy[expected[epoch]])


@pytest.mark.parametrize(
    "kw",
    [dict(supervision="label_model"), dict(weight_init="label_model", supervisor_lr=0.1)],
    ids=["supervision", "weight_init"],
)
def test_the_label_model_is_fitted_once(problem, monkeypatch, kw):
    calls = []
    fit = arguments.fit_label_model

    def counting(*a, **k):
        calls.append(1)
        return fit(*a, **k)

    monkeypatch.setattr(arguments, "fit_label_model", counting)
    run = lifecycle(problem, **kw)
    assert len(calls) == 1
    if kw.get("supervision") == "label_model":  # the weights come from the very model the loss uses
        assert torch.equal(run.weights.initial, label_model_init(run.method_state, "mi", 0.0).float())
    train_linear_strong(problem, ClassificationWeightingArguments(**kw), epochs=1, seed=SEED)
    assert len(calls) == 2


def test_weights_are_frozen_during_the_phase_and_on_skipped_steps(problem):
    from raven_align.trainers.mixin import _RavenCallback

    run = lifecycle(problem, supervisor_lr=0.5, weight_update_rule="exponentiated", easy_phase_fraction=0.5)
    run.start(4)  # phase: steps 0 and 1
    weights = run.weights

    def update(step, **kw):
        weights.weights.grad = torch.tensor([1.0, 0.0, -1.0])
        before = weights.weights.detach().clone()
        run.optimizer_step(step, **kw)
        return before, weights.weights.detach().clone()

    for step in (0, 1):
        assert torch.equal(*update(step))
    before, after = update(2)
    assert after[2] > before[2] and after[0] < before[0]
    assert torch.equal(*update(3, skipped=True))
    assert weights.num_updates == 4 and len(weights.history) == 5  # frozen steps still count

    # grad_scale undoes a loss scale: a doubled gradient with scale 2 is the plain one
    a, b = lifecycle(problem, supervisor_lr=0.5), lifecycle(problem, supervisor_lr=0.5)
    for r, g, scale in ((a, 1.0, 1.0), (b, 2.0, 2.0)):
        r.weights.weights.grad = torch.tensor([g, 0.0, -g])
        r.optimizer_step(0, grad_scale=scale)
    assert torch.equal(a.weights.weights, b.weights.weights) and a.weights.history[1] != a.weights.history[0]

    # the trainers' callback passes the accelerator's skipped step through
    skipped = SimpleNamespace(accelerator=SimpleNamespace(optimizer_step_was_skipped=True), raven_lifecycle=b)
    b.weights.weights.grad = torch.tensor([1.0, 0.0, -1.0])
    before = b.weights.weights.detach().clone()
    _RavenCallback(skipped).on_optimizer_step(None, SimpleNamespace(global_step=5), None)
    assert torch.equal(b.weights.weights, before) and b.weights.num_updates == 2


def test_mask_mode_masks_the_hard_examples_during_the_phase_only(problem):
    easy = torch.tensor([True, False, True, False])
    run = lifecycle(problem, easy_phase_mode="mask", easy_phase_fraction=0.5)
    assert run.loss_mask(0, easy) is None  # not started: the phase has no steps yet
    run.start(4)
    for step in (0, 1):
        assert torch.equal(run.loss_mask(step, easy), torch.tensor([1.0, 0.0, 1.0, 0.0]))
    assert run.loss_mask(2, easy) is None and run.loss_mask(3, easy) is None
    for kw in (dict(easy_phase_mode="order"), dict(easy_phase_mode="none"), dict(supervision="ens")):
        other = lifecycle(problem, **{"easy_phase_fraction": 0.5, **kw})
        other.start(4)
        assert other.loss_mask(0, easy) is None


def test_the_easy_mask_follows_the_judgements_kind(problem):
    margins = torch.tensor([[1.0, 2.0, 0.5], [1.0, -1.0, 2.0], [-1.0, -0.1, -3.0], [0.0, 1.0, 1.0]])
    args = ClassificationWeightingArguments()
    run = RavenLifecycle(args, ["a", "b", "c"], margins, "margins")
    assert run.easy.tolist() == [True, False, True, False]
    given = torch.tensor([False, False, True, True])
    assert RavenLifecycle(args, ["a", "b", "c"], margins, "margins", easy=given).easy is given
    assert RavenLifecycle(args, ["truth"]).easy is None
