"""Heuristic weak supervisors built on embedded resources (TRL reward-function signature)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ._locate import package_version


@lru_cache(maxsize=1)
def _vader():
    package_version("vaderSentiment")
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # reads its packaged lexicon

    return SentimentIntensityAnalyzer()


def completion_text(completion: Any) -> str:
    """The text of a completion in TRL's standard (``str``) or conversational (list of messages) format."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "\n".join(
            str(m.get("content", "")) for m in completion if m.get("role", "assistant") == "assistant"
        )
    raise TypeError(f"Unsupported completion type {type(completion).__name__}")


def vader_reward(prompts: list, completions: list, **kwargs: Any) -> list[float]:
    """VADER's compound sentiment score in [-1, 1] of each completion (the prompt is ignored).

    A lexicon-and-rules heuristic (Hutto & Gilbert 2014): a weak supervisor that prefers the more positive
    response. Usable as a TRL reward function and in ``CallableSupervisor``.
    """
    analyzer = _vader()
    return [float(analyzer.polarity_scores(completion_text(c))["compound"]) for c in completions]


def length_reward(prompts: list, completions: list, **kwargs: Any) -> list[float]:
    """The number of words of each completion: the "longer is better" bias as an explicit weak supervisor."""
    return [float(len(completion_text(c).split())) for c in completions]
