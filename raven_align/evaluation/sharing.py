"""Evaluation shared by the processes of a run: each scores its share, with the whole model on every process.

Under DeepSpeed ZeRO-3 each process holds a slice of the policy, and every forward through the engine is a
collective that all processes must join with the same number of batches. Evaluation instead gathers the
parameters once for the whole pass (TRL's ``unwrap_model_for_generation``, as its online trainers do for sampling),
so that each process runs its own share of rows without waiting on the others, and the shares are gathered after.
Under DDP or one process the same code simply runs on the unwrapped model.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from ..supervisors._hf import eval_mode as models_in_eval_mode
from ..utils.processes import gather, my_shard, rank_and_world


@contextlib.contextmanager
def eval_mode(model):
    """``model`` in eval mode (no dropout) for the block, then back in the mode it was in: every evaluation forward
    runs here, since a trained policy comes back from ``Trainer.train`` in train mode (LoRA dropout active)."""
    with models_in_eval_mode(model):
        yield model


@contextlib.contextmanager
def whole_model(trainer, model: Any = None):
    """``model`` (default: the trainer's policy) unwrapped, with all its parameters on this process, in eval mode.
    Every process must enter it (gathering ZeRO-3 parameters is a collective)."""
    from trl.models.utils import unwrap_model_for_generation

    wrapped = trainer.model_wrapped if model is None else model
    if getattr(trainer, "is_fsdp_enabled", False):
        with _fsdp_unsharded(wrapped), eval_mode(trainer.accelerator.unwrap_model(wrapped)) as unwrapped:
            yield unwrapped
        return
    with unwrap_model_for_generation(wrapped, trainer.accelerator) as unwrapped, eval_mode(unwrapped):
        yield unwrapped


@contextlib.contextmanager
def _fsdp_unsharded(model):
    """An FSDP model's parameters whole on every process for the block (FSDP1: ``summon_full_params``; FSDP2: every
    ``FSDPModule`` unsharded and kept so across forwards), resharded after. Needs an accelerator: the CPU suite
    cannot run FSDP, ``bench/gpu_check.sh`` does."""
    from torch.distributed.fsdp import FullyShardedDataParallel

    if isinstance(model, FullyShardedDataParallel):
        with FullyShardedDataParallel.summon_full_params(model, recurse=True, writeback=False):
            yield
        return
    from torch.distributed.fsdp import FSDPModule

    units = [m for m in model.modules() if isinstance(m, FSDPModule)]
    for m in units:
        m.set_reshard_after_forward(False)
        m.unshard()
    try:
        yield
    finally:
        for m in units:
            m.reshard()
            m.set_reshard_after_forward(True)


@contextlib.contextmanager
def whole_reference(trainer, policy):
    """The reference model with all its parameters on this process: ``policy`` (already whole) with its adapter
    switched off, or TRL's separate reference model gathered; ``None`` when there is neither."""
    if hasattr(policy, "disable_adapter"):
        with policy.disable_adapter():
            yield policy
    elif trainer.ref_model is not None:
        with whole_model(trainer, trainer.ref_model) as ref:
            yield ref
    else:
        yield None


def batch_share(n: int, batch_size: int) -> tuple[range, int]:
    """This process's share of ``n`` rows taken in whole batches of ``batch_size``: its rows and the global index
    of its first batch (seeded sampling draws batch ``b`` from ``seed + b`` whatever process runs it)."""
    batches = my_shard(-(-n // batch_size))
    return range(batches.start * batch_size, min(batches.stop * batch_size, n)), batches.start


def gather_rows(values: list | np.ndarray) -> list | np.ndarray:
    """The processes' shares of contiguous rows, concatenated in row order (an array if ``values`` is one)."""
    if rank_and_world()[1] == 1:
        return values
    parts = gather(values)
    if isinstance(values, np.ndarray):
        return np.concatenate([np.asarray(p) for p in parts])
    return [v for part in parts for v in part]


def is_first_process() -> bool:
    """Whether progress bars and logs belong to this process."""
    return rank_and_world()[0] == 0


def backend_name(trainer) -> str:
    """How the trainer's processes share the model: ``deepspeed_zero<stage>``, ``fsdp<version>``, or accelerate's
    distributed type (``no``, ``multi_cpu``, ``multi_gpu``, ...)."""
    accelerator = trainer.accelerator
    if getattr(trainer, "is_deepspeed_enabled", False):
        return f"deepspeed_zero{accelerator.state.deepspeed_plugin.zero_stage}"
    if getattr(trainer, "is_fsdp_enabled", False):
        return f"fsdp{getattr(accelerator.state.fsdp_plugin, 'fsdp_version', 1)}"
    return str(accelerator.distributed_type.value).lower()
