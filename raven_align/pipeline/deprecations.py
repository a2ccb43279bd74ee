"""Renamed program options, kept for one release: the one place that maps old spellings to new names.

Every program takes the old spellings of its renamed options, on the command line (``--old``, ``--old=value``,
dashed or not) and as YAML keys, with a ``FutureWarning`` that names the new one; an old and a new spelling of the
same option together are an error. The TrlParser programs parse with :class:`ProgramParser`; ``raven-align label``
rewrites its argv with :func:`rename_args`. When the release has passed, delete the table's entries.

YAML keys of TRL and alignment-handbook configs that transformers or TRL have since renamed or removed
(:data:`UPSTREAM_KEYS`) are read as their new names, or ignored, with a warning each: such a YAML runs as TRL's own
scripts run it (they ignore the keys their parser does not know).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterable
from typing import Any

from trl import TrlParser

_KEPT_LABEL_FLAGS = ("prompt_column", "chosen_column", "rejected_column", "chat_template", "cache_dir", "no_cache",
                     "output_dir", "overwrite_output_dir", "push_to_hub")  # fmt: skip

#: program -> {old spelling: new name, or (new name, template of the new value)}. An old name also matches its
#: dashed spelling; in ``label`` the dashed spellings of the flags that kept their name are old spellings too.
RENAMED: dict[str, dict[str, str | tuple[str, str]]] = {
    "dpo": {"max_train_pairs": "max_train_samples", "max_eval_pairs": "max_eval_samples"},
    "reward": {
        "n_train": "max_train_samples",
        "n_test": "max_eval_samples",
        "label_batch_size": "supervisor_batch_size",
        "pairs_seed": "data_seed",
    },
    "classify": {
        "dataset": "dataset_name",
        "train_split": "dataset_train_split",
        "test_split": "dataset_test_split",
        "test_fraction": "test_size",
        "max_train": "max_train_samples",
        "max_test": "max_eval_samples",
        "strong_model": "model_name_or_path",
        "use_lora": "use_peft",
    },
    "label": {
        "dataset": "dataset_name",
        "asset": ("dataset_name", "embedded:{}"),
        "asset_view": "embedded_view",
        "supervisor": "supervisors",
        "text_column": "input_column",
        "batch_size": "supervisor_batch_size",
        "max_length": "supervisor_max_length",
        **{name.replace("_", "-"): name for name in _KEPT_LABEL_FLAGS},
    },
}


#: YAML keys of TRL / alignment-handbook configs -> the option's name now (the value keeps its meaning), or None
#: where no option does it now (ignored); read by the programs that parse TRL's ``ModelConfig``.
UPSTREAM_KEYS: dict[str, str | None] = {
    "torch_dtype": "dtype",  # TRL's ModelConfig, after transformers renamed the argument
    "evaluation_strategy": "eval_strategy",  # transformers 4.46
    "warmup_ratio": "warmup_steps",  # transformers 5: warmup_steps below 1 is a share of the steps
    "max_prompt_length": None,  # TRL 1: prompt and completion are truncated together to max_length
}
_UPSTREAM_PROGRAMS = ("dpo", "reward")


def _upstream(config: dict[str, Any], program: str) -> dict[str, Any]:
    """``config`` with the :data:`UPSTREAM_KEYS` of ``program`` read as their new names or dropped (a warning
    each); an old and a new spelling together are an error."""
    if program not in _UPSTREAM_PROGRAMS:
        return config
    out = {}
    for key, value in config.items():
        if key not in UPSTREAM_KEYS:
            out[key] = value
            continue
        new = UPSTREAM_KEYS[key]
        if new is None:
            warnings.warn(
                f"raven-align {program}: `{key}` is no option of TRL's trainers since TRL 1.0 (prompt and "
                "completion are truncated together to max_length): ignored",
                UserWarning,
                stacklevel=4,
            )
            continue
        if new in config:
            raise ValueError(
                f"raven-align {program}: `{key}` and `{new}` are spellings of the same option: give `{new}`"
            )
        warnings.warn(
            f"raven-align {program}: `{key}` is the old name of `{new}` (renamed by transformers/TRL): read as `{new}`",
            UserWarning,
            stacklevel=4,
        )
        out[new] = value
    return out


def _renamed(program: str, name: str) -> tuple[str, str | None] | None:
    """(new name, value template) if ``name`` is an old spelling in ``program``, else None."""
    table = RENAMED[program]
    target = table.get(name) or table.get(name.replace("-", "_"))
    if target is None:
        return None
    return target if isinstance(target, tuple) else (target, None)


class _Spellings:
    """The spellings seen of each option: an old one with the new one, or two old ones, is an error."""

    def __init__(self, program: str, prefix: str):
        self.program, self.prefix, self.seen = program, prefix, {}

    def add(self, new: str, spelling: str, old: bool, template: str | None = None) -> None:
        spellings = self.seen.setdefault(new, set())
        spellings.add((spelling, old))
        olds = {s for s, o in spellings if o}
        if olds and len(spellings) > 1:
            given = " and ".join(f"`{self.prefix}{s}`" for s, _ in sorted(spellings))
            raise ValueError(
                f"raven-align {self.program}: {given} are spellings of the same option: give only "
                f"`{self.prefix}{new}` (the old spellings are deprecated)"
            )
        if old:
            value = f" {template.format('<value>')}" if template else ""
            warnings.warn(
                f"raven-align {self.program}: `{self.prefix}{spelling}` is deprecated and will be removed in the "
                f"next release: use `{self.prefix}{new}{value}`",
                FutureWarning,
                stacklevel=4,
            )


def rename_args(args: Iterable[str], program: str) -> list[str]:
    """``args`` with the old spellings of ``program``'s options replaced by the new names (warning for each)."""
    spellings, out, template = _Spellings(program, "--"), [], None
    for token in args:
        if template is not None:  # the value of an option whose value is rewritten too
            token, template = template.format(token), None
        elif token.startswith("--") and len(token) > 2:
            name, eq, value = token[2:].partition("=")
            renamed = _renamed(program, name)
            new, fmt = renamed or (name.replace("-", "_"), None)
            spellings.add(new, name, renamed is not None, fmt)
            if renamed is not None:
                if fmt and eq:
                    value = fmt.format(value)
                elif fmt:
                    template = fmt
                token = f"--{new}{eq}{value}"
        out.append(token)
    return out


def rename_config(config: dict[str, Any], program: str) -> dict[str, Any]:
    """A YAML config's keys with the old spellings of ``program``'s options replaced (warning for each)."""
    spellings, out = _Spellings(program, ""), {}
    for key, value in _upstream(config, program).items():
        renamed = _renamed(program, key)
        new, fmt = renamed or (key, None)
        spellings.add(new, key, renamed is not None, fmt)
        out[new] = fmt.format(value) if fmt else value
    return out


def _program_options() -> dict[str, set[str]]:
    """Every option of each program that reads a YAML config (the fields of the dataclasses it parses)."""
    from dataclasses import fields

    from trl import ModelConfig

    from ..trainers import RavenClassificationConfig, RavenDPOConfig, RavenRewardConfig
    from .classification.arguments import W2SArguments
    from .preference_arguments import PreferenceRecipeArguments, RewardScriptArguments

    types = {
        "dpo": (PreferenceRecipeArguments, RavenDPOConfig, ModelConfig),
        "reward": (RewardScriptArguments, RavenRewardConfig, ModelConfig),
        "classify": (W2SArguments, RavenClassificationConfig),
    }
    return {name: {f.name for t in ts for f in fields(t)} for name, ts in types.items()}


def unknown_keys_hint(program: str, keys: list[str], config: str | None = None) -> tuple[str, bool]:
    """What YAML keys unknown to ``program`` are: options of another program (its YAML given to the wrong program)
    or misspellings of this program's options. Returns (the hint, whether the keys are another program's)."""
    import difflib

    options = _program_options()
    others = {p: [k for k in keys if k in names] for p, names in options.items() if p != program}
    whole = [p for p, known in others.items() if len(known) == len(keys)]
    best = max(others, key=lambda p: len(others[p]))
    run = f"`raven-align {{}} --config {config or '...'}`"
    if whole:
        names = " or ".join(f"`raven-align {p}`" for p in whole)
        return (
            f"They are options of {names}: this YAML is a config of that program; run {run.format(whole[0])}",
            True,
        )
    if others[best]:
        return (
            f"{others[best]} are options of `raven-align {best}`: if this YAML is a config of that program, run "
            f"{run.format(best)}; otherwise remove the keys `raven-align {program}` does not have"
        ), True
    close = {k: difflib.get_close_matches(k, options.get(program, set()), n=1) for k in keys}
    spelt = ", ".join(f"{k} -> {c[0]}" for k, c in close.items() if c)
    return (
        f"Did you mean {spelt}? " if spelt else ""
    ) + f"`raven-align {program} --help` lists its options", False


class ProgramParser(TrlParser):
    """TRL's parser (``--config`` YAML, then command-line flags) for the program ``program``, whose renamed options
    still take their old spellings (:data:`RENAMED`) in both places, with a deprecation warning. Unknown YAML keys
    are named with what they look like (:func:`unknown_keys_hint`); another program's YAML is refused before any
    option is checked."""

    def __init__(self, dataclass_types: Any, program: str, **kwargs: Any):
        super().__init__(dataclass_types, **kwargs)
        self.renamed_program = program
        self._unknown: tuple[list[str], list[str], str | None] | None = None  # keys, TRL's remaining, config

    def parse_args_and_config(self, args: Iterable[str] | None = None, *more: Any, **kwargs: Any) -> tuple:
        args = list(args) if args is not None else sys.argv[1:]
        self._config = args[args.index("--config") + 1] if "--config" in args[:-1] else None
        self._strict = not more and kwargs.get("fail_with_unknown_args", True)
        self._strict = self._strict and not kwargs.get("return_remaining_strings")
        self._unknown = None
        try:
            return super().parse_args_and_config(rename_args(args, self.renamed_program), *more, **kwargs)
        except ValueError as e:
            if self._unknown is None or not str(e).startswith("Unknown arguments from config file"):
                raise
            raise ValueError(self._unknown_message()[0]) from None

    def _unknown_message(self) -> tuple[str, bool]:
        keys, remaining, config = self._unknown
        hint, elsewhere = unknown_keys_hint(self.renamed_program, keys, config)
        shown = keys if elsewhere else remaining  # another program's values can be long: its keys say enough
        return f"Unknown arguments from config file: {shown}. {hint}", elsewhere

    def set_defaults_with_config(self, **config: Any) -> list[str]:
        config = rename_config(config, self.renamed_program)
        remaining = super().set_defaults_with_config(**config)
        known = {a.dest for a in self._actions}
        keys = [k for k in config if k not in known]
        self._unknown = (keys, remaining, getattr(self, "_config", None)) if keys else None
        return remaining

    def parse_args_into_dataclasses(self, *args: Any, **kwargs: Any) -> tuple:
        if self._unknown is not None and getattr(self, "_strict", False):
            message, elsewhere = self._unknown_message()
            if elsewhere:  # before any option of the wrong program's YAML is checked
                raise ValueError(message)
        return super().parse_args_into_dataclasses(*args, **kwargs)
