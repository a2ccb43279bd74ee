"""RavenDPOTrainer: TRL's DPOTrainer with the per-pair target set by the learned supervisor mixture.

TRL 1.16's ``DPOTrainer`` computes the policy forward, the reference log-probs, the loss and the metrics
in one ``_compute_loss`` body with no per-pair hook, so this subclass overrides ``compute_loss`` and
reuses everything around it: dataset preparation and tokenisation, the fused LM head, PEFT and
reference handling (``compute_ref_log_probs``, precomputed reference log-probs), collation, logging,
``prediction_step``. The loss is TRL's ``loss_type`` in expectation under the mixture
(:mod:`raven_align.core.pairwise`), plus TRL's router auxiliary loss for a mixture-of-experts policy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers.utils import ModelOutput
from trl import DPOTrainer

from ..columns import EVAL_GT_KEY, GT_KEY, MARGINS_KEY, preference_signature_columns
from ..core import easy_mask
from ..core.losses import masked_mean
from ..core.pairwise import PairLogRatios, PairLoss
from .dpo_config import RavenDPOConfig
from .mixin import RavenTrainerMixin
from .model_card import raven_paper
from .preference import (
    RavenPreferenceCollator,
    eval_pairs,
    prepare_supervision,
    shared_on_disk,
    start_preference_supervision,
    supervised_preference_loss,
)

_NON_MODEL_KEYS = {"completion_mask", "ref_chosen_logps", "ref_rejected_logps"}


@dataclass
class RavenDPOOutput(ModelOutput):
    """What ``compute_loss(..., return_outputs=True)`` returns: the ``logits`` that TRL's ``prediction_step`` hands to
    ``compute_metrics`` (recomputed without gradient, as TRL does: the fused LM head builds none), and RAVEN's
    per-pair policy margin ``h`` and mixed margin ``mixed_margin``."""

    logits: torch.Tensor | None = None
    h: torch.Tensor | None = None
    mixed_margin: torch.Tensor | None = None


class RavenDPOTrainer(RavenTrainerMixin, DPOTrainer):
    """DPO from several weak reward models, weighted by RAVEN (or a baseline, via ``args.supervision``).

    The train dataset is in TRL's preference format plus judgement columns
    ``reward_chosen__<name>`` / ``reward_rejected__<name>`` per supervisor (see ``raven-align label``); an
    ``eval_dataset`` carries the same columns. Its evaluation logs TRL's ``eval_*`` metrics plus
    ``eval_raven/agreement`` and ``eval_raven/mixture_prob``, and, where its pairs have a truth column
    (``eval_gt_column``; default ``gt_column``, else ``gt_label``), ``eval_raven/accuracy`` (the policy's implicit
    reward against the truth) and ``eval_raven/mixture_accuracy`` (the learned mixture's).
    """

    _tag_names = ["trl", "dpo", "raven", "weak-to-strong"]
    _name = "RAVEN DPO"
    _paper = raven_paper(DPOTrainer._paper)

    def __init__(
        self,
        model,
        ref_model=None,
        args: RavenDPOConfig | None = None,
        train_dataset=None,
        *,
        eval_gt_column: str | None = None,
        **kwargs,
    ):
        if not isinstance(args, RavenDPOConfig):
            raise TypeError("RavenDPOTrainer needs a RavenDPOConfig")
        sup = prepare_supervision(train_dataset, args)  # fail before any tokenising or reference pass
        train_dataset = shared_on_disk(train_dataset, args)
        if kwargs.get("eval_dataset") is not None:
            kwargs["eval_dataset"] = eval_pairs(kwargs["eval_dataset"], sup.names, args, eval_gt_column)
            if not isinstance(kwargs["eval_dataset"], dict):
                kwargs["eval_dataset"] = shared_on_disk(kwargs["eval_dataset"], args)
        self.raven_margin_scales = sup.scales
        # set before TRL's __init__, which prepares the dataset with the signature columns
        self._raven_keep_columns = preference_signature_columns(sup.names, args.gt_column)
        identities = self.raven_identities(train_dataset)
        super().__init__(model, ref_model=ref_model, args=args, train_dataset=train_dataset, **kwargs)
        self.raven_pairwise = args.pairwise_loss()
        start_preference_supervision(self, sup, RavenPreferenceCollator, identities)
        self._raven_keep_columns.append(EVAL_GT_KEY)  # evaluation pairs' truth, for the evaluation metrics

    def reference_cache_key(self) -> str | None:
        """A hash of the reference model that TRL keys its precomputed reference log-probs with (None when
        reference log-probs are not precomputed); recipes key their own reference caches with it."""
        return getattr(self, "_precompute_model_hash", None)

    def compute_ref_log_probs(self, model, inputs):
        # Our columns must never reach a model's forward (Llama would accept them silently).
        inputs = {k: v for k, v in inputs.items() if k not in (MARGINS_KEY, GT_KEY, EVAL_GT_KEY)}
        return super().compute_ref_log_probs(model, inputs)

    # -- loss ----------------------------------------------------------------------------------------
    def _log_ratios(self, model, inputs):
        """Policy and reference log-probs of the two responses (TRL's conventions: batch = [chosen; rejected])."""
        model_kwargs = {k: v for k, v in inputs.items() if k not in _NON_MODEL_KEYS}
        model_kwargs["use_cache"] = False
        if self.aux_loss_enabled:  # MoE: the router logits, for TRL's load-balancing loss
            model_kwargs["output_router_logits"] = True
        completion_mask = inputs["completion_mask"]
        labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
        outputs = model(**model_kwargs, labels=labels, fused_lm_head=True)
        seq_len = completion_mask.size(1) - 1
        self._last_token_outputs = (outputs, completion_mask[:, 1:], inputs.get("attention_mask"))
        chosen_logps, rejected_logps = outputs.log_probs[:, -seq_len:].sum(dim=1).chunk(2, dim=0)
        if self.precompute_ref_logps:
            ref_chosen, ref_rejected = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
        else:
            ref_chosen, ref_rejected = self.compute_ref_log_probs(self.ref_model or model, inputs)
        return chosen_logps, rejected_logps, chosen_logps - ref_chosen, rejected_logps - ref_rejected

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        margins = inputs.pop(MARGINS_KEY)
        gt = inputs.pop(GT_KEY, None)
        # evaluation batches only: read by the metrics, never by the loss
        eval_truth = inputs.pop(EVAL_GT_KEY, None)
        margins = margins / self.raven_margin_scales.to(margins.device)
        chosen_logps, rejected_logps, chosen_lr, rejected_lr = self._log_ratios(model, inputs)
        h = chosen_lr - rejected_lr
        # completion lengths, as TRL's ipo and sigmoid_norm count them
        tokens = inputs["completion_mask"].sum(dim=1).clamp(min=1.0).chunk(2, dim=0)
        pair_loss = PairLoss(self.raven_pairwise, PairLogRatios(chosen_lr, rejected_lr, *tokens))
        per_pair, mixed = self._per_pair_loss(h, margins.to(h.dtype), gt, pair_loss)
        loss = masked_mean(per_pair, self.raven_loss_mask(easy_mask(margins, "preference")))
        loss = self._add_router_aux_loss(loss)
        self._record_metrics(chosen_logps, rejected_logps, chosen_lr, rejected_lr, mixed, eval_truth)
        if return_outputs:
            model_kwargs = {k: v for k, v in inputs.items() if k not in _NON_MODEL_KEYS}
            with torch.no_grad():
                logits = model(**model_kwargs, use_cache=False).logits
            return loss, RavenDPOOutput(logits=logits, h=h.detach(), mixed_margin=mixed.detach())
        return loss

    def _per_pair_loss(self, h, margins, gt, pair_loss: PairLoss):
        """The configured method's per-pair loss and the mixed margin, with the batch's TRL pairwise loss."""
        return supervised_preference_loss(
            self, h, margins, gt, self.beta, self.args.raven_loss_type, pair_loss=pair_loss
        )

    def _add_router_aux_loss(self, loss: torch.Tensor) -> torch.Tensor:
        """TRL's load-balancing loss of a mixture-of-experts policy, ``router_aux_loss_coef · aux_loss``, added to
        the total (outside the per-pair mean, as TRL adds it) and logged as ``aux_loss``."""
        if not self.aux_loss_enabled:
            return loss
        aux_loss = self._last_token_outputs[0].aux_loss
        mode = "train" if self.model.training else "eval"
        self._metrics[mode]["aux_loss"].append(self.accelerator.gather_for_metrics(aux_loss).mean().item())
        return loss + self.router_aux_loss_coef * aux_loss

    def _record_metrics(
        self, chosen_logps, rejected_logps, chosen_lr, rejected_lr, mixed, truth=None
    ) -> None:
        """TRL's DPO metric names (for the presented order), plus how the strong model sits with the mixture and,
        given the pairs' ``truth`` (evaluation only), how right each is (ties count half, as in the results)."""
        mode = "train" if self.model.training else "eval"
        # Per-pair tensors go through `gather`, as in TRL: `gather_for_metrics` truncates to the remainder of the
        # last dataloader that ended (a process-wide state), which shortened these metrics after an evaluation.
        gather = self.accelerator.gather
        chosen_rewards, rejected_rewards = self.beta * chosen_lr.detach(), self.beta * rejected_lr.detach()
        m = self._metrics[mode]
        m["rewards/chosen"].append(gather(chosen_rewards).mean().item())
        m["rewards/rejected"].append(gather(rejected_rewards).mean().item())
        m["rewards/accuracies"].append(gather((chosen_rewards > rejected_rewards).float()).mean().item())
        m["rewards/margins"].append(gather(chosen_rewards - rejected_rewards).mean().item())
        m["logps/chosen"].append(gather(chosen_logps.detach()).mean().item())
        m["logps/rejected"].append(gather(rejected_logps.detach()).mean().item())
        self._record_token_metrics(m, mode)
        mixed = mixed.detach()
        m["raven/mixture_prob"].append(gather(torch.sigmoid(mixed)).mean().item())
        agree = (torch.sign(chosen_rewards - rejected_rewards) == torch.sign(mixed)).float()
        m["raven/agreement"].append(gather(agree).mean().item())
        if truth is not None:
            sign = torch.where(truth.to(mixed.device).bool(), 1.0, -1.0)
            for name, margin in (
                ("raven/accuracy", chosen_rewards - rejected_rewards),
                ("raven/mixture_accuracy", mixed),
            ):
                hits = (torch.sign(margin.float()) * sign + 1) / 2  # 1 right, 0.5 tie, 0 wrong
                m[name].append(gather(hits).mean().item())

    def _record_token_metrics(self, m, mode: str) -> None:
        """TRL's per-token metrics (`entropy`, `num_tokens`, `logits/*`, `mean_token_accuracy`), from the outputs
        the fused LM head already computed in the forward pass."""
        outputs, mask, attention_mask = self._last_token_outputs
        self._last_token_outputs = None
        gather = self.accelerator.gather_for_metrics
        seq_len = mask.size(1)
        total = gather(mask.sum()).sum()
        entropy = gather((outputs.entropy[:, -seq_len:].detach() * mask).sum()).sum()
        m["entropy"].append((entropy / total).item() if total > 0 else 0.0)
        if mode == "train" and attention_mask is not None:
            self._total_train_tokens += gather(attention_mask.sum()).sum().item() // self._tp_size
        m["num_tokens"] = [self._total_train_tokens]
        chosen_mask, rejected_mask = mask.chunk(2, dim=0)
        chosen_logits, rejected_logits = outputs.mean_logits[:, -seq_len:].detach().chunk(2, dim=0)
        for side, logits, side_mask in (
            ("chosen", chosen_logits, chosen_mask),
            ("rejected", rejected_logits, rejected_mask),
        ):
            s, n = gather(logits[side_mask.bool()].sum()).sum().item(), gather(side_mask.sum()).sum().item()
            m[f"logits/{side}"].append(s / n if n > 0 else 0.0)
        top1, _ = outputs.is_top1[:, -seq_len:].chunk(2, dim=0)
        correct, n = gather((top1 & chosen_mask.bool()).sum()).sum(), gather(chosen_mask.sum()).sum()
        m["mean_token_accuracy"].append((correct / n).item() if n > 0 else 0.0)
