"""RavenClassificationTrainer against independent computations (plain-PyTorch loops, formulas, stock Trainer).

The linear-probe tests train full-batch, so the data order cannot matter and the trainer must reproduce
``raven_align.core.synthetic.train_linear_strong`` (the reference loop) step for step: parameters and the
whole weight trajectory.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset

from raven_align.columns import PROBS_KEY
from raven_align.core import ClassificationWeightingArguments
from raven_align.core.synthetic import make_linear_problem, train_linear_strong
from raven_align.trainers.classification import RavenClassificationConfig, RavenClassificationTrainer
from raven_align.trainers.mixin import RAVEN_STATE_NAME
from raven_align.trainers.probes import LinearProbe

N, DIM, EPOCHS, LR, SEED = 256, 8, 12, 0.05, 0


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def clf_problem():
    # sup0 accurate, sup1 mediocre, sup2 biased below chance; sup2 sharp (over-confident).
    return make_linear_problem(
        [0.9, 0.7, 0.35], sharpness=[2.0, 4.0, 20.0], n_train=N, n_test=64, dim=DIM, seed=SEED
    )


def probe_dataset(problem, with_probs: bool = True) -> Dataset:
    cols = {"features": problem.x_train.tolist(), "label": problem.y_train.tolist()}
    if with_probs:
        cols.update({f"probs__{n}": problem.probs_train[:, k].tolist() for k, n in enumerate(problem.names)})
    return Dataset.from_dict(cols)


def config(tmp_path, **kw) -> RavenClassificationConfig:
    base = dict(
        output_dir=str(tmp_path),
        per_device_train_batch_size=N,
        num_train_epochs=EPOCHS,
        learning_rate=LR,
        optim="sgd",
        lr_scheduler_type="constant",
        max_grad_norm=0.0,
        weight_decay=0.0,
        seed=SEED,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
    )
    return RavenClassificationConfig(**{**base, **kw})


def train_probe(problem, args, dataset=None) -> RavenClassificationTrainer:
    torch.manual_seed(SEED)  # the reference builds its nn.Linear right after this call too
    trainer = RavenClassificationTrainer(
        LinearProbe(DIM, 2), args, train_dataset=dataset or probe_dataset(problem)
    )
    trainer.train()
    return trainer


WEIGHTING = {
    "gt": dict(supervision="gt"),
    "naive": dict(supervision="naive", naive_supervisor="sup1"),
    "ens": dict(supervision="ens"),
    "static": dict(supervision="static"),
    "conf": dict(supervision="conf"),
    "vsup": dict(supervision="vsup"),
    "bayes": dict(supervision="bayes"),
    "raven-clamp-mask": dict(supervisor_lr=0.05, easy_phase_fraction=0.25),
    "raven-exp-kl-temperature": dict(
        supervisor_lr=0.5,
        weight_update_rule="exponentiated",
        weight_objective="kl",
        supervisor_calibration="temperature",
        uniform_pull=0.1,
        easy_phase_fraction=0.2,
    ),
}


@pytest.mark.parametrize("name", list(WEIGHTING))
def test_every_method_reproduces_the_reference_loop(clf_problem, tmp_path, name):
    kw = WEIGHTING[name]
    ref = train_linear_strong(
        clf_problem, ClassificationWeightingArguments(**kw), epochs=EPOCHS, batch_size=N, lr=LR, seed=SEED
    )
    trainer = train_probe(clf_problem, config(tmp_path, **kw))
    with torch.no_grad():
        acc = float((trainer.model(clf_problem.x_test).argmax(-1) == clf_problem.y_test).float().mean())
    assert acc == pytest.approx(ref["strong_accuracy"], abs=1 / 64 + 1e-9)
    history = torch.tensor(trainer.raven_weights.history)
    assert history.shape == (EPOCHS + 1, 3)  # one update (frozen or not) per optimizer step
    torch.testing.assert_close(history, torch.tensor(ref["history"]), atol=2e-5, rtol=0)
    assert trainer.raven_phase.num_steps == ref["phase_steps"]


def test_naive_matches_training_on_one_supervisors_soft_labels(clf_problem, tmp_path):
    trainer = train_probe(clf_problem, config(tmp_path, supervision="naive", naive_supervisor="sup2"))
    torch.manual_seed(SEED)
    model = torch.nn.Linear(DIM, 2)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    for _ in range(EPOCHS):  # torch's own soft-label cross-entropy, one full batch per step
        opt.zero_grad()
        F.cross_entropy(model(clf_problem.x_train), clf_problem.probs_train[:, 2]).backward()
        opt.step()
    torch.testing.assert_close(trainer.model.linear.weight.detach(), model.weight.detach(), atol=1e-5, rtol=0)
    torch.testing.assert_close(trainer.model.linear.bias.detach(), model.bias.detach(), atol=1e-5, rtol=0)


def _formula(method: str, logits, probs, labels, w, alpha=0.0, kl_weight=0.1, mixing="probs"):
    """Each method's mean loss written out from its definition (docs/methods.md), independently of losses.py."""
    log_f = logits.log_softmax(-1)
    if mixing == "logits":
        q = torch.softmax((w.view(1, -1, 1) * probs.log()).sum(1), -1)
    else:
        q = (w.view(1, -1, 1) * probs).sum(1)
    if method == "gt":
        return -log_f.gather(1, labels[:, None]).mean()
    if method == "conf":
        t = (1 - alpha) * q + alpha * F.one_hot(logits.argmax(-1), 2)
        return -(t * log_f).sum(-1).mean()
    if method == "vsup":
        ce_s = -log_f.gather(1, logits.argmax(-1, keepdim=True))[:, 0]
        ce_w = -log_f.gather(1, q.argmax(-1, keepdim=True))[:, 0]
        a = ce_s.exp() / (ce_s.exp() + ce_w.exp())
        hard = F.one_hot(logits.argmax(-1), 2)
        return (a * -(q * log_f).sum(-1) + (1 - a) * -(hard * log_f).sum(-1)).mean()
    if method == "bayes":
        alpha_d = F.softplus(logits) + 1
        s = alpha_d.sum(-1, keepdim=True)
        fit = torch.stack(
            [(probs[:, k] * (torch.digamma(s) - torch.digamma(alpha_d))).sum(-1) for k in range(3)]
        )
        y = probs.mean(1)
        at = y + (1 - y) * alpha_d
        st = at.sum(-1)
        kl = (
            torch.lgamma(st)
            - math.lgamma(2.0)
            - torch.lgamma(at).sum(-1)
            + ((at - 1) * (torch.digamma(at) - torch.digamma(st)[:, None])).sum(-1)
        )
        return (fit.mean(0) + kl_weight * kl).mean()
    return -(q * log_f).sum(-1).mean()


@pytest.mark.parametrize(
    "method", ["gt", "naive", "ens", "static", "conf", "vsup", "bayes", "raven", "raven-logits"]
)
def test_each_methods_loss_against_its_formula(clf_problem, tmp_path, method):
    sup = method.split("-")[0]
    mixing = "logits" if method.endswith("logits") else "probs"
    extra = {"naive_supervisor": "sup1"} if sup == "naive" else {}
    args = config(tmp_path, supervision=sup, mixing=mixing, easy_phase_fraction=0.0, **extra)
    torch.manual_seed(SEED)
    trainer = RavenClassificationTrainer(LinearProbe(DIM, 2), args, train_dataset=probe_dataset(clf_problem))
    trainer.state.global_step, trainer.state.max_steps = 3, 10  # conf: α = 0.5 · 3 / 2 capped at 0.5
    batch = trainer.data_collator([probe_dataset(clf_problem)[i] for i in range(32)])
    loss = trainer.compute_loss(trainer.model, batch)
    w = trainer.raven_weights.weights.detach()
    if sup == "naive":
        assert w.tolist() == [0.0, 1.0, 0.0]
    if sup == "static":  # entropy initialisation: w_k ∝ 1 / mean entropy
        p = clf_problem.probs_train.double()
        inv = 1 / -torch.special.xlogy(p, p).sum(-1).mean(0)
        torch.testing.assert_close(w.double(), inv / inv.sum(), atol=1e-6, rtol=0)
    with torch.no_grad():
        logits = trainer.model(batch["features"])
    expected = _formula(sup, logits, batch[PROBS_KEY], batch["labels"], w, alpha=0.5, mixing=mixing)
    assert float(loss.detach()) == pytest.approx(float(expected), abs=1e-5)


@pytest.mark.parametrize("agreed", [0, 2])
def test_weights_move_toward_the_supervisor_the_strong_model_agrees_with(clf_problem, tmp_path, agreed):
    # A frozen strong model that imitates supervisor `agreed` (the accurate one, or the biased one: the
    # objective rewards agreement, not accuracy).
    args = config(
        tmp_path,
        supervisor_lr=0.5,
        weight_update_rule="exponentiated",
        easy_phase_fraction=0.0,
        learning_rate=0.0,
    )
    p = clf_problem.probs_train[:, agreed, 1].clamp(1e-6, 1 - 1e-6)
    u = torch.linalg.lstsq(clf_problem.x_train, torch.log(p / (1 - p))[:, None]).solution[:, 0]
    model = LinearProbe(DIM, 2)
    with torch.no_grad():
        model.linear.weight.copy_(torch.stack([-u, u]) * 2 / u.norm())
        model.linear.bias.zero_()
    trainer = RavenClassificationTrainer(model, args, train_dataset=probe_dataset(clf_problem))
    trainer.train()
    first, last = trainer.raven_weights.history[0], trainer.raven_weights.history[-1]
    assert last[agreed] > 0.6 and last[agreed] == max(last) and last[agreed] > first[agreed]


def test_one_weight_update_per_optimizer_step_with_gradient_accumulation(clf_problem, tmp_path):
    kw = dict(
        supervisor_lr=0.2,
        weight_update_rule="exponentiated",
        easy_phase_fraction=0.25,
        easy_phase_mode="none",
    )
    ref = train_linear_strong(
        clf_problem, ClassificationWeightingArguments(**kw), epochs=EPOCHS, batch_size=N, lr=LR, seed=SEED
    )
    calls = []
    trainer = train_probe_with_spy(
        clf_problem,
        config(tmp_path, per_device_train_batch_size=N // 2, gradient_accumulation_steps=2, **kw),
        calls,
    )
    assert trainer.state.global_step == EPOCHS and len(calls) == EPOCHS
    # Two half-batches accumulated = the full-batch gradient: the reference's trajectory, update for update.
    torch.testing.assert_close(
        torch.tensor(trainer.raven_weights.history), torch.tensor(ref["history"]), atol=2e-5, rtol=0
    )
    assert ref["history"][-1] != ref["history"][0]


def train_probe_with_spy(problem, args, calls):
    torch.manual_seed(SEED)
    trainer = RavenClassificationTrainer(LinearProbe(DIM, 2), args, train_dataset=probe_dataset(problem))
    step = trainer.raven_weights.step

    def spy(*a, **k):
        calls.append(trainer.state.global_step)
        return step(*a, **k)

    trainer.raven_weights.step = spy
    trainer.train()
    return trainer


def test_resume_continues_the_same_weight_trajectory(clf_problem, tmp_path):
    kw = dict(
        supervisor_lr=0.2,
        weight_update_rule="exponentiated",
        easy_phase_fraction=0.25,
        optim="adamw_torch",
        learning_rate=0.02,
        save_strategy="steps",
        save_steps=5,
    )
    full = train_probe(clf_problem, config(tmp_path / "a", **kw))
    full.save_model()
    ckpt = tmp_path / "a" / "checkpoint-5"
    assert (ckpt / RAVEN_STATE_NAME).is_file() and (tmp_path / "a" / RAVEN_STATE_NAME).is_file()
    torch.manual_seed(123)  # a different fresh model: everything must come from the checkpoint
    resumed = RavenClassificationTrainer(
        LinearProbe(DIM, 2), config(tmp_path / "b", **kw), train_dataset=probe_dataset(clf_problem)
    )
    resumed.train(resume_from_checkpoint=str(ckpt))
    torch.testing.assert_close(
        torch.tensor(resumed.raven_weights.history),
        torch.tensor(full.raven_weights.history),
        atol=1e-6,
        rtol=0,
    )
    torch.testing.assert_close(resumed.model.linear.weight, full.model.linear.weight, atol=1e-6, rtol=0)


def test_order_mode_puts_easy_examples_first(clf_problem, tmp_path):
    args = config(tmp_path, per_device_train_batch_size=16, easy_phase_mode="order", easy_phase_fraction=0.1)
    trainer = RavenClassificationTrainer(LinearProbe(DIM, 2), args, train_dataset=probe_dataset(clf_problem))
    order = list(trainer._get_train_sampler())
    n_easy = int(trainer.raven_train_easy.sum())
    assert 0 < n_easy < N and sorted(order) == list(range(N))
    assert bool(trainer.raven_train_easy[order[:n_easy]].all())


def test_config_validation_and_missing_columns(clf_problem, tmp_path):
    with pytest.raises(ValueError, match="mixing"):
        config(tmp_path, mixing="geometric")
    with pytest.raises(ValueError, match="naive_supervisor"):
        config(tmp_path, supervision="naive")
    with pytest.raises(ValueError, match="no supervisor judgement columns"):
        RavenClassificationTrainer(
            LinearProbe(DIM, 2), config(tmp_path), train_dataset=probe_dataset(clf_problem, False)
        )
    with pytest.raises(ValueError, match="no judgement columns for supervisors"):
        RavenClassificationTrainer(
            LinearProbe(DIM, 2),
            config(tmp_path, supervisor_names=["nope"]),
            train_dataset=probe_dataset(clf_problem),
        )
