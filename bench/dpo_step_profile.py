"""Where a RavenDPOTrainer step goes on this CPU, for the embedded SmolLM2-135M + LoRA default.

    python bench/dpo_step_profile.py [--steps 4] [--overhead_steps 8] [--out bench/results]

Times full optimizer steps (forward, backward, weight update) of RavenDPOTrainer on real Rotten Tomatoes
pairs, for a few settings (threads, LoRA targets, reference log-probs precomputed or live); measures its
overhead over TRL's own DPOTrainer in one process (the same model, pairs and settings, TRL's full metric set on
both, steps alternated on the same batches); and profiles one step with torch.profiler. Writes
``dpo_step_profile.json`` and ``dpo_step_profile.md``.
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


def _trainer(
    tmp: str, data, batch: int, targets: list[str], threads: int, precompute: bool = True, raven: bool = True
):
    """A RavenDPOTrainer (or, with ``raven=False``, TRL's DPOTrainer on the same pairs and settings)."""
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    from raven_align.embedded import smollm2_path
    from raven_align.trainers import RavenDPOConfig, RavenDPOTrainer

    torch.set_num_threads(threads)
    torch.manual_seed(0)  # the same LoRA start for both trainers
    path = smollm2_path()
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(path)
    config, trainer_cls = (RavenDPOConfig, RavenDPOTrainer) if raven else (DPOConfig, DPOTrainer)
    extra = {"supervisor_lr": 1e-3, "easy_phase_fraction": 0.0} if raven else {}
    if not raven:
        data = data.select_columns(["prompt", "chosen", "rejected"])
    args = config(
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
        disable_tqdm=True,
        dataloader_num_workers=0,
        **extra,
    )
    return trainer_cls(
        model,
        args=args,
        train_dataset=data,
        processing_class=tok,
        peft_config=LoraConfig(r=8, lora_alpha=16, target_modules=targets, task_type="CAUSAL_LM"),
    )


def _step(trainer, batch) -> float:
    """One optimizer step (and RAVEN's weight update); its seconds."""
    t0 = time.perf_counter()
    loss = trainer.compute_loss(trainer.model, batch)
    loss.backward()
    trainer.optimizer.step()
    trainer.optimizer.zero_grad()
    if hasattr(trainer, "raven_weights"):
        trainer.raven_weights.step()
    return time.perf_counter() - t0


def overhead(tmp: str, data, steps: int, threads: int = 2, batch: int = 8) -> dict:
    """RavenDPOTrainer / TRL DPOTrainer step time in one process, steps alternated on the same batches (which one
    goes first alternates too), the first round dropped as warm-up. Both log TRL's full metric set."""
    import numpy as np

    from raven_align.core.measures import bootstrap_interval

    qkvo = ["q_proj", "k_proj", "v_proj", "o_proj"]
    trainers = {
        name: _trainer(tmp, data, batch, qkvo, threads, raven=name == "raven") for name in ("raven", "trl")
    }
    for t in trainers.values():
        t.create_optimizer_and_scheduler(num_training_steps=steps + 1)
        t.model.train()
    times = {"raven": [], "trl": []}
    for r in range(steps + 1):
        rows = list(range(r * batch, (r + 1) * batch))
        batches = {n: t.data_collator([t.train_dataset[i] for i in rows]) for n, t in trainers.items()}
        for name in ("raven", "trl") if r % 2 == 0 else ("trl", "raven"):
            times[name].append(_step(trainers[name], batches[name]))
    raven, trl = np.array(times["raven"][1:]), np.array(times["trl"][1:])
    ratio = raven / trl
    low, high = bootstrap_interval(ratio, statistic=np.median)
    keys = sorted(trainers["trl"]._metrics["train"])
    assert set(keys) <= set(trainers["raven"]._metrics["train"]), (
        "RavenDPOTrainer lacks some of TRL's metrics"
    )
    return {
        "threads": threads,
        "batch": batch,
        "steps": len(ratio),
        "raven s/step (median)": float(np.median(raven)),
        "trl s/step (median)": float(np.median(trl)),
        "ratio (median of paired)": float(np.median(ratio)),
        "95% interval": f"[{low:.3f}, {high:.3f}]",
        "trl metrics logged by both": ", ".join(keys),
    }


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
    parser.add_argument(
        "--overhead_steps", type=int, default=8, help="paired steps of the RAVEN/TRL comparison"
    )
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
        versus_trl = overhead(tmp, _pairs(8 * (args.overhead_steps + 1)), args.overhead_steps)
        print(versus_trl, flush=True)
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
    (out / "dpo_step_profile.json").write_text(
        json.dumps({"rows": rows, "versus_trl": versus_trl, "loadavg": load}, indent=1)
    )
    from raven_align.evaluation.reporting import markdown_table

    md = (
        f"# RavenDPOTrainer step time, SmolLM2-135M + LoRA, fp32, CPU\n\nload average during the run: {load}\n\n"
        + "## Overhead over TRL's DPOTrainer (one process, alternated steps on the same batches)\n\n"
        + markdown_table([versus_trl])
        + "\nRatio: median over paired steps of RavenDPOTrainer's step time / DPOTrainer's, with a bootstrap 95% "
        "interval; both log TRL's full metric set. Other processes on the machine add noise to both.\n\n"
        + "## Step time by setting\n\n"
        + markdown_table(rows)
        + "\n## Profile of one forward+backward (threads 2, batch 8, q/k/v/o)\n\n```\n"
        + table
        + "\n```\n"
    )
    (out / "dpo_step_profile.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
