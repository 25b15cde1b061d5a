"""Seed-to-seed spread of a result, shown beside its sampling interval.

Why: a bootstrap interval covers the eval's sampling noise (which items were
asked) for one trained model; it says nothing about how much the result moves
when the same method is trained again with another seed.  With several seeds
both are shown: the per-seed values' mean, standard deviation and range next
to the interval.

What was simplified: the spread is descriptive (mean, sample standard
deviation, min, max); no interval is put on it, since a handful of seeds
cannot support one, and the two sources of noise are not combined.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from alignlab._errors import AlignlabError


@dataclass(frozen=True)
class SeedSpread:
    """How a value varies across training seeds."""

    mean: float
    """Mean over seeds."""
    sd: float
    """Sample standard deviation over seeds (``ddof=1``; NaN with one seed)."""
    min: float
    """Smallest per-seed value."""
    max: float
    """Largest per-seed value."""
    n_seeds: int
    """Seeds with a defined (non-NaN) value."""


def seed_spread(values_by_seed: Mapping[int, float] | Sequence[float]) -> SeedSpread:
    """Mean, standard deviation and range of one result across training seeds.

    Args:
        values_by_seed: The result of each seed, as ``{seed: value}`` or a list.
            NaN values (seeds where the result is undefined) are left out.

    Returns:
        The spread; all NaN (and ``n_seeds == 0``) when no value is defined.

    Raises:
        AlignlabError: If no value is given.
    """
    if isinstance(values_by_seed, Mapping):
        values = list(values_by_seed.values())
    else:
        values = list(values_by_seed)
    if len(values) == 0:
        raise AlignlabError("seed_spread needs at least one seed's value")
    series = pd.Series(values, dtype="float64").dropna()
    if series.empty:
        return SeedSpread(math.nan, math.nan, math.nan, math.nan, 0)
    return SeedSpread(
        mean=float(series.mean()),
        sd=float(series.std(ddof=1)),
        min=float(series.min()),
        max=float(series.max()),
        n_seeds=len(series),
    )
