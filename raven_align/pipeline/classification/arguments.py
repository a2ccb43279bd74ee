"""The classification program's own arguments (:class:`W2SArguments`): data, supervisors, scenarios, strong model,
methods and seeds; the training settings every run shares are the ``RavenClassificationConfig`` fields."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..checks import check_at_least
from .given import normalize_supervisors

SCENARIOS = ("id", "ood")
_SIZES = {
    "image_size": "give the side of the images in pixels",
    "channels": "give 1 (grey) or 3 (colour)",
    "max_weak_train": "give a number of examples, or null for all",
    "max_train_samples": "give a number of examples, or null for all",
    "max_eval_samples": "give a number of examples, or null for all",
    "max_length": "give a token limit",
    "lora_r": "give the LoRA rank (e.g. 8)",
    "num_threads": "give a number of torch threads (1 is fastest for probes)",
    "val_size": "the labelled validation slice picks the supervisor of `select` and gives each run's "
    "val_accuracy (e.g. 100)",
}


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def check_w2s_options(args: W2SArguments) -> None:
    """Sizes, fractions, seeds and scenarios that could not produce what the program reports, refused at parse."""
    check_at_least(args, 1, _SIZES)
    check_at_least(args, 2, {"num_classes": "a classifier needs at least 2 classes; or null: max label + 1"})
    if not 0 < args.weak_fraction < 1:
        raise ValueError(
            f"weak_fraction must be in (0, 1), got {args.weak_fraction}: it is the share of each source domain "
            "the supervisors train on; the rest trains the strong model (0.5 halves it)"
        )
    if not args.seeds or len(set(args.seeds)) != len(args.seeds):
        raise ValueError(
            f"seeds must be distinct and at least one, got {args.seeds}: the intervals over seeds would count "
            "one run several times"
        )
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if not args.scenarios or unknown or len(set(args.scenarios)) != len(args.scenarios):
        raise ValueError(f"scenarios must be distinct, some of {list(SCENARIOS)}, got {args.scenarios}")


@dataclass
class W2SArguments:
    """What the recipe runs on; the training settings are the ``RavenClassificationConfig`` fields."""

    dataset_name: str = field(
        default="embedded:reviews",
        metadata={
            "help": "Hub ID, save_to_disk folder, folder of data files or one file, or embedded:reviews / "
            "embedded:digits."
        },
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Hub dataset configuration name."})
    dataset_train_split: str = field(default="train", metadata={"help": "Dataset split to train on."})
    dataset_test_split: str = field(default="test", metadata={"help": "Dataset split to test on."})
    test_size: float = field(default=0.2, metadata={"help": "Test share when the data has no test split."})
    modality: str = field(
        default="text", metadata={"help": "`text` or `image`.", "choices": ("text", "image")}
    )
    input_column: str = field(default="text", metadata={"help": "Text or image column of the dataset."})
    dataset_label_column: str = field(default="label", metadata={"help": "Ground-truth label column."})
    domain_column: str = field(default="domain", metadata={"help": "Domain column (source vs target)."})
    num_classes: int | None = field(default=None, metadata={"help": "Default: max label + 1."})
    image_size: int = 16
    channels: int = 1
    supervisors: dict | str | None = field(
        default=None,
        metadata={
            "help": "Weak supervisors, YAML or JSON: name -> {kind: logreg|nb|static|vader, domains: [...], "
            "corruption: {...}, C, scale} (trained here on source domains), or name -> a spec: "
            "classifier:ID_OR_PATH (text or image), column:COL (class probabilities), callable:MODULE:FUNCTION."
        },
    )
    ood_domains: list[str] | None = field(
        default=None, metadata={"help": "Target domain(s) of the OOD scenario."}
    )
    ood_corruption: dict | str | None = field(
        default=None, metadata={"help": "Corruption of the OOD target."}
    )
    scenarios: list[str] = field(default_factory=lambda: ["id", "ood"])
    weak_fraction: float = field(
        default=0.5, metadata={"help": "Share of a source domain kept for weak training."}
    )
    max_weak_train: int | None = None
    max_train_samples: int | None = field(
        default=None, metadata={"help": "At most this many strong training examples (null: all)."}
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "At most this many test examples (null: all)."}
    )
    val_size: int = field(
        default=100,
        metadata={"help": "Labelled validation slice of the strong training data, used only by `select`."},
    )
    model_name_or_path: str = field(
        default="probe", metadata={"help": "The strong model: `probe`, `cnn`, or an HF model ID/folder."}
    )
    encoder: str | None = field(
        default=None, metadata={"help": "Text encoder of the probe (default MiniLM)."}
    )
    use_peft: bool = field(default=False, metadata={"help": "Train a LoRA adapter of an HF strong model."})
    lora_r: int = 8
    lora_target_modules: list[str] | None = None
    max_length: int = 128
    methods: dict | str | None = field(
        default=None,
        metadata={
            "help": "Mapping method name -> RavenClassificationConfig overrides, e.g. {raven-kl: {weight_objective: kl}}."
        },
    )
    naive_each: bool = field(default=True, metadata={"help": "Add `naive:<name>` for every supervisor."})
    only: str | None = field(default=None, metadata={"help": "Comma-separated subset of the methods to run."})
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    num_threads: int = field(
        default=1, metadata={"help": "torch threads (1 is fastest for probe-sized models)."}
    )
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Allow a non-empty output_dir."})

    def __post_init__(self):
        self.supervisors = normalize_supervisors(self.supervisors)
        self.methods = _json(self.methods) or {"gt": {"supervision": "gt"}, "raven": {}}
        self.ood_corruption = _json(self.ood_corruption) or None
        if "ood" in self.scenarios and not self.ood_domains:
            raise ValueError("the ood scenario needs `ood_domains`")
        if "id" in self.scenarios and not any(s.get("domains") for s in self.supervisors.values()):
            raise ValueError("the id scenario needs a supervisor with source `domains` (or scenarios: [ood])")
        self.method_table(list(self.supervisors))  # an unknown --only method fails now, not after training
        check_w2s_options(self)

    def method_table(self, names: list[str]) -> dict[str, dict]:
        table = dict(self.methods)
        if self.naive_each:
            table.update({f"naive:{n}": {"supervision": "naive", "naive_supervisor": n} for n in names})
        if self.only:
            keep = [m.strip() for m in self.only.split(",")]
            unknown = [m for m in keep if m not in table]
            if unknown:
                raise ValueError(f"unknown method(s) {unknown}; the recipe has {list(table)}")
            table = {m: table[m] for m in keep}
        return table
