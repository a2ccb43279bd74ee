"""Weak supervisors of the classification recipe: the ones it trains on source domains (``kind``), and the ones
given by spec, as in the preference recipe: a Hub ID or folder of a text or image classifier
(``classifier:ID``), a precomputed probability column (``column:COL``) or a function (``callable:MOD:FN``).

``supervisors`` may be written as a mapping ``{name: {kind: logreg, domains: [...]}}``, ``{name: SPEC}`` or
``{name: {spec: SPEC, domains: [...]}}`` (``domains``: the classifier's source, for the ID scenario), as a list of
``[NAME=]SPEC`` / kind strings, or as one such string. Everything that can be checked without data is checked
when the arguments are parsed; a classifier's labels and a column's width are checked against the task before
any weak model trains.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .weak import KINDS

_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.\-]*)=(.+)$")
_VALID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def _default_name(spec: str) -> str:
    """The name a spec gets without ``NAME=``: the column, the function, or the model folder's last part."""
    kind, _, target = spec.partition(":")
    last = target.split(":")[-1].split(",")[0].split("@")[0].rstrip("/").split("/")[-1]
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", last or kind).lstrip("_.-") or kind


def _entry(item: str) -> tuple[str, dict]:
    match = _NAME.match(item.strip())
    name, body = (match.group(1), match.group(2)) if match else (None, item.strip())
    if body in KINDS:
        return name or body, {"kind": body}
    return name or _default_name(body), {"spec": body}


def normalize_supervisors(value: Any) -> dict[str, dict]:
    """``{name: entry}`` from any accepted form (see the module docstring); clear errors for the rest."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = [value]  # `supervisors: vader`, or one spec
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise ValueError(f"a list of supervisors holds `[NAME=]SPEC` strings, got {value!r}")
        value = dict(_entry(v) for v in value)
    if not isinstance(value, dict) or not value:
        raise ValueError("give at least one supervisor in `supervisors` (a mapping name -> entry, or specs)")
    out = {}
    for name, entry in value.items():
        if not isinstance(name, str) or not _VALID.match(name):
            raise ValueError(
                f"supervisor name {name!r} must match {_VALID.pattern} (it becomes a column suffix)"
            )
        if isinstance(entry, str):
            entry = {"kind": entry} if entry in KINDS else {"spec": entry}
        if not isinstance(entry, dict):
            raise ValueError(
                f"supervisor {name!r}: give {{kind: ..., domains: [...]}} or a spec, got {entry!r}"
            )
        if "spec" not in entry:
            kind = entry.get("kind", "logreg")
            if kind not in KINDS:
                raise ValueError(
                    f"supervisor {name!r}: unknown kind {kind!r}; choose from {KINDS}, or give a spec "
                    "(classifier:ID_OR_PATH, column:COL, callable:MODULE:FUNCTION)"
                )
            if kind != "vader" and not entry.get("domains"):
                raise ValueError(
                    f"supervisor {name!r} ({kind}) is trained on source domains: give `domains: [...]`"
                )
        out[name] = dict(entry)
    return out


def given_columns(supervisors: dict[str, dict]) -> list[str]:
    """Dataset columns that ``column:`` supervisors read (carried into every materialised set)."""
    return [
        e["spec"].split(":", 1)[1]
        for e in supervisors.values()
        if str(e.get("spec", "")).startswith("column:")
    ]


def build_given(
    supervisors: dict[str, dict],
    columns: list[str],
    first_row: dict,
    num_classes: int,
    class_names,
    **kw: Any,
) -> dict[str, Any]:
    """The spec supervisors, built and checked against the task (labels, widths, columns) before any training."""
    from ..checks import check_classifier_labels
    from ..specs import build_supervisor

    out = {}
    for name, entry in supervisors.items():
        if "spec" not in entry:
            continue
        sup = build_supervisor(f"{name}={entry['spec']}", task="classification", **kw)
        if sup.task != "classification":
            raise ValueError(
                f"supervisor {name!r} ({entry['spec']}) judges preference pairs, not classes: give "
                "classifier:ID_OR_PATH, column:COL or callable:MODULE:FUNCTION"
            )
        if sup.kind == "classifier":
            check_classifier_labels(sup, num_classes, class_names)
        if sup.kind == "column":
            column = sup.column
            if column not in columns:
                raise ValueError(
                    f"supervisor {name!r}: the dataset has no column {column!r} (it has {columns})"
                )
            width = len(first_row[column]) if isinstance(first_row[column], list) else None
            if width != num_classes:
                raise ValueError(
                    f"supervisor {name!r}: column {column!r} must hold {num_classes} class probabilities per row, "
                    f"got {first_row[column]!r}"
                )
        out[name] = sup
    return out


def label_set(ds: Any, sups: list, modality: str, num_classes: int) -> Any:
    """``ds`` labelled by every supervisor: image classifiers see the (corrupted) pixels as RGB images, like the
    strong model does; the others read ``text`` or ``pixel_values``."""
    from ...columns import probs_column
    from ...labeling import label_dataset

    column = "text" if modality == "text" else "pixel_values"
    on_images = [s for s in sups if modality == "image" and s.kind == "classifier"]
    rest = [s for s in sups if s not in on_images]
    kw = {"task": "classification", "show_progress": False}
    if rest:
        ds = label_dataset(ds, rest, input_column=column, **kw)
    if on_images:
        ds = label_dataset(
            ds.map(_as_image, desc="Images for the classifiers"), on_images, input_column="image", **kw
        )
        ds = ds.remove_columns("image")
    for s in sups:
        width = len(ds[0][probs_column(s.name)])
        if width != num_classes:
            raise ValueError(
                f"supervisor {s.name!r} gives {width} class probabilities, the task has {num_classes}"
            )
    return ds


def _as_image(row: dict) -> dict:
    import numpy as np
    from PIL import Image

    x = np.clip(np.asarray(row["pixel_values"], dtype=np.float32), 0, 1)  # (C, H, W) in [0, 1]
    x = (np.moveaxis(x, 0, -1) * 255).round().astype(np.uint8)
    image = Image.fromarray(x[..., 0] if x.shape[-1] == 1 else x)
    return {"image": image.convert("RGB")}
