"""Work shared by the processes of a run: each takes a contiguous share of the rows, the shares are gathered.

Plain ``torch.distributed`` (whatever launched it: ``accelerate launch``, ``torchrun``, DeepSpeed); with no
process group every function is the one-process identity. Shares are contiguous and in rank order, so gathering
them and concatenating gives the rows in their original order.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


def _group_ready() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of processes (``(0, 1)`` without a process group)."""
    if not _group_ready():
        return 0, 1
    import torch.distributed as dist

    return dist.get_rank(), dist.get_world_size()


def is_local_main() -> bool:
    """The first process of its machine: the one that writes to the machine's disk (caches, outputs)."""
    return int(os.environ.get("LOCAL_RANK", rank_and_world()[0])) == 0


def shard_range(n: int, rank: int, world: int) -> range:
    """Rows ``[n·rank/world, n·(rank+1)/world)``: contiguous, sizes differing by at most one, all covered once."""
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"rank {rank} is not one of {world} process(es)")
    return range(n * rank // world, n * (rank + 1) // world)


def my_shard(n: int) -> range:
    """This process's share of ``n`` rows."""
    return shard_range(n, *rank_and_world())


def gather(value: Any) -> list[Any]:
    """Every process's ``value`` (picklable), in rank order; ``[value]`` without a process group. A collective:
    every process must call it."""
    if not _group_ready():
        return [value]
    import torch.distributed as dist

    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


def all_true(flag: bool) -> bool:
    """Whether ``flag`` holds on every process (a collective), so that all take the same branch."""
    return all(gather(bool(flag)))


def barrier() -> None:
    """Wait for every process (nothing without a process group)."""
    if _group_ready():
        import torch.distributed as dist

        dist.barrier()


def share_group_with_deepspeed(deepspeed_config: Any) -> None:
    """Let DeepSpeed use the process group that accelerate already opened (with ``use_cpu`` it opens a gloo group
    without telling ``deepspeed.comm``, and ZeRO-3's partitioned loading then sees one process of many)."""
    if not deepspeed_config or not _group_ready():
        return
    import deepspeed
    import torch.distributed as dist

    if not deepspeed.comm.is_initialized():
        deepspeed.init_distributed(dist_backend=dist.get_backend(), auto_mpi_discovery=False)


def local_main_first(fn: Callable[[], Any]) -> Any:
    """``fn()`` on the first process of each machine, then on the others (which then find its work on disk, e.g. a
    cache it wrote). Unlike a bare barrier, a failure of the first is raised on every process: none waits forever."""
    if rank_and_world()[1] == 1:
        return fn()
    first, out, failure = is_local_main(), None, None
    if first:
        try:
            out = fn()
        except Exception as e:  # told to the others below
            failure = e
    if not all_true(failure is None):
        raise failure or RuntimeError("the first process of this machine failed; see its error above")
    return out if first else fn()


def close_process_group() -> None:
    """Destroy the process group (if any) while the interpreter is fully alive, after a run that succeeded.

    Left to the interpreter's teardown, gloo's worker threads can still hold work objects with tensors; freeing
    them then needs the GIL of an interpreter being torn down, and the process aborts after its work is done
    ("terminate called without an active exception", SIGABRT, return code -6). Not called after an error: the
    launcher stops the other processes, which may be inside a collective.
    """
    if _group_ready():
        import torch.distributed as dist

        dist.barrier()  # no process leaves while another still sends to it
        dist.destroy_process_group()
