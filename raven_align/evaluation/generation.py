"""Alignment measured on generations (the DPO paper's controlled-sentiment protocol).

For held-out target prompts, completions are sampled from the reference policy (before training) and from the
trained policy, with the same seed per batch, and scored by a *gold* reward model: one trained on the target's
ground truth and never used as a supervisor (an oracle). Reported, each with a bootstrap 95% interval:

- the mean gold reward of each policy;
- the trained policy's win rate against the reference on the same prompts (ties count half);
- KL(π‖π_ref), estimated by Monte Carlo as the mean of ``log π(y|x) − log π_ref(y|x)`` over the policy's
  samples (unbiased at temperature 1 and top-p 1; otherwise a log-ratio under the sampling distribution).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..core.measures import win_indicators, with_interval
from ..utils.processes import my_shard
from .sharing import batch_share, eval_mode, gather_rows, whole_model, whole_reference


@dataclass
class GenerationSettings:
    num_prompts: int = 64
    max_new_tokens: int = 32
    temperature: float = 1.0
    top_p: float = 1.0
    batch_size: int = 16
    seed: int = 0


def eval_prompts(dataset: Any, num_prompts: int, seed: int) -> list:
    """Up to ``num_prompts`` distinct prompts of ``dataset``, a seeded sample in a stable order."""
    seen, unique = set(), []
    for p in dataset["prompt"]:
        key = repr(p)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    order = np.random.default_rng(seed).permutation(len(unique))[:num_prompts]
    return [unique[i] for i in sorted(order)]


def _prompt_ids(tokenizer, prompt) -> list[int]:
    """The prompt's tokens as TRL's DPO trainer makes them (chat template with a generation prompt for messages)."""
    if isinstance(prompt, list):
        return list(
            tokenizer.apply_chat_template(
                prompt, add_generation_prompt=True, tokenize=True, return_dict=True
            )["input_ids"]
        )
    return list(tokenizer(text=prompt)["input_ids"])


def _left_pad(rows: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r) :] = torch.tensor(r)
        mask[i, width - len(r) :] = 1
    return ids.to(device), mask.to(device)


@torch.no_grad()
def sample(
    model, tokenizer, prompts: list, settings: GenerationSettings, first_batch: int = 0
) -> list[list[int]]:
    """Completion token ids, sampled in batches with the KV cache; batch ``b`` draws from seed ``seed + b``, so two
    policies sampled with the same settings see the same random numbers (paired comparisons have less noise).
    ``first_batch``: the global index of the first batch (a process sampling a later share of the prompts)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out: list[list[int]] = []
    with eval_mode(model):
        for b, start in enumerate(range(0, len(prompts), settings.batch_size)):
            rows = [_prompt_ids(tokenizer, p) for p in prompts[start : start + settings.batch_size]]
            ids, mask = _left_pad(rows, pad, model.device)
            torch.manual_seed(settings.seed + first_batch + b)
            generated = model.generate(
                input_ids=ids,
                attention_mask=mask,
                do_sample=True,
                temperature=settings.temperature,
                top_p=settings.top_p,
                top_k=0,
                max_new_tokens=settings.max_new_tokens,
                pad_token_id=pad,
                use_cache=True,
                synced_gpus=False,  # the model is whole here (sharing.whole_model): no process waits on another
            )[:, ids.shape[1] :]
            for row in generated.tolist():
                # up to and including the first end-of-sequence token
                end = row.index(tokenizer.eos_token_id) + 1 if tokenizer.eos_token_id in row else len(row)
                out.append(row[:end])
    return out


@torch.no_grad()
def completion_logprobs(
    model, tokenizer, prompts: list, completions: list[list[int]], batch_size: int
) -> np.ndarray:
    """``log p(y|x)`` summed over each completion's tokens (in eval mode: no dropout)."""
    with eval_mode(model):
        return _completion_logprobs(model, tokenizer, prompts, completions, batch_size)


def _completion_logprobs(model, tokenizer, prompts: list, completions: list[list[int]], batch_size: int):
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out = []
    for start in range(0, len(prompts), batch_size):
        rows, spans = [], []
        for p, c in zip(
            prompts[start : start + batch_size], completions[start : start + batch_size], strict=True
        ):
            prompt = _prompt_ids(tokenizer, p)
            rows.append(prompt + c)
            spans.append(len(c))
        ids, mask = _left_pad(rows, pad, model.device)
        logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits[:, :-1].float()
        logp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None])[..., 0]
        for i, n in enumerate(spans):  # left padding: every completion ends at the last position
            out.append(float(logp[i, logp.shape[1] - n :].sum()) if n else 0.0)
    return np.asarray(out)


def decode(tokenizer, completions: list[list[int]]) -> list[str]:
    return [tokenizer.decode(c, skip_special_tokens=True) for c in completions]


def generate_reference(trainer, prompts: list, settings: GenerationSettings) -> dict:
    """Samples of the reference policy (call before training, when the policy *is* the reference). Each process
    samples its share of the prompt batches; every process returns all of them."""
    start = time.perf_counter()
    tokenizer = trainer.processing_class
    rows, first = batch_share(len(prompts), settings.batch_size)
    with whole_model(trainer) as model:
        completions = sample(model, tokenizer, [prompts[i] for i in rows], settings, first)
    completions = gather_rows(completions)
    return {
        "ids": completions,
        "texts": decode(tokenizer, completions),
        "seconds": time.perf_counter() - start,
    }


def _score_share(trainer, prompts: list, reference: dict, gold, settings: GenerationSettings) -> dict:
    """This process's share of the prompts: the policy's samples, their log-probs under the policy and the
    reference, and the gold rewards of both policies' samples."""
    tokenizer = trainer.processing_class
    rows, first = batch_share(len(prompts), settings.batch_size)
    mine = [prompts[i] for i in rows]
    with whole_model(trainer) as model:
        ids = sample(model, tokenizer, mine, settings, first)
        logp = completion_logprobs(model, tokenizer, mine, ids, settings.batch_size)
        with whole_reference(trainer, model) as ref:
            ref_logp = (
                None if ref is None else completion_logprobs(ref, tokenizer, mine, ids, settings.batch_size)
            )
    texts = decode(tokenizer, ids)
    return {
        "ids": ids,
        "texts": texts,
        "kl": None
        if ref_logp is None
        else logp - ref_logp,  # per prompt: a Monte-Carlo sample of KL(π‖π_ref)
        "gold_reference": _gold(gold, mine, [reference["texts"][i] for i in rows]),
        "gold_policy": _gold(gold, mine, texts),
    }


def _gold(gold, prompts: list, texts: list[str]) -> np.ndarray:
    """Gold rewards of ``texts`` (none for a process whose share is empty)."""
    return np.asarray(gold.score(prompts, texts), dtype=float) if prompts else np.zeros(0)


def evaluate_generations(trainer, prompts: list, reference: dict, gold, settings: GenerationSettings) -> dict:
    """Sample the trained policy on ``prompts``, score both policies with ``gold`` (a supervisor with ``score``)
    and return the gold rewards, the paired win rate, the KL estimate and three before/after examples. Each
    process scores its share of the prompts; every process returns the results of all."""
    start = time.perf_counter()
    share = _score_share(trainer, prompts, reference, gold, settings)
    policy_ids, policy_texts = gather_rows(share["ids"]), gather_rows(share["texts"])
    gold_ref, gold_policy = gather_rows(share["gold_reference"]), gather_rows(share["gold_policy"])
    kl = None if share["kl"] is None else gather_rows(share["kl"])
    results = {
        "num_prompts": len(prompts),
        "settings": vars(settings),
        "gold_reward_reference": with_interval(gold_ref),
        "gold_reward_policy": with_interval(gold_policy),
        "win_rate_vs_reference": with_interval(win_indicators(gold_policy, gold_ref)),
        "kl": None if kl is None else with_interval(kl),
        "mean_new_tokens": float(np.mean([len(c) for c in policy_ids])),
        "examples": [
            {
                "prompt": prompts[i],
                "before": reference["texts"][i],
                "after": policy_texts[i],
                "gold_before": float(gold_ref[i]),
                "gold_after": float(gold_policy[i]),
            }
            for i in range(min(3, len(prompts)))
        ],  # fmt: skip
        # kept so that bench/report.py can pool intervals over runs
        "per_prompt": {"gold_reference": gold_ref.tolist(), "gold_policy": gold_policy.tolist()}
        | ({} if kl is None else {"kl": kl.tolist()}),
        "seconds": reference["seconds"] + time.perf_counter() - start,
    }
    return results


class GenerationEvaluation:
    """The recipe's generation evaluation: built before labelling (the gold model is checked early), samples the
    reference before training and the trained policy after it."""

    def __init__(self, args, test_dataset, truth: list[bool], seed: int, gold) -> None:
        self.gold = gold  # a preference scorer (``score_pairs``), e.g. ``pipeline.gold.build_gold(spec)``
        self.settings = GenerationSettings(
            num_prompts=args.num_eval_prompts,
            max_new_tokens=args.max_new_tokens,
            temperature=args.generation_temperature,
            top_p=args.generation_top_p,
            batch_size=args.generation_batch_size,
            seed=seed,
        )
        self.test, self.truth = test_dataset, truth
        self.prompts = eval_prompts(test_dataset, args.num_eval_prompts, seed)
        self.reference: dict | None = None

    def sample_reference(self, trainer) -> None:
        self.reference = generate_reference(trainer, self.prompts, self.settings)

    def evaluate(self, trainer) -> dict:
        from ..core.measures import preference_hits

        results = evaluate_generations(trainer, self.prompts, self.reference, self.gold, self.settings)
        rows = my_shard(len(self.test))  # each process scores its share of the held-out pairs
        mine = self.test.select(rows)
        chosen, rejected = (
            self.gold.score_pairs(mine["prompt"], mine["chosen"], mine["rejected"]) if len(rows) else ([], [])
        )
        chosen, rejected = (gather_rows(np.asarray(x, dtype=float)) for x in (chosen, rejected))
        results["gold_model"] = {
            "spec": self.gold.src.identity() if hasattr(self.gold, "src") else None,
            "accuracy_on_target_test_pairs": with_interval(preference_hits(chosen - rejected, self.truth)),
        }
        return results
