"""Bootstrap confidence intervals for any Inspect metric, resampling clusters.

Inspect metrics are functions of a list of per-sample scores; several of ours
compare samples with each other (``opinion_shift`` contrasts the same claim
asked under different user opinions).  Resampling single samples would break
those pairs, so we resample *clusters* (e.g. all samples of one claim) and
recompute the metric on each resample.  Percentile intervals via scipy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from alignlab.analysis._stats import Estimate


def metric_ci(
    metric: Callable[[list[Any]], Any],
    scores: Sequence[Any],
    *,
    cluster: Callable[[Any], Hashable] | None = None,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> Estimate:
    """A metric's value on ``scores`` with a cluster bootstrap confidence interval.

    Args:
        metric: A function from a list of scores to a float (an Inspect ``Metric``).
        scores: Per-sample scores (Inspect ``SampleScore`` objects, or anything ``metric`` takes).
        cluster: Maps a score to its cluster key; by default every score is its own cluster.
        confidence: Confidence level in (0, 1).
        n_resamples: Bootstrap resamples.
        seed: Seed of the resampling generator.

    Returns:
        The metric on all scores and its percentile interval (NaN bounds if the
        metric is undefined on too many resamples or there is one cluster).
    """
    groups: dict[Hashable, list[Any]] = {}
    for index, score in enumerate(scores):
        key = cluster(score) if cluster is not None else index
        groups.setdefault(key, []).append(score)
    clustered = list(groups.values())
    value = float(metric(list(scores)))

    def statistic(indices: NDArray[np.int64]) -> float:
        resampled = [s for i in indices for s in clustered[int(i)]]
        return float(metric(resampled))

    if len(clustered) < 2 or math.isnan(value):
        return Estimate(value, math.nan, math.nan, confidence, len(clustered))
    result = _cluster_bootstrap(len(clustered), statistic, n_resamples, confidence, seed)
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return Estimate(value, low, high, confidence, len(clustered))


def _cluster_bootstrap(
    n_clusters: int,
    statistic: Callable[[NDArray[np.int64]], float],
    n_resamples: int,
    confidence: float,
    seed: int,
) -> Any:
    """The percentile bootstrap (scipy's) of ``statistic`` over resampled cluster indices.

    Shared with :func:`~alignlab.analysis.paired_metric_difference`.

    Args:
        n_clusters: Clusters; ``statistic`` gets a resample of ``range(n_clusters)``.
        statistic: Maps resampled cluster indices to a number (NaN where undefined).
        n_resamples: Bootstrap resamples.
        confidence: Confidence level of the interval, in (0, 1).
        seed: Seed of the resampling generator.

    Returns:
        scipy's ``BootstrapResult`` (interval and bootstrap distribution).
    """
    return stats.bootstrap(
        (np.arange(n_clusters),),
        statistic,
        vectorized=False,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
