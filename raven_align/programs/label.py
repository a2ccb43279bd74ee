"""``raven-align label``: add weak supervisors' judgements to a dataset (hooked into ``raven_align.cli``).

Its flags follow the other programs' names (``--dataset_name embedded:rotten_tomatoes``, ``--supervisors``,
``--output_dir``); the old dashed ones (``--asset``, ``--output-dir``, ...) still work for one release, with a
deprecation warning (:mod:`raven_align.pipeline.deprecations`, applied by ``raven_align.cli``)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..pipeline.specs import SPEC_HELP, build_supervisor


def load_input(args: argparse.Namespace) -> Any:
    """The dataset (or DatasetDict) named by ``--dataset_name``, restricted to ``--split``."""
    from ..pipeline.data import load_data

    # --embedded_view, --orientation and --seed shape embedded data only
    task = "preference" if args.embedded_view == "pairs" else "classification"
    data = load_data(args.dataset_name, task=task, orientation=args.orientation, seed=args.seed)
    if args.split:
        if not hasattr(data, "keys") or args.split not in data:
            raise ValueError(
                f"No split {args.split!r} in the input (has {list(getattr(data, 'keys', list)())})"
            )
        data = data[args.split]
    return data


def save_replacing(labeled: Any, output_dir: str, save: Any) -> None:
    """Save into a fresh sibling folder, then swap it in: an earlier set (even the input itself) is replaced
    only once the new one is complete."""
    final = Path(output_dir).resolve()
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.new-", dir=final.parent))
    try:
        save(labeled, tmp)
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def run_label(args: argparse.Namespace) -> int:
    """Entry point of ``raven-align label``."""
    from datasets import DatasetDict

    from ..labeling import (
        label_dataset,
        label_dataset_dict,
        push_labeled_to_hub,
        read_provenance,
        save_labeled,
    )
    from ..pipeline.checks import check_at_least
    from ..pipeline.outputs import check_hub_access, check_output_dir

    if not args.output_dir and not args.push_to_hub:
        raise SystemExit("raven-align label: give --output_dir and/or --push_to_hub")
    if args.output_dir:  # the programs' output-folder rule (the set is swapped in only once complete)
        check_output_dir(args.output_dir, args.overwrite_output_dir, flag="--overwrite_output_dir")
    check_hub_access(bool(args.push_to_hub), args.push_to_hub, "--push_to_hub")  # before any scoring
    sizes = {
        "supervisor_batch_size": "give a batch size of at least 1",
        "supervisor_max_length": "give a token limit",
    }
    check_at_least(args, 1, sizes)
    supervisors = [
        build_supervisor(
            spec,
            batch_size=args.supervisor_batch_size,
            device=args.device,
            max_length=args.supervisor_max_length,
            chat_template=args.chat_template,
            beta=args.beta,
            task=args.task,
        )
        for spec in args.supervisors
    ]
    data = load_input(args)
    if supervisors[0].task == "preference" and (args.prompt_column, args.chosen_column) == (
        "prompt",
        "chosen",
    ):
        from ..pipeline.data import standardize_preferences

        if isinstance(data, DatasetDict):  # implicit-prompt pairs get their prompt as TRL takes it out
            data = DatasetDict({k: standardize_preferences(v, f"split {k!r}") for k, v in data.items()})
        else:
            data = standardize_preferences(data)
    kwargs = {
        "task": args.task,
        "prompt_column": args.prompt_column,
        "chosen_column": args.chosen_column,
        "rejected_column": args.rejected_column,
        "input_column": args.input_column,
        "cache": not args.no_cache,
        "cache_dir": args.cache_dir,
        "overwrite": args.overwrite,
    }
    labeled = (label_dataset_dict if isinstance(data, DatasetDict) else label_dataset)(
        data, supervisors, **kwargs
    )
    if args.output_dir:
        save_replacing(labeled, args.output_dir, save_labeled)
        print(f"saved to {args.output_dir}", file=sys.stderr)
    if args.push_to_hub:
        push_labeled_to_hub(labeled, args.push_to_hub, private=args.private)
        print(f"pushed to {args.push_to_hub}", file=sys.stderr)
    provenance = read_provenance(labeled)
    parts = provenance.items() if isinstance(data, DatasetDict) else [(None, provenance)]
    summary = {
        split or "dataset": [
            {k: e[k] for k in ("name", "kind", "cache", "seconds")} for e in p["supervisors"]
        ]
        for split, p in parts
    }
    print(json.dumps(summary, indent=2))
    return 0


def add_label_subcommand(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``label`` on the ``raven-align`` subparsers (``func`` is set to ``run_label``)."""
    p = subparsers.add_parser(
        "label",
        help="add weak supervisors' judgements to a dataset",
        description="Add weak supervisors' judgements (reward_chosen__<name>/reward_rejected__<name> or "
        "probs__<name> columns) to a dataset, with a cache and provenance.",
        epilog=SPEC_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--dataset_name",
        required=True,
        help="`embedded:<domain>` (rotten_tomatoes, amazon_food, drugs_com; needs the assets extra), a "
        "save_to_disk folder, a folder of .json/.jsonl/.csv/.parquet files, one such file, or a Hub id; "
        "implicit-prompt pairs (chosen/rejected only) get their prompt extracted as TRL does",
    )
    p.add_argument(
        "--embedded_view",
        choices=["pairs", "reviews"],
        default="pairs",
        help="embedded data as pairs or reviews",
    )
    p.add_argument(
        "--orientation", choices=["random", "truth"], default="random", help="pair order (embedded)"
    )
    p.add_argument("--seed", type=int, default=0, help="split/pairing seed (embedded)")
    p.add_argument("--split", help="label only this split")
    p.add_argument("-s", "--supervisors", nargs="+", action="extend", required=True, metavar="[NAME=]SPEC")
    p.add_argument("--task", choices=["preference", "classification"])
    p.add_argument("--prompt_column", default="prompt")
    p.add_argument("--chosen_column", default="chosen")
    p.add_argument("--rejected_column", default="rejected")
    p.add_argument("--input_column", default="text", help="input column for classification")
    p.add_argument("--supervisor_batch_size", type=int, default=16)
    p.add_argument("--supervisor_max_length", type=int, default=512)
    p.add_argument(
        "--chat_template",
        choices=["auto", "yes", "no"],
        default="auto",
        help="chat template of reward_model:/implicit: specs without their own ?chat_template= (auto: message "
        "lists through the model's template, strings through none, as reward models are trained; yes: strings "
        "too; no: strings never)",
    )
    p.add_argument("--beta", type=float, default=0.1, help="DPO beta of implicit: supervisors")
    p.add_argument("--device", help="default: cuda, else mps, else cpu")
    p.add_argument("--cache_dir", help="default: $RAVEN_ALIGN_CACHE or ~/.cache/raven_align")
    p.add_argument("--no_cache", action="store_true")
    p.add_argument("--overwrite", action="store_true", help="replace existing judgement columns")
    p.add_argument("--output_dir", help="save_to_disk folder (with raven_provenance.json)")
    p.add_argument(
        "--overwrite_output_dir", action="store_true", help="replace a non-empty --output_dir (once labelled)"
    )
    p.add_argument("--push_to_hub", metavar="REPO_ID")
    p.add_argument("--private", action="store_true")
    p.set_defaults(func=run_label)
    return p
