"""Sequence-classification reward models (``num_labels=1``) as preference supervisors."""

from __future__ import annotations

import logging
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


def reward_input_ids(tokenizer: Any, prompt: Any, completion: Any, use_chat_template: bool) -> list[int]:
    """Token ids a reward model scores for one (prompt, completion), before truncation.

    Message lists (TRL's conversational format) go through the tokenizer's chat template, as TRL's
    ``RewardTrainer`` renders them; strings (the standard format) are ``prompt + completion + eos``, as it builds
    them, unless ``use_chat_template`` wraps them in a user and an assistant turn. Shared by the supervisor and the
    reward-model recipe, so that training and scoring see the same tokens.
    """
    if isinstance(prompt, list) or isinstance(completion, list):
        if not (isinstance(prompt, list) and isinstance(completion, list)):
            raise ValueError(
                "Mixed formats: prompt and completion must both be strings or both message lists"
            )
        messages = prompt + completion
    elif use_chat_template:
        messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}]
    else:
        text = prompt + completion
        if tokenizer.eos_token and not text.endswith(tokenizer.eos_token):
            text += tokenizer.eos_token
        return list(tokenizer(text)["input_ids"])
    return list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"])


def check_one_output(src: HFModelSource, model: Any) -> None:
    """Refuse, when the supervisor is built, a sequence classifier of several labels as a reward model: it has one
    score per class, not one reward (its config's ``num_labels``; a folder whose architectures name no
    classification head is left to the head check at load)."""
    if src.source is None:
        config = getattr(model, "config", None)
        architectures = [type(model).__name__]
    else:
        try:
            from transformers import AutoConfig

            kwargs = {"revision": src.revision} if src.revision and not src.is_local else {}
            config = AutoConfig.from_pretrained(src.source, **kwargs)
        except Exception:  # config not reachable now: the check of the logits at scoring still applies
            return
        architectures = config.architectures or []
    if config is None or not any("ForSequenceClassification" in a for a in architectures):
        return
    if config.num_labels != 1:
        raise ValueError(
            f"{src.source or type(model).__name__} has {config.num_labels} outputs (num_labels="
            f"{config.num_labels}, labels {dict(config.id2label)}): a reward model has one (num_labels=1). A "
            "classifier of classes scores classification data as `classifier:` (it is no reward for pairs); "
            "give a reward model trained with one output (e.g. with `raven-align reward`)"
        )


class RewardModelSupervisor(Supervisor):
    """Scores ``(prompt, completion)`` with a reward model (an ``AutoModelForSequenceClassification`` with one label).

    Inputs may be in TRL's standard format (strings) or conversational format (message lists), and are scored as
    a reward model is trained on them (TRL's ``RewardTrainer``, ``raven-align reward``): message lists through the
    reward model's own chat template, strings as ``prompt + completion + eos``, with no template. By default
    (``use_chat_template=None``, "auto": follow the data) and with ``False`` that is what happens;
    ``use_chat_template=True`` also wraps strings in a user turn and an assistant turn of the template (for a
    reward model trained on chat-formatted text; the tokenizer must have a template). Sequences longer than
    ``max_length`` tokens keep their first ``max_length`` tokens (with a warning).

    Args:
        model: Hub id, local folder, or a loaded model.
        tokenizer: tokenizer (or its id/path); defaults to the model's.
        name: column suffix; defaults to the last part of the id/path.
        revision: Hub revision; resolved to a commit for the identity.
        batch_size, max_length: scoring settings (part of the cache key).
        use_chat_template: whether strings go through the chat template (see above; ``None`` and ``False`` give
            the same tokens, so they share the labelling cache; ``True`` changes the key).
        device, dtype: default to the best available (CUDA bf16, else fp32 on MPS/CPU).
        model_kwargs: extra ``from_pretrained`` arguments (e.g. ``trust_remote_code``).
    """

    kind = "reward_model"

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        name: str | None = None,
        revision: str | None = None,
        batch_size: int = 16,
        max_length: int | None = 512,
        use_chat_template: bool | None = None,
        device: str | None = None,
        dtype: Any = None,
        show_progress: bool = True,
        model_kwargs: dict | None = None,
    ):
        super().__init__(name or default_name(model, "reward_model"), "preference")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.src = HFModelSource(model, revision, device, dtype, model_kwargs)
        self.src.require_head(("ForSequenceClassification", "Reward"), "sequence-classification reward model")
        check_one_output(self.src, model)
        self.tokenizer = load_tokenizer(tokenizer, model, self.src.revision)
        if self.tokenizer is None:
            raise ValueError("RewardModelSupervisor needs a tokenizer when the model is given as an object")
        ensure_pad_token(self.tokenizer)
        self.batch_size = batch_size
        self.max_length = max_length
        # whether strings are wrapped in chat turns: only when asked (auto follows the data: strings as trained)
        self.use_chat_template = bool(use_chat_template)
        if self.use_chat_template and getattr(self.tokenizer, "chat_template", None) is None:
            raise ValueError("use_chat_template=True but the tokenizer has no chat template")
        self.show_progress = show_progress

    def identity(self) -> dict[str, Any]:
        return {**self.src.identity(), "tokenizer_sha256": tokenizer_identity(self.tokenizer)}

    def settings(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "max_length": self.max_length,
            "use_chat_template": self.use_chat_template,
            "dtype": self.src.dtype_setting,
        }

    def tokenize(self, prompt: Any, completion: Any) -> list[int]:
        """Token ids of one (prompt, completion), before truncation."""
        return reward_input_ids(self.tokenizer, prompt, completion, self.use_chat_template)

    def score(self, prompts: list, completions: list, **columns: Any) -> np.ndarray:
        import torch
        from tqdm.auto import tqdm
        from transformers import AutoModelForSequenceClassification

        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
        ids = [self.tokenize(p, c) for p, c in zip(prompts, completions, strict=True)]
        if self.max_length is not None:
            n_long = sum(len(s) > self.max_length for s in ids)
            if n_long:
                logger.warning(
                    "%s: %d of %d sequences are longer than max_length=%d and were truncated",
                    self.name,
                    n_long,
                    len(ids),
                    self.max_length,
                )
            ids = [s[: self.max_length] for s in ids]
        model = self.src.get(AutoModelForSequenceClassification, strict_head=True, num_labels=1)
        ensure_pad_token(self.tokenizer, model)
        rewards = np.empty(len(ids), dtype=np.float64)
        bar = tqdm(
            total=len(ids),
            desc=f"Scoring with {self.name}",
            disable=no_progress(self.show_progress),
            unit="seq",
        )
        with torch.inference_mode(), eval_mode(model):
            for batch in length_sorted_batches([len(s) for s in ids], self.batch_size):
                input_ids, mask = pad_right(
                    [ids[i] for i in batch], self.tokenizer.pad_token_id, self.src.device
                )
                logits = model(input_ids=input_ids, attention_mask=mask).logits
                if logits.shape[-1] != 1:
                    raise ValueError(
                        f"{self.name}: a reward model must have num_labels=1, got {logits.shape[-1]}"
                    )
                rewards[batch] = logits[:, 0].float().cpu().numpy()
                bar.update(len(batch))
        bar.close()
        return rewards
