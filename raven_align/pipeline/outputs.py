"""Output safety (never overwrite a user's results) and Hub access checks, done before any work; the run's full
configuration for ``results.json``; the push at the end, after every local output is written."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
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


def check_hub_model_id(repo_id: str | None, option: str = "hub_model_id") -> None:
    """Refuse a Hub repository ID that the Hub would refuse at the push, after all the work."""
    if not repo_id:
        return
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise ValueError(
            f"{option} {repo_id!r} is not a valid Hub repository ID ({e}): give `your-name/model-name` or "
            "`model-name` (letters, digits, '-', '_' and '.', at most 96 characters, no '--' or '..')"
        ) from None


def check_hub_access(
    push_to_hub: bool | str | None, hub_model_id: str | None, option: str = "hub_model_id"
) -> None:
    """Fail before any work when a push is asked for but cannot happen (``option``: the repository's flag)."""
    check_hub_model_id(hub_model_id, option)
    if not push_to_hub:
        return
    from huggingface_hub import get_token

    if not hub_model_id:
        raise ValueError("push_to_hub needs hub_model_id (e.g. your-name/smollm2-raven-dpo)")
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        raise RuntimeError("push_to_hub is set but HF_HUB_OFFLINE is on: unset it or drop push_to_hub")
    if get_token() is None:
        raise RuntimeError(
            "push_to_hub is set but no Hugging Face token was found: run `hf auth login` or set "
            "HF_TOKEN, or drop push_to_hub"
        )


@dataclass
class HeldPush:
    """A push asked for in the training arguments, held back until the local outputs are complete."""

    hub_model_id: str


def hold_push(training_args) -> HeldPush | None:
    """Check Hub access now, then take the push out of ``training_args``: the Trainer then pushes nothing during
    training or ``save_model`` (where a network error would stop the run before results.json), and a
    ``--hub_token`` moves to ``HF_TOKEN`` (where huggingface_hub reads it) instead of being saved with the args."""
    if training_args.hub_token:
        os.environ["HF_TOKEN"], training_args.hub_token = training_args.hub_token, None
    check_hub_access(training_args.push_to_hub, training_args.hub_model_id)
    if not training_args.push_to_hub:
        return None
    training_args.push_to_hub = False
    return HeldPush(training_args.hub_model_id)


def push_outputs(trainer, held: HeldPush | None, output_dir: str, **card_kwargs) -> None:
    """Push the output folder (model, card, results) to the Hub, or say how to push it later."""
    if held is None:
        return
    trainer.args.hub_model_id = held.hub_model_id
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
