"""Tiny Llama models built from a config, and a tokenizer trained here (nothing is downloaded)."""

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


SUP_SENTENCES = [
    "Write a short review of the movie Alien.",
    "A tense, beautifully made thriller that still holds up.",
    "Dull, slow and far too long; I left halfway through.",
    "The tea tastes great and arrived quickly.",
    "Awful taste, stale and overpriced. Do not buy.",
    "This medication helped my migraines a lot.",
    "Terrible side effects, I stopped after a week.",
    "good bad great awful fine poor excellent boring",
]
SUP_CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def train_tokenizer(chat_template: str | None = None):
    """A byte-level BPE tokenizer (vocab 300) trained here, with pad/bos/eos and an optional chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<pad>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|system|>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(
        SUP_SENTENCES * 4,
        trainers.BpeTrainer(
            vocab_size=300, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    from tokenizers import decoders

    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    fast.chat_template = chat_template
    return fast
