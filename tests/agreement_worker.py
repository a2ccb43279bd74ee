"""Builds the classification trainer (a LinearProbe) on two processes that agree or not, and records what each one
saw (run by tests/test_bad_inputs_processes.py):

    ACCELERATE_USE_CPU=true python -m torch.distributed.run --standalone --nproc_per_node 2 \
        tests/agreement_worker.py OUT_DIR

Every case runs on both processes in turn, in one process group: a refusal of one case must leave the processes
in step for the next (a process that refused alone would leave the other waiting in the next collective). Writes
``OUT_DIR/<case>-rank<r>.json``: ``refused`` with the error's type and message, or the weights after 2 training
steps; then ``OUT_DIR/done-rank<r>.json`` after a last collective.
"""

from __future__ import annotations

import json
import os
import sys

import torch
import torch.distributed as dist
from datasets import Dataset

from raven_align.core.synthetic import make_linear_problem
from raven_align.trainers import RavenClassificationConfig, RavenClassificationTrainer
from raven_align.trainers.probes import LinearProbe
from raven_align.utils.processes import close_process_group

CASES = ("control", "column_order", "judgement_values", "initial_weights")


def data(rank: int, case: str) -> Dataset:
    """A labelled training set; on rank 1 its judgement columns come in another order (``column_order``) or one
    supervisor's judgements are another's (``judgement_values``)."""
    problem = make_linear_problem([0.9, 0.7, 0.35], n_train=16, n_test=4, dim=4, seed=0)
    probs = problem.probs_train.clone()
    if rank == 1 and case == "judgement_values":
        probs[:, 2] = probs[:, 0]  # sup2 judges like sup0: the label model's initial weights change too
    order = list(range(len(problem.names)))
    if rank == 1 and case == "column_order":
        order.reverse()
    cols = {"features": problem.x_train.tolist(), "label": problem.y_train.tolist()}
    cols.update({f"probs__{problem.names[k]}": probs[:, k].tolist() for k in order})
    return Dataset.from_dict(cols)


def config(out: str, rank: int, case: str) -> RavenClassificationConfig:
    init = dict(weight_init="label_model")
    if case == "initial_weights":
        init = dict(weight_init="explicit", initial_weights=[0.5, 0.3, 0.2] if rank == 0 else [0.2, 0.3, 0.5])
    return RavenClassificationConfig(
        output_dir=os.path.join(out, case),
        save_strategy="no",
        per_device_train_batch_size=4,
        max_steps=2,
        learning_rate=0.1,
        optim="sgd",
        lr_scheduler_type="constant",
        seed=0,
        use_cpu=True,
        report_to="none",
        logging_steps=1,
        disable_tqdm=True,
        dataloader_num_workers=0,
        supervisor_lr=0.5,
        weight_update_rule="exponentiated",
        easy_phase_fraction=0.0,
        **init,
    )


def run_case(out: str, rank: int, case: str) -> dict:
    args = config(out, rank, case)
    torch.manual_seed(0)
    try:
        trainer = RavenClassificationTrainer(LinearProbe(4, 2), args, train_dataset=data(rank, case))
    except Exception as e:  # recorded for the test; the next case must still run on both processes
        return {"refused": True, "type": type(e).__name__, "message": str(e)}
    trainer.train()
    return {
        "refused": False,
        "world_size": trainer.args.world_size,
        "steps": trainer.state.global_step,
        "history": trainer.raven_weights.history,
    }


def main() -> None:
    out = sys.argv[1]
    rank = int(os.environ["RANK"])
    torch.set_num_threads(1)
    for case in CASES:
        record = run_case(out, rank, case)
        with open(os.path.join(out, f"{case}-rank{rank}.json"), "w") as f:
            json.dump(record, f)
    # a last collective: it only completes if no process was left behind by a refusal
    done: list = [None, None]
    dist.all_gather_object(done, rank)
    with open(os.path.join(out, f"done-rank{rank}.json"), "w") as f:
        json.dump(done, f)
    close_process_group()  # while the interpreter is fully alive (see its docstring)


if __name__ == "__main__":
    main()
