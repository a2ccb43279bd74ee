"""Tiny Llama models built from a config for a locally trained tokenizer (nothing is downloaded)."""

import torch
from transformers import LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification


def tiny_llama_config(tok, **kwargs) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        **kwargs,
    )


def tiny_causal_lm(tok, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    return LlamaForCausalLM(tiny_llama_config(tok))


def tiny_reward_model(tok, seed: int = 0) -> LlamaForSequenceClassification:
    torch.manual_seed(seed)
    return LlamaForSequenceClassification(tiny_llama_config(tok, num_labels=1))
