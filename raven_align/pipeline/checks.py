"""Recipe-level checks of what users give, run before anything expensive (labelling, model loads, training):
supervisor lists from YAML, checkpoints to resume from, a Hub classifier's labels against the task, the label
model against the supervisors, and sizes, counts and training settings that could not produce what a run
reports."""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

from ..supervisors._hf import check_model_source

__all__ = [
    "check_at_least",
    "check_checkpoint_supervisors",
    "check_given_judgements",
    "check_classifier_labels",
    "check_label_model",
    "check_model_source",
    "resolve_checkpoint",
    "spec_list",
]


def spec_list(value: Any, field: str = "supervisors") -> list[str]:
    """A list of supervisor specs; a single string (YAML ``supervisors: vader``) is one spec, not its letters."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{field} must be a list of spec strings, got {value!r}")
    return list(value)


def _is_false(resume: str | bool | None) -> bool:
    return resume in (None, False, "", "false", "False")


def _is_true(resume: str | bool | None) -> bool:
    return resume in (True, "true", "True")


def resolve_checkpoint(resume: str | bool | None, output_dir: str, per_run: bool = False) -> str | None:
    """The checkpoint folder ``--resume_from_checkpoint`` names (``true``: the last one in ``output_dir``),
    checked to be a Trainer checkpoint; None when not resuming (``false`` is not resuming).

    ``per_run``: a program of many runs (``classify``), each resuming from the last checkpoint in its own folder
    ``output_dir/runs/<run>``: ``true`` (or a path inside ``output_dir``) needs at least one such checkpoint and
    returns ``output_dir``; a checkpoint elsewhere cannot be resumed by these runs and is refused."""
    if _is_false(resume):
        return None
    if per_run:
        return _resolve_per_run(resume, output_dir)
    if _is_true(resume):
        from transformers.trainer_utils import get_last_checkpoint

        last = get_last_checkpoint(output_dir) if os.path.isdir(output_dir) else None
        if last is None:
            raise FileNotFoundError(
                f"--resume_from_checkpoint true: there is no checkpoint-<step> folder in {output_dir}; give a "
                "checkpoint path, or drop the flag to start a new run"
            )
        return last
    if not os.path.isdir(resume):
        raise FileNotFoundError(
            f"checkpoint {resume} does not exist: give a checkpoint-<step> folder of a run"
        )
    if not os.path.isfile(os.path.join(resume, "trainer_state.json")):
        raise ValueError(
            f"{resume} is not a Trainer checkpoint (no trainer_state.json): give one of its checkpoint-<step> folders"
        )
    return str(resume)


def _resolve_per_run(resume: str | bool, output_dir: str) -> str:
    """``output_dir`` when its runs have a checkpoint to resume from (see :func:`resolve_checkpoint`)."""
    from transformers.trainer_utils import get_last_checkpoint

    if not _is_true(resume):
        if not os.path.exists(resume):
            raise FileNotFoundError(f"checkpoint {resume} does not exist: pass --resume_from_checkpoint true")
        inside = os.path.commonpath([os.path.realpath(resume), os.path.realpath(output_dir)])
        if inside != os.path.realpath(output_dir):
            raise ValueError(
                f"--resume_from_checkpoint {resume} is not inside output_dir {output_dir}: this program resumes "
                "each run from the last checkpoint in its own folder (output_dir/runs/<run>), so another run's "
                "checkpoint cannot be used; pass --resume_from_checkpoint true with the output_dir of that run"
            )
    runs = os.path.join(output_dir, "runs")
    folders = sorted(os.listdir(runs)) if os.path.isdir(runs) else []
    if not any(
        get_last_checkpoint(os.path.join(runs, f)) for f in folders if os.path.isdir(os.path.join(runs, f))
    ):
        raise FileNotFoundError(
            f"--resume_from_checkpoint {resume}: no run in {runs} has a checkpoint-<step> folder (runs save "
            "checkpoints only with a save_strategy other than `no`); drop the flag to start a new run"
        )
    return str(output_dir)


def check_checkpoint_supervisors(checkpoint: str, names: list[str]) -> None:
    """Refuse a checkpoint whose supervisor weights belong to other supervisors, or cannot be read safely."""
    import torch

    state = os.path.join(checkpoint, "raven_weights.pt")
    summary = os.path.join(checkpoint, "raven_weights.json")
    try:
        if os.path.isfile(state):
            saved = list(torch.load(state, weights_only=True)["names"])  # tensors and plain values only
        elif os.path.isfile(summary):
            with open(summary) as f:
                saved = list(json.load(f)["supervisors"])
        else:
            return  # resuming then warns that the weights restart from their initial value
    except Exception as e:  # truncated, not a state, or a pickle payload refused by weights_only
        raise ValueError(
            f"cannot read the supervisor weights of checkpoint {checkpoint} ({type(e).__name__}: {e}); it may be "
            "truncated or not written by raven_align: resume from another checkpoint"
        ) from e
    if saved != list(names):
        raise ValueError(
            f"checkpoint {checkpoint} was trained with supervisors {saved}, this run has {list(names)}: give the "
            "same --supervisors (same names, same order) or start a new run"
        )


def given_judgement_name(supervisor: Any) -> str | None:
    """``x`` for the supervisor of spec ``column:x`` on pairs, which names the data's own judgement columns
    ``reward_chosen__x``/``reward_rejected__x`` (under their own name); None for any other supervisor."""
    from ..columns import reward_columns

    if getattr(supervisor, "kind", None) != "column" or supervisor.task != "preference":
        return None
    own = (supervisor.chosen_column, supervisor.rejected_column) == reward_columns(supervisor.name)
    return supervisor.name if own else None


def check_given_judgements(
    supervisors: list, column_names: list[str], where: str = "the training pairs", held_out: bool = False
) -> tuple[list, list[str]]:
    """The judgement columns a preference dataset already has are trained on only when the supervisors name them
    (``column:x``); refuse, before any labelling, the others (listed, with how to name or drop them) and a
    ``column:x`` whose columns the data lacks. Returns the supervisors to label (all but the ``column:x`` ones,
    whose columns are there already) and the supervisor names in the order the trainers find them: the named
    columns in the data's column order, then the labelled ones in spec order (labelling appends their columns).
    ``held_out``: pairs that are only evaluated, whose other judgement columns are not read (only the
    ``column:x`` ones are checked to be there)."""
    from ..columns import REWARD_CHOSEN_PREFIX, REWARD_REJECTED_PREFIX, find_preference_supervisors

    given = [n for s in supervisors if (n := given_judgement_name(s)) is not None]
    names = [s.name for s in supervisors]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(
            f"Duplicate supervisor names {dupes}: each name becomes a column suffix and must be unique"
        )
    found = find_preference_supervisors(column_names)
    missing = [n for n in given if n not in found]
    if missing:
        raise ValueError(
            f"{' '.join(f'column:{n}' for n in missing)}: a one-name column: spec names the data's own "
            f"judgement columns reward_chosen__<name> and reward_rejected__<name>, and {where} have none for "
            f"{missing} (they have them for {found}): label the data first, or give two columns of any names as "
            "column:CHOSEN,REJECTED"
        )
    prefixes = (REWARD_CHOSEN_PREFIX, REWARD_REJECTED_PREFIX)
    unnamed = [c for c in column_names if c.startswith(prefixes) and c.split("__", 1)[1] not in given]
    if unnamed and not held_out:
        suffixes = list(dict.fromkeys(c.split("__", 1)[1] for c in unnamed))
        raise ValueError(
            f"{where} already carry judgement columns {unnamed}, which no supervisor spec names: they would be "
            f"trained on beside the supervisors given. Name each one you want in --supervisors, as "
            f"{' '.join(f'column:{n}' for n in suffixes)}, or drop them first "
            f"(dataset.remove_columns({unnamed!r}))"
        )
    to_label = [s for s in supervisors if given_judgement_name(s) is None]
    return to_label, [n for n in found if n in given] + [s.name for s in to_label]


def check_classifier_labels(supervisor: Any, num_classes: int, class_names: list[str] | None) -> None:
    """Compare a Hub/folder classifier's labels (``num_labels``, ``id2label``) with the task's classes before any
    labelling: a classifier of other classes gives probabilities of the wrong things."""
    source = getattr(getattr(supervisor, "src", None), "source", None)
    if source is None:
        return
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(source)
    if config.num_labels != num_classes:
        raise ValueError(
            f"classifier {supervisor.name!r} ({source}) has {config.num_labels} labels {config.id2label}, the "
            f"task has {num_classes} classes: give a classifier of these classes (or set num_classes)"
        )
    theirs = [str(config.id2label[i]).lower() for i in range(num_classes)]
    generic = all(t == f"label_{i}" for i, t in enumerate(theirs))
    if class_names and not generic and theirs != [str(c).lower() for c in class_names]:
        raise ValueError(
            f"classifier {supervisor.name!r} ({source}) labels its classes {theirs}, the dataset's classes are "
            f"{list(class_names)} (in this order): map the dataset's labels to the classifier's order first"
        )


# -- options that cannot produce what a run reports, refused before any work ---------------------------------


def check_at_least(args: Any, minimum: int | float, names: dict[str, str]) -> None:
    """Refuse a count or size of ``args`` below ``minimum``; ``names``: option -> what to give instead (a
    ``None`` value is left alone: it means "all" or "the default")."""
    for name, fix in names.items():
        value = getattr(args, name)
        if value is not None and not value >= minimum:  # `not >=` also catches nan
            raise ValueError(f"{name} must be at least {minimum}, got {value}: {fix}")


def check_label_model(training_args: Any, count: int, kind: str = "margins") -> None:
    """The label model's needs against the supervisors (``count``) and the judgements' ``kind`` (``margins``
    for pairs, ``probs`` for classes), before any labelling: the triplet estimate needs three supervisors and
    preference margins; two supervisors leave any label model unidentified (a warning)."""
    uses = training_args.method.weights == "label_model" or training_args.weight_init == "label_model"
    if not uses:
        return
    estimator = training_args.label_model
    if estimator == "triplet" and kind != "margins":
        raise ValueError(
            "label_model='triplet' is defined for preference margins only: for classification use "
            "label_model='votes' or 'soft'"
        )
    if estimator == "triplet" and count < 3:
        raise ValueError(
            f"label_model='triplet' needs at least 3 supervisors (each loading is estimated from a triplet of "
            f"them), this run has {count}: add supervisors, or use label_model='votes' or 'soft'"
        )
    if count < 3:
        warnings.warn(
            f"the label model ({estimator}) sees {count} supervisor(s): with fewer than 3 their agreement cannot "
            "tell which one is right, and its weights only repeat its starting point (docs/label_model.md); add "
            "supervisors or use another weight_init / supervision",
            UserWarning,
            stacklevel=2,
        )
