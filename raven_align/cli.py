"""The ``raven-align`` command line. Subcommands import their heavy dependencies lazily.

``raven-align dpo|reward|classify --config x.yaml [--flag value ...]`` run the recipe programs of
``raven_align.programs`` in this process (like ``trl dpo``); ``accelerate launch recipes/...`` runs the same
programs on several processes.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import platform
import sys

from .utils.processes import close_process_group
from .utils.version import __version__

#: subcommand -> (program module, help); each module has make_parser() and main(argv)
PROGRAMS = {
    "dpo": ("raven_align.programs.dpo", "RAVEN DPO of an LM from weak reward models (preference alignment)"),
    "reward": ("raven_align.programs.reward", "train a reward model from the truth or from weak supervisors"),
    "classify": (
        "raven_align.programs.classify",
        "weak-to-strong text or image classification, every method",
    ),
}
_STACK = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "bitsandbytes", "deepspeed")


def _env(_: argparse.Namespace) -> int:
    """Print the versions and devices that matter for a bug report."""
    print(f"raven_align: {__version__}")
    print(f"python: {platform.python_version()} ({platform.platform()})")
    for name in _STACK:
        try:
            print(f"{name}: {md.version(name)}")
        except md.PackageNotFoundError:
            print(f"{name}: not installed")
    import torch

    print(
        f"cuda available: {torch.cuda.is_available()}"
        + (
            f" ({torch.cuda.device_count()} x {torch.cuda.get_device_name(0)})"
            if torch.cuda.is_available()
            else ""
        )
    )
    print(f"cpu threads: {torch.get_num_threads()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="raven-align", description=__doc__)
    parser.add_argument("--version", action="version", version=f"raven-align {__version__}")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("env", help="print the software stack and devices").set_defaults(func=_env)
    for name, (_, summary) in PROGRAMS.items():
        sub.add_parser(
            name, help=f"{summary} (`raven-align {name} --help` lists its options)", add_help=False
        )
    from .programs.label import add_label_subcommand

    add_label_subcommand(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in PROGRAMS:  # the program parses its own arguments (TrlParser: YAML + flags)
        import importlib

        module = importlib.import_module(PROGRAMS[argv[0]][0])
        sys.argv = [f"raven-align {argv[0]}", *argv[1:]]  # so that --help shows the right program name
        module.main(argv[1:])
        close_process_group()  # under a launcher: before interpreter teardown
        return 0
    if argv and argv[0] == "label":  # its old dashed flags still work, with a deprecation warning
        from .pipeline.deprecations import rename_args

        argv = ["label", *rename_args(argv[1:], "label")]
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 0
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
