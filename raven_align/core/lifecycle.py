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
"""

from __future__ import annotations

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


__all__ = ["RavenLifecycle"]
