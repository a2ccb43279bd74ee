"""What every Raven trainer shares: the weights' lifecycle inside a transformers ``Trainer``.

:class:`RavenTrainerMixin` goes first in the bases of a trainer (``class X(RavenTrainerMixin, DPOTrainer)``)
and adds, around the stock training loop:
- one weight update per optimizer step (a callback on ``on_optimizer_step``, after the model's step),
  frozen during the easy-sample phase, loss-scale aware;
- ``raven/weight/<supervisor>``, ``raven/easy_fraction`` and ``raven/phase`` in the logs, and a program's final
  held-out results (:meth:`RavenTrainerMixin.log_raven_results`) in the logs and the card;
- the weights' state in every checkpoint and in the output directory, restored on resume;
- the judgement columns kept through ``remove_unused_columns``, the easy-first sampler of the `order` phase,
  and the RAVEN section of the model card;
- on several processes, a check at construction that every process holds the same supervisors, judgements,
  training examples and initial weights (every process refuses otherwise).
The logic (weights, method state, phase, easy mask, data order, loss mask, update rule) is the core's
:class:`~raven_align.core.lifecycle.RavenLifecycle`, the one the reference loop drives; only the transformers
wiring is here.
"""

from __future__ import annotations

import json
import math
import os
import warnings

import torch
from accelerate.utils import gather_object
from transformers import TrainerCallback
from transformers.trainer_utils import get_last_checkpoint

from ..core import (
    EasySamplePhase,
    RavenLifecycle,
    SupervisorWeights,
)
from ..core.lifecycle import check_processes_agree
from ..labeling import supervisor_identities
from .model_card import hub_dataset_id, write_raven_model_card

RAVEN_STATE_NAME = "raven_weights.pt"
RAVEN_SUMMARY_NAME = "raven_weights.json"


def loss_scale(trainer) -> float:
    """The factor by which the backward pass scaled the loss: GradScaler (fp16 AMP) or DeepSpeed's fp16 loss
    scaler; 1.0 otherwise. The weights' gradient is divided by it (they are not managed by either)."""
    scaler = getattr(trainer.accelerator, "scaler", None)
    if scaler is not None and scaler.is_enabled():
        return float(scaler.get_scale())
    if getattr(trainer, "is_deepspeed_enabled", False):
        engine = getattr(trainer, "model_wrapped", None)
        optimizer = getattr(engine, "optimizer", None)
        for name in ("loss_scale", "cur_scale"):  # ZeRO optimizers / FP16_Optimizer
            value = getattr(optimizer, name, None)
            if isinstance(value, int | float) and value > 0:
                return float(value)
    return 1.0


class _RavenCallback(TrainerCallback):
    def __init__(self, trainer: RavenTrainerMixin) -> None:
        self.trainer = trainer
        self._scale = 1.0

    def on_train_begin(self, args, state, control, **kwargs):
        self.trainer.raven_lifecycle.start(state.max_steps)

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        # read before the step: a dynamic loss scale may change in it
        self._scale = loss_scale(self.trainer)

    def on_optimizer_step(self, args, state, control, **kwargs):
        # global_step still counts the completed steps here: this is step number `global_step`.
        skipped = bool(getattr(self.trainer.accelerator, "optimizer_step_was_skipped", False))
        self.trainer.raven_lifecycle.optimizer_step(
            state.global_step, skipped=skipped, grad_scale=self._scale
        )


class RavenTrainerMixin:
    """Owns ``self.raven_lifecycle`` (:class:`RavenLifecycle`), whose parts read as ``raven_weights``,
    ``raven_phase``, ``raven_method_state``, ``raven_train_easy`` and ``raven_last_grad``.

    A trainer calls :meth:`_init_raven` at the end of its ``__init__``, mixes targets with
    ``self.raven_weights`` inside ``compute_loss`` and reduces its per-example loss with the mask from
    :meth:`raven_loss_mask`.
    """

    raven_lifecycle: RavenLifecycle
    #: whether ``create_model_card`` adds the RAVEN section (trainers of HF models with a card template)
    _raven_writes_card = True
    #: a program's final results (measure -> value), logged and summarised in the card (:meth:`log_raven_results`)
    raven_results: dict[str, float] | None = None

    def _init_raven(
        self,
        names: list[str],
        judgements: torch.Tensor | None,
        judgement_kind: str | None,
        *,
        train_easy: torch.Tensor | None = None,
        keep_columns: list[str] | None = None,
        supervisor_info: dict[str, str] | None = None,
    ) -> None:
        """Set up the run's :class:`RavenLifecycle`. Called at the end of the trainer's ``__init__``.

        ``train_easy`` marks the unanimous training examples (default: from ``judgements``), ``keep_columns`` the
        judgement columns ``remove_unused_columns`` must keep, ``supervisor_info`` the identities in the card.
        """
        if getattr(self.args, "hub_token", None):
            # A token kept in the args is pickled into training_args.bin, which a push uploads: move it where
            # huggingface_hub reads it at every call (the repository was already created with it).
            os.environ["HF_TOKEN"], self.args.hub_token = self.args.hub_token, None
        # the phase is sized in on_train_begin, when max_steps is known
        self.raven_lifecycle = RavenLifecycle(
            self.args, names, judgements, judgement_kind, easy=train_easy, seed=self.args.seed
        )
        self._raven_check_processes_agree(judgements)
        self.raven_supervisor_info = dict(supervisor_info or {})
        self._raven_keep_columns = list(keep_columns or [])
        self._raven_easy_seen: list[float] = []
        self.add_callback(_RavenCallback(self))

    def _raven_check_processes_agree(self, judgements: torch.Tensor | None) -> None:
        """On several processes: gather every process's agreement record (supervisor names in order, number of
        training examples, SHA-256 of the judgements, initial weights) and compare them on every process, so that
        all take the same decision: every process refuses with the first difference, or every process starts from
        rank 0's initial weights. One all-gather of a few hundred bytes; nothing at all with one process."""
        if self.accelerator.num_processes <= 1:
            return
        try:
            num_examples = len(self.train_dataset)
        except TypeError:  # an iterable dataset has no length
            num_examples = None
        record = self.raven_lifecycle.agreement_record(judgements, num_examples)
        records = gather_object([record])  # one record per process, in rank order, on every process
        check_processes_agree(records, self.accelerator.process_index)
        self.raven_lifecycle.adopt_initial_weights(records[0]["initial_weights"])

    @property
    def raven_weights(self) -> SupervisorWeights:
        return self.raven_lifecycle.weights

    @property
    def raven_phase(self) -> EasySamplePhase:
        return self.raven_lifecycle.phase

    @property
    def raven_method_state(self):
        return self.raven_lifecycle.method_state

    @property
    def raven_train_easy(self) -> torch.Tensor | None:
        return self.raven_lifecycle.easy

    @property
    def raven_last_grad(self) -> torch.Tensor:
        return self.raven_lifecycle.last_grad

    @staticmethod
    def raven_identities(train_dataset) -> dict[str, str]:
        """The supervisors' identities recorded by labelling in ``train_dataset`` (for the model card)."""
        return supervisor_identities(train_dataset)

    # -- data ----------------------------------------------------------------------------------------
    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        extra = getattr(self, "_raven_keep_columns", [])
        self._signature_columns = list(dict.fromkeys([*self._signature_columns, *extra]))

    def _get_train_sampler(self, train_dataset=None):
        lifecycle = getattr(self, "raven_lifecycle", None)
        sampler = lifecycle.sampler() if lifecycle is not None else None
        return sampler if sampler is not None else super()._get_train_sampler(train_dataset)

    def raven_loss_mask(self, easy: torch.Tensor) -> torch.Tensor | None:
        """The per-example loss multiplier at the current step (the easy mask during a `mask` phase)."""
        if self.model.training:
            self._raven_easy_seen.append(float(easy.float().mean()))
        mask = self.raven_lifecycle.loss_mask(self.state.global_step, easy) if self.model.training else None
        return None if mask is None else mask.to(easy.device)

    def raven_metrics(self) -> dict[str, float]:
        metrics = {f"raven/weight/{n}": w for n, w in self.raven_weights.as_dict().items()}
        metrics["raven/phase"] = float(self.raven_phase.active(self.state.global_step))
        if self.raven_weights.learnable:
            metrics["raven/weight_grad_norm"] = float(self.raven_last_grad.norm())
        if self._raven_easy_seen:
            metrics["raven/easy_fraction"] = sum(self._raven_easy_seen) / len(self._raven_easy_seen)
            self._raven_easy_seen.clear()
        return metrics

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if self.model.training and "loss" in logs:
            logs.update(self.raven_metrics())
        super().log(logs, start_time)

    def log_raven_results(self, results: dict[str, float]) -> None:
        """Log a run's final results measured after training (held-out accuracies before and after, win rate, KL;
        finite numbers only) to ``log_history`` and the ``report_to`` trackers, and keep them for the model card."""
        self.raven_results = {k: float(v) for k, v in results.items() if v is not None and math.isfinite(v)}
        self.log(dict(self.raven_results))

    # -- checkpoints ---------------------------------------------------------------------------------
    def raven_summary(self) -> dict:
        return {
            "supervisors": self.raven_weights.names,
            "weights": self.raven_weights.as_dict(),
            "initial_weights": dict(
                zip(self.raven_weights.names, self.raven_weights.initial.tolist(), strict=True)
            ),
            "supervision": self.args.supervision,
            "phase_steps": self.raven_phase.num_steps,
            "history": self.raven_weights.history,
        }

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """The model as transformers saves it (any backend), plus the weights' state beside it.

        ``save_model`` runs for the final save and inside every checkpoint save, under plain DDP, DeepSpeed and
        FSDP alike. Under FSDP with a sharded state dict transformers writes no model at all (no adapter in
        ``output_dir``, nothing to push): the model is then consolidated, as for ``FULL_STATE_DICT``, and saved."""
        super().save_model(output_dir, _internal_call=_internal_call)
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        if self.is_fsdp_enabled and "FULL_STATE_DICT" not in str(
            self.accelerator.state.fsdp_plugin.state_dict_type
        ):
            # every process joins the gather; the main process writes (adapter only, for a PEFT model)
            self._save(output_dir, state_dict=self.accelerator.get_state_dict(self.model))
        self.save_raven_state(output_dir)

    def save_raven_state(self, output_dir: str) -> None:
        """Write ``raven_weights.pt`` (state, for resuming) and ``raven_weights.json`` (readable summary)."""
        if not self.args.should_save:
            return
        os.makedirs(output_dir, exist_ok=True)
        torch.save(self.raven_weights.state_dict(), os.path.join(output_dir, RAVEN_STATE_NAME))
        with open(os.path.join(output_dir, RAVEN_SUMMARY_NAME), "w") as f:
            json.dump(self.raven_summary(), f, indent=1)

    def load_raven_state(self, checkpoint: str) -> None:
        """Restore the weights' state from a checkpoint folder (a warning when it has none)."""
        path = os.path.join(checkpoint, RAVEN_STATE_NAME)
        if os.path.isfile(path):
            # tensors, numbers, strings and lists only: never unpickle code from a checkpoint
            self.raven_weights.load_state_dict(torch.load(path, weights_only=True))
        else:
            warnings.warn(
                f"{checkpoint} has no {RAVEN_STATE_NAME}: the supervisor weights restart from their initial value",
                stacklevel=2,
            )

    def train(self, resume_from_checkpoint=None, trial=None, **kwargs):
        # Restore the weights before the loop, whatever the backend: transformers resumes DeepSpeed through
        # deepspeed_load_checkpoint, not _load_from_checkpoint, and the weights live outside the model anyway.
        checkpoint = resume_from_checkpoint
        if isinstance(checkpoint, bool) and checkpoint:
            checkpoint = get_last_checkpoint(self.args.output_dir)
        if checkpoint:
            self.load_raven_state(checkpoint)
        return super().train(resume_from_checkpoint=resume_from_checkpoint, trial=trial, **kwargs)

    # -- model card ----------------------------------------------------------------------------------
    def create_model_card(self, model_name=None, dataset_name=None, tags=None):
        """TRL's card (a Hub dataset link only for a Hub dataset ID) plus the RAVEN section."""
        model_name = (
            model_name or self.args.hub_model_id or os.path.basename(os.path.normpath(self.args.output_dir))
        )
        super().create_model_card(model_name=model_name, dataset_name=hub_dataset_id(dataset_name), tags=tags)
        if self.is_world_process_zero() and self._raven_writes_card:
            loss = getattr(self.args, "raven_loss_type", None)
            pairwise = getattr(self.args, "loss_type", None)  # TRL's DPO loss(es) under the mixture
            pairwise = [pairwise] if isinstance(pairwise, str) else list(pairwise or [])
            if loss and pairwise and pairwise != ["sigmoid"]:
                loss = f"{loss} over {' + '.join(pairwise)}"
            write_raven_model_card(self, dataset_name=dataset_name, loss_type=loss)
