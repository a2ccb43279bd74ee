"""Several processes (DDP over gloo on the CPU) and gradient accumulation: the supervisor weights are the same on
every process at every step and follow the one-process run on the same global batch.

Tolerances: the one- and two-process runs add the same per-example gradients in a different order (float32),
so weights agree to 1e-5 and parameter checksums to a relative 1e-6; processes agree with each other exactly.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import multiprocess_worker as worker
import pytest

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parents[1]
TRAINERS = ("dpo", "reward", "classification")
RUNNERS = {"dpo": worker.run_dpo, "reward": worker.run_reward, "classification": worker.run_classification}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_two_processes(script: str, *args: str, env: dict | None = None, cwd: Path | None = None):
    """``accelerate launch`` on two CPU processes (gloo); returns the completed process (output captured)."""
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(ROOT / "accelerate_configs" / "multi_cpu.yaml"),
        "--multi_gpu", "--num_processes", "2", "--num_cpu_threads_per_process", "1",
        "--main_process_port", str(free_port()),
        script, *args,
    ]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=cwd)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    return run


def _record(trainer) -> dict:
    return {"history": trainer.raven_weights.history, "checksum": worker.checksum(trainer.model)}


def _close(a: dict, b: dict) -> None:
    assert len(a["history"]) == len(b["history"])
    for wa, wb in zip(a["history"], b["history"], strict=True):
        assert wa == pytest.approx(wb, abs=1e-5)
    assert a["checksum"] == pytest.approx(b["checksum"], rel=1e-6)


def test_trainers_on_two_processes_match_one_process(tmp_path, sup_cache):
    # in-memory datasets, DPO with precomputed reference log-probs: each process must read rank 0's cache file
    launch_two_processes("multiprocess_worker.py", str(tmp_path / "two"), "--batch", "2", cwd=ROOT / "tests")
    for name in TRAINERS:
        ranks = [json.loads((tmp_path / "two" / f"{name}-rank{r}.json").read_text()) for r in (0, 1)]
        assert ranks[0]["world_size"] == 2 and ranks[0]["steps"] == 3
        assert ranks[0]["history"] == ranks[1]["history"], name  # identical on every process, every step
        assert ranks[0]["checksum"] == ranks[1]["checksum"], name
        assert ranks[0]["history"][-1] != ranks[0]["history"][0], name  # the weights did move
        one = _record(RUNNERS[name](str(tmp_path / "one" / name), 4, 1))
        _close(ranks[0], one)


@pytest.mark.parametrize("name", TRAINERS)
def test_gradient_accumulation_gives_the_same_weight_trajectory(name, tmp_path, sup_cache):
    big = _record(RUNNERS[name](str(tmp_path / "big"), 8, 1))
    accumulated = _record(RUNNERS[name](str(tmp_path / "acc"), 4, 2))
    assert big["history"][-1] != big["history"][0]
    _close(big, accumulated)
