"""Labelling on 1 and 2 processes: the rows each process scores and the wall time (one torch thread each).

    python bench/labeling_scaleout.py [--pairs 400] [--processes 1 2] [--repeats 2] [--fresh]

The same movie-target pairs are labelled by the embedded MiniLM reward models (trained on first use, before any
timing) plus VADER and length, with the labelling cache off, under ``torchrun --nproc_per_node P``: every process
scores its contiguous share with each supervisor and the shares are gathered (``raven_align.labeling``). The time
is ``label_dataset`` alone, from a barrier after the models are loaded to the gathered result, best of
``--repeats``. Results are cached by configuration in ``bench/results/labeling_scaleout.json`` (a rerun adds only
what is missing; ``--fresh`` measures again) and tabulated in ``bench/results/labeling_scaleout.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
SUPERVISORS = ("amazon_food_rm", "drugs_com_rm", "verbosity_rm", "vader", "length")


def _worker(pairs: int, repeats: int, out: str) -> None:
    """One process of a ``torchrun`` launch: label, time, write this rank's record."""
    import torch
    import torch.distributed as dist

    from raven_align.embedded import load_preference_pairs
    from raven_align.labeling import label_dataset, read_provenance
    from raven_align.pipeline.embedded_supervisors import embedded_supervisor

    torch.set_num_threads(1)
    if "RANK" in os.environ:
        dist.init_process_group("gloo")
    data = load_preference_pairs("rotten_tomatoes", n_train=pairs)["train"]
    sups = [embedded_supervisor(k, device="cpu", show_progress=False) for k in SUPERVISORS]
    label_dataset(data.select(range(4)), sups, cache=False, show_progress=False)  # load the models, untimed
    times, labelled = [], None
    for _ in range(repeats):
        if dist.is_initialized():
            dist.barrier()
        start = time.perf_counter()
        labelled = label_dataset(data, sups, cache=False, show_progress=False)
        times.append(time.perf_counter() - start)
    entries = read_provenance(labelled)["supervisors"]
    rank = dist.get_rank() if dist.is_initialized() else 0
    record = {"rank": rank, "seconds": min(times), "rows": len(data)}
    record["rows_scored"] = {e["name"]: e["rows_scored"] for e in entries}
    record["first_rows"] = labelled["reward_chosen__amazon_food_rm"][
        :3
    ]  # the same values on any process count
    Path(out, f"rank{rank}.json").write_text(json.dumps(record))
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(processes: int, pairs: int, repeats: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
               "--master_port", str(_free_port()), __file__, "--worker", "--pairs", str(pairs),
               "--repeats", str(repeats), "--out", out]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
        subprocess.run(cmd, check=True, env=env)
        return [json.loads(Path(out, f"rank{r}.json").read_text()) for r in range(processes)]


def _table(runs: dict) -> str:
    lines = [
        "# Labelling on several processes",
        "",
        f"`python bench/labeling_scaleout.py` on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, one torch thread per process; supervisors: {', '.join(SUPERVISORS)}; "
        "labelling cache off; best of the repeats.",
        "",
        "| pairs | processes | rows scored per process (each supervisor) | wall seconds | vs 1 process | labels as 1 "
        "process |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for key, ranks in sorted(runs.items()):
        pairs, processes = (int(x.split("=")[1]) for x in key.split(","))
        one = runs.get(f"pairs={pairs},processes=1")
        wall = max(r["seconds"] for r in ranks)
        ratio = f"{wall / max(r['seconds'] for r in one):.2f}×" if one else "—"
        scored = " + ".join(str(r["rows_scored"]["amazon_food_rm"]) for r in ranks)
        same = "—"
        if one:
            diff = max(abs(a - b) for a, b in zip(ranks[0]["first_rows"], one[0]["first_rows"], strict=True))
            same = f"max diff {diff:.1e} (first rows)"
        lines.append(f"| {pairs} | {processes} | {scored} | {wall:.1f} | {ratio} | {same} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=400)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--fresh", action="store_true", help="measure again even if cached")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return _worker(args.pairs, args.repeats, args.out)

    from raven_align.pipeline.embedded_supervisors import embedded_supervisor

    for key in SUPERVISORS:  # trained once, before any launch is timed
        embedded_supervisor(key, show_progress=False)
    path = RESULTS / "labeling_scaleout.json"
    runs = json.loads(path.read_text()) if path.is_file() else {}
    for p in args.processes:
        key = f"pairs={args.pairs},processes={p}"
        if key not in runs or args.fresh:
            runs[key] = _launch(p, args.pairs, args.repeats)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(
                json.dumps(runs, indent=1)
            )  # after each launch: an interrupted run keeps its work
    text = _table(runs)
    (RESULTS / "labeling_scaleout.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
