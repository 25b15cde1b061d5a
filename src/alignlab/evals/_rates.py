"""Rates the eval metrics share: a mean that is NaN when nothing is eligible.

Every eval's metric is a share of eligible samples (sided with the user, chose
the exploit, ...).  An empty denominator is reported as NaN, never 0, so that
"no eligible sample" cannot pass for "never happens".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from inspect_ai.scorer import SampleScore


def rate(values: Iterable[bool | float]) -> float:
    """Mean of ``values`` (True counts 1); NaN when there are none."""
    listed = [float(v) for v in values]
    return sum(listed) / len(listed) if listed else float("nan")


def accuracy_where(scores: Sequence[SampleScore], condition: str) -> float:
    """Mean score of the samples whose metadata ``condition`` is ``condition``; NaN if none."""
    return rate(
        float(s.score.as_float())
        for s in scores
        if (s.sample_metadata or {}).get("condition") == condition
    )
