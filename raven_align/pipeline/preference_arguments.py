"""The own arguments of the programs on preference pairs, each checked when parsed: :class:`PreferenceRecipeArguments`
(the DPO program: TRL's script arguments and dataset mixture, supervisors, held-out and generation evaluation; the
training settings are the ``RavenDPOConfig`` fields, the model TRL's ``ModelConfig``) and
:class:`RewardScriptArguments` (the reward program, with ``RavenRewardConfig``)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

from trl import DatasetMixtureConfig, ScriptArguments

from .checks import check_at_least, spec_list
from .mixture import check_mixture

_BATCH = "give a batch size of at least 1"
_DATA_SIZES = {
    "max_train_samples": "give a number of pairs, or null for all",
    "max_eval_samples": "give a number of pairs, or null for all",
    "max_chars": "give a number of characters, or null to keep every review",
}


def check_eval_domains(domains: list[str] | None) -> None:
    """Every entry of the reward program's ``eval_domains`` is an embedded domain (or ``none``)."""
    from ..embedded import DOMAINS

    for d in domains or []:
        if d != "none" and d.removeprefix("embedded:") not in DOMAINS:
            raise ValueError(
                f"eval_domains: {d!r} is not an embedded domain; give some of {sorted(DOMAINS)} (or `none` for "
                "the dataset's own test split only)"
            )


def check_generation_settings(args: PreferenceRecipeArguments) -> None:
    """Sampling settings that produce no completion, or none that could be scored, refused at parse."""
    check_at_least(
        args,
        1,
        {
            "num_eval_prompts": "give the number of held-out prompts to sample completions for",
            "max_new_tokens": "give the number of tokens to sample per completion",
            "generation_batch_size": _BATCH,
        },
    )
    if not (math.isfinite(args.generation_temperature) and args.generation_temperature > 0):
        raise ValueError(
            f"generation_temperature must be a finite number > 0, got {args.generation_temperature}: 1 samples "
            "the policy itself (exact KL); for greedy-like samples give a small value such as 0.1"
        )
    if not 0 < args.generation_top_p <= 1:
        raise ValueError(
            f"generation_top_p must be in (0, 1], got {args.generation_top_p}: 1 keeps the whole distribution "
            "(exact KL)"
        )
    if args.gold_model and not args.evaluate_generations:
        warnings.warn(
            f"gold_model={args.gold_model!r} is set but evaluate_generations is false: no generation is sampled "
            "or scored; pass --evaluate_generations true to use it",
            UserWarning,
            stacklevel=3,
        )


@dataclass
class PreferenceRecipeArguments(ScriptArguments, DatasetMixtureConfig):
    """What the DPO program runs on: TRL's ``ScriptArguments`` and dataset mixture (``datasets:``,
    :mod:`raven_align.pipeline.mixture`) plus the program's own; the training settings are the ``RavenDPOConfig``
    fields."""

    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "Target pairs: `embedded:<domain>`, a Hub ID, a save_to_disk folder, a folder of "
            "JSON/JSONL/CSV/Parquet files or one such file; TRL's standard, conversational or implicit-prompt form. "
            "Default `embedded:rotten_tomatoes`, unless a mixture (`datasets`) is given."
        },
    )
    test_split_size: float | None = field(
        default=None,
        metadata={
            "help": "Held-out share (or count) of a `datasets` mixture, cut seeded (default: test_size)."
        },
    )
    dataset_mixture: dict[str, Any] | None = field(
        default=None,
        metadata={
            "help": "The alignment-handbook's mixture (`datasets:` of `id`, `config`, `split`, `columns`, "
            "`weight`; `seed`; `test_split_size`), read as TRL's `datasets` with each `weight` a seeded share of its "
            "source's rows."
        },
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Hub dataset config name."})
    dataset_data_dir: str | None = field(
        default=None, metadata={"help": "Hub dataset data_dir (e.g. harmless-base)."}
    )
    dataset_train_split: str = field(default="train", metadata={"help": "Split to train on (TRL's name)."})
    dataset_test_split: str = field(
        default="test",
        metadata={
            "help": "Split to evaluate on (TRL's name, e.g. test_prefs); data with a train split only is cut by "
            "test_size."
        },
    )
    id_dataset_name: str | None = field(
        default=None,
        metadata={"help": "In-distribution pairs (the supervisors' source domain) for a second evaluation."},
    )
    id_dataset_data_dir: str | None = field(default=None, metadata={"help": "data_dir of the ID dataset."})
    supervisors: list[str] = field(
        default_factory=lambda: ["embedded"],
        metadata={
            "help": "Supervisor specs (see `raven-align label --help`); `embedded` = the default movie supervisors."
        },
    )
    test_size: float = field(
        default=0.2, metadata={"help": "Held-out share (or count) of data with a train split only (seeded)."}
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Seeded subsample of the train pairs (null: all)."}
    )
    max_eval_samples: int | None = field(
        default=200, metadata={"help": "Seeded subsample of each test split (null: all)."}
    )
    max_chars: int | None = field(default=None, metadata={"help": "Embedded data: drop longer reviews."})
    supervisor_batch_size: int = field(default=32, metadata={"help": "Batch size of labelling."})
    supervisor_max_length: int = field(default=128, metadata={"help": "Token limit of reward-model scoring."})
    eval_batch_size: int = field(default=16, metadata={"help": "Batch size of held-out scoring."})
    truth_column: str = field(
        default="gt_label",
        metadata={
            "help": "Column of the held-out pairs true where the presented `chosen` is better; if absent, `chosen` is."
        },
    )
    ceiling_results: str | None = field(
        default=None, metadata={"help": "results.json of a `gt` run with the same settings, for PGR."}
    )
    evaluate_generations: bool = field(
        default=False,
        metadata={
            "help": "Sample completions of held-out prompts before and after training and score them with "
            "`gold_model` (gold reward, win rate, KL(π‖π_ref), each with a bootstrap 95%% interval)."
        },
    )
    gold_model: str | None = field(
        default=None,
        metadata={
            "help": "The gold reward model (an oracle trained on the target's truth, never a supervisor): "
            "`embedded:gold_rm`, a Hub ID or a folder of a sequence-classification reward model."
        },
    )
    num_eval_prompts: int = field(
        default=64, metadata={"help": "Held-out prompts to sample completions for."}
    )
    max_new_tokens: int = field(default=32, metadata={"help": "Tokens sampled per completion."})
    generation_temperature: float = field(
        default=1.0, metadata={"help": "Sampling temperature (1: exact KL)."}
    )
    generation_top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling mass (1: exact KL)."})
    generation_batch_size: int = field(default=16, metadata={"help": "Prompts sampled together (KV cache)."})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Allow a non-empty output_dir."})
    dry_run: bool = field(default=False, metadata={"help": "Parse, validate and build, but do not train."})

    def __post_init__(self):
        check_mixture(self)  # before TRL's own conversion of the sources
        super().__post_init__()
        if self.evaluate_generations and not self.gold_model:
            raise ValueError(
                "evaluate_generations needs gold_model (e.g. embedded:gold_rm, or a reward model ID)"
            )
        self.supervisors = spec_list(self.supervisors)  # YAML `supervisors: vader` is one spec
        if not self.supervisors:
            raise ValueError(
                "give at least one supervisor spec in `supervisors` (see `raven-align label --help`)"
            )
        sizes = {"supervisor_batch_size": _BATCH, "eval_batch_size": _BATCH}
        check_at_least(self, 1, {**_DATA_SIZES, **sizes, "supervisor_max_length": "give a token limit"})
        check_generation_settings(self)


@dataclass
class RewardScriptArguments(ScriptArguments):
    """What to train on and where to measure (the recipe's script arguments; TRL's ``ScriptArguments`` plus ours)."""

    dataset_name: str | None = field(
        default="embedded:amazon_food",
        metadata={
            "help": "`embedded:<domain>` (rotten_tomatoes, amazon_food, drugs_com), a `save_to_disk` folder, "
            "a folder of data files or one file, or a Hub dataset ID (TRL's preference format)."
        },
    )
    eval_domains: list[str] | None = field(
        default=None,
        metadata={
            "help": "Embedded domains whose test pairs are scored besides the dataset's own test split "
            "(default: every embedded domain). Pass `none` for no others."
        },
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "At most this many training pairs."}
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "At most this many test pairs per domain."}
    )
    max_chars: int | None = field(default=None, metadata={"help": "Embedded domains: drop longer reviews."})
    test_size: float = field(
        default=0.2, metadata={"help": "Held-out share (or count) of data with a train split only (seeded)."}
    )
    supervisors: list[str] | None = field(
        default=None,
        metadata={
            "help": "Weak supervisor specs (e.g. embedded:vader, rm:PATH; see raven_align.pipeline.specs). "
            "The training pairs are labelled with them, presented in a random order, and the reward model "
            "learns from their judgements (unless supervision=gt)."
        },
    )
    supervisor_batch_size: int = field(
        default=64, metadata={"help": "Batch size of the supervisors and of the held-out scoring."}
    )
    label_cache: bool = field(default=True, metadata={"help": "Reuse cached supervisor judgements."})
    torch_threads: int | None = field(
        default=None,
        metadata={"help": "torch.set_num_threads (1 is fastest for MiniLM on a shared 2-core CPU)."},
    )
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Allow a non-empty output_dir."})

    def __post_init__(self):
        if self.supervisors is not None:
            self.supervisors = spec_list(self.supervisors)  # YAML `supervisors: vader` is one spec
        check_at_least(
            self,
            1,
            {
                **_DATA_SIZES,
                "supervisor_batch_size": _BATCH,
                "torch_threads": "give a number of threads, or null for torch's default",
            },
        )
        check_eval_domains(self.eval_domains)
