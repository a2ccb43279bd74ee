"""Held-out preference evaluation of a DPO policy: implicit-reward and log-probability margins per pair."""

from __future__ import annotations

from contextlib import nullcontext

import torch
from tqdm.auto import tqdm
from trl.trainer.dpo_trainer import DataCollatorForPreference

from ..core.measures import preference_accuracy
from ..utils.processes import my_shard
from .sharing import gather_rows, is_first_process, whole_model

_MODEL_KEYS = ("input_ids", "attention_mask")


def _logps(model, batch) -> torch.Tensor:
    """Summed completion log-probs per sequence (TRL's fused LM head, as in training)."""
    completion_mask = batch["completion_mask"]
    labels = batch["input_ids"].masked_fill(completion_mask == 0, -100)
    out = model(**{k: batch[k] for k in _MODEL_KEYS}, labels=labels, use_cache=False, fused_lm_head=True)
    return out.log_probs[:, -(completion_mask.size(1) - 1) :].sum(dim=1)


def _length(example: dict) -> int:
    return len(example["prompt_ids"]) + max(len(example["chosen_ids"]), len(example["rejected_ids"]))


@torch.no_grad()
def preference_margins(
    trainer, dataset, batch_size: int = 8, desc: str = "Scoring pairs", reference: list[float] | None = None
) -> dict[str, list[float]]:
    """For each pair of ``dataset`` (TRL preference format): the policy's log-prob margin
    ``log π(chosen) - log π(rejected)``, the reference's, and their difference ``h`` (the implicit reward
    margin divided by β). Pairs keep their order; nothing is dropped (``max_length`` truncates).

    ``reference`` reuses the reference margins of an earlier call on the same pairs (the reference never
    changes), halving the cost; ``reference="policy"`` declares the policy to be the reference (before any
    training step), so only one forward runs.
    """
    prepared = trainer._prepare_dataset(dataset, trainer.processing_class, trainer.args, "raven_eval")
    if len(prepared) != len(dataset):
        raise ValueError(f"{len(dataset) - len(prepared)} evaluation pairs were dropped by truncation")
    collator = DataCollatorForPreference(
        pad_token_id=trainer.processing_class.pad_token_id,
        max_length=trainer.args.max_length,
        truncation_mode=trainer.args.truncation_mode,
    )
    examples = [prepared[i] for i in range(len(prepared))]
    # Each process scores a contiguous share of the pairs, in batches of similar length: a batch is padded to its
    # longest sequence, so on held-out sets of mixed lengths this saves much of the compute.
    share = list(my_shard(len(examples)))
    order = sorted(share, key=lambda i: _length(examples[i]))
    policy, ref_margins = {}, {}
    separate_ref = reference is None and trainer.ref_model is not None
    with (
        whole_model(trainer) as model,
        whole_model(trainer, trainer.ref_model) if separate_ref else nullcontext() as ref,
    ):
        for start in tqdm(range(0, len(order), batch_size), desc=desc, disable=not is_first_process()):
            idx = order[start : start + batch_size]
            batch = {
                k: v.to(trainer.accelerator.device) for k, v in collator([examples[i] for i in idx]).items()
            }
            chosen, rejected = _logps(model, batch).chunk(2)
            policy.update(zip(idx, (chosen - rejected).float().cpu().tolist(), strict=True))
            if reference is None:
                # TRL's own reference pass: the PEFT base (or its "ref" adapter), or the separate reference
                ref_chosen, ref_rejected = trainer.compute_ref_log_probs(ref or model, batch)
                ref_margins.update(zip(idx, (ref_chosen - ref_rejected).float().cpu().tolist(), strict=True))
    policy = gather_rows([policy[i] for i in share])
    ref_margins = gather_rows([ref_margins[i] for i in share]) if reference is None else None
    if reference == "policy":
        reference = policy
    reference = ref_margins if reference is None else list(reference)
    if len(reference) != len(policy):
        raise ValueError(f"{len(reference)} reference margins for {len(policy)} pairs")
    return {
        "policy": policy,
        "reference": reference,
        "h": [p - r for p, r in zip(policy, reference, strict=True)],
    }


def preference_report(margins: dict[str, list[float]], a_preferred=None) -> dict[str, float]:
    """Accuracies of the implicit reward (``h``) and of the raw log-prob margins against the truth."""
    return {
        "implicit_reward_accuracy": preference_accuracy(margins["h"], a_preferred),
        "policy_logprob_accuracy": preference_accuracy(margins["policy"], a_preferred),
        "reference_logprob_accuracy": preference_accuracy(margins["reference"], a_preferred),
    }
