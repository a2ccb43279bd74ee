"""Weights are identical on every process: the gradient is averaged before the update (gloo, 2 CPUs)."""

import os
import tempfile

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from raven_align.core import SupervisorWeights


def _worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        w = SupervisorWeights(["a", "b", "c"], lr=0.5, update_rule="exponentiated")
        for step in range(3):
            # each process sees a different micro-batch gradient
            w.weights.grad = torch.tensor([1.0, 0.0, -1.0]) * (rank + 1) + step
            used = w.step()
        torch.save({"weights": w.weights.detach(), "last_grad": used}, os.path.join(out_dir, f"{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_weights_are_identical_across_processes_and_use_the_mean_gradient():
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(_worker, args=(2, os.path.join(tmp, "store"), tmp), nprocs=2, join=True)
        r0, r1 = (torch.load(os.path.join(tmp, f"{r}.pt")) for r in range(2))
    assert torch.equal(r0["weights"], r1["weights"])
    assert torch.allclose(r0["last_grad"], torch.tensor([1.5, 0.0, -1.5]) + 2)
    single = SupervisorWeights(["a", "b", "c"], lr=0.5, update_rule="exponentiated")
    for step in range(3):
        single.weights.grad = torch.tensor([1.5, 0.0, -1.5]) + step  # the mean of the two processes
        single.step()
    assert torch.allclose(single.weights, r0["weights"], atol=1e-6)
