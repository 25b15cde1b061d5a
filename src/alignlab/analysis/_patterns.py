"""Which method features go with better held-out scores, across methods.

Why: the report's "patterns" section asks what the methods that did well have
in common.  Every method carries feature tags (preference data, synthetic data,
a prompt change at train time, RL, self-generated data, regularisation); for
each tag, the methods with it are compared with the methods without it.

What was simplified, and how to read it: this is a *descriptive* summary, not
a causal estimate.  There are few methods, tags are confounded with each other
and with everything else that differs between methods (data size, learning
rate, implementation quality), and the methods were not chosen at random.  The
interval resamples *methods* (those with and those without the tag, each group
separately), so it shows how much the contrast depends on which methods happen
to be in the table; it ignores each method's own sampling and seed noise.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from typing import Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from alignlab._errors import AlignlabError

FEATURE_EFFECT_COLUMNS: Final = (
    "feature",
    "n_with",
    "n_without",
    "mean_with",
    "mean_without",
    "difference",
    "ci_low",
    "ci_high",
)
"""Columns of :func:`feature_effects`' result, in order."""


def feature_effects(
    table: pd.DataFrame,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """For each feature tag, mean score of methods with it minus methods without it.

    Descriptive, not causal: with few methods whose tags are confounded with
    each other and with everything else that differs between them, a tag that
    "goes with" better scores need not cause them.

    Args:
        table: One row per method variant, with columns ``label`` (the variant),
            ``features`` (an iterable of tag strings) and ``score`` (e.g. its mean
            paired difference from ``none`` on a held-out metric).  Rows with a
            NaN score are left out.
        confidence: Confidence level of the intervals.
        n_resamples: Bootstrap resamples per tag.
        seed: Seed of the resampling.

    Returns:
        One row per tag (columns :data:`FEATURE_EFFECT_COLUMNS`), sorted by
        ``difference``, largest first (undefined last).  ``difference`` is
        ``mean_with - mean_without``; its percentile interval resamples the
        methods with and without the tag separately, and is NaN when either
        group has fewer than two methods (``difference`` itself is NaN when
        either group is empty).

    Raises:
        AlignlabError: If a column is missing, a row's features are not tags, or an
            option is out of range.
    """
    missing = {"label", "features", "score"} - set(table.columns)
    if missing:
        raise AlignlabError(f"feature_effects needs columns {sorted(missing)}")
    if not 0 < confidence < 1:
        raise AlignlabError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise AlignlabError(f"n_resamples must be at least 1, got {n_resamples}")
    rows = table.loc[table["score"].notna(), ["label", "features", "score"]]
    tags = [
        _tags(features, label)
        for label, features in zip(rows["label"], rows["features"], strict=True)
    ]
    scores = rows["score"].to_numpy(dtype=np.float64)
    records = []
    for feature in sorted(set().union(*tags)) if tags else []:
        has = np.array([feature in t for t in tags], dtype=bool)
        low, high = _interval(scores[has], scores[~has], confidence, n_resamples, seed)
        mean_with, mean_without = _mean(scores[has]), _mean(scores[~has])
        records.append(
            (
                feature,
                int(has.sum()),
                int((~has).sum()),
                mean_with,
                mean_without,
                mean_with - mean_without,
                low,
                high,
            )
        )
    result = pd.DataFrame.from_records(records, columns=list(FEATURE_EFFECT_COLUMNS))
    result = result.sort_values("difference", ascending=False, na_position="last", kind="stable")
    return result.reset_index(drop=True)


def _tags(features: object, label: object) -> frozenset[str]:
    if isinstance(features, str) or not isinstance(features, Iterable):
        raise AlignlabError(f"features of '{label}' must be a collection of tags, got {features!r}")
    tags = frozenset(features)
    if not all(isinstance(tag, str) for tag in tags):
        raise AlignlabError(f"features of '{label}' must be strings, got {features!r}")
    return tags


def _mean(x: NDArray[np.float64]) -> float:
    return float(np.mean(x)) if len(x) else math.nan


def _interval(
    with_: NDArray[np.float64],
    without: NDArray[np.float64],
    confidence: float,
    n_resamples: int,
    seed: int,
) -> tuple[float, float]:
    if len(with_) < 2 or len(without) < 2:
        return math.nan, math.nan

    def difference(x: NDArray[np.float64], y: NDArray[np.float64], axis: int) -> object:
        return np.mean(x, axis=axis) - np.mean(y, axis=axis)

    with warnings.catch_warnings():  # all-equal groups give a degenerate (zero-width) interval
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        ci = stats.bootstrap(
            (with_, without),
            difference,
            n_resamples=n_resamples,
            confidence_level=confidence,
            method="percentile",
            rng=np.random.default_rng(seed),
        ).confidence_interval
    return float(ci.low), float(ci.high)
