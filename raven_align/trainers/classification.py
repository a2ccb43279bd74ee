"""RavenClassificationTrainer: a transformers ``Trainer`` whose soft targets are the supervisors' mixture.

Works for any model whose forward returns class logits (or an output with ``.logits``): HF sequence or
image classification models (full fine-tuning, or PEFT/LoRA with the head in ``modules_to_save``) and plain
``torch.nn.Module`` s such as a linear probe over a column of frozen features
(:class:`raven_align.trainers.probes.LinearProbe`). The judgement columns ``probs__<name>`` survive
``remove_unused_columns``, are taken out by the collator and never reach the model's forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from transformers import Trainer, TrainingArguments

from ..columns import (
    LABELS_KEY,
    PROBS_KEY,
    PROBS_PREFIX,
    class_labels,
    classification_signature_columns,
    probs_from_dataset,
    resolve_classification_supervisors,
)
from ..core import (
    ClassificationBatch,
    ClassificationWeightingArguments,
    apply_temperature,
    easy_mask,
    fit_temperatures,
)
from ..core.label_model_checks import warn_trusted_constant
from ..core.losses import masked_mean
from .classification_collator import RavenClassificationCollator
from .config_checks import check_training_options
from .mixin import RavenTrainerMixin

MIXINGS = ("probs", "logits")


@dataclass
class RavenClassificationConfig(TrainingArguments, ClassificationWeightingArguments):
    """Configuration for :class:`RavenClassificationTrainer`: ``TrainingArguments`` plus RAVEN's options
    (:class:`~raven_align.core.ClassificationWeightingArguments`: the shared ones and ``supervisor_calibration``)
    and the fields below."""

    mixing: str = field(
        default="probs",
        metadata={
            "help": "`probs`: q = Σ w_k p_k (paper, vision); `logits`: q = softmax(Σ w_k log p_k) (paper, text).",
            "choices": MIXINGS,
        },
    )
    label_column: str = field(
        default="label", metadata={"help": "Ground-truth class column (read by `gt` and by evaluation only)."}
    )
    supervisor_prefix: str = field(
        default=PROBS_PREFIX, metadata={"help": "Judgement columns are `<prefix><supervisor name>`."}
    )

    def __post_init__(self):
        super().__post_init__()
        self.validate_weighting()
        check_training_options(self)
        if self.mixing not in MIXINGS:
            raise ValueError(f"mixing must be one of {MIXINGS}, got {self.mixing!r}")
        if not self.supervisor_prefix:
            raise ValueError("supervisor_prefix must not be empty")


class RavenClassificationTrainer(RavenTrainerMixin, Trainer):
    """Trains a classifier from weak supervisors' class probabilities, weighted by RAVEN or a baseline
    (``args.supervision``). The train dataset holds the model's inputs plus ``probs__<name>`` columns;
    evaluation datasets may have the label column only (their loss is then CE against the labels)."""

    _raven_writes_card = False  # any nn.Module can be the strong model here; it may have no config to card

    def __init__(
        self, model=None, args: RavenClassificationConfig | None = None, train_dataset=None, **kwargs
    ):
        if not isinstance(args, RavenClassificationConfig):
            raise TypeError("RavenClassificationTrainer needs a RavenClassificationConfig")
        if train_dataset is None:
            raise ValueError("`train_dataset` is required")
        columns = list(train_dataset.column_names)
        names = resolve_classification_supervisors(columns, args.supervisor_names, args.supervisor_prefix)
        args.validate_supervisors(names)
        if args.supervision == "gt" and args.label_column not in columns:
            raise ValueError(
                f"supervision='gt' needs the label column {args.label_column!r} in the train dataset"
            )
        self._raven_keep_columns = classification_signature_columns(
            names, args.supervisor_prefix, args.label_column
        )
        identities = self.raven_identities(train_dataset)
        probs = probs_from_dataset(train_dataset, names, args.supervisor_prefix)
        check_classes(model, probs.shape[-1], names, args.supervisor_prefix)
        check_label_columns(train_dataset, kwargs.get("eval_dataset"), args.label_column, probs.shape[-1])
        # Label-free calibration is fitted once on the whole training set, like the reference loop does.
        self.raven_temperatures = (
            fit_temperatures(probs, names=names) if args.supervisor_calibration == "temperature" else None
        )
        if self.raven_temperatures is not None:
            probs = apply_temperature(probs, self.raven_temperatures.double())
        train_easy = easy_mask(probs, "classification")
        super().__init__(model=model, args=args, train_dataset=train_dataset, **kwargs)
        if not isinstance(self.data_collator, RavenClassificationCollator):
            self.data_collator = RavenClassificationCollator(
                self.data_collator, names, args.supervisor_prefix, args.label_column
            )
        if args.label_names is None:
            self.label_names = [LABELS_KEY]  # what prediction_step hands to compute_metrics
        self.loss_is_scaled_for_ga = False  # our loss is a per-micro-batch mean: let the Trainer divide by GA
        judgements, kind = (
            (_log(probs.float()), "logits") if args.mixing == "logits" else (probs.float(), "probs")
        )
        self._init_raven(
            names,
            judgements,
            kind,
            train_easy=train_easy,
            keep_columns=self._raven_keep_columns,
            supervisor_info=identities,
        )
        warn_trusted_constant(args, names, probs, "probs", self.raven_weights.initial)

    # -- loss ----------------------------------------------------------------------------------------
    def calibrate(self, probs: torch.Tensor) -> torch.Tensor:
        """Judgements ``(B, K, C)`` after the label-free per-supervisor calibration (if any)."""
        if self.raven_temperatures is None:
            return probs
        return apply_temperature(probs, self.raven_temperatures.to(probs.device))

    def mixture(self, probs: torch.Tensor) -> torch.Tensor:
        """The current mixture's class probabilities for judgements ``(B, K, C)`` (calibrated first)."""
        probs = self.calibrate(probs)
        if self.args.mixing == "logits":
            return self.raven_weights.mix_logits(_log(probs))
        return self.raven_weights.mix_probs(probs)

    def per_example_loss(
        self, logits: torch.Tensor, probs: torch.Tensor, labels: torch.Tensor | None
    ) -> torch.Tensor:
        """The loss of ``args.supervision`` for each example (from the method registry); gradients reach the
        weights through the mixture."""
        if self.args.method.needs_truth and labels is None:
            raise ValueError(
                f"supervision={self.args.supervision!r} needs the label column {self.args.label_column!r} "
                "in every batch"
            )
        batch = ClassificationBatch(
            logits=logits,
            target=self.mixture(probs),
            judgements=self.calibrate(probs),
            labels=labels,
            step=self.state.global_step,
            total_steps=self.state.max_steps,
            state=self.raven_method_state,
        )
        return self.args.method.classification(batch, self.args)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        probs = inputs.pop(PROBS_KEY, None)
        labels = inputs.pop(LABELS_KEY, None)
        outputs = model(**inputs)
        logits = _logits(outputs).float()
        if probs is None:  # an evaluation set without judgements: CE against the ground truth
            if labels is None:
                raise ValueError(
                    f"a batch has neither judgement columns nor the label {self.args.label_column!r}"
                )
            loss = F.cross_entropy(logits, labels)
        else:
            probs = probs.to(logits.device, logits.dtype)
            per_example = self.per_example_loss(logits, probs, labels)
            loss = masked_mean(per_example, self.raven_loss_mask(easy_mask(probs, "classification")))
        if return_outputs:
            return loss, (outputs if hasattr(outputs, "logits") else {"logits": logits})
        return loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        # Without labels the stock step calls model(**inputs) itself: the judgements must not go along.
        if any(inputs.get(k) is None for k in self.label_names):
            inputs = {k: v for k, v in inputs.items() if k != PROBS_KEY}
        return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys)


def model_classes(model) -> tuple[int, str] | None:
    """How many classes ``model`` outputs and where that is read: an HF model's ``config.num_labels``, a
    module's ``num_labels``/``num_classes``, or the head of the package's probes; None when unknown."""
    from .probes import LinearProbe, SmallConvNet

    if isinstance(model, LinearProbe | SmallConvNet):
        head = model.linear if isinstance(model, LinearProbe) else model.head
        return head.out_features, f"its head ({type(model).__name__})"
    config = getattr(model, "config", None)
    if isinstance(getattr(config, "num_labels", None), int):
        return config.num_labels, "config.num_labels"
    for attr in ("num_labels", "num_classes"):
        if isinstance(getattr(model, attr, None), int):
            return getattr(model, attr), attr
    return None


def check_classes(model, num_classes: int, names: list[str], prefix: str) -> None:
    """Refuse a model whose number of outputs differs from the judgements' number of classes (the loss would
    fail at the first step, or worse, broadcast)."""
    found = model_classes(model) if model is not None else None
    if found is not None and found[0] != num_classes:
        raise ValueError(
            f"the model outputs {found[0]} classes ({found[1]}) but the judgements "
            f"{[prefix + n for n in names]} have {num_classes}: build the model with {num_classes} classes "
            f"(e.g. num_labels={num_classes}), or relabel with supervisors of its classes"
        )


def check_label_columns(train_dataset, eval_dataset, label_column: str, num_classes: int) -> None:
    """Class ids in ``[0, num_classes)`` in the label column of the training set and of every evaluation set that
    has one (an out-of-range or string label would fail inside the loss, or mis-score evaluation silently)."""
    sets = {"the training dataset": train_dataset}
    if isinstance(eval_dataset, dict):
        sets.update({f"evaluation set {k!r}": v for k, v in eval_dataset.items()})
    elif eval_dataset is not None:
        sets["the evaluation dataset"] = eval_dataset
    for what, ds in sets.items():
        if label_column in (getattr(ds, "column_names", None) or []):
            try:
                class_labels(ds[label_column], label_column, num_classes)
            except ValueError as e:
                raise ValueError(f"{what}: {e}") from None


def _log(probs: torch.Tensor) -> torch.Tensor:
    """Log-probabilities as the supervisors' logits (softmax-equivalent); exact zeros become the log of the
    smallest normal number rather than -inf, which would poison the weighted sum."""
    return torch.log(probs.clamp_min(torch.finfo(probs.dtype).tiny))


def _logits(outputs) -> torch.Tensor:
    """Class logits from an HF output, a tuple, or a bare tensor."""
    if isinstance(outputs, torch.Tensor):
        return outputs
    if hasattr(outputs, "logits"):
        return outputs.logits
    if isinstance(outputs, dict):
        return outputs["logits"]
    return outputs[0]
