"""DPO method comparison over seeds: the embedded default recipe (frozen in bench/configs/) under each supervision method, one run per
(method, seed), cached by its full configuration so that later invocations only add missing runs.

    python bench/dpo_methods.py                      # every method, seeds 0 1 2 (resumable; hours on a 2-core CPU)
    python bench/dpo_methods.py --methods ens raven-default --seeds 0
    python bench/dpo_methods.py --jobs 2             # two runs at a time (one torch thread each; 2 cores)
    python bench/dpo_methods.py --quick              # a smoke test: tiny runs of two methods, one seed
    python bench/report.py                           # bench/RESULTS.md from every cached run

A run lives in ``bench/runs/dpo/<key>/`` (``key`` hashes the recipe YAML, the method's flags, the seed and the
raven_align version; ignored by git). It is complete when its compact summary ``bench/results/dpo_runs/<key>.json``
exists (committed; the report reads only those); a run killed half-way is started again, and a run that finished
after its driver was stopped is summarized without training again.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# a frozen copy of the main job's config (bench/configs/README.md): run keys hash its text
CONFIG = ROOT / "bench" / "configs" / "dpo_embedded_default.yaml"
#: options the frozen config names by their earlier spellings; a run reads it under today's names
FROZEN_RENAMES = {"max_train_pairs": "max_train_samples", "max_eval_pairs": "max_eval_samples"}
RUNS = ROOT / "bench" / "runs" / "dpo"
SUMMARIES = ROOT / "bench" / "results" / "dpo_runs"
#: how the embedded data is drawn (part of every new run's key): since the reserve (raven_align.embedded.pairs),
#: the gold model and the Amazon-trained supervisors never share a movie, product or review with any run's test
#: splits. The runs measured before it ("before-reserve") are archived in bench/results/dpo_runs_before_reserve/;
#: bench/report.py reads one construction at a time.
DATA = "reserve-v1"


def _flag(value) -> str:
    """A flag's text; a float in short scientific form (``1e-3``), as the first runs' flags were written."""
    if isinstance(value, float):
        mantissa, exponent = f"{value:.12e}".split("e")
        return f"{float(mantissa):g}e{int(exponent)}"
    return str(value)


def setting_flags(name: str) -> list[str]:
    """The named setting ``name`` for DPO (``raven_align.core.named_setting``) as flags over the frozen config: the
    options whose value it changes, in the setting's order. Run keys hash the flags, so they stay those of the first
    runs while the setting and the config stay the same."""
    import yaml

    from raven_align.core import named_setting
    from raven_align.trainers import RavenDPOConfig

    config = yaml.safe_load(CONFIG.read_text())
    defaults = {f.name: f.default for f in dataclasses.fields(RavenDPOConfig)}
    flags = []
    for option, value in named_setting(name, "dpo").items():
        if config.get(option, defaults[option]) != value:
            flags += [f"--{option}", _flag(value)]
    return flags


#: method name -> flags over the embedded default (which is `raven-default`). The best and worst single supervisor
#: are named by their mean accuracy on the target's test pairs over seeds 0-2 of the reserve data (recorded in the
#: `ens` summaries: drugs_com_rm 0.728, vader 0.712, amazon_food_rm 0.692, verbosity_rm 0.467): an oracle choice,
#: shown as a reference row only. The before-reserve runs used amazon_food_rm, best on that data.
METHODS: dict[str, list[str]] = {
    "gt": ["--supervision", "gt", "--gt_column", "gt_label"],
    # the truth at the uniform mixture's confidence (conservative DPO): 0.61 is the mean max(P, 1 - P) of the `ens`
    # mixture on the 512 training pairs of seeds 0 and 1 (0.611 each; no test data). `gt` and `ens` then differ
    # only in which side each pair's label favours, not in how hard the labels are (docs/evaluation.md)
    "gt-soft": ["--supervision", "gt", "--gt_column", "gt_label", "--gt_confidence", "0.61"],
    "ens": ["--supervision", "ens"],
    "naive-best": ["--supervision", "naive", "--naive_supervisor", "drugs_com_rm"],
    "naive-worst": ["--supervision", "naive", "--naive_supervisor", "verbosity_rm"],
    "raven-default": [],
    # the paper's DPO setting: uniform start, projected-gradient (clamp) rule, η = 1e-3, raw margins, easy first
    "raven-paper": setting_flags("paper"),
    "label_model": ["--supervision", "label_model"],
    # the recommended setting: label-model start, chance objective, exponentiated rule, η = 10 for DPO (its weight
    # gradients are ~1e-3 early on, logged as raven/weight_grad_norm; classification's η = 0.1 would leave the
    # weights where they start)
    "raven-lm": setting_flags("recommended"),
}
QUICK = ["--max_steps", "2", "--max_eval_samples", "8", "--num_eval_prompts", "4", "--max_new_tokens", "8",
         "--id_dataset_name", "", "--max_train_samples", "16"]  # fmt: skip


def run_key(method: str, seed: int, quick: bool) -> str:
    from raven_align import __version__

    spec = {"config": CONFIG.read_text(), "flags": METHODS[method], "seed": seed, "quick": quick,
            "version": __version__}  # fmt: skip
    if DATA != "before-reserve":  # the runs measured before the data reserve keep their keys
        spec["data"] = DATA
    return (
        f"{method}-s{seed}{'-quick' if quick else ''}-"
        + hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]
    )


def current_config(dest: Path) -> Path:
    """The frozen config under the program's current option names, written to ``dest`` (the frozen file itself,
    whose text the run keys hash, is never edited)."""
    import yaml

    config = yaml.safe_load(CONFIG.read_text())
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(yaml.safe_dump({FROZEN_RENAMES.get(k, k): v for k, v in config.items()}, sort_keys=False))
    return dest


def summarize(results: dict, weights_summary: dict | None) -> dict:
    """What the report needs from a run (compact: per-pair hits and per-prompt gold rewards, rounded)."""
    out = {k: results.get(k) for k in ("supervision", "weights", "timing", "generations")}
    out["data"] = DATA
    out["splits"] = results.get("splits", {})
    for split in out["splits"].values():
        if "per_pair_hits" in split:
            split["per_pair_hits"] = [round(v, 1) for v in split["per_pair_hits"]]
    if out["generations"]:
        g = out["generations"]
        g["per_prompt"] = {k: [round(v, 4) for v in vs] for k, vs in g["per_prompt"].items()}
    out["weight_history"] = [[round(w, 4) for w in h] for h in (weights_summary or {}).get("history", [])]
    return out


def run_one(method: str, seed: int, quick: bool, extra: list[str]) -> Path:
    out = RUNS / run_key(method, seed, quick)
    # quick smoke-test summaries stay with the run caches, out of git and out of the report
    summary_path = (RUNS if quick else SUMMARIES) / f"{out.name}.json"
    if summary_path.is_file():
        print(f"cached  {method} seed {seed}: {out}", flush=True)
        return out
    if (
        out / "results.md"
    ).is_file():  # finished (results.md comes last) but not summarized: the driver stopped
        return write_summary(method, seed, quick, out, summary_path)
    if out.exists():
        shutil.rmtree(out)  # an interrupted run: start it again
    config = current_config(RUNS / f"{out.name}.yaml")
    cmd = [sys.executable, "-m", "raven_align.programs.dpo", "--config", str(config), "--output_dir", str(out),
           "--seed", str(seed), "--report_to", "none", *METHODS[method], *(QUICK if quick else []), *extra]  # fmt: skip
    print(f"running {method} seed {seed}: {' '.join(cmd[3:])}", flush=True)
    start = time.perf_counter()
    log = RUNS / f"{out.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    # One torch thread per run: on a shared 2-core CPU two-thread runs slow each other down many times over, and
    # the numbers of a run do not depend on how many runs share the machine.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    with open(log, "w") as f:
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{method} seed {seed} failed (exit {done.returncode}); see {log}")
    write_summary(method, seed, quick, out, summary_path)
    print(f"done    {method} seed {seed} in {time.perf_counter() - start:.0f} s", flush=True)
    return summary_path


def write_summary(method: str, seed: int, quick: bool, out: Path, summary_path: Path) -> Path:
    """The run's compact summary from its output folder."""
    results = json.loads((out / "results.json").read_text())
    weights = out / "raven_weights.json"
    weights_summary = json.loads(weights.read_text()) if weights.is_file() else None
    summary = {"method": method, "seed": seed, "quick": quick, "flags": METHODS[method],
               **summarize(results, weights_summary)}  # fmt: skip
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    summary_path.write_text(json.dumps(summary))
    return summary_path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--quick", action="store_true", help="tiny runs of --methods (default ens, raven-default)"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs at a time, one torch thread each (at most the number of cores)",
    )
    parser.add_argument("extra", nargs="*", help="more recipe flags for every run (after --)")
    args = parser.parse_args()
    methods, seeds = (
        (args.methods, args.seeds)
        if not args.quick
        else (
            (["ens", "raven-default"] if args.methods == list(METHODS) else args.methods),
            [0],
        )
    )
    # all methods of a seed first: paired comparisons become available early
    todo = [(method, seed) for seed in seeds for method in methods]
    failed = []
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(run_one, m, s, args.quick, args.extra): (m, s) for m, s in todo}
        for future in as_completed(futures):
            try:
                future.result()
            except SystemExit as e:  # one failed run does not stop the others
                print(e, flush=True)
                failed.append(futures[future])
    if failed:
        raise SystemExit(f"{len(failed)} run(s) failed: {failed}")


if __name__ == "__main__":
    main()
