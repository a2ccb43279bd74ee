"""The implicit reward of a DPO-trained policy as a preference supervisor."""

from __future__ import annotations

import logging
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from ._hf import (
    HFModelSource,
    default_name,
    ensure_pad_token,
    eval_mode,
    load_tokenizer,
    pad_right,
    tokenizer_identity,
)
from .base import Supervisor, length_sorted_batches, no_progress

logger = logging.getLogger(__name__)


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class ImplicitRewardSupervisor(Supervisor):
    """``r(x, y) = beta * (log pi(y|x) - log pi_ref(y|x))``, log-probabilities summed over the response tokens.

    Tokenization follows TRL's ``DPOTrainer``: standard format appends EOS to the response and tokenizes
    ``prompt`` and ``prompt + response`` (the response starts where the two diverge; for pairs, the shorter
    of the two prefixes, as TRL does); conversational format renders the prompt with the generation prompt.
    Sequences are cut to their first ``max_length`` tokens, like TRL's collator.

    Args:
        policy: the DPO-trained policy (Hub id, folder, PEFT adapter folder, or model object).
        ref_model: the reference policy; ``None`` for a PEFT policy means "the policy with its adapter disabled".
        beta: the DPO temperature the policy was trained with.
    """

    kind = "implicit_reward"

    def __init__(
        self,
        policy: Any,
        ref_model: Any = None,
        tokenizer: Any = None,
        *,
        beta: float = 0.1,
        name: str | None = None,
        batch_size: int = 8,
        max_length: int | None = 1024,
        use_chat_template: bool = False,
        device: str | None = None,
        dtype: Any = None,
        show_progress: bool = True,
    ):
        super().__init__(name or default_name(policy, "implicit_reward"), "preference")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self._adapter_dir = (
            isinstance(policy, str | Path) and (Path(policy) / "adapter_config.json").is_file()
        )
        self.policy = HFModelSource(policy, None, device, dtype, None)
        self.ref = (
            HFModelSource(ref_model, None, self.policy.device, dtype, None) if ref_model is not None else None
        )
        if self.ref is None and not (self._adapter_dir or hasattr(policy, "disable_adapter")):
            raise ValueError(
                "ref_model is required unless the policy is a PEFT model (its adapter is then disabled)"
            )
        self.tokenizer = load_tokenizer(tokenizer, policy, None)
        if self.tokenizer is None:
            raise ValueError(
                "ImplicitRewardSupervisor needs a tokenizer when the policy is given as an object"
            )
        ensure_pad_token(self.tokenizer)
        if use_chat_template and getattr(self.tokenizer, "chat_template", None) is None:
            raise ValueError("use_chat_template=True but the tokenizer has no chat template")
        self.beta, self.batch_size, self.max_length = float(beta), batch_size, max_length
        self.use_chat_template, self.show_progress = use_chat_template, show_progress

    def identity(self) -> dict[str, Any]:
        return {
            "policy": self.policy.identity(),
            "ref": self.ref.identity() if self.ref is not None else "policy with adapter disabled",
            "tokenizer_sha256": tokenizer_identity(self.tokenizer),
        }

    def settings(self) -> dict[str, Any]:
        return {
            "beta": self.beta,
            "batch_size": self.batch_size,
            "max_length": self.max_length,
            "use_chat_template": self.use_chat_template,
            "dtype": self.policy.dtype_setting,
        }

    # --------------------------------------------------------------------------------------------- tokenization
    def _encode(self, prompt: Any, completions: list) -> list[tuple[list[int], int]]:
        """(token ids of prompt + completion, prompt length) for completions that share ``prompt``."""
        tok = self.tokenizer
        if isinstance(prompt, str) and self.use_chat_template:
            prompt = [{"role": "user", "content": prompt}]
            completions = [[{"role": "assistant", "content": c}] for c in completions]
        if isinstance(prompt, list):
            prompt_ids = list(
                tok.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=True)[
                    "input_ids"
                ]
            )
            full = [
                list(tok.apply_chat_template(prompt + c, tokenize=True, return_dict=True)["input_ids"])
                for c in completions
            ]
        else:
            eos = tok.eos_token or ""
            prompt_ids = list(tok(prompt)["input_ids"])
            full = [list(tok(prompt + (c if c.endswith(eos) else c + eos))["input_ids"]) for c in completions]
        plen = min(_common_prefix(prompt_ids, f) for f in full)
        return [(f, plen) for f in full]

    # --------------------------------------------------------------------------------------------- scoring
    def _logps(self, model: Any, encoded: list[tuple[list[int], int]], batches, bar, disable_adapter: bool):
        import torch

        out = np.empty(len(encoded), dtype=np.float64)
        ctx = model.disable_adapter() if disable_adapter else nullcontext()
        with torch.inference_mode(), eval_mode(model), ctx:
            for batch in batches:
                seqs = [encoded[i][0] for i in batch]
                ids, mask = pad_right(seqs, self.tokenizer.pad_token_id, self.policy.device)
                logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
                token_logps = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
                # Position t predicts token t+1: response tokens are those at index >= prompt length.
                pos = torch.arange(1, ids.shape[1], device=ids.device)[None, :]
                plen = torch.tensor([encoded[i][1] for i in batch], device=ids.device)[:, None]
                keep = (pos >= plen) & mask[:, 1:].bool()
                out[batch] = (token_logps * keep).sum(-1).cpu().numpy()
                bar.update(len(batch))
        return out

    def _rewards(self, encoded: list[tuple[list[int], int]]) -> np.ndarray:
        from tqdm.auto import tqdm
        from transformers import AutoModelForCausalLM

        if self.max_length is not None:
            n_long = sum(len(s) > self.max_length for s, _ in encoded)
            if n_long:
                logger.warning(
                    "%s: %d of %d sequences exceed max_length=%d and were cut",
                    self.name,
                    n_long,
                    len(encoded),
                    self.max_length,
                )
            encoded = [(s[: self.max_length], p) for s, p in encoded]
        auto = AutoModelForCausalLM
        if self._adapter_dir:
            from peft import AutoPeftModelForCausalLM

            auto = AutoPeftModelForCausalLM
        policy = self.policy.get(auto)
        batches = length_sorted_batches([len(s) for s, _ in encoded], self.batch_size)
        bar = tqdm(
            total=2 * len(encoded),
            desc=f"Implicit reward of {self.name}",
            disable=no_progress(self.show_progress),
        )
        lp = self._logps(policy, encoded, batches, bar, disable_adapter=False)
        if self.ref is not None:
            lp_ref = self._logps(
                self.ref.get(AutoModelForCausalLM), encoded, batches, bar, disable_adapter=False
            )
        else:
            lp_ref = self._logps(policy, encoded, batches, bar, disable_adapter=True)
        bar.close()
        return self.beta * (lp - lp_ref)

    def score(self, prompts: list, completions: list, **columns: Any) -> np.ndarray:
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
        return self._rewards([self._encode(p, [c])[0] for p, c in zip(prompts, completions, strict=True)])

    def score_pairs(
        self, prompts: list, chosen: list, rejected: list, **columns: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        encoded = [self._encode(p, [c, r]) for p, c, r in zip(prompts, chosen, rejected, strict=True)]
        rewards = self._rewards([e[0] for e in encoded] + [e[1] for e in encoded])
        return rewards[: len(prompts)], rewards[len(prompts) :]
