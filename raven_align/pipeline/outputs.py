"""Output safety (never overwrite a user's results) and Hub access checks, done before any work; the run's full
configuration for ``results.json``; the push at the end, after every local output is written."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


def check_output_dir(
    path: str, overwrite: bool, checkpoint: str | None = None, flag: str = "--overwrite_output_dir true"
) -> None:
    """Refuse to start in a non-empty output directory unless asked to overwrite it (``flag``), or resuming from a
    checkpoint that lives in it (a checkpoint elsewhere does not make another run's outputs yours to replace);
    refuse an output directory that is a file."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise FileExistsError(f"output_dir {path!r} is a file, not a folder: choose another --output_dir")
    if not (os.path.isdir(path) and os.listdir(path)) or overwrite:
        return
    if checkpoint and _inside(checkpoint, path):
        return
    where = f" (the checkpoint {checkpoint} is not inside it)" if checkpoint else ""
    resume = ", or --resume_from_checkpoint with a checkpoint of this run" if flag.endswith(" true") else ""
    raise FileExistsError(
        f"output_dir {path!r} is not empty{where}: pass {flag} to reuse it, choose another --output_dir{resume}"
    )


def prepare_output_dir(
    path: str, overwrite: bool, resume: str | bool | None = None, per_run: bool = False
) -> str | None:
    """The one output-folder rule of every program, before any work: resolve ``--resume_from_checkpoint``
    (``false`` is not resuming; ``true`` needs a checkpoint in ``path``; a path must be a checkpoint), then refuse
    a non-empty ``path`` unless ``overwrite`` or the checkpoint lives in it. Returns the checkpoint (None: a new
    run). ``per_run``: a program of many runs, each resuming in its own folder
    (:func:`~raven_align.pipeline.checks.resolve_checkpoint`)."""
    from .checks import resolve_checkpoint

    checkpoint = resolve_checkpoint(resume, path, per_run=per_run)
    check_output_dir(path, overwrite, checkpoint)
    return checkpoint


def _hub_id_problem(repo_id: str) -> str | None:
    """Why the Hub would refuse ``repo_id`` (None: it would not)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        return str(e)
    return None


_HUB_ID_FORM = (
    "`your-name/model-name` or `model-name` (letters, digits, '-', '_' and '.', at most 96 characters, no '--' or "
    "'..')"
)


def check_hub_model_id(repo_id: str | None, option: str = "hub_model_id") -> None:
    """Refuse a Hub repository ID that the Hub would refuse at the push, after all the work."""
    if repo_id and (problem := _hub_id_problem(repo_id)):
        raise ValueError(
            f"{option} {repo_id!r} is not a valid Hub repository ID ({problem}): give {_HUB_ID_FORM}"
        )


def check_hub_access(
    push_to_hub: bool | str | None, hub_model_id: str | None, option: str = "hub_model_id"
) -> None:
    """Fail before any work when a push is asked for but cannot happen (``option``: the repository's flag)."""
    check_hub_model_id(hub_model_id, option)
    if not push_to_hub:
        return
    from huggingface_hub import get_token

    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        raise RuntimeError("push_to_hub is set but HF_HUB_OFFLINE is on: unset it or drop push_to_hub")
    if get_token() is None:
        raise RuntimeError(
            "push_to_hub is set but no Hugging Face token was found: run `hf auth login` or set "
            "HF_TOKEN, or drop push_to_hub"
        )


def default_hub_model_id(output_dir: str) -> str:
    """The repository a push goes to without ``hub_model_id``, as in transformers' ``Trainer`` (and so TRL): the
    name of ``output_dir``, created under the account of the token."""
    return Path(output_dir).absolute().name


@dataclass
class HeldPush:
    """A push asked for in the training arguments, held back until the local outputs are complete.

    ``hub_model_id``: as given, or the name of ``output_dir`` (:func:`default_hub_model_id`); ``hub_strategy``:
    transformers' ``end``, ``every_save``, ``checkpoint`` or ``all_checkpoints``."""

    hub_model_id: str
    hub_strategy: str = "end"


def hold_push(training_args) -> HeldPush | None:
    """Check Hub access now, then take the push out of ``training_args``: the Trainer then pushes nothing from
    ``save_model`` (where a network error would stop the run before results.json; the programs push last, with
    :func:`push_outputs`), the saves during training push as ``hub_strategy`` says once :func:`push_checkpoints`
    hooks them, and a ``--hub_token`` moves to ``HF_TOKEN`` (where huggingface_hub reads it) instead of being saved
    with the args. Without ``hub_model_id`` the repository is named after ``output_dir``, as in TRL."""
    if training_args.hub_token:
        os.environ["HF_TOKEN"], training_args.hub_token = training_args.hub_token, None
    check_hub_model_id(training_args.hub_model_id)  # a given ID is checked even when nothing is pushed
    if not training_args.push_to_hub:
        return None
    repo = training_args.hub_model_id
    if not repo:
        repo = default_hub_model_id(training_args.output_dir)
        if problem := _hub_id_problem(repo):
            raise ValueError(
                "push_to_hub without hub_model_id pushes to a repository named after output_dir, as TRL does, and "
                f"{repo!r} (the name of output_dir {training_args.output_dir!r}) is not a valid Hub repository ID "
                f"({problem}): give --hub_model_id as {_HUB_ID_FORM}, or an output_dir so named"
            )
    check_hub_access(True, repo)
    training_args.push_to_hub = False
    strategy = training_args.hub_strategy
    return HeldPush(repo, str(getattr(strategy, "value", strategy)))


def push_checkpoints(trainer, held: HeldPush | None) -> None:
    """Honour ``hub_strategy`` during training as transformers' ``Trainer`` does (its own checkpoint push, in the
    background, where a network error does not stop training): ``every_save`` pushes the model at each save,
    ``checkpoint`` also the last checkpoint to ``last-checkpoint/`` (to resume from elsewhere), ``all_checkpoints``
    every checkpoint to its own folder; ``end`` pushes nothing before :func:`push_outputs`. The repository is
    created now, before training, as the Trainer creates it at construction."""
    if held is None or held.hub_strategy == "end":
        return
    from transformers import TrainerCallback
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    class CheckpointPush(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            folder = os.path.join(args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}")
            if os.path.isdir(folder):
                trainer._push_from_checkpoint(folder)  # the Trainer's own, as with push_to_hub set

    try:
        trainer.init_hf_repo()  # on the main process; sets trainer.hub_model_id to the full ID
    except Exception as e:  # network or permission errors, before any training
        raise RuntimeError(
            f"creating the Hub repository {held.hub_model_id} failed ({type(e).__name__}: {e}): with hub_strategy="
            f"{held.hub_strategy} the saves during training are pushed, so the repository is made first, as in "
            "TRL; check the token's write access and the network, or pass --hub_strategy end to push once, last"
        ) from e
    trainer.add_callback(CheckpointPush())


def push_outputs(trainer, held: HeldPush | None, output_dir: str, **card_kwargs) -> None:
    """Push the output folder (model, card, results) to the Hub, after waiting for pushes of checkpoints still
    running, or say how to push it later."""
    if held is None:
        return
    trainer.args.hub_model_id = held.hub_model_id  # a bare name is created under the token's account
    try:
        trainer.push_to_hub(**card_kwargs)
    except Exception as e:  # network or permission errors: the local outputs are complete
        raise RuntimeError(
            f"pushing to {held.hub_model_id} failed ({type(e).__name__}: {e}); the model, card and results are "
            f"saved in {output_dir}: push them later with `hf upload {held.hub_model_id} {output_dir}`"
        ) from e


def supervisor_entries(dataset: Any) -> list[dict]:
    """Name, kind, identity and settings of each supervisor that labelled ``dataset`` (its labelling provenance)."""
    from ..labeling import read_provenance

    entries = (read_provenance(dataset) or {}).get("supervisors", [])
    return [{k: e.get(k) for k in ("name", "kind", "identity", "settings")} for e in entries]


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def run_config(
    script_args: Any,
    training_args: Any,
    model_args: Any = None,
    supervisors: list[dict] | None = None,
    pushed: bool = False,
) -> dict:
    """The ``config`` entry of ``results.json``: every resolved option of the run (script, training and model
    arguments; tokens redacted by ``TrainingArguments.to_dict``), the package version and the supervisors'
    identities. ``pushed``: the push held back by :func:`hold_push` (which turned ``push_to_hub`` off)."""
    from ..utils.version import __version__

    training = training_args.to_dict()
    if pushed:
        training["push_to_hub"] = True
    config = {"script": dataclasses.asdict(script_args), "training": training}
    if model_args is not None:
        config["model"] = dataclasses.asdict(model_args)
    config |= {"version": __version__, "supervisors": list(supervisors or [])}
    return _json_safe(config)
