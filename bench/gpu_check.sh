#!/usr/bin/env bash
# The DPO recipe's GPU paths on one CUDA GPU (H100/H200: under 10 minutes, most of it first-use asset preparation):
# bf16, QLoRA 4-bit, DeepSpeed ZeRO-2 and ZeRO-3, FSDP, and kill-and-resume. Prints a table of what ran, with
# the learned weights of each run and whether the resumed run ends where the uninterrupted one does; writes it to
# bench/results/gpu_check.md (override with RESULTS=...). Needs: pip install -e ".[assets,quantization,deepspeed]"
#
#   bash bench/gpu_check.sh            # OUT=/tmp/gpu_check STEPS=8 by default
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_check}
STEPS=${STEPS:-8}
RESULTS=${RESULTS:-bench/results/gpu_check.md}
export HF_HUB_OFFLINE=1 TQDM_DISABLE=1
rm -rf "$OUT" && mkdir -p "$OUT"
RECIPE=recipes/preference_alignment/run.py
COMMON=(--config recipes/preference_alignment/embedded_default.yaml --max_steps "$STEPS" --max_eval_samples 32
        --use_cpu false --logging_steps 2 --eval_batch_size 16)
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
  accelerate launch --config_file "accelerate_configs/$config" --num_processes 1 "$RECIPE" "${COMMON[@]}" \
    --output_dir "$OUT/$name" "$@"
}

nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$OUT/gpu.txt" 2>&1
# 1. bf16 (also the uninterrupted reference of the resume check: it saves every 2 steps like the resumed run)
run bf16 launch single_gpu.yaml bf16 --bf16 true --save_strategy steps --save_steps 2
# 2. QLoRA: 4-bit NF4 base through TRL's ModelConfig flags, bf16 compute
run qlora launch single_gpu.yaml qlora --bf16 true --load_in_4bit true --bnb_4bit_quant_type nf4
# 3-4. DeepSpeed ZeRO-2 and ZeRO-3 on one GPU
run zero2 launch deepspeed_zero2.yaml zero2 --bf16 true
run zero3 launch deepspeed_zero3.yaml zero3 --bf16 true
# 5. FSDP (sharded state dict: transformers skips _save; the weights' state must still be written)
run fsdp launch fsdp.yaml fsdp --bf16 true --save_strategy steps --save_steps "$STEPS"
# 6. kill-and-resume: stop a run once its step-4 checkpoint exists, then resume it from there
launch single_gpu.yaml resume --bf16 true --save_strategy steps --save_steps 2 > "$OUT/resume-killed.log" 2>&1 &
pid=$!
for _ in $(seq 600); do
  [ -f "$OUT/resume/checkpoint-4/raven_weights.pt" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 1
done
pkill -f -- "--output_dir $OUT/resume" ; wait "$pid" 2>/dev/null
rm -rf "$OUT/resume/checkpoint-6" "$OUT/resume/checkpoint-8"  # as if it died right after step 4
run resume launch single_gpu.yaml resume --bf16 true --save_strategy steps --save_steps 2 \
  --resume_from_checkpoint "$OUT/resume/checkpoint-4"

python - "$OUT" "$RESULTS" <<'EOF'
import json, pathlib, sys

out, results = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
rows = [line.split("\t") for line in (out / "table.tsv").read_text().splitlines()]
lines = [f"# GPU check of the DPO recipe ({(out / 'gpu.txt').read_text().strip()})", "",
         "| run | exit | seconds | final weights | s/step | raven_weights.pt |", "|---|---|---|---|---|---|"]
weights = {}
for name, rc, seconds in rows:
    res = out / name / "results.json"
    data = json.loads(res.read_text()) if res.is_file() else {}
    weights[name] = data.get("weights", {})
    w = ", ".join(f"{k} {v:.3f}" for k, v in weights[name].items()) or "—"
    sps = f"{data['timing']['seconds_per_step']:.2f}" if data else "—"
    state = "yes" if (out / name / "raven_weights.pt").is_file() else "no"
    lines.append(f"| {name} | {rc} | {seconds} | {w} | {sps} | {state} |")
a, b = weights.get("bf16", {}), weights.get("resume", {})
same = bool(a) and a.keys() == b.keys() and all(abs(a[k] - b[k]) < 1e-3 for k in a)
lines += ["", f"Resumed from checkpoint-4 vs uninterrupted (bf16): {'same weights' if same else 'DIFFERENT'} "
          f"(max |Δw| = {max((abs(a[k] - b.get(k, 0)) for k in a), default=float('nan')):.2e})."]
text = "\n".join(lines) + "\n"
print(text)
results.parent.mkdir(parents=True, exist_ok=True)
results.write_text(text)
EOF
