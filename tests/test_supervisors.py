"""Supervisors against independent computations on tiny models built from configs (offline, CPU)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from raven_align.supervisors import (
    CallableSupervisor,
    ClassifierSupervisor,
    ColumnSupervisor,
    ImplicitRewardSupervisor,
    RewardModelSupervisor,
    Supervisor,
)
from raven_align.supervisors.base import length_sorted_batches
from raven_align.utils.hashing import hash_callable

torch.set_num_threads(1)

PROMPTS = [
    "Write a short review of the movie Alien.",
    "Review the tea.",
    "How was the medication?",
    "Write a short review of the movie Alien.",
    "Review the tea.",
]
COMPLETIONS = [
    "A tense, beautifully made thriller that still holds up.",
    "Awful.",
    "Terrible side effects, I stopped after a week and would not take it again.",
    "Dull.",
    "The tea tastes great and arrived quickly.",
]


def _forward_reward(model, ids: list[int]) -> float:
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0, 0].item()


def test_reward_model_batched_sorted_equals_single_forward_with_template(sup_reward_model, sup_tokenizer):
    sup = RewardModelSupervisor(
        sup_reward_model, sup_tokenizer, name="rm", batch_size=2, use_chat_template=True, show_progress=False
    )
    assert sup.use_chat_template  # asked for: standard inputs are rendered through the template
    got = sup.score(PROMPTS, COMPLETIONS)
    expected = []
    for p, c in zip(PROMPTS, COMPLETIONS, strict=True):
        text = sup_tokenizer.apply_chat_template(
            [{"role": "user", "content": p}, {"role": "assistant", "content": c}], tokenize=False
        )
        expected.append(
            _forward_reward(sup_reward_model, sup_tokenizer(text, add_special_tokens=False)["input_ids"])
        )
    assert len({len(c) for c in COMPLETIONS}) > 2  # the batches really are padded
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert np.std(got) > 0  # distinct inputs give distinct rewards (the test would catch a constant)


def test_reward_model_conversational_equals_standard_with_template(sup_reward_model, sup_tokenizer):
    sup = RewardModelSupervisor(sup_reward_model, sup_tokenizer, name="rm", batch_size=4, show_progress=False)
    templated = RewardModelSupervisor(
        sup_reward_model, sup_tokenizer, name="rm", batch_size=4, use_chat_template=True, show_progress=False
    )
    conv_p = [[{"role": "user", "content": p}] for p in PROMPTS]
    conv_c = [[{"role": "assistant", "content": c}] for c in COMPLETIONS]
    # by default message lists go through the template, as TRL's RewardTrainer renders them
    np.testing.assert_allclose(sup.score(conv_p, conv_c), templated.score(PROMPTS, COMPLETIONS), rtol=1e-6)


def test_reward_model_without_template_matches_trl_reward_trainer_text(sup_reward_model, sup_tokenizer_plain):
    sup = RewardModelSupervisor(
        sup_reward_model, sup_tokenizer_plain, name="rm", batch_size=3, show_progress=False
    )
    assert not sup.use_chat_template
    got = sup.score(PROMPTS, COMPLETIONS)
    # TRL's RewardTrainer (standard format): tokenize(prompt + completion + eos).
    expected = [
        _forward_reward(sup_reward_model, sup_tokenizer_plain(p + c + "</s>")["input_ids"])
        for p, c in zip(PROMPTS, COMPLETIONS, strict=True)
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_reward_model_truncates_to_max_length(sup_reward_model, sup_tokenizer):
    sup = RewardModelSupervisor(sup_reward_model, sup_tokenizer, name="rm", max_length=6, show_progress=False)
    got = sup.score(PROMPTS[:2], COMPLETIONS[:2])
    expected = [
        _forward_reward(sup_reward_model, sup.tokenize(p, c)[:6])
        for p, c in zip(PROMPTS[:2], COMPLETIONS[:2], strict=True)
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_reward_model_from_local_folder_identity_and_scores(sup_reward_model, sup_tokenizer, tmp_path):
    sup_reward_model.save_pretrained(tmp_path / "rm")
    sup_tokenizer.save_pretrained(tmp_path / "rm")
    from_disk = RewardModelSupervisor(str(tmp_path / "rm"), batch_size=2, show_progress=False)
    in_memory = RewardModelSupervisor(
        sup_reward_model, sup_tokenizer, name="rm", batch_size=2, show_progress=False
    )
    assert from_disk.name == "rm"
    ident = from_disk.identity()
    assert ident["path"] == str((tmp_path / "rm").resolve()) and len(ident["sha256"]) == 64
    assert from_disk.src._loaded is None  # the identity is known without loading the weights
    np.testing.assert_allclose(
        from_disk.score(PROMPTS, COMPLETIONS), in_memory.score(PROMPTS, COMPLETIONS), rtol=1e-5
    )
    # Changing the weights on disk changes the identity.
    with torch.no_grad():
        sup_reward_model.score.weight.add_(1.0)
    sup_reward_model.save_pretrained(tmp_path / "rm")
    assert (
        RewardModelSupervisor(str(tmp_path / "rm"), show_progress=False).identity()["sha256"]
        != ident["sha256"]
    )


def test_identity_and_settings_track_weights_and_scoring_options(sup_reward_model, sup_tokenizer):
    a = RewardModelSupervisor(sup_reward_model, sup_tokenizer, name="rm", show_progress=False)
    b = RewardModelSupervisor(copy.deepcopy(sup_reward_model), sup_tokenizer, name="rm", max_length=64)
    assert a.identity() == b.identity() and a.settings() != b.settings()
    with torch.no_grad():
        b.src._model.score.weight.mul_(2.0)
    assert a.identity() != b.identity()
    assert a.describe()["kind"] == "reward_model" and a.describe()["task"] == "preference"


def test_reward_model_rejects_multi_label_models(sup_tokenizer, sup_llama_config):
    from transformers import LlamaForSequenceClassification

    model = LlamaForSequenceClassification(sup_llama_config(sup_tokenizer, num_labels=2))
    with pytest.raises(ValueError, match="num_labels=1"):
        RewardModelSupervisor(model, sup_tokenizer, name="rm", show_progress=False).score(
            PROMPTS, COMPLETIONS
        )


def test_classifier_text_probs_equal_softmax_of_single_forward(sup_bert_classifier, sup_tokenizer):
    texts = COMPLETIONS + ["good", "awful poor boring"]
    sup = ClassifierSupervisor(
        sup_bert_classifier, sup_tokenizer, name="clf", batch_size=3, show_progress=False
    )
    assert sup.modality == "text"
    probs = sup.predict_proba(texts)
    with torch.no_grad():
        expected = np.stack(
            [
                torch.softmax(
                    sup_bert_classifier(**sup_tokenizer(t, return_tensors="pt")).logits[0], -1
                ).numpy()
                for t in texts
            ]
        )
    assert probs.shape == (len(texts), 3)
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)


def test_classifier_plain_torch_module_equals_numpy_softmax():
    torch.manual_seed(0)
    module = torch.nn.Linear(4, 3)
    x = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    sup = ClassifierSupervisor(module, name="lin", batch_size=4, show_progress=False)
    assert sup.modality == "tensor"
    logits = x @ module.weight.detach().numpy().T + module.bias.detach().numpy()
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(sup.predict_proba(list(x)), expected, rtol=1e-5, atol=1e-6)
    # A module that already outputs probabilities is passed through.
    probs_module = torch.nn.Sequential(module, torch.nn.Softmax(-1))
    sup_p = ClassifierSupervisor(probs_module, name="p", outputs="probs", show_progress=False)
    np.testing.assert_allclose(sup_p.predict_proba(list(x)), expected, rtol=1e-5, atol=1e-6)
    assert module.training  # scoring put it in eval mode only while it ran


def test_classifier_image_model_equals_direct_forward():
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(0)
    model = ViTForImageClassification(
        ViTConfig(
            image_size=8,
            patch_size=4,
            num_channels=3,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            num_labels=4,
        )
    ).eval()
    processor = ViTImageProcessor(size={"height": 8, "width": 8})
    images = [np.random.default_rng(i).integers(0, 255, size=(8, 8, 3), dtype=np.uint8) for i in range(5)]
    sup = ClassifierSupervisor(model, processor, name="vit", batch_size=2, show_progress=False)
    assert sup.modality == "image"
    with torch.no_grad():
        logits = model(pixel_values=processor(images=images, return_tensors="pt")["pixel_values"]).logits
    np.testing.assert_allclose(
        sup.predict_proba(images), torch.softmax(logits, -1).numpy(), rtol=1e-5, atol=1e-6
    )


def words_reward(prompts, completions, **kwargs):
    return [
        float(len(c.split()))
        + (0.5 if kwargs.get("domain", [None] * len(completions))[i] == "movies" else 0.0)
        for i, c in enumerate(completions)
    ]


def test_callable_supervisor_trl_signature_columns_and_chunks():
    calls = []

    def f(prompts, completions, **kwargs):
        calls.append(len(prompts))
        return words_reward(prompts, completions, **kwargs)

    sup = CallableSupervisor(f, name="words", batch_size=2, show_progress=False)
    domain = ["movies", "food", "drugs", "movies", "food"]
    got = sup.score(PROMPTS, COMPLETIONS, domain=domain)
    expected = [
        len(c.split()) + (0.5 if d == "movies" else 0.0) for c, d in zip(COMPLETIONS, domain, strict=True)
    ]
    np.testing.assert_array_equal(got, expected)
    assert calls == [2, 2, 1]
    chosen, rejected = sup.score_pairs(PROMPTS[:2], COMPLETIONS[:2], COMPLETIONS[2:4], domain=domain[:2])
    np.testing.assert_array_equal(chosen, expected[:2])
    np.testing.assert_array_equal(
        rejected,
        [
            len(c.split()) + (0.5 if d == "movies" else 0)
            for c, d in zip(COMPLETIONS[2:4], domain[:2], strict=True)
        ],
    )


def test_callable_identity_is_name_and_source_hash():
    ns1, ns2 = {}, {}
    exec("def judge(prompts, completions, **kw):\n    return [1.0] * len(completions)\n", ns1)
    exec("def judge(prompts, completions, **kw):\n    return [2.0] * len(completions)\n", ns2)
    a = CallableSupervisor(words_reward, show_progress=False)
    assert a.name == "words_reward"
    assert a.identity()["callable"].endswith("test_supervisors.words_reward")
    assert a.identity() == CallableSupervisor(words_reward, name="other").identity()
    # exec'd functions have no source file: their repr is hashed, which differs between the two objects.
    assert hash_callable(ns1["judge"]) != hash_callable(words_reward)
    assert CallableSupervisor(words_reward, version="2").identity() != a.identity()


def _make_scaled(k):
    def scaled(prompts, completions, **kw):
        return [k * len(c) for c in completions]

    return scaled


class _Scaled:
    def __init__(self, k):
        self.k, self._calls = k, 0

    def __call__(self, prompts, completions, **kw):
        self._calls += 1
        return [self.k * len(c) for c in completions]


def test_callable_identity_covers_closures_partials_and_attributes():
    import functools

    ident = lambda fn: CallableSupervisor(fn).identity()  # noqa: E731
    assert ident(_make_scaled(1)) == ident(_make_scaled(1))
    assert ident(_make_scaled(1)) != ident(_make_scaled(2))  # same source, different closure value
    assert ident(functools.partial(words_reward, scale=1)) != ident(functools.partial(words_reward, scale=2))
    a = _Scaled(1)
    before = ident(a)
    a([""], ["x"])
    assert ident(a) == before  # private bookkeeping (_calls) does not change the identity
    assert ident(_Scaled(2)) != before


def test_column_supervisor_reads_columns():
    pref = ColumnSupervisor("gt", chosen_column="rc", rejected_column="rr")
    c, r = pref.score_pairs(["p"] * 2, ["a", "b"], ["c", "d"], rc=[1.0, 2.0], rr=[0.5, 3.0])
    np.testing.assert_array_equal(c, [1.0, 2.0])
    np.testing.assert_array_equal(r, [0.5, 3.0])
    clf = ColumnSupervisor("p", column="probs")
    assert clf.task == "classification" and clf.extra_columns == ("probs",)
    np.testing.assert_array_equal(clf.predict_proba(["x"], probs=[[0.2, 0.8]]), [[0.2, 0.8]])
    with pytest.raises(ValueError):
        ColumnSupervisor("bad", column="p", chosen_column="c")


def _hand_logp(model, prompt_ids: list[int], completion_ids: list[int]) -> float:
    """Sum of log p(token) over the completion tokens, one forward, no padding."""
    ids = torch.tensor([prompt_ids + completion_ids])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].double(), -1)
    return sum(logp[len(prompt_ids) - 1 + t, tok].item() for t, tok in enumerate(completion_ids))


def test_implicit_reward_equals_hand_computed_log_prob_difference(sup_causal_lms, sup_tokenizer_plain):
    policy, ref = sup_causal_lms
    beta = 0.3
    sup = ImplicitRewardSupervisor(
        policy, ref, sup_tokenizer_plain, beta=beta, batch_size=2, show_progress=False
    )
    got = sup.score(PROMPTS, COMPLETIONS)
    expected = []
    for p, c in zip(PROMPTS, COMPLETIONS, strict=True):
        prompt_ids = sup_tokenizer_plain(p)["input_ids"]
        full = sup_tokenizer_plain(p + c + "</s>")["input_ids"]
        assert full[: len(prompt_ids)] == prompt_ids  # here the prompt tokens are a prefix
        comp = full[len(prompt_ids) :]
        expected.append(beta * (_hand_logp(policy, prompt_ids, comp) - _hand_logp(ref, prompt_ids, comp)))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert np.all(np.abs(got) > 1e-4)  # two different models: not trivially zero
    chosen, rejected = sup.score_pairs(PROMPTS[:3], COMPLETIONS[:3], COMPLETIONS[2:5])
    np.testing.assert_allclose(chosen, expected[:3], rtol=1e-4, atol=1e-5)


def test_implicit_reward_conversational_uses_generation_prompt(sup_causal_lms, sup_tokenizer):
    policy, ref = sup_causal_lms
    sup = ImplicitRewardSupervisor(policy, ref, sup_tokenizer, beta=1.0, show_progress=False)
    prompt = [{"role": "user", "content": PROMPTS[0]}]
    completion = [{"role": "assistant", "content": COMPLETIONS[0]}]
    got = sup.score([prompt], [completion])[0]
    prompt_ids = sup_tokenizer.apply_chat_template(
        prompt, add_generation_prompt=True, tokenize=True, return_dict=True
    )["input_ids"]
    full = sup_tokenizer.apply_chat_template(prompt + completion, tokenize=True, return_dict=True)[
        "input_ids"
    ]
    comp = full[len(prompt_ids) :]
    assert full[: len(prompt_ids)] == prompt_ids and len(comp) > 3
    assert got == pytest.approx(
        _hand_logp(policy, prompt_ids, comp) - _hand_logp(ref, prompt_ids, comp), rel=1e-4
    )


def test_implicit_reward_peft_policy_uses_disabled_adapter_as_reference(sup_causal_lms, sup_tokenizer_plain):
    from peft import LoraConfig, get_peft_model

    base, _ = sup_causal_lms
    ref = copy.deepcopy(base)
    torch.manual_seed(5)
    policy = get_peft_model(
        base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    no_ref = ImplicitRewardSupervisor(policy, None, sup_tokenizer_plain, beta=0.5, show_progress=False)
    with_ref = ImplicitRewardSupervisor(policy, ref, sup_tokenizer_plain, beta=0.5, show_progress=False)
    a, b = no_ref.score(PROMPTS, COMPLETIONS), with_ref.score(PROMPTS, COMPLETIONS)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert np.all(np.abs(a) > 1e-5)  # the random LoRA weights do change the log-probs
    assert no_ref.identity()["ref"] == "policy with adapter disabled"


def test_implicit_reward_requires_a_reference_for_plain_models(sup_causal_lms, sup_tokenizer):
    with pytest.raises(ValueError, match="ref_model is required"):
        ImplicitRewardSupervisor(sup_causal_lms[0], None, sup_tokenizer)


def test_supervisor_names_and_helpers():
    with pytest.raises(ValueError, match="column suffix"):
        CallableSupervisor(words_reward, name="bad name/with slash")
    with pytest.raises(TypeError):
        Supervisor("x", "preference")  # abstract
    batches = length_sorted_batches([3, 10, 1, 7, 7], 2)
    assert [b.tolist() for b in batches] == [[1, 3], [4, 0], [2]]
