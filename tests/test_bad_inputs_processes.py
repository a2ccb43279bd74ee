"""Bad inputs on several processes (docs/bad_inputs.md, one test per row): processes that do not hold the same
supervisors in the same order, the same judgements or the same initial weights refuse at trainer construction,
every one of them, naming the first difference; processes that agree train alike.

The two-process cases run in one launch (``torchrun``, gloo on the CPU, tests/agreement_worker.py): every case
runs on both processes in turn, in one process group, and a last collective shows that no refusal left a process
behind.
"""

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from agreement_worker import CASES, config, data

from raven_align.core import WeightingArguments
from raven_align.core.lifecycle import (
    RavenLifecycle,
    check_processes_agree,
    first_process_difference,
    judgement_fingerprint,
)
from raven_align.trainers import RavenClassificationTrainer, mixin
from raven_align.trainers.probes import LinearProbe

TESTS = Path(__file__).resolve().parent
NAMES = "['sup0', 'sup1', 'sup2']"


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory) -> dict[str, list[dict]]:
    """Every case of the worker on two processes: ``{case: [rank 0's record, rank 1's record]}``."""
    out = tmp_path_factory.mktemp("agreement")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "agreement_worker.py", str(out)]  # fmt: skip
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "RAVEN_ALIGN_CACHE": str(out / "cache")}  # fmt: skip
    proc = subprocess.Popen(
        cmd,
        cwd=TESTS,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=540)  # a process left waiting in a collective would hang here
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # torchrun and both workers
        output, _ = proc.communicate()
        pytest.fail("the two processes did not finish (one waiting on the other?):\n" + output[-6000:])
    assert proc.returncode == 0, output[-6000:]
    records = {c: [json.loads((out / f"{c}-rank{r}.json").read_text()) for r in (0, 1)] for c in CASES}
    assert [json.loads((out / f"done-rank{r}.json").read_text()) for r in (0, 1)] == [[0, 1], [0, 1]]
    return records


def _refused_on_both(records: list[dict], difference: str) -> None:
    for rank, record in enumerate(records):
        assert record["refused"], f"rank {rank} built the trainer"  # construction raised: no step ran
        assert record["type"] == "ValueError", record
        assert f"every process refuses to train (this is rank {rank})" in record["message"]
        assert difference in record["message"], record["message"]


def test_judgement_columns_in_another_order_on_one_process_are_refused(two_processes):
    _refused_on_both(
        two_processes["column_order"],
        f"supervisor names differ: rank 0 has {NAMES}, rank 1 has ['sup2', 'sup1', 'sup0']; "
        "give every process the same judgement columns in the same order, or fix the order with supervisor_names",
    )


def test_other_judgement_values_on_one_process_are_refused(two_processes):
    records = two_processes["judgement_values"]
    _refused_on_both(
        records, "judgement data (SHA-256 of the judgement tensor's dtype, shape and bytes) differ"
    )
    named = [
        re.findall(r"rank 0 has '([0-9a-f]{64})', rank 1 has '([0-9a-f]{64})'", r["message"]) for r in records
    ]
    assert len(named[0]) == 1 and named[0] == named[1]  # the same two fingerprints named on both processes
    assert named[0][0][0] != named[0][0][1]


def test_other_initial_weights_on_one_process_are_refused(two_processes):
    _refused_on_both(
        two_processes["initial_weights"],
        "initial weights differ: rank 0 has [0.5, 0.30000001192092896, 0.20000000298023224], "
        "rank 1 has [0.20000000298023224, 0.30000001192092896, 0.5]; give every process the same initial_weights",
    )


def test_processes_that_agree_build_and_train_alike(two_processes):
    ranks = two_processes["control"]
    for record in ranks:
        assert not record["refused"], record.get("message")
        assert record["world_size"] == 2 and record["steps"] == 2
    assert ranks[0]["history"] == ranks[1]["history"]  # bit for bit, from the initial weights on
    assert ranks[0]["history"][-1] != ranks[0]["history"][0]


def _records(**changes: dict) -> list[dict]:
    """Gathered records of three processes; ``changes[f"r{rank}"]`` overrides fields of that process's."""
    judgements = torch.softmax(torch.randn(8, 3, 2, generator=torch.Generator().manual_seed(0)), -1)
    base = {"supervisors": ["a", "b", "c"], "examples": 8, "judgements": judgement_fingerprint(judgements),
            "initial_weights": [0.5, 0.25, 0.25]}  # fmt: skip
    return [{**base, **changes.get(f"r{r}", {})} for r in range(3)]


def test_gathered_records_that_differ_are_refused_in_one_process(monkeypatch, tmp_path):
    """The comparison itself, without processes: the same decision and message from the same records on every
    rank; fingerprints; rank 0's initial weights adopted within the tolerance; nothing gathered with one process."""
    assert first_process_difference(_records()) is None
    check_processes_agree(_records(), 1)
    swapped = _records(r2={"supervisors": ["b", "a", "c"], "initial_weights": [0.2, 0.4, 0.4]})
    for rank in range(3):  # every rank refuses, naming rank 2's list even where its own agrees with rank 0's
        with pytest.raises(ValueError, match=rf"this is rank {rank}\): supervisor names differ: rank 0 has "
                           r"\['a', 'b', 'c'\], rank 2 has \['b', 'a', 'c'\]"):  # fmt: skip
            check_processes_agree(swapped, rank)
    both = _records(r1={"examples": 7}, r2={"examples": 9})
    assert "rank 0 has 8, rank 1 has 7" in first_process_difference(both, 0)
    assert "rank 0 has 8, rank 2 has 9" in first_process_difference(both, 2)  # this rank's own value
    close = _records(r1={"initial_weights": [0.5 + 1e-7, 0.25, 0.25 - 1e-7]})
    assert first_process_difference(close) is None
    assert "initial weights differ" in first_process_difference(_records(r1={"initial_weights": [0.5, 0.5]}))
    # the fingerprint: equal for equal judgements, different for one value, the shape or the dtype
    j = torch.rand(6, 2, generator=torch.Generator().manual_seed(1))
    assert judgement_fingerprint(j) == judgement_fingerprint(j.clone()) != judgement_fingerprint(None)
    k = j.clone()
    k[5, 1] += 1e-6
    assert judgement_fingerprint(k) != judgement_fingerprint(j)
    assert judgement_fingerprint(j.reshape(3, 4)) != judgement_fingerprint(j)
    assert judgement_fingerprint(j.double()) != judgement_fingerprint(j)
    # a lifecycle's record, and rank 0's initial weights adopted bit for bit
    run = RavenLifecycle(WeightingArguments(supervisor_lr=0.5), ["a", "b"], j, "margins")
    record = run.agreement_record(j, 6)
    assert record == {"supervisors": ["a", "b"], "examples": 6, "judgements": judgement_fingerprint(j),
                      "initial_weights": [0.5, 0.5]}  # fmt: skip
    rank0 = torch.tensor([0.5 + 1e-7, 0.5 - 1e-7]).tolist()  # float32 values 1 ulp away from this rank's
    run.adopt_initial_weights(rank0)
    assert run.weights.history[0] == run.weights.initial.tolist() == run.weights.weights.tolist() == rank0

    # one process gathers nothing
    def no_gather(obj):
        raise AssertionError("gathered with one process")

    monkeypatch.setattr(mixin, "gather_object", no_gather)
    RavenClassificationTrainer(
        LinearProbe(4, 2), config(str(tmp_path), 0, "control"), train_dataset=data(0, "control")
    )
