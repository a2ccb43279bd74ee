"""The form of preference pairs: TRL's standard (strings) or conversational (lists of messages), checked row by row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_FORMS = {str: "strings", list: "lists of messages"}
_MESSAGE_HINT = "a message is {'role': 'user' | 'assistant' | 'system', 'content': ...}"


def _value_problem(value: Any, form: str) -> str | None:
    """Why one prompt/chosen/rejected value does not fit its column's form (None when it does)."""
    if value is None:
        return "is missing"
    if form == "strings":
        return None if isinstance(value, str) else f"is a {type(value).__name__}, not a string"
    if not isinstance(value, list) or not value:
        return "is not a non-empty list of messages"
    for j, m in enumerate(value):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not m["role"]:
            return f"has message {j} without a role ({m!r})"
        if m.get("content") is None:
            return f"has message {j} without content ({m!r})"
    return None


def pair_forms(dataset: Any, columns: Sequence[str]) -> dict[str, str]:
    """The form of each preference column, ``"strings"`` or ``"lists of messages"`` (TRL's standard and
    conversational formats), checked on every row: an error names the column, the row and the fix for a missing
    value, a message without ``role`` or ``content``, a row of another form, and ``chosen``/``rejected`` (the last
    two of ``columns``) of different forms or a conversational prompt beside plain-string responses."""
    forms: dict[str, str] = {}
    for c in columns:
        values = dataset[c]
        first = next((v for v in values if v is not None), None)
        form = _FORMS.get(type(first))
        if form is None:
            raise ValueError(
                f"column {c!r} holds {type(first).__name__} values: preference pairs need strings or lists of "
                f"messages ({_MESSAGE_HINT})"
            )
        bad = [(i, p) for i, v in enumerate(values) if (p := _value_problem(v, form))]
        if bad:
            rows = [i for i, _ in bad[:5]]
            raise ValueError(
                f"column {c!r} at row {bad[0][0]} {bad[0][1]} ({len(bad)} row(s) in all, first {rows}); every "
                f"row must hold {form} ({_MESSAGE_HINT}): fix or drop these rows"
            )
        forms[c] = form
    *prompt, chosen, rejected = columns
    if forms[chosen] != forms[rejected]:
        raise ValueError(
            f"{chosen!r} holds {forms[chosen]} but {rejected!r} holds {forms[rejected]}: give both responses "
            "in one form"
        )
    if prompt and forms[prompt[0]] == "lists of messages" and forms[chosen] == "strings":
        raise ValueError(
            f"the prompt column {prompt[0]!r} is conversational (lists of messages) but {chosen!r}/{rejected!r} "
            "are plain strings, so no prompt could be read with them: give the responses as messages too, e.g. "
            "[{'role': 'assistant', 'content': text}], or the prompt as a string"
        )
    return forms
