"""RavenDPOTrainer: TRL's DPOTrainer with the per-pair target set by the learned supervisor mixture.

TRL 1.16's ``DPOTrainer`` computes the policy forward, the reference log-probs, the loss and the metrics
in one ``_compute_loss`` body with no per-pair hook, so this subclass overrides ``compute_loss`` and
reuses everything around it: dataset preparation and tokenisation, the fused LM head, PEFT and
reference handling (``compute_ref_log_probs``, precomputed reference log-probs), collation, logging.
"""

from __future__ import annotations

import os

import torch
from trl import DPOTrainer

from ..losses import masked_mean
from ..weighting import easy_first_order, easy_mask
from .common import EasyFirstSampler, RavenTrainerMixin
from .dpo_config import RavenDPOConfig
from .model_card import write_raven_model_card
from .preference_data import (
    GT_KEY,
    MARGINS_KEY,
    RavenPreferenceCollator,
    prepare_supervision,
    signature_columns,
    supervised_preference_loss,
    wrap_collator,
)

_NON_MODEL_KEYS = {"completion_mask", "ref_chosen_logps", "ref_rejected_logps"}


class RavenDPOTrainer(RavenTrainerMixin, DPOTrainer):
    """DPO from several weak reward models, weighted by RAVEN (or a baseline, via ``args.supervision``).

    The train dataset is in TRL's preference format plus judgement columns
    ``reward_chosen__<name>`` / ``reward_rejected__<name>`` per supervisor (see ``raven-align label``).
    """

    _tag_names = ["trl", "dpo", "raven", "weak-to-strong"]
    _name = "RAVEN DPO"

    def __init__(
        self, model, ref_model=None, args: RavenDPOConfig | None = None, train_dataset=None, **kwargs
    ):
        if not isinstance(args, RavenDPOConfig):
            raise TypeError("RavenDPOTrainer needs a RavenDPOConfig")
        sup = prepare_supervision(train_dataset, args)  # fail before any tokenising or reference pass
        self._raven_names, self._margin_scales, self._train_easy = sup.names, sup.scales, sup.easy
        super().__init__(model, ref_model=ref_model, args=args, train_dataset=train_dataset, **kwargs)
        self.data_collator = wrap_collator(
            self.data_collator, RavenPreferenceCollator, sup.names, args.gt_column
        )
        self._init_raven(sup.names, sup.margins, "margins")

    # -- data ----------------------------------------------------------------------------------------
    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        extra = signature_columns(self._raven_names, self.args.gt_column)
        self._signature_columns = list(dict.fromkeys([*self._signature_columns, *extra]))

    def _get_train_sampler(self, train_dataset=None):
        phase = self.args.build_phase(1)  # only the mode and whether a phase exists matter here
        if phase.mode == "order" and phase.fraction > 0:
            order = easy_first_order(self._train_easy, seed=self.args.seed)
            return EasyFirstSampler(order, seed=self.args.seed)
        return super()._get_train_sampler(train_dataset)

    def compute_ref_log_probs(self, model, inputs):
        # Our columns must never reach a model's forward (Llama would accept them silently).
        inputs = {k: v for k, v in inputs.items() if k not in (MARGINS_KEY, GT_KEY)}
        return super().compute_ref_log_probs(model, inputs)

    # -- loss ----------------------------------------------------------------------------------------
    def _log_ratios(self, model, inputs):
        """Policy and reference log-probs of the two responses (TRL's conventions: batch = [chosen; rejected])."""
        model_kwargs = {k: v for k, v in inputs.items() if k not in _NON_MODEL_KEYS}
        model_kwargs["use_cache"] = False
        completion_mask = inputs["completion_mask"]
        labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
        outputs = model(**model_kwargs, labels=labels, fused_lm_head=True)
        seq_len = completion_mask.size(1) - 1
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
        margins = margins / self._margin_scales.to(margins.device)
        chosen_logps, rejected_logps, chosen_lr, rejected_lr = self._log_ratios(model, inputs)
        h = chosen_lr - rejected_lr
        per_pair, mixed = supervised_preference_loss(
            self, h, margins.to(h.dtype), gt, self.beta, self.args.raven_loss_type
        )
        loss = masked_mean(per_pair, self.raven_loss_mask(easy_mask(margins, "preference")))
        self._record_metrics(chosen_logps, rejected_logps, chosen_lr, rejected_lr, mixed)
        if return_outputs:
            return loss, {"h": h.detach(), "mixed_margin": mixed.detach()}
        return loss

    def _record_metrics(self, chosen_logps, rejected_logps, chosen_lr, rejected_lr, mixed) -> None:
        """TRL's DPO metric names (for the presented order), plus how the strong model sits with the mixture."""
        mode = "train" if self.model.training else "eval"
        gather = self.accelerator.gather_for_metrics
        chosen_rewards, rejected_rewards = self.beta * chosen_lr.detach(), self.beta * rejected_lr.detach()
        m = self._metrics[mode]
        m["rewards/chosen"].append(gather(chosen_rewards).mean().item())
        m["rewards/rejected"].append(gather(rejected_rewards).mean().item())
        m["rewards/accuracies"].append(gather((chosen_rewards > rejected_rewards).float()).mean().item())
        m["rewards/margins"].append(gather(chosen_rewards - rejected_rewards).mean().item())
        m["logps/chosen"].append(gather(chosen_logps.detach()).mean().item())
        m["logps/rejected"].append(gather(rejected_logps.detach()).mean().item())
        mixed = mixed.detach()
        m["raven/mixture_prob"].append(gather(torch.sigmoid(mixed)).mean().item())
        agree = (torch.sign(chosen_rewards - rejected_rewards) == torch.sign(mixed)).float()
        m["raven/agreement"].append(gather(agree).mean().item())

    # -- model card ----------------------------------------------------------------------------------
    def create_model_card(self, model_name=None, dataset_name=None, tags=None):
        model_name = (
            model_name or self.args.hub_model_id or os.path.basename(os.path.normpath(self.args.output_dir))
        )
        super().create_model_card(model_name=model_name, dataset_name=dataset_name, tags=tags)
        if self.is_world_process_zero():
            write_raven_model_card(self, dataset_name=dataset_name, loss_type=self.args.raven_loss_type)
