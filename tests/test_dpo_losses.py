"""Every TRL pairwise DPO loss under the supervisor mixture (raven_align.core.pairwise), checked against TRL's own
DPOTrainer; loss_weights; the router auxiliary loss of a mixture-of-experts policy; predict() and compute_metrics."""

import copy
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from test_dpo_trainer import _config, _dataset
from tiny_models import tiny_causal_lm
from trl import DPOConfig, DPOTrainer

from raven_align.core.losses import preference_loss
from raven_align.core.mixing import bernoulli_entropy
from raven_align.core.pairwise import (
    PAIRWISE_LOSS_TYPES,
    REFUSED_LOSS_TYPES,
    PairLogRatios,
    PairLoss,
    PairwiseLoss,
)
from raven_align.trainers import RavenDPOConfig, RavenDPOTrainer

BETA = 0.5
#: label_smoothing the loss types that read it run with (robust: flip rate, exo_pair: EXO's ε)
EPS = {"robust": 0.1, "exo_pair": 1e-3}
N = 4
pytestmark = pytest.mark.usefixtures("one_thread")


def _old_soft(h, mixed, beta, objective):
    """RAVEN's `soft` preference loss as it was before the pairwise construction (the reference of bit-identity)."""
    p = torch.sigmoid(mixed)
    loss = p * F.softplus(-beta * h) + (1 - p) * F.softplus(beta * h)
    if objective == "chance":
        q, hd = torch.sigmoid(mixed.roll(1, dims=0)), h.detach()
        chance = q * F.softplus(-beta * hd) + (1 - q) * F.softplus(beta * hd)
        return loss + (chance.detach() - chance)
    if objective == "kl":
        ent = bernoulli_entropy(mixed)
        return loss + (ent.detach() - ent)
    return loss + torch.zeros_like(loss)


def _leaves(seed, n=64):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(n, generator=g) * s).requires_grad_() for s in (3.0, 3.0, 2.0)]


@pytest.mark.parametrize("objective", ["ce", "kl", "chance"])
def test_sigmoid_is_todays_soft_loss_bit_for_bit(objective):
    c, r, m = _leaves(0)
    new = preference_loss(
        c - r, m, "soft", BETA, objective, PairLoss(PairwiseLoss(beta=BETA), PairLogRatios(c, r))
    )
    new_grads = torch.autograd.grad(new.sum(), (c, r, m))
    c2, r2, m2 = _leaves(0)
    old = _old_soft(c2 - r2, m2, BETA, objective)
    old_grads = torch.autograd.grad(old.sum(), (c2, r2, m2))
    assert torch.equal(new, old)
    assert all(torch.equal(a, b) for a, b in zip(new_grads, old_grads, strict=True))
    # the reward trainer's call, on the margin alone, too
    c3, r3, m3 = _leaves(0)
    assert torch.equal(preference_loss(c3 - r3, m3, "soft", BETA, objective), old)


# -- one RAVEN trainer and one TRL trainer on the same policy, reference and pairs ------------------------------


@pytest.fixture(scope="module")
def trainers(sup_tokenizer_plain, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("losses")
    tok, data = sup_tokenizer_plain, _dataset(n=N)
    policy, ref = tiny_causal_lm(tok, 0), tiny_causal_lm(tok, 5)  # different: log-ratios ≠ 0
    trl = DPOTrainer(
        copy.deepcopy(policy),
        ref_model=copy.deepcopy(ref),
        args=DPOConfig(**_config(tmp / "trl", beta=BETA)),
        train_dataset=data.select_columns(["prompt", "chosen", "rejected"]),
        processing_class=tok,
    )
    raven = RavenDPOTrainer(
        copy.deepcopy(policy),
        ref_model=copy.deepcopy(ref),
        args=RavenDPOConfig(**_config(tmp / "raven", beta=BETA, easy_phase_fraction=0.0)),
        train_dataset=data,
        processing_class=tok,
    )
    return trl, raven


def _use(trl, raven, loss_types, loss_weights=None, eps=0.0):
    """Both trainers on these TRL loss settings (the attributes TRL's __init__ sets from its config)."""
    trl.loss_types, trl.label_smoothing = list(loss_types), eps
    trl.loss_weights = list(loss_weights or [1.0] * len(loss_types))
    raven.raven_pairwise = PairwiseLoss(tuple(loss_types), loss_weights, BETA, eps)


def _pair(trainer, i, swap=False):
    example = dict(trainer.train_dataset[i])
    if swap:
        example["chosen_ids"], example["rejected_ids"] = example["rejected_ids"], example["chosen_ids"]
    return trainer.data_collator([example])


def _raven_loss(raven, i, margin):
    """RAVEN's loss on pair i alone with every supervisor's margin `margin` (P_w = σ(margin) under uniform weights)."""
    batch = _pair(raven, i)
    batch["raven_margins"] = torch.full_like(batch["raven_margins"], margin)
    with torch.no_grad():
        return float(raven.compute_loss(raven.model, batch))


def _trl_loss(trl, i, swap=False):
    with torch.no_grad():
        return float(trl.compute_loss(trl.model, _pair(trl, i, swap)))


@pytest.mark.parametrize("loss_type", PAIRWISE_LOSS_TYPES)
def test_each_loss_is_trls_when_the_mixture_is_certain_and_its_expectation_otherwise(trainers, loss_type):
    trl, raven = trainers
    _use(trl, raven, [loss_type], eps=EPS.get(loss_type, 0.0))
    margins = torch.linspace(-2.0, 1.5, N).tolist()
    for i in range(N):
        theirs, swapped = _trl_loss(trl, i), _trl_loss(trl, i, swap=True)
        assert abs(theirs - swapped) > 1e-4  # the order matters for this pair: the check below can fail
        # P_w = 1: TRL's loss; P_w = 0: TRL's loss on the swapped pair
        assert _raven_loss(raven, i, 1e4) == pytest.approx(theirs, rel=1e-5, abs=1e-6)
        assert _raven_loss(raven, i, -1e4) == pytest.approx(swapped, rel=1e-5, abs=1e-6)
        p = torch.sigmoid(torch.tensor(margins[i])).item()
        ours = _raven_loss(raven, i, margins[i])
        assert ours == pytest.approx(p * theirs + (1 - p) * swapped, rel=1e-5, abs=1e-6)


def test_sigmoid_at_one_minus_epsilon_is_trls_label_smoothing(trainers):
    """TRL 1.16 applies label smoothing ε as −(1−ε) log σ(βΔ) − ε log σ(−βΔ) in `aot` (on one pair its sorting is
    the identity); the mixture's sigmoid loss at P_w = 1 − ε is that loss."""
    trl, raven = trainers
    eps = 0.2
    _use(trl, raven, ["sigmoid"])
    trl.loss_types, trl.label_smoothing = ["aot"], eps
    for i in range(N):
        ours = _raven_loss(raven, i, math.log((1 - eps) / eps))
        assert ours == pytest.approx(_trl_loss(trl, i), rel=1e-5)
        assert abs(ours - _raven_loss(raven, i, 1e4)) > 1e-4  # the smoothing changes the loss


def test_loss_weights_sum_the_expected_losses_as_trl_does(trainers):
    trl, raven = trainers
    types, weights = ["sigmoid", "hinge", "sppo_hard"], [0.8, 0.2, 1.0]
    per_type = []
    for t in types:
        _use(trl, raven, [t])
        per_type.append([_raven_loss(raven, i, 0.7) for i in range(N)])
    _use(trl, raven, types, weights)
    for i in range(N):
        assert _raven_loss(raven, i, 1e4) == pytest.approx(_trl_loss(trl, i), rel=1e-5)
        combined = sum(w * losses[i] for w, losses in zip(weights, per_type, strict=True))
        assert _raven_loss(raven, i, 0.7) == pytest.approx(combined, rel=1e-5)


def test_the_trainers_sigmoid_path_is_todays_formula_bit_for_bit(trainers):
    """The main job's path (soft, sigmoid, chance objective): the loss and the weights' gradient are those of the
    formula before the pairwise construction, exactly."""
    _, raven = trainers
    raven.raven_pairwise = PairwiseLoss(beta=BETA)
    raven.args.weight_objective = "chance"
    try:
        batch = raven.data_collator([raven.train_dataset[i] for i in range(N)])
        w = raven.raven_weights.weights
        w.grad = None
        loss = raven.compute_loss(raven.model, batch)
        (new_grad,) = torch.autograd.grad(loss, w)
        inputs = {k: v for k, v in batch.items() if k != "raven_margins"}
        _, _, c, r = raven._log_ratios(raven.model, inputs)
        mixed = raven.raven_weights.mix_margins(batch["raven_margins"] / raven.raven_margin_scales)
        old = _old_soft(c - r, mixed, BETA, "chance").mean()
        (old_grad,) = torch.autograd.grad(old, w)
    finally:
        raven.args.weight_objective = "ce"
    assert torch.equal(loss, old) and torch.equal(new_grad, old_grad)
    assert bool((new_grad != 0).any())


# -- the rules, at parse ---------------------------------------------------------------------------------------


def _parse(tmp_path, **kw):
    return RavenDPOConfig(output_dir=str(tmp_path / "o"), use_cpu=True, report_to="none", **kw)


@pytest.mark.parametrize("loss_type", PAIRWISE_LOSS_TYPES)
def test_every_supported_loss_type_parses(tmp_path, loss_type):
    config = _parse(tmp_path, loss_type=loss_type, label_smoothing=EPS.get(loss_type, 0.0))
    assert config.pairwise_loss().loss_types == (loss_type,)


@pytest.mark.parametrize("loss_type", list(REFUSED_LOSS_TYPES))
def test_a_refused_loss_type_is_named_with_its_reason(tmp_path, loss_type):
    with pytest.raises(ValueError, match=rf"loss_type='{loss_type}' cannot be trained .*(batch|pair)"):
        _parse(tmp_path, loss_type=["sigmoid", loss_type])


def test_the_help_lists_only_the_supported_loss_types():
    from raven_align.programs.dpo import make_parser

    action = next(a for a in make_parser()._actions if a.dest == "loss_type")
    named = set(action.help.replace("`", " ").replace(",", " ").replace(";", " ").split())
    assert set(PAIRWISE_LOSS_TYPES) <= named and not set(REFUSED_LOSS_TYPES) & named


@pytest.mark.parametrize("variant", ["paper_prob", "paper_beta_margin"])
def test_the_paper_variants_take_the_sigmoid_loss_only(tmp_path, variant):
    assert _parse(tmp_path, raven_loss_type=variant, loss_type="sigmoid").raven_loss_type == variant
    with pytest.raises(ValueError, match=rf"(?=.*raven_loss_type='{variant}')(?=.*loss_type='hinge')"):
        _parse(tmp_path, raven_loss_type=variant, loss_type="hinge")


def test_the_kl_objective_needs_the_sigmoid_loss_and_chance_takes_any(tmp_path):
    with pytest.raises(ValueError, match=r"(?=.*weight_objective='kl')(?=.*loss_type=\['hinge'\])"):
        _parse(tmp_path, weight_objective="kl", loss_type="hinge")
    assert _parse(tmp_path, weight_objective="chance", loss_type="hinge").weight_objective == "chance"


@pytest.mark.parametrize("method", ["conf", "vsup", "bayes"])
def test_classification_baselines_take_the_sigmoid_loss_only(tmp_path, method):
    with pytest.raises(ValueError, match=rf"supervision='{method}'.*loss_type=\['sigmoid'\]"):
        _parse(tmp_path, supervision=method, loss_type="ipo")


def test_label_smoothing_only_where_the_loss_reads_it(tmp_path):
    with pytest.raises(ValueError, match="label_smoothing"):
        _parse(tmp_path, label_smoothing=0.1)  # sigmoid: the mixture sets the label
    with pytest.raises(ValueError, match="exo_pair"):
        _parse(tmp_path, loss_type="exo_pair")  # EXO's ε must be > 0
    with pytest.raises(ValueError, match="robust"):
        _parse(tmp_path, loss_type="robust", label_smoothing=0.5)
    weights = _parse(tmp_path, loss_type=["sigmoid", "ipo"], loss_weights=[0.5, 2.0]).pairwise_loss()
    assert weights.loss_weights == (0.5, 2.0)


def test_a_non_sigmoid_loss_with_the_paper_variant_fails_in_the_loss_too():
    h = torch.zeros(3)
    pair = PairLoss(PairwiseLoss(("hinge",)), PairLogRatios(h, h))
    with pytest.raises(ValueError, match="paper_prob"):
        preference_loss(h, h, "paper_prob", BETA, pair_loss=pair)


# -- a mixture-of-experts policy keeps TRL's router auxiliary loss ----------------------------------------------


def _tiny_moe(tok, seed):
    from transformers import MixtralConfig, MixtralForCausalLM

    torch.manual_seed(seed)
    config = MixtralConfig(
        vocab_size=len(tok),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_local_experts=2,
        num_experts_per_tok=1,
        router_aux_loss_coef=0.5,
        max_position_embeddings=128,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    return MixtralForCausalLM(config)


def test_a_moe_policy_adds_trls_router_aux_loss(sup_tokenizer_plain, tmp_path):
    tok = sup_tokenizer_plain
    data = _dataset(n=N, rewards=lambda name, n: ([1e4] * n, [-1e4] * n))  # certain: TRL's DPO loss
    policy, ref = _tiny_moe(tok, 0), _tiny_moe(tok, 1)
    trl = DPOTrainer(
        copy.deepcopy(policy),
        ref_model=copy.deepcopy(ref),
        args=DPOConfig(**_config(tmp_path / "trl", beta=BETA)),
        train_dataset=data.select_columns(["prompt", "chosen", "rejected"]),
        processing_class=tok,
    )
    raven = RavenDPOTrainer(
        copy.deepcopy(policy),
        ref_model=copy.deepcopy(ref),
        args=RavenDPOConfig(**_config(tmp_path / "raven", beta=BETA, easy_phase_fraction=0.0)),
        train_dataset=data,
        processing_class=tok,
    )
    assert raven.aux_loss_enabled and raven.router_aux_loss_coef == 0.5
    batch = raven.data_collator([raven.train_dataset[i] for i in range(N)])
    with torch.no_grad():
        theirs = trl.compute_loss(trl.model, trl.data_collator([trl.train_dataset[i] for i in range(N)]))
        ours = raven.compute_loss(raven.model, dict(batch))
        raven.aux_loss_enabled = False
        without = raven.compute_loss(raven.model, dict(batch))
    aux = raven._metrics["train"]["aux_loss"]
    assert len(aux) == 1 and aux == pytest.approx(trl._metrics["train"]["aux_loss"], rel=1e-6)
    assert float(ours) == pytest.approx(float(theirs), rel=1e-6)
    assert float(ours - without) == pytest.approx(0.5 * aux[0], rel=1e-4) and aux[0] > 0.1


# -- predict() and compute_metrics get TRL's outputs ------------------------------------------------------------


def test_predict_hands_logits_and_labels_to_compute_metrics(sup_tokenizer_plain, tmp_path):
    tok = sup_tokenizer_plain
    seen = {}

    def compute_metrics(prediction):
        seen["logits"], seen["labels"] = prediction.predictions, prediction.label_ids
        return {"top1_of_first_token": float(prediction.predictions[:, 0].argmax(-1).mean())}

    data = _dataset(n=N)
    raven = RavenDPOTrainer(
        tiny_causal_lm(tok, 0),
        ref_model=tiny_causal_lm(tok, 5),
        args=RavenDPOConfig(**_config(tmp_path, easy_phase_fraction=0.0, per_device_eval_batch_size=2)),
        train_dataset=data,
        eval_dataset=data,
        processing_class=tok,
        compute_metrics=compute_metrics,
    )
    out = raven.predict(raven.eval_dataset)
    # the logits of every chosen and rejected row, as TRL's prediction_step returns them, and their input ids
    assert seen["logits"].shape[0] == 2 * N and seen["logits"].shape[-1] == len(tok)
    assert seen["labels"].shape == seen["logits"].shape[:2]
    assert "test_top1_of_first_token" in out.metrics and math.isfinite(out.metrics["test_loss"])
    batch = raven.data_collator([raven.eval_dataset[i] for i in range(2)])
    with torch.no_grad():
        logits = raven.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    rows = [0, 2]  # the first batch is [chosen 0, chosen 1, rejected 0, rejected 1]; the dataset's first pair
    width = logits.shape[1]
    assert torch.allclose(torch.as_tensor(out.predictions[rows, :width]), logits[[0, 2]], atol=1e-5)


def test_the_model_card_names_the_pairwise_loss(trainers, monkeypatch):
    """A hinge run's card says what trained it: RAVEN's soft loss over TRL's hinge, not only `soft`."""
    _, raven = trainers
    monkeypatch.setattr(raven.args, "loss_type", ["hinge"])
    raven.create_model_card(dataset_name="tiny-pairs")
    card = (Path(raven.args.output_dir) / "README.md").read_text()
    assert "loss `soft over hinge`" in card
