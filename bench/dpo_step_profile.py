"""Where a RavenDPOTrainer step goes on this CPU, for the embedded SmolLM2-135M + LoRA default.

    python bench/dpo_step_profile.py [--steps 4] [--out bench/results]

Times full optimizer steps (forward, backward, weight update) of RavenDPOTrainer on real Rotten Tomatoes
pairs, for a few settings (threads, LoRA targets, reference log-probs precomputed or live), and
profiles one step with torch.profiler. Writes ``dpo_step_profile.json`` and ``dpo_step_profile.md``.
Other processes on the machine slow every number here: the report records the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch


def _pairs(n: int):
    from raven_align.embedded import load_preference_pairs

    data = load_preference_pairs("rotten_tomatoes", n_train=n, n_test=8, max_chars=160)["train"]
    g = torch.Generator().manual_seed(0)
    cols = {
        f"reward_{side}__{k}": torch.randn(n, generator=g).tolist()
        for side in ("chosen", "rejected")
        for k in ("a", "b", "c")
    }
    for c, v in cols.items():
        data = data.add_column(c, v)
    return data


def _trainer(tmp: str, data, batch: int, targets: list[str], threads: int, precompute: bool = True):
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from raven_align.embedded import smollm2_path
    from raven_align.trainers import RavenDPOConfig, RavenDPOTrainer

    torch.set_num_threads(threads)
    path = smollm2_path()
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(path)
    args = RavenDPOConfig(
        output_dir=tmp,
        per_device_train_batch_size=batch,
        max_steps=10_000,
        bf16=False,
        use_cpu=True,
        gradient_checkpointing=False,
        report_to="none",
        save_strategy="no",
        precompute_ref_log_probs=precompute,
        max_length=96,
        logging_steps=1_000_000,
        supervisor_lr=1e-3,
        easy_phase_fraction=0.0,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    return RavenDPOTrainer(
        model,
        args=args,
        train_dataset=data,
        processing_class=tok,
        peft_config=LoraConfig(r=8, lora_alpha=16, target_modules=targets, task_type="CAUSAL_LM"),
    )


def _time_steps(trainer, steps: int) -> list[float]:
    trainer.create_optimizer_and_scheduler(num_training_steps=steps + 1)
    model = trainer.model
    model.train()
    loader = iter(trainer.get_train_dataloader())
    times = []
    for _ in range(steps + 1):  # the first step warms up allocators and is dropped
        batch = next(loader)
        t0 = time.perf_counter()
        loss = trainer.compute_loss(model, batch)
        loss.backward()
        trainer.optimizer.step()
        trainer.optimizer.zero_grad()
        trainer.raven_weights.step()
        times.append(time.perf_counter() - t0)
    return times[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    data = _pairs(64)  # enough batches for the timed steps; the reference pass is over these only
    qkvo = ["q_proj", "k_proj", "v_proj", "o_proj"]
    all_linear = qkvo + ["gate_proj", "up_proj", "down_proj"]
    settings = [
        {"threads": 2, "batch": 8, "targets": qkvo, "precompute": True},
        {"threads": 2, "batch": 8, "targets": qkvo, "precompute": False},
        {"threads": 1, "batch": 8, "targets": qkvo, "precompute": True},
        {"threads": 2, "batch": 8, "targets": all_linear, "precompute": True},
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in settings:
            trainer = _trainer(tmp, data, s["batch"], s["targets"], s["threads"], s["precompute"])
            times = _time_steps(trainer, args.steps)
            tokens = float(sum(len(data[i]["chosen"]) for i in range(s["batch"])))
            rows.append(
                {
                    **s,
                    "targets": "qkvo" if s["targets"] == qkvo else "all-linear",
                    "s/step": sum(times) / len(times),
                    "min s/step": min(times),
                    "pairs/s": s["batch"] / (sum(times) / len(times)),
                    "chars/chosen": tokens / s["batch"],
                }
            )
            print(rows[-1], flush=True)
        torch.set_num_threads(2)
        trainer = _trainer(tmp, data, 8, qkvo, 2)
        trainer.create_optimizer_and_scheduler(num_training_steps=4)
        batch = next(iter(trainer.get_train_dataloader()))
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            loss = trainer.compute_loss(trainer.model, batch)
            loss.backward()
        table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    (out / "dpo_step_profile.json").write_text(json.dumps({"rows": rows, "loadavg": load}, indent=1))
    from raven_align.reporting import markdown_table

    md = (
        f"# RavenDPOTrainer step time, SmolLM2-135M + LoRA, fp32, CPU\n\nload average during the run: {load}\n\n"
        + markdown_table(rows)
        + "\n## Profile of one forward+backward (threads 2, batch 8, q/k/v/o)\n\n```\n"
        + table
        + "\n```\n"
    )
    (out / "dpo_step_profile.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
