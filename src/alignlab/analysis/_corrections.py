"""Multiple-comparison correction across an experiment's method x metric family.

Why: an experiment compares every method with every reference on every metric;
with a dozen methods and a handful of metrics, some comparisons come out
"significant" by chance.  The p-values of one family (all comparisons of one
run against one reference) are adjusted together.

Which correction: Benjamini-Hochberg (:data:`DEFAULT_CORRECTION`) by default.
It controls the false discovery rate (the expected share of false findings
among the comparisons called significant), which fits a screen of many methods
where a few false leads are acceptable and missing real effects is costly.
Holm controls the family-wise error rate (any false finding at all) and is
offered for confirmatory claims.  The report names the correction it used.

What was simplified: BH is :func:`scipy.stats.false_discovery_control`; scipy
has no Holm and statsmodels (which has both) is not a dependency, so Holm's
step-down adjustment is the few numpy lines below.  BH assumes independent or
positively dependent tests; comparisons on the same samples are positively
dependent in the usual case, and Benjamini-Yekutieli is not offered.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final, Literal, get_args

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from alignlab._errors import AlignlabError

Correction = Literal["benjamini-hochberg", "holm"]
"""A multiple-comparison correction: false discovery rate (BH) or family-wise error rate (Holm)."""

CORRECTIONS: Final[tuple[Correction, ...]] = get_args(Correction)
"""Every supported correction."""

DEFAULT_CORRECTION: Final[Correction] = "benjamini-hochberg"
"""The correction experiments apply unless told otherwise (see the module notes)."""


def adjust_p_values(
    p_values: Sequence[float], method: Correction = DEFAULT_CORRECTION
) -> list[float]:
    """P-values adjusted for multiple comparisons across one family.

    A comparison is significant at level ``alpha`` after correction when its
    adjusted p-value is at most ``alpha``.

    Args:
        p_values: The family's p-values, each in [0, 1]; NaN values (comparisons
            that could not be tested) stay NaN and are not counted in the family.
        method: ``"benjamini-hochberg"`` (false discovery rate, the default) or
            ``"holm"`` (family-wise error rate).

    Returns:
        The adjusted p-values, in the order given.

    Raises:
        AlignlabError: If a p-value is outside [0, 1] or the method is unknown.
    """
    if method not in CORRECTIONS:
        raise AlignlabError(f"unknown correction '{method}'; use one of {', '.join(CORRECTIONS)}")
    p = np.asarray(p_values, dtype=np.float64).reshape(-1)
    defined = ~np.isnan(p)
    if ((p[defined] < 0) | (p[defined] > 1)).any():
        raise AlignlabError(f"p-values must lie in [0, 1], got {list(p_values)}")
    out = np.full(len(p), math.nan)
    if defined.any():
        tested = p[defined]
        out[defined] = (
            stats.false_discovery_control(tested, method="bh")
            if method == "benjamini-hochberg"
            else _holm(tested)
        )
    return [float(x) for x in out]


def _holm(p: NDArray[np.float64]) -> NDArray[np.float64]:
    """Holm's step-down adjusted p-values: the k-th smallest times (m - k + 1), made monotone."""
    order = np.argsort(p)
    m = len(p)
    stepped = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = stepped
    return out
