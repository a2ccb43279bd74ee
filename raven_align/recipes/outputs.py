"""Output safety (never overwrite a user's results) and Hub access checks, done before any work."""

from __future__ import annotations

import os


def check_output_dir(path: str, overwrite: bool, resuming: bool) -> None:
    """Refuse to start in a non-empty output directory unless asked to overwrite or resuming from it."""
    if os.path.isdir(path) and os.listdir(path) and not (overwrite or resuming):
        raise FileExistsError(
            f"output_dir {path!r} is not empty: pass --overwrite_output_dir true to reuse it, or "
            "--resume_from_checkpoint to continue a run"
        )


def check_hub_access(push_to_hub: bool, hub_model_id: str | None) -> None:
    """Fail before training when a push is asked for but cannot happen."""
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
