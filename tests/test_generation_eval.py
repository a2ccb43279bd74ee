"""The generation evaluation: sampling is seeded and paired, the log-probabilities match a token-by-token
computation, and a policy that equals its reference gets KL 0, a win rate of exactly 0.5 and equal gold rewards."""

import json

import numpy as np
import pytest
import torch
from datasets import Dataset
from peft import LoraConfig
from tiny_models import tiny_causal_lm

from raven_align.core.measures import bootstrap_interval, preference_hits, win_indicators, with_interval
from raven_align.evaluation.generation import (
    GenerationSettings,
    completion_logprobs,
    eval_prompts,
    evaluate_generations,
    generate_reference,
    sample,
)
from raven_align.trainers import RavenDPOConfig, RavenDPOTrainer

pytestmark = pytest.mark.usefixtures("one_thread")
PROMPTS = ["Write a short review of the movie Alien.", "Review the tea.", "Review the medication.", "Hi"]


class LengthGold:
    """A stand-in gold model: the number of characters of the completion."""

    def score(self, prompts, completions):
        return np.array([float(len(c)) for c in completions])


def _trainer(tok, tmp_path):
    rows = {"prompt": PROMPTS * 2, "chosen": ["good"] * 8, "rejected": ["bad"] * 8,
            "reward_chosen__a": [1.0] * 8, "reward_rejected__a": [0.0] * 8}  # fmt: skip
    args = RavenDPOConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none", max_length=64,
                          per_device_train_batch_size=4, max_steps=1, bf16=False, gradient_checkpointing=False)  # fmt: skip
    return RavenDPOTrainer(
        tiny_causal_lm(tok, 0), args=args, train_dataset=Dataset.from_dict(rows), processing_class=tok,
        peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]),
    )  # fmt: skip


def test_sampling_is_seeded_and_logprobs_match_a_token_by_token_computation(sup_tokenizer_plain):
    tok = sup_tokenizer_plain
    model = tiny_causal_lm(tok, 0).eval()
    settings = GenerationSettings(max_new_tokens=6, batch_size=3, seed=7)
    a = sample(model, tok, PROMPTS, settings)
    assert a == sample(model, tok, PROMPTS, settings) and len(a) == len(PROMPTS)
    assert a != sample(model, tok, PROMPTS, GenerationSettings(max_new_tokens=6, batch_size=3, seed=8))
    got = completion_logprobs(model, tok, PROMPTS, a, batch_size=2)
    for p, c, value in zip(PROMPTS, a, got, strict=True):
        prompt = tok(text=p)["input_ids"]
        expected = 0.0
        with torch.no_grad():
            for i, token in enumerate(c):  # one unpadded forward per token
                logits = model(input_ids=torch.tensor([prompt + c[:i]])).logits[0, -1]
                expected += float(torch.log_softmax(logits, -1)[token])
        assert value == pytest.approx(expected, abs=1e-4)


def test_a_policy_equal_to_its_reference(sup_tokenizer_plain, tmp_path):
    trainer = _trainer(sup_tokenizer_plain, tmp_path)
    settings = GenerationSettings(max_new_tokens=8, batch_size=2, seed=0)
    reference = generate_reference(trainer, PROMPTS, settings)
    # LoRA starts with B = 0: the untrained policy is the reference, so with the same seeds it samples the same
    out = evaluate_generations(trainer, PROMPTS, reference, LengthGold(), settings)
    assert out["kl"]["mean"] == pytest.approx(0.0, abs=1e-5)
    assert out["win_rate_vs_reference"] == {"mean": 0.5, "low": 0.5, "high": 0.5}
    assert out["gold_reward_policy"] == out["gold_reward_reference"]
    assert [e["before"] for e in out["examples"]] == [e["after"] for e in out["examples"]]
    assert len(out["examples"]) == 3 and out["num_prompts"] == 4


def test_measures_with_intervals():
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 1.0, size=400)
    low, high = bootstrap_interval(x, seed=1)
    se = x.std() / np.sqrt(len(x))
    assert low < x.mean() < high and high - low == pytest.approx(
        2 * 1.96 * se, rel=0.15
    )  # the normal interval
    assert with_interval([1.0, 1.0, 1.0]) == {"mean": 1.0, "low": 1.0, "high": 1.0}
    assert win_indicators([2, 1, 1], [1, 1, 2]).tolist() == [1.0, 0.5, 0.0]
    assert preference_hits([1.0, -1.0, 0.0], [True, True, False]).tolist() == [1.0, 0.0, 0.5]


def test_eval_prompts_are_distinct_and_seeded():
    ds = Dataset.from_dict({"prompt": ["a", "b", "a", "c", "d", "b"]})
    assert eval_prompts(ds, 10, 0) == ["a", "b", "c", "d"]
    three = eval_prompts(ds, 3, 0)
    assert len(three) == 3 and three == eval_prompts(ds, 3, 0) and len(set(three)) == 3


def test_dpo_recipe_reports_generations(sup_tokenizer_plain, sup_cache, tmp_path):
    pytest.importorskip("vaderSentiment")
    from test_preference_recipe import _tiny_assets
    from test_recipe_scaleout import _dpo_argv, _run_dpo
    from tiny_models import tiny_reward_model

    model_dir, data_dir = _tiny_assets(tmp_path, sup_tokenizer_plain)
    gold = tmp_path / "gold"
    tiny_reward_model(sup_tokenizer_plain, 3).save_pretrained(gold)
    sup_tokenizer_plain.save_pretrained(gold)
    out = tmp_path / "out"
    flags = ["--evaluate_generations", "true", "--gold_model", str(gold), "--num_eval_prompts", "3",
             "--max_new_tokens", "6", "--generation_batch_size", "2"]  # fmt: skip
    results = _run_dpo(_dpo_argv(model_dir, data_dir, out, 4, *flags))
    g = results["generations"]
    # the tiny test split asks one question: one distinct prompt
    assert g["num_prompts"] == 1 and len(g["examples"]) == 1 and len(g["per_prompt"]["gold_policy"]) == 1
    for key in ("gold_reward_reference", "gold_reward_policy", "win_rate_vs_reference", "kl"):
        assert g[key]["low"] <= g[key]["mean"] <= g[key]["high"], key
    assert g["kl"]["mean"] == pytest.approx(np.mean(g["per_prompt"]["kl"]))  # what bench/report.py pools
    assert 0.0 <= g["gold_model"]["accuracy_on_target_test_pairs"]["mean"] <= 1.0
    target = results["splits"]["target"]
    hits = target["implicit_reward_accuracy_interval"]
    assert hits["mean"] == pytest.approx(target["strong_after"]["implicit_reward_accuracy"])
    assert set(target["misfit"]) == {"len", "vader", "mixture"}
    md = (out / "results.md").read_text()
    assert "## Generations (1 held-out prompts" in md and "**1.** " in md and "win rate" in md
    # the win rate and KL go to the trackers (log_history) and the model card too
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    (logged,) = [e for e in history if "final/generations/kl" in e]
    assert logged["final/generations/win_rate"] == pytest.approx(g["win_rate_vs_reference"]["mean"])
    assert logged["final/generations/kl"] == pytest.approx(g["kl"]["mean"])
    assert "`generations/win_rate`" in (out / "README.md").read_text()


def test_logprobs_are_scored_without_dropout(sup_tokenizer_plain):
    """A policy handed over in train mode (as Trainer.train leaves it) is scored in eval mode: with dropout in the
    model the log-probabilities are still deterministic and equal to the eval-mode ones, and the mode comes back."""
    from tiny_models import tiny_llama_config
    from transformers import LlamaForCausalLM

    tok = sup_tokenizer_plain
    torch.manual_seed(0)
    model = LlamaForCausalLM(tiny_llama_config(tok, attention_dropout=0.5))
    completions = [tok("good film")["input_ids"][:3], tok("bad")["input_ids"][:2]]
    model.eval()
    expected = completion_logprobs(model, tok, PROMPTS[:2], completions, batch_size=2)
    model.train()
    with torch.no_grad():  # the check can fail: in train mode this model's forward is random
        ids = torch.tensor([tok("Review the tea. good film")["input_ids"]])
        assert not torch.equal(model(input_ids=ids).logits, model(input_ids=ids).logits)
    got = completion_logprobs(model, tok, PROMPTS[:2], completions, batch_size=2)
    assert np.array_equal(got, expected) and model.training


def _token_by_token(model, tok, prompt, completion) -> float:
    """log p(completion | prompt), one unpadded forward per token (the hand computation)."""
    ids = tok(text=prompt)["input_ids"]
    total = 0.0
    with torch.no_grad():
        for i, token in enumerate(completion):
            logits = model(input_ids=torch.tensor([ids + completion[:i]])).logits[0, -1]
            total += float(torch.log_softmax(logits.float(), -1)[token])
    return total


def test_kl_of_a_moved_policy_is_the_mean_log_ratio_on_its_samples(sup_tokenizer_plain, tmp_path):
    """A policy whose LoRA adapter was moved: the reported KL is mean(log π(y|x) − log π_ref(y|x)) over the policy's
    own samples, computed here by hand with the adapter model and an independent copy of the base model. Fails if
    the sign flips, if the adapter is not switched off for the reference (KL 0), or if the samples differ."""
    tok = sup_tokenizer_plain
    trainer = _trainer(tok, tmp_path)
    settings = GenerationSettings(max_new_tokens=8, batch_size=2, seed=3)
    reference = generate_reference(trainer, PROMPTS, settings)
    policy = trainer.model
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    base = tiny_causal_lm(tok, 0).eval()  # the weights the adapter sits on, built again from the same seed
    probe = torch.tensor([tok(text=PROMPTS[0])["input_ids"]])
    with torch.no_grad(), policy.disable_adapter():
        assert torch.allclose(policy(input_ids=probe).logits, base(input_ids=probe).logits, atol=1e-5)
    out = evaluate_generations(trainer, PROMPTS, reference, LengthGold(), settings)
    samples = sample(policy, tok, PROMPTS, settings)  # the same seeds: the policy's samples evaluated above
    policy.eval()
    by_hand = [
        _token_by_token(policy, tok, p, c) - _token_by_token(base, tok, p, c)
        for p, c in zip(PROMPTS, samples, strict=True)
    ]
    assert abs(np.mean(by_hand)) > 0.05  # the adapter moved the policy: a KL of 0 would be wrong
    assert out["per_prompt"]["kl"] == pytest.approx(by_hand, abs=1e-4)
    assert out["kl"]["mean"] == pytest.approx(np.mean(by_hand), abs=1e-4)


def test_completions_keep_their_eos_and_its_log_prob_is_counted(sup_tokenizer_plain):
    """Sampling stops at the first end-of-sequence token and keeps it; the completion's log-prob includes that
    token's term (a model biased towards EOS ends most samples early)."""
    tok = sup_tokenizer_plain
    model = tiny_causal_lm(tok, 0).eval()
    head = torch.nn.Linear(model.lm_head.in_features, model.lm_head.out_features, bias=True)
    with torch.no_grad():
        head.weight.copy_(model.lm_head.weight)
        head.bias.zero_()
        head.bias[tok.eos_token_id] = 4.0
    model.lm_head = head
    settings = GenerationSettings(max_new_tokens=12, batch_size=2, seed=1)
    completions = sample(model, tok, PROMPTS, settings)
    ended = [c for c in completions if len(c) < settings.max_new_tokens]
    assert ended and all(c[-1] == tok.eos_token_id and tok.eos_token_id not in c[:-1] for c in ended)
    got = completion_logprobs(model, tok, PROMPTS, completions, batch_size=2)
    for p, c, value in zip(PROMPTS, completions, got, strict=True):
        assert value == pytest.approx(_token_by_token(model, tok, p, c), abs=1e-4)
        if c[-1] == tok.eos_token_id:  # the EOS term matters: leaving it out changes the value
            assert abs(value - _token_by_token(model, tok, p, c[:-1])) > 1e-2
