#!/usr/bin/env bash
# The DPO recipe's GPU paths on N CUDA GPUs (default: all): DDP in bf16, QLoRA 4-bit, DeepSpeed ZeRO-2 and ZeRO-3,
# ZeRO-3 with a sharded 4-bit base, FSDP1 and FSDP2, and a kill-and-resume; each run labels, evaluates before and
# after, samples generations for the gold model and saves the adapter. Writes a table of what ran (exit code,
# seconds, backend, rows each process labelled, final weights, whether the adapter loads with plain PEFT) and the
# resume comparison to bench/results/gpu_check.md (RESULTS=... to override). Fits in ~8 minutes on one H100 once the
# embedded assets are prepared (STEPS=8, 64 training pairs). Needs: pip install -e ".[assets,quantization,deepspeed]"
#
#   bash bench/gpu_check.sh [NUM_GPUS]
set -uo pipefail
cd "$(dirname "$0")/.."
NGPU=${1:-$(nvidia-smi --list-gpus 2>/dev/null | wc -l)}
[ "$NGPU" -ge 1 ] || { echo "no GPU found (give NUM_GPUS)"; exit 1; }
OUT=${OUT:-/tmp/gpu_check}
STEPS=${STEPS:-8}
RESULTS=${RESULTS:-bench/results/gpu_check.md}
export HF_HUB_OFFLINE=1 TQDM_DISABLE=1
rm -rf "$OUT" && mkdir -p "$OUT"
RECIPE=recipes/preference_alignment/run.py
COMMON=(--config recipes/preference_alignment/embedded_default.yaml --max_steps "$STEPS" --max_train_samples 64
        --max_eval_samples 32 --num_eval_prompts 16 --use_cpu false --bf16 true --logging_steps 2
        --eval_batch_size 16)
: > "$OUT/table.tsv"

run() {  # run NAME -- command...: time it, keep its log, record its exit status
  local name=$1; shift
  local start=$SECONDS
  "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - start))" >> "$OUT/table.tsv"
  [ "$rc" = 0 ] || tail -20 "$OUT/$name.log"
}

launch() {  # launch ACCELERATE_CONFIG OUTPUT_NAME extra args...
  local config=$1 name=$2; shift 2
  accelerate launch --config_file "accelerate_configs/$config" --num_processes "$NGPU" "$RECIPE" "${COMMON[@]}" \
    --output_dir "$OUT/$name" "$@"
}

nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$OUT/gpu.txt" 2>&1
DDP=multi_gpu.yaml; [ "$NGPU" = 1 ] && DDP=single_gpu.yaml
# 0. the embedded assets, prepared once (one process), so that no timed run pays for them
python -c "from raven_align.pipeline.embedded_supervisors import embedded_supervisors, embedded_reward_model_path as p
embedded_supervisors(); p('gold_rm')
from raven_align.embedded import smollm2_path; smollm2_path()" > "$OUT/prepare.log" 2>&1
# 1. DDP, bf16 (also the uninterrupted reference of the resume check: it saves every 2 steps like the resumed run)
run ddp launch "$DDP" ddp --save_strategy steps --save_steps 2
# 2. QLoRA: 4-bit NF4 base through TRL's ModelConfig flags, bf16 compute
run qlora launch "$DDP" qlora --load_in_4bit true --bnb_4bit_quant_type nf4
# 3-4. DeepSpeed ZeRO-2 and ZeRO-3
run zero2 launch deepspeed_zero2.yaml zero2
run zero3 launch deepspeed_zero3.yaml zero3
# 5. ZeRO-3 over a 4-bit base stored as bf16 (what lets ZeRO-3 partition quantised weights)
run zero3_qlora launch deepspeed_zero3_qlora.yaml zero3_qlora --load_in_4bit true --bnb_4bit_quant_storage bfloat16 \
  --dtype bfloat16
# 6-7. FSDP1 and FSDP2
run fsdp launch fsdp.yaml fsdp
run fsdp2 launch fsdp2.yaml fsdp2
# 8. kill-and-resume: stop a run once its step-4 checkpoint exists, then resume it from there
launch "$DDP" resume --save_strategy steps --save_steps 2 > "$OUT/resume-killed.log" 2>&1 &
pid=$!
for _ in $(seq 600); do
  [ -f "$OUT/resume/checkpoint-4/raven_weights.pt" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 1
done
pkill -f -- "--output_dir $OUT/resume" ; wait "$pid" 2>/dev/null
rm -rf "$OUT/resume/checkpoint-6" "$OUT/resume/checkpoint-8"  # as if it died right after step 4
run resume launch "$DDP" resume --save_strategy steps --save_steps 2 --resume_from_checkpoint "$OUT/resume/checkpoint-4"

python - "$OUT" "$RESULTS" "$NGPU" <<'EOF'
import json, pathlib, sys

out, results, ngpu = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]


def loads_with_peft(folder: pathlib.Path) -> str:
    if not (folder / "adapter_model.safetensors").is_file():
        return "no adapter"
    try:
        from peft import PeftConfig
        from safetensors.torch import load_file

        PeftConfig.from_pretrained(str(folder))
        tensors = load_file(str(folder / "adapter_model.safetensors"))
        return "yes" if tensors and all(t.numel() for t in tensors.values()) else "empty tensors"
    except Exception as e:  # reported, not raised: the table shows every run
        return f"no ({type(e).__name__})"


rows = [line.split("\t") for line in (out / "table.tsv").read_text().splitlines()]
lines = [f"# GPU check of the DPO recipe ({ngpu} × {(out / 'gpu.txt').read_text().strip()})", "",
         "| run | exit | seconds | backend | rows labelled per process | final weights | s/step | gold win rate | "
         "adapter loads |", "|---|---|---|---|---|---|---|---|---|"]
weights = {}
for name, rc, seconds in rows:
    res = out / name / "results.json"
    data = json.loads(res.read_text()) if res.is_file() else {}
    weights[name] = data.get("weights", {})
    w = ", ".join(f"{k} {v:.3f}" for k, v in weights[name].items()) or "—"
    sps = f"{data['timing']['seconds_per_step']:.2f}" if data else "—"
    procs = data.get("processes", {})
    shares = " + ".join(str(sum(r["train"]["scored_here"].values())) for r in procs.get("rows_scored", [])) or "—"
    win = data.get("generations", {}).get("win_rate_vs_reference", {}).get("mean")
    win = "—" if win is None else f"{win:.2f}"
    lines.append(f"| {name} | {rc} | {seconds} | {procs.get('backend', '—')} | {shares} | {w} | {sps} | {win} | "
                 f"{loads_with_peft(out / name)} |")
a, b = weights.get("ddp", {}), weights.get("resume", {})
same = bool(a) and a.keys() == b.keys() and all(abs(a[k] - b[k]) < 1e-3 for k in a)
lines += ["", f"Resumed from checkpoint-4 vs uninterrupted (DDP, bf16): {'same weights' if same else 'DIFFERENT'} "
          f"(max |Δw| = {max((abs(a[k] - b.get(k, 0)) for k in a), default=float('nan')):.2e})."]
text = "\n".join(lines) + "\n"
print(text)
results.parent.mkdir(parents=True, exist_ok=True)
results.write_text(text)
EOF
