#!/usr/bin/env bash
# The embedded default DPO recipe under each supervision method (same recipe and settings, one switch), then the
# comparison table: bash bench/dpo_methods.sh [OUT_ROOT]. The first run labels the data and precomputes the
# reference log-probs; the others read the labels from the cache. Runs one after another (2-core CPU).
set -euo pipefail
out=${1:-outputs/dpo_methods}
shift || true  # further arguments go to every run (e.g. --num_train_epochs 2 --max_eval_pairs 320)
extra=("$@")
run() {  # name, extra flags...
  local name=$1; shift
  [ -f "$out/$name/results.json" ] && return 0
  accelerate launch --config_file accelerate_configs/cpu.yaml recipes/preference_alignment/run.py \
    --config recipes/preference_alignment/embedded_default.yaml --output_dir "$out/$name" --overwrite_output_dir true "${extra[@]}" "$@"
}
run raven
run ens --supervision ens
run naive_worst --supervision naive --naive_supervisor verbosity_rm
run gt --supervision gt --gt_column gt_label
python bench/dpo_methods_table.py "$out" --out "bench/results/$(basename "$out").md"
