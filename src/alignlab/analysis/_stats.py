"""Bootstrap confidence intervals and paired comparisons for per-sample scores.

All functions take one score per sample (e.g. 0/1 correctness) and are thin
wrappers around :mod:`scipy.stats`; what they add is input checking with
:class:`~alignlab.AlignlabError` and a small result type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from alignlab._errors import AlignlabError


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a two-sided confidence interval."""

    value: float
    """The point estimate (a mean)."""
    ci_low: float
    """Lower end of the confidence interval."""
    ci_high: float
    """Upper end of the confidence interval."""
    confidence: float
    """Confidence level of the interval, in (0, 1)."""
    n: int
    """Number of samples (pairs, for a paired estimate)."""

    def as_list(self) -> list[float]:
        """Returns ``[value, ci_low, ci_high]``, e.g. for a JSON report."""
        return [self.value, self.ci_low, self.ci_high]


@dataclass(frozen=True)
class McNemarResult:
    """Outcome of an exact McNemar test on paired pass/fail results."""

    only_a: int
    """Pairs where ``a`` is True and ``b`` is False."""
    only_b: int
    """Pairs where ``b`` is True and ``a`` is False."""
    p_value: float
    """Two-sided exact p-value; 1.0 when there are no discordant pairs."""
    n: int
    """Number of pairs."""


def bootstrap_ci(
    values: Sequence[float], *, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> Estimate:
    """Mean of ``values`` with a percentile bootstrap confidence interval.

    Args:
        values: One score per sample.
        confidence: Confidence level of the interval, in (0, 1).
        n_resamples: Number of bootstrap resamples.
        seed: Seed of the resampling; the same seed gives the same interval.

    Returns:
        The mean and its interval; the interval is the mean itself when there is
        one sample or all samples are equal.

    Raises:
        AlignlabError: If ``values`` is empty or has NaNs, or an option is out of range.
    """
    _check_options(confidence, n_resamples)
    return _mean_ci(_as_array(values, "values"), confidence, n_resamples, seed)


def paired_bootstrap_diff(
    a: Sequence[float],
    b: Sequence[float],
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """Mean of ``a - b`` over paired samples, with a bootstrap interval over pairs.

    Resampling the per-pair differences is resampling the pairs, so the
    interval accounts for the correlation between the two models' scores.

    Args:
        a: One score per sample for model A.
        b: The score for model B on the same samples, in the same order.
        confidence: Confidence level of the interval, in (0, 1).
        n_resamples: Number of bootstrap resamples.
        seed: Seed of the resampling; the same seed gives the same interval.

    Returns:
        The mean difference (A minus B) and its interval.

    Raises:
        AlignlabError: If the inputs are empty, differ in length or have NaNs, or
            an option is out of range.
    """
    _check_options(confidence, n_resamples)
    x, y = _as_array(a, "a"), _as_array(b, "b")
    _check_same_length(len(x), len(y))
    return _mean_ci(x - y, confidence, n_resamples, seed)


def mcnemar_exact(a: Sequence[bool], b: Sequence[bool]) -> McNemarResult:
    """Exact McNemar test: did models A and B pass different numbers of samples?

    The test is a two-sided binomial test, with p = 0.5, of the discordant
    pairs (samples that exactly one of the two models passed).

    Args:
        a: Whether model A passed each sample.
        b: Whether model B passed the same samples, in the same order.

    Returns:
        The discordant counts and the p-value.

    Raises:
        AlignlabError: If the inputs are empty or differ in length.
    """
    if len(a) == 0 or len(b) == 0:
        raise AlignlabError("mcnemar_exact needs at least one pair, got an empty input")
    _check_same_length(len(a), len(b))
    only_a = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    only_b = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    discordant = only_a + only_b
    p_value = 1.0 if discordant == 0 else float(stats.binomtest(only_a, discordant).pvalue)
    return McNemarResult(only_a=only_a, only_b=only_b, p_value=p_value, n=len(a))


def _mean_ci(x: NDArray[np.float64], confidence: float, n_resamples: int, seed: int) -> Estimate:
    mean = float(np.mean(x))
    if len(x) == 1 or np.all(x == x[0]):
        low = high = mean
    else:
        ci = stats.bootstrap(
            (x,),
            np.mean,
            n_resamples=n_resamples,
            confidence_level=confidence,
            method="percentile",
            rng=np.random.default_rng(seed),
        ).confidence_interval
        low, high = float(ci.low), float(ci.high)
    return Estimate(value=mean, ci_low=low, ci_high=high, confidence=confidence, n=len(x))


def _as_array(values: Sequence[float], name: str) -> NDArray[np.float64]:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or len(x) == 0:
        raise AlignlabError(f"'{name}' must be a non-empty list of numbers")
    if np.isnan(x).any():
        raise AlignlabError(f"'{name}' contains NaN values")
    return x


def _check_same_length(len_a: int, len_b: int) -> None:
    if len_a != len_b:
        raise AlignlabError(f"paired inputs differ in length: {len_a} vs {len_b}")


def _check_options(confidence: float, n_resamples: int) -> None:
    if not 0 < confidence < 1:
        raise AlignlabError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise AlignlabError(f"n_resamples must be at least 1, got {n_resamples}")
