"""The supervisor weights' state under the training backends that run on a CPU: DeepSpeed ZeRO-2 in one process
(trains like plain PyTorch, checkpoints and resumes the weights), a save path that does not rely on ``_save``
(FSDP's sharded state dict skips it), the adapter saved under FSDP's sharded state dict (FSDP state faked), and the
loss scale undone on the weights' gradient. FSDP itself, bf16 and QLoRA on CUDA need a GPU: ``bench/gpu_check.sh``;
ZeRO-3 on two CPU processes: tests/test_recipe_zero3.py."""

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
from safetensors.torch import load_file
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


def test_fsdp_sharded_state_dict_still_saves_the_adapter(
    sup_tokenizer_plain, tmp_path, sup_cache, monkeypatch
):
    """transformers writes no model under FSDP's SHARDED_STATE_DICT (so no adapter and nothing to push); the Raven
    trainers consolidate and save it. FSDP needs an accelerator: its state is faked here, the real launch is in
    bench/gpu_check.sh."""
    from datasets import Dataset
    from peft import LoraConfig, PeftModel
    from tiny_models import tiny_causal_lm
    from transformers import Trainer

    from raven_align.trainers import RavenDPOConfig, RavenDPOTrainer

    tok = sup_tokenizer_plain
    rows = {"prompt": ["Review the tea."] * 4, "chosen": ["good"] * 4, "rejected": ["bad"] * 4,
            "reward_chosen__a": [1.0] * 4, "reward_rejected__a": [0.0] * 4}  # fmt: skip
    args = RavenDPOConfig(output_dir=str(tmp_path / "run"), use_cpu=True, report_to="none", max_length=32,
                          per_device_train_batch_size=4, max_steps=2, learning_rate=1e-2, bf16=False,
                          gradient_checkpointing=False, save_strategy="no")  # fmt: skip
    trainer = RavenDPOTrainer(
        tiny_causal_lm(tok, 0), args=args, train_dataset=Dataset.from_dict(rows), processing_class=tok,
        peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0),
    )  # fmt: skip
    trainer.train()
    trainer.save_model(str(tmp_path / "plain"))
    sharded = SimpleNamespace(state_dict_type="StateDictType.SHARDED_STATE_DICT")
    monkeypatch.setattr(trainer, "is_fsdp_enabled", True)
    monkeypatch.setattr(trainer.accelerator.state, "fsdp_plugin", sharded, raising=False)
    Trainer.save_model(trainer, str(tmp_path / "bare"))  # what transformers alone does: no adapter
    assert not (tmp_path / "bare" / "adapter_model.safetensors").exists()
    trainer.save_model(str(tmp_path / "fsdp"))
    plain, fsdp = (load_file(str(tmp_path / d / "adapter_model.safetensors")) for d in ("plain", "fsdp"))
    assert plain.keys() == fsdp.keys() and len(plain) == 8
    assert any(float(v.abs().max()) > 0 for k, v in fsdp.items() if "lora_B" in k)  # trained, not the init
    for k in plain:
        assert torch.equal(plain[k], fsdp[k]), k
    assert (tmp_path / "fsdp" / RAVEN_STATE_NAME).is_file()
    PeftModel.from_pretrained(tiny_causal_lm(tok, 0), str(tmp_path / "fsdp"))  # loads with plain PEFT


def test_sharded_configs_save_a_whole_adapter_and_quantised_weights_can_be_sharded():
    """The launch configs users start from: every FSDP config gathers a full state dict at save, FSDP2 is there,
    ZeRO-3 gathers 16-bit weights at save, and the sharded QLoRA recipe stores its 4-bit weights in the dtype the
    sharding needs (ZeRO-3 and FSDP shard only parameters of one dtype)."""
    import yaml
    from trl import ModelConfig, get_quantization_config

    from raven_align.programs import dpo

    configs = {
        p.stem: yaml.safe_load(p.read_text()) for p in (TESTS.parent / "accelerate_configs").glob("*.yaml")
    }
    fsdp = {k: c["fsdp_config"] for k, c in configs.items() if c["distributed_type"] == "FSDP"}
    assert set(fsdp) == {"fsdp", "fsdp2", "fsdp_qlora"}
    assert all(c["fsdp_state_dict_type"] == "FULL_STATE_DICT" for c in fsdp.values())
    assert fsdp["fsdp2"]["fsdp_version"] == 2 and fsdp["fsdp_qlora"]["fsdp_use_orig_params"] is False
    for name in ("deepspeed_zero3", "deepspeed_zero3_qlora"):
        ds = configs[name]["deepspeed_config"]
        assert ds["zero_stage"] == 3 and ds["zero3_save_16bit_model"] is True
    recipe = TESTS.parent / "recipes" / "preference_alignment" / "paper_qwen2.5_7b_qlora_sharded.yaml"
    argv = ["--config", str(recipe), "--bf16", "false", "--use_cpu", "true"]
    _, _, model = dpo.make_parser().parse_args_and_config(argv)
    assert isinstance(model, ModelConfig) and model.dtype == "bfloat16"
    q = get_quantization_config(model)
    assert q.load_in_4bit and q.bnb_4bit_quant_storage == torch.bfloat16 == getattr(torch, model.dtype)
