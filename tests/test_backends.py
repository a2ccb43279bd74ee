"""The supervisor weights' state under the training backends that run on a CPU: DeepSpeed ZeRO-2 in one process
(trains like plain PyTorch, checkpoints and resumes the weights), a save path that does not rely on ``_save``
(FSDP's sharded state dict skips it), and the loss scale undone on the weights' gradient. FSDP itself, bf16,
QLoRA on CUDA and ZeRO-3 need a GPU: ``bench/gpu_check.sh``."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import multiprocess_worker as worker
import pytest
import torch
from test_multiprocess import free_port

from raven_align.trainers import RAVEN_STATE_NAME
from raven_align.trainers.mixin import loss_scale

TESTS = Path(__file__).resolve().parent
pytestmark = pytest.mark.usefixtures("one_thread")


def _deepspeed(out: Path, *args: str) -> dict:
    """The reward trainer under DeepSpeed ZeRO-2 in one process (a subprocess: DeepSpeed sets up torch.distributed)."""
    env = {**os.environ, "RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(free_port()), "HF_HUB_OFFLINE": "1"}  # fmt: skip
    cmd = [
        sys.executable,
        "multiprocess_worker.py",
        str(out),
        "--batch",
        "4",
        "--only",
        "reward",
        "--deepspeed",
        "2",
    ]
    run = subprocess.run([*cmd, *args], cwd=TESTS, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    return json.loads((out / "reward-rank0.json").read_text())


def test_deepspeed_zero2_trains_checkpoints_and_resumes_the_weights(tmp_path, sup_cache):
    pytest.importorskip("deepspeed")
    plain = worker.run_reward(str(tmp_path / "plain"), 4, 1).raven_weights.history
    full = _deepspeed(tmp_path / "full", "--save_steps", "1")
    assert len(full["history"]) == 4 and full["history"][-1] != full["history"][0]
    for a, b in zip(full["history"], plain, strict=True):
        assert a == pytest.approx(b, abs=1e-6)
    checkpoint = tmp_path / "full" / "reward" / "checkpoint-2"
    state = torch.load(checkpoint / RAVEN_STATE_NAME, weights_only=True)
    assert torch.allclose(torch.tensor(state["history"]), torch.tensor(full["history"][:3]))
    # resume from step 2 in a new folder: the weights continue from the checkpoint, not from uniform
    shutil.copytree(checkpoint, tmp_path / "cut" / "reward" / "checkpoint-2")
    resumed = _deepspeed(tmp_path / "cut", "--resume", str(tmp_path / "cut" / "reward" / "checkpoint-2"))
    for a, b in zip(resumed["history"], full["history"], strict=True):
        assert a == pytest.approx(b, abs=1e-6)


def test_weights_state_is_saved_without_trainer_save(tmp_path, sup_cache, monkeypatch):
    """FSDP with a sharded state dict never calls ``Trainer._save``; the weights must be saved all the same."""
    from transformers import Trainer

    trainer = worker.run_classification(str(tmp_path / "run"), 8, 1)
    monkeypatch.setattr(Trainer, "_save", lambda self, output_dir=None, state_dict=None: None)
    trainer.save_model(str(tmp_path / "saved"))
    state = torch.load(tmp_path / "saved" / RAVEN_STATE_NAME, weights_only=True)
    assert state["history"] == trainer.raven_weights.history
    assert not (tmp_path / "saved" / "model.safetensors").exists()  # the model itself was not written here


def test_loss_scale_of_each_backend():
    class Scaler:
        def is_enabled(self):
            return True

        def get_scale(self):
            return 1024.0

    amp = SimpleNamespace(accelerator=SimpleNamespace(scaler=Scaler()), is_deepspeed_enabled=False)
    assert loss_scale(amp) == 1024.0
    engine = SimpleNamespace(optimizer=SimpleNamespace(loss_scale=256.0))
    ds = SimpleNamespace(
        accelerator=SimpleNamespace(scaler=None), is_deepspeed_enabled=True, model_wrapped=engine
    )
    assert loss_scale(ds) == 256.0
    fp16_optimizer = SimpleNamespace(optimizer=SimpleNamespace(cur_scale=64))
    ds.model_wrapped = fp16_optimizer
    assert loss_scale(ds) == 64.0
    plain = SimpleNamespace(accelerator=SimpleNamespace(scaler=None), is_deepspeed_enabled=False)
    assert loss_scale(plain) == 1.0
