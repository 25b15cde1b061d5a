"""Every metric of a stored Inspect eval log, with a cluster-bootstrap confidence interval.

Works from the ``.eval`` log alone, so a report can be rebuilt long after the
run: the log records each scorer's metric definitions by registry name (e.g.
``alignlab/sycophancy_rate``, with options), and every sample's metadata and
score metadata; the metric is re-created from Inspect's registry
(``registry_create``) and re-run on bootstrap resamples of the stored scores.
Samples that belong together (one claim under several opinions, the stated and
revealed form of one situation) share the value of the task's cluster key
(``alignlab_cluster_key`` in the task metadata; ``item_id`` by default) and
are resampled together.

Shared by ``alignlab eval`` (the results table) and the benchmarks, so the
numbers a user sees and the numbers we record are computed one way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from typing import Any, Final

from alignlab.analysis._metric_ci import metric_ci
from alignlab.analysis._stats import Estimate, bootstrap_ci

DEFAULT_CLUSTER_KEY: Final = "item_id"
"""Sample metadata key used when a log does not name its cluster key."""
CLUSTER_KEY_METADATA: Final = "alignlab_cluster_key"
"""Task metadata key (set by alignlab's eval registry) naming the cluster key."""


def cluster_key(score: Any, key: str = DEFAULT_CLUSTER_KEY) -> Hashable:
    """The resampling cluster of a sample score: its metadata ``key``, else its sample id."""
    metadata = score.sample_metadata or {}
    cluster: Hashable = metadata.get(key, score.sample_id)
    return cluster


def sample_scores(log: Any, scorer_name: str) -> list[Any]:
    """The log's per-sample scores of one scorer, with sample metadata attached."""
    from inspect_ai.scorer import SampleScore

    return [
        SampleScore(
            score=sample.scores[scorer_name], sample_id=sample.id, sample_metadata=sample.metadata
        )
        for sample in log.samples or []
        if sample.scores and scorer_name in sample.scores
    ]


def logged_metrics(log: Any) -> dict[str, Callable[[list[Any]], Any]]:
    """The metric functions a log's scorers declared, re-created from Inspect's registry.

    Args:
        log: An Inspect ``EvalLog``.

    Returns:
        ``{short_name: metric}`` for every declared metric that the registry can
        create (a metric defined in a script that is not importable is left out).
    """
    from inspect_ai.util import registry_create

    functions: dict[str, Callable[[list[Any]], Any]] = {}
    for scorer in log.eval.scorers or []:
        for definition in scorer.metrics or []:
            if not hasattr(definition, "name"):
                continue
            try:
                created = registry_create("metric", definition.name, **(definition.options or {}))
            except Exception:  # unknown to this process's registry: reported value only
                continue
            functions[definition.name.split("/")[-1]] = created
    return functions


def log_metric_estimates(
    log: Any, seed: int = 0, where: Callable[[Any], bool] | None = None
) -> dict[str, tuple[Estimate, int]]:
    """Each reported metric of ``log`` with its 95% interval and the number of samples.

    Args:
        log: An Inspect ``EvalLog`` with samples (read from disk or just returned by ``eval``).
        seed: Bootstrap seed.
        where: Keep only the sample scores for which this is true (e.g. one
            family); the metrics are recomputed on them.  None: every sample.

    Returns:
        ``{metric: (estimate, n_samples)}``; metrics that cannot be resampled (e.g.
        ``stderr``, or one the registry cannot re-create) get NaN bounds.
    """
    functions = logged_metrics(log)
    key = str((log.eval.metadata or {}).get(CLUSTER_KEY_METADATA, DEFAULT_CLUSTER_KEY))

    def cluster(score: Any) -> Hashable:
        return cluster_key(score, key)

    out: dict[str, tuple[Estimate, int]] = {}
    for score in log.results.scores if log.results is not None else []:
        scores = sample_scores(log, score.name)
        if where is not None:
            scores = [s for s in scores if where(s)]
        for name, reported in score.metrics.items():
            if name in functions and name != "stderr" and scores:
                estimate = metric_ci(functions[name], scores, cluster=cluster, seed=seed)
            elif name == "accuracy" and len(scores) > 1:
                estimate = bootstrap_ci([s.score.as_float() for s in scores], seed=seed)
            elif where is None:
                estimate = Estimate(float(reported.value), math.nan, math.nan, 0.95, len(scores))
            else:  # the reported value is the whole log's, not this subset's
                continue
            out[name] = (estimate, len(scores))
    return out


def log_metric_estimates_by(
    log: Any, key: str, seed: int = 0
) -> dict[str, dict[str, tuple[Estimate, int]]]:
    """:func:`log_metric_estimates` per value of a sample metadata ``key`` (e.g. ``family``).

    Args:
        log: An Inspect ``EvalLog`` with samples.
        key: A sample metadata key; samples without it are left out.
        seed: Bootstrap seed.

    Returns:
        ``{value: {metric: (estimate, n)}}`` in order of first appearance; empty
        when no sample has ``key``.
    """
    values = list(
        dict.fromkeys(
            str(sample.metadata[key])
            for sample in log.samples or []
            if sample.metadata and key in sample.metadata
        )
    )

    def member_of(value: str) -> Callable[[Any], bool]:
        return lambda score: str((score.sample_metadata or {}).get(key)) == value

    return {value: log_metric_estimates(log, seed, where=member_of(value)) for value in values}


def answering_modes(log: Any) -> dict[str, int]:
    """How many samples of ``log`` each answering mode produced (``choice_scoring`` in scores).

    Args:
        log: An Inspect ``EvalLog`` with samples.

    Returns:
        ``{mode: count}`` (``letter``, ``content``, ``content_both_orders``,
        ``generate``); empty for logs written before modes were recorded.
    """
    from alignlab.protocol import CHOICE_SCORING_KEY

    counts: dict[str, int] = {}
    for sample in log.samples or []:
        for score in (sample.scores or {}).values():
            mode = (score.metadata or {}).get(CHOICE_SCORING_KEY)
            if mode is not None:
                counts[str(mode)] = counts.get(str(mode), 0) + 1
                break
    return counts
