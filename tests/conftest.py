"""Shared fixtures: tiny models built from configs and a tokenizer trained here (nothing is downloaded).

Fixtures from the supervisors/labelling work are prefixed ``sup_``.
"""

from __future__ import annotations

import pytest
from tiny_models import SUP_CHAT_TEMPLATE, train_tokenizer


@pytest.fixture(scope="session")
def sup_tokenizer():
    """A byte-level BPE tokenizer (vocab 300) with a pad token and a chat template."""
    return train_tokenizer(SUP_CHAT_TEMPLATE)


@pytest.fixture(scope="session")
def sup_tokenizer_plain():
    """The same tokenizer without a chat template."""
    return train_tokenizer(None)


def _sup_llama_config(tokenizer, **kwargs):
    from tiny_models import tiny_llama_config

    return tiny_llama_config(tokenizer, **kwargs)


@pytest.fixture(scope="session")
def sup_llama_config():
    """``make(tokenizer, **overrides)`` -> a 2-layer, 32-wide ``LlamaConfig`` matching the tokenizer."""
    return _sup_llama_config


@pytest.fixture()
def sup_reward_model(sup_tokenizer):
    """A tiny Llama sequence-classification model with one label (a reward model), fp32, eval mode."""
    import torch
    from transformers import LlamaForSequenceClassification

    torch.manual_seed(0)
    return LlamaForSequenceClassification(_sup_llama_config(sup_tokenizer, num_labels=1)).eval()


@pytest.fixture()
def sup_causal_lms(sup_tokenizer):
    """Two different tiny Llama causal LMs (a "policy" and a "reference")."""
    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(1)
    policy = LlamaForCausalLM(_sup_llama_config(sup_tokenizer)).eval()
    torch.manual_seed(2)
    ref = LlamaForCausalLM(_sup_llama_config(sup_tokenizer)).eval()
    return policy, ref


@pytest.fixture()
def sup_bert_classifier(sup_tokenizer):
    """A tiny BERT sequence classifier with 3 labels."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(3)
    config = BertConfig(
        vocab_size=len(sup_tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=256,
        num_labels=3,
        pad_token_id=sup_tokenizer.pad_token_id,
    )
    return BertForSequenceClassification(config).eval()


@pytest.fixture()
def sup_cache(tmp_path, monkeypatch):
    """An empty raven_align cache directory for this test (also set as $RAVEN_ALIGN_CACHE)."""
    path = tmp_path / "raven_cache"
    monkeypatch.setenv("RAVEN_ALIGN_CACHE", str(path))
    return path


@pytest.fixture()
def one_thread():
    """Probe-sized models run ~10x faster on one torch thread on this CPU (modules opt in with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# -- spies of the bad-input tests (tests/test_bad_inputs_*.py): an error seen instead came before the step


@pytest.fixture()
def no_labelling(monkeypatch):
    """Labelling in the DPO recipe raises: an error seen instead came before it. (The check of the policy that
    runs just before labelling is skipped: these tests name a policy that is never loaded.)"""
    from raven_align.programs import dpo

    def spy(*a, **k):
        raise AssertionError("labelling started before the error")

    monkeypatch.setattr(dpo, "label_dataset", spy)
    monkeypatch.setattr(dpo, "check_policy", lambda model_args: None)


@pytest.fixture()
def no_weak_training(monkeypatch):
    """Weak-model training in the classification recipe raises."""
    from raven_align.programs import classify

    def spy(*a, **k):
        raise AssertionError("weak models started training before the error")

    monkeypatch.setattr(classify, "train_weak_supervisor", spy)
