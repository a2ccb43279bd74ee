"""One training run's RAVEN state from setup to the last optimizer step, shared by the trainers and the reference.

:class:`RavenLifecycle` holds the supervisor weights, the method's state, the easy-sample phase and the easy mask of
the training examples, and answers what a training loop asks of them: the data order, the loss mask of a step, the
weights' update after an optimizer step. The trainers (``trainers/mixin.py``) and the plain-PyTorch reference
(:func:`.synthetic.train_linear_strong`) both drive one, so they cannot disagree on any of these. The loop stays the
caller's::

    run = RavenLifecycle(args, names, judgements, "probs", seed=seed)
    run.start(total_steps)                        # once the number of optimizer steps is known
    sampler = run.sampler()                       # None: the caller shuffles as it likes
    ...  loss = masked_mean(per_example, run.loss_mask(step, easy_of_batch))
    ...  optimizer.step(); run.optimizer_step(step)

On several processes every one builds its own lifecycle; :meth:`RavenLifecycle.agreement_record` and
:func:`check_processes_agree` are how they make sure, before training, that they hold the same supervisors in the
same order, the same judgements and the same initial weights (the trainers gather the records, docs/scaleout.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from .easy import EasyFirstSampler, EasySamplePhase, easy_first_order, easy_mask
from .label_model import DawidSkene, OneFactor
from .weights import SupervisorWeights

if TYPE_CHECKING:
    from .arguments import WeightingArguments


class RavenLifecycle:
    """The weights, method state, easy-sample phase and easy mask of one training run.

    Args:
        args: the run's options (a :class:`~raven_align.core.arguments.WeightingArguments` or a config mixing it in).
        names: one name per supervisor.
        judgements: the training set's judgements, ``(N, K, C)`` (``kind`` ``"probs"`` or ``"logits"``) or ``(N, K)``
            (``"margins"``); None for a run without supervisors (plain reward modelling).
        easy: the easy mask of the training examples when the caller has it; by default computed from ``judgements``.
        seed: the seed of the easy-first order.
    """

    def __init__(
        self,
        args: WeightingArguments,
        names: Sequence[str],
        judgements: torch.Tensor | None = None,
        kind: str | None = None,
        *,
        easy: torch.Tensor | None = None,
        seed: int = 0,
    ) -> None:
        self.args = args
        prepare = args.method.prepare
        #: what the method's ``prepare`` returned, fitted once on the whole training set (``batch.state``)
        self.method_state: Any = prepare(judgements, kind, args) if prepare else None
        # `label_model` fits its label model in `prepare` and takes its fixed weights from the same model: share it
        # rather than fit it twice (a prepare that returns a label model fits the one the options describe).
        shared = self.method_state if isinstance(self.method_state, DawidSkene | OneFactor) else None
        self.weights: SupervisorWeights = args.build_weights(
            list(names), judgements, kind, label_model=shared
        )
        if easy is None and judgements is not None:
            easy = easy_mask(judgements, "preference" if kind == "margins" else "classification")
        #: (N,) whether all supervisors agree on each training example; None without judgements
        self.easy: torch.Tensor | None = easy
        self.seed = seed
        #: the phase's mode and fraction are known now; its length once :meth:`start` is told the number of steps
        self.phase: EasySamplePhase = args.build_phase(0)
        #: the gradient of the weights' last update (after averaging over processes)
        self.last_grad = torch.zeros(len(self.weights.names))

    def start(self, total_steps: int) -> None:
        """Size the easy-sample phase from the run's number of optimizer steps (call before the first step)."""
        self.phase = self.args.build_phase(total_steps)

    def sampler(self) -> EasyFirstSampler | None:
        """The epoch order of the `order` mode: easy examples first in the first epoch, later epochs shuffled (call
        ``set_epoch`` before each epoch). None when the run does not order its data: the caller shuffles."""
        if self.phase.mode != "order" or self.phase.fraction <= 0 or self.easy is None:
            return None
        return EasyFirstSampler(easy_first_order(self.easy, seed=self.seed), seed=self.seed)

    def loss_mask(self, step: int, easy: torch.Tensor) -> torch.Tensor | None:
        """The per-example loss multiplier of a batch at optimizer step ``step``, ``easy`` being its easy mask: the
        mask itself during a `mask` phase, None (no masking) otherwise."""
        return self.phase.loss_mask(step, easy)

    def optimizer_step(self, step: int, *, skipped: bool = False, grad_scale: float = 1.0) -> torch.Tensor:
        """Update the weights after optimizer step ``step`` (0-based: the number of steps completed before it).

        The weights stay frozen inside the easy-sample phase and when the optimizer skipped its step (an fp16
        overflow: the model did not move either); ``grad_scale`` undoes a mixed-precision loss scale. The step is
        counted and recorded in the history either way. Returns the gradient that was used.
        """
        self.last_grad = self.weights.step(frozen=skipped or self.phase.active(step), grad_scale=grad_scale)
        return self.last_grad

    # -- several processes ---------------------------------------------------------------------------
    def agreement_record(self, judgements: torch.Tensor | None, num_examples: int | None) -> dict[str, Any]:
        """What every process of one run must hold alike, small enough to gather: the supervisor names in order,
        the number of training examples, a fingerprint of the judgements this lifecycle was built from and the
        initial weights (compare the gathered records with :func:`check_processes_agree`)."""
        return {
            "supervisors": list(self.weights.names),
            "examples": num_examples,
            "judgements": judgement_fingerprint(judgements),
            "initial_weights": self.weights.initial.tolist(),
        }

    def adopt_initial_weights(self, values: Sequence[float]) -> None:
        """Start from ``values`` (rank 0's initial weights, already found equal within the tolerance) so that the
        processes hold the same weights bit for bit. Call before training."""
        w = torch.as_tensor(list(values), dtype=torch.float32)
        if torch.equal(w, self.weights.initial):
            return
        self.weights.initial = w.clone()
        with torch.no_grad():
            self.weights.weights.copy_(w)
        self.weights.history[0] = w.tolist()


def judgement_fingerprint(judgements: torch.Tensor | None) -> str:
    """SHA-256 of a judgement tensor's dtype, shape and bytes (``"none"`` without judgements): two processes get the
    same fingerprint exactly when they hold the same judgements of the same examples in the same order."""
    if judgements is None:
        return "none"
    flat = judgements.detach().to("cpu").contiguous().reshape(-1)
    h = hashlib.sha256(f"{flat.dtype}|{tuple(judgements.shape)}|".encode())
    h.update(flat.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


#: the fields of :meth:`RavenLifecycle.agreement_record` in the order they are compared: what each one is and how to
#: make the processes agree on it
AGREEMENT_FIELDS: dict[str, tuple[str, str]] = {
    "supervisors": (
        "supervisor names",
        "give every process the same judgement columns in the same order, or fix the order with "
        "supervisor_names=[...]",
    ),
    "examples": ("numbers of training examples", "give every process the same full training set"),
    "judgements": (
        "judgement data (SHA-256 of the judgement tensor's dtype, shape and bytes)",
        "give every process the same labelled training set (the same judgement values, in the same row order)",
    ),
    "initial_weights": (
        "initial weights",
        "give every process the same initial_weights (and the same judgements for weight_init='entropy' or "
        "'label_model')",
    ),
}
#: initial weights closer than this are the same (then every process adopts rank 0's, bit for bit)
INITIAL_WEIGHTS_ATOL = 1e-6


def _same(field: str, a: Any, b: Any) -> bool:
    if field != "initial_weights":
        return a == b
    return len(a) == len(b) and all(abs(x - y) <= INITIAL_WEIGHTS_ATOL for x, y in zip(a, b, strict=True))


def first_process_difference(records: Sequence[dict[str, Any]], rank: int = 0) -> str | None:
    """The first field (in the order of :data:`AGREEMENT_FIELDS`) on which a process's record differs from rank 0's,
    as a sentence naming both values (this process's when it is one that differs); None when all agree."""
    for field, (what, fix) in AGREEMENT_FIELDS.items():
        differ = [r for r, record in enumerate(records) if not _same(field, records[0][field], record[field])]
        if differ:
            other = rank if rank in differ else differ[0]
            return (
                f"{what} differ: rank 0 has {records[0][field]!r}, rank {other} has {records[other][field]!r}; "
                f"{fix}"
            )
    return None


def check_processes_agree(records: Sequence[dict[str, Any]], rank: int) -> None:
    """Raise the same decision on every process: a ValueError naming the first difference between the gathered
    ``records`` (one per process, in rank order), or nothing when they agree. ``rank`` is this process's."""
    difference = first_process_difference(records, rank)
    if difference is not None:
        raise ValueError(
            f"the {len(records)} processes of this run do not hold the same training setup, so every process "
            f"refuses to train (this is rank {rank}): {difference}"
        )


__all__ = [
    "AGREEMENT_FIELDS",
    "RavenLifecycle",
    "check_processes_agree",
    "first_process_difference",
    "judgement_fingerprint",
]
