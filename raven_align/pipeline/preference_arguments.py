"""The DPO program's own arguments (:class:`PreferenceRecipeArguments`): data, supervisors, held-out and generation
evaluation; the training settings are the ``RavenDPOConfig`` fields, the model TRL's ``ModelConfig``."""

from __future__ import annotations

from dataclasses import dataclass, field

from .checks import spec_list


@dataclass
class PreferenceRecipeArguments:
    """What the DPO program runs on; the training settings are the ``RavenDPOConfig`` fields."""

    dataset_name: str = field(
        default="embedded:rotten_tomatoes",
        metadata={
            "help": "Target pairs: `embedded:<domain>`, a Hub ID, a save_to_disk folder, a folder of "
            "JSON/JSONL/CSV/Parquet files or one such file; TRL's standard, conversational or implicit-prompt form."
        },
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Hub dataset config name."})
    dataset_data_dir: str | None = field(
        default=None, metadata={"help": "Hub dataset data_dir (e.g. harmless-base)."}
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
        if self.evaluate_generations and not self.gold_model:
            raise ValueError(
                "evaluate_generations needs gold_model (e.g. embedded:gold_rm, or a reward model ID)"
            )
        self.supervisors = spec_list(self.supervisors)  # YAML `supervisors: vader` is one spec
        if not self.supervisors:
            raise ValueError(
                "give at least one supervisor spec in `supervisors` (see `raven-align label --help`)"
            )
