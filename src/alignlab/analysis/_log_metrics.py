"""Every metric of an Inspect eval log, with a cluster-bootstrap confidence interval.

Shared by ``alignlab eval`` (the results table) and the benchmarks, so the
numbers a user sees and the numbers we record are computed one way.  Samples
that belong together (one claim under several opinions, the stated and
revealed form of one situation) carry the same ``item_id`` in their metadata
and are resampled together.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from alignlab.analysis._metric_ci import metric_ci
from alignlab.analysis._stats import Estimate, bootstrap_ci


def cluster_key(score: Any) -> Hashable:
    """The resampling cluster of a sample score: its ``item_id``, else its sample id."""
    metadata = score.sample_metadata or {}
    key: Hashable = metadata.get("item_id", score.sample_id)
    return key


def metric_functions(task: Any) -> dict[str, Any]:
    """Task-level metric callables by short name."""
    from inspect_ai.util import registry_info

    functions: dict[str, Any] = {}
    for metric_fn in getattr(task, "metrics", None) or []:
        if callable(metric_fn):
            functions[registry_info(metric_fn).name.split("/")[-1]] = metric_fn
    return functions


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


def log_metric_estimates(log: Any, task: Any, seed: int = 0) -> dict[str, tuple[Estimate, int]]:
    """Each reported metric of ``log`` with its 95% interval and the number of samples.

    Args:
        log: An Inspect ``EvalLog`` with samples.
        task: The ``Task`` that produced it (its metric functions are re-run on resamples).
        seed: Bootstrap seed.

    Returns:
        ``{metric: (estimate, n_samples)}``; metrics that cannot be resampled (e.g.
        ``stderr``) get NaN bounds.
    """
    import math

    functions = metric_functions(task)
    out: dict[str, tuple[Estimate, int]] = {}
    for score in log.results.scores if log.results is not None else []:
        scores = sample_scores(log, score.name)
        for name, reported in score.metrics.items():
            if name in functions and scores:
                estimate = metric_ci(functions[name], scores, cluster=cluster_key, seed=seed)
            elif name == "accuracy" and len(scores) > 1:
                estimate = bootstrap_ci([s.score.as_float() for s in scores], seed=seed)
            else:
                estimate = Estimate(float(reported.value), math.nan, math.nan, 0.95, len(scores))
            out[name] = (estimate, len(scores))
    return out
