"""Paired comparisons of two models on the same samples, for any Inspect metric.

Why: two models scored on the same samples must be compared *paired*.  An
unpaired comparison (two independent intervals, or a two-sample test) throws
away the correlation between the models' scores on one item and is far less
sensitive: lm-eval-harness's comparison script reported p = 0.080 unpaired
where the paired test gave p = 0.008 on the same data.  Here the samples of A
and B are matched by sample id, the common *clusters* (all samples of one item,
see :func:`~alignlab.analysis.cluster_key`) are resampled with replacement, and
the same resample is applied to both models before the metric is recomputed on
each side, so the interval of the difference keeps the pairing and keeps
cluster-level metrics (e.g. ``opinion_shift``) defined.

What was simplified:

- The interval is the plain percentile bootstrap (no BCa), as in
  :func:`~alignlab.analysis.metric_ci`; resampling is done by
  :func:`scipy.stats.bootstrap`.
- The p-value is the percentile-bootstrap p-value ``2 * min(share <= 0, share >= 0)``
  of the bootstrap distribution of the difference, floored at ``1 / (n + 1)``
  for ``n`` usable resamples: it is the smallest ``alpha`` at which the
  ``1 - alpha`` percentile interval just reaches 0, not a test that resamples
  under the null.
- Resamples on which the metric is undefined (NaN) on either side are dropped,
  which conditions the interval on the metric being defined; if more than
  :data:`MAX_UNDEFINED_SHARE` of them are undefined, the interval and p-value
  are NaN instead.
- McNemar (:func:`mcnemar_from_logs`) treats every sample as an independent
  pair.  When an item has several samples (clusters larger than one) its
  p-value is too small; prefer the cluster-bootstrap p-value there.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from alignlab._errors import AlignlabError
from alignlab.analysis._log_metrics import (
    CLUSTER_KEY_METADATA,
    DEFAULT_CLUSTER_KEY,
    cluster_key,
    logged_metrics,
    sample_scores,
)
from alignlab.analysis._metric_ci import _cluster_bootstrap
from alignlab.analysis._stats import McNemarResult, _check_options, mcnemar_exact

MAX_UNDEFINED_SHARE: Final = 0.1
"""Largest share of bootstrap resamples that may be undefined (NaN) before the interval is NaN."""

SPREAD_METRICS: Final = frozenset({"stderr", "bootstrap_stderr", "std", "var"})
"""Metrics that describe spread rather than a level; :func:`log_paired_differences` skips them."""


@dataclass(frozen=True)
class PairedDifference:
    """The difference of a metric between two models on the same samples (``a - b``)."""

    difference: float
    """Metric of A minus metric of B on the samples both were scored on (NaN if undefined)."""
    ci_low: float
    """Lower end of the paired cluster-bootstrap percentile interval (NaN if not computable)."""
    ci_high: float
    """Upper end of the interval."""
    p_value: float
    """Two-sided bootstrap p-value of "no difference" (see the module notes; NaN if no interval)."""
    n_pairs: int
    """Clusters (items) both models were scored on; the unit that is resampled."""
    confidence: float = 0.95
    """Confidence level of the interval."""
    n_resamples: int = 0
    """Bootstrap resamples used (those on which the metric was defined on both sides)."""

    def excludes_zero(self) -> bool:
        """Whether the interval lies entirely above or below 0 (False when it is NaN)."""
        return self.ci_low > 0 or self.ci_high < 0


def paired_metric_difference(
    metric: Callable[[list[Any]], Any],
    scores_a: Sequence[Any],
    scores_b: Sequence[Any],
    *,
    cluster: Callable[[Any], Hashable] | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedDifference:
    """A metric's difference ``a - b`` between two models, with a paired cluster bootstrap.

    Samples are matched by ``sample_id``; only samples that both models were
    scored on are used.  The common clusters are resampled with replacement and
    the *same* resample is applied to A and B; the metric is recomputed on each
    side and the difference taken.  Several scores with one sample id (epochs)
    all go with that sample's cluster.

    Args:
        metric: A function from a list of scores to a number (an Inspect ``Metric``).
        scores_a: Model A's per-sample scores (objects with ``sample_id``, e.g. Inspect
            ``SampleScore``; also whatever ``metric`` and ``cluster`` need).
        scores_b: Model B's per-sample scores on (some of) the same samples.
        cluster: Maps a score to its cluster key; by default
            :func:`~alignlab.analysis.cluster_key` (the sample metadata's ``item_id``,
            else the sample id).  Use ``lambda s: s.sample_id`` to resample samples.
        n_resamples: Bootstrap resamples.
        confidence: Confidence level of the interval, in (0, 1).
        seed: Seed of the resampling; the same seed gives the same result.

    Returns:
        The difference, its percentile interval and bootstrap p-value (NaN when
        there are fewer than two common clusters, the metric is undefined on all
        common samples, or more than :data:`MAX_UNDEFINED_SHARE` of the resamples
        are undefined), and the number of common clusters.

    Raises:
        AlignlabError: If the models share no sample, a sample's cluster differs
            between (or within) the two sides, the metric is not a number, or an
            option is out of range.
    """
    _check_options(confidence, n_resamples)
    key = cluster if cluster is not None else cluster_key
    groups = _common_clusters(scores_a, scores_b, key)
    value = _resampled_difference(metric, groups, range(len(groups)))
    if len(groups) < 2 or math.isnan(value):
        return PairedDifference(value, math.nan, math.nan, math.nan, len(groups), confidence, 0)

    def statistic(indices: NDArray[np.int64]) -> float:
        return _resampled_difference(metric, groups, indices)

    with warnings.catch_warnings():  # undefined resamples are handled below
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        result = _cluster_bootstrap(len(groups), statistic, n_resamples, confidence, seed)
    distribution = np.asarray(result.bootstrap_distribution, dtype=np.float64)
    low, high, p_value, used = _summarise(distribution, confidence)
    return PairedDifference(value, low, high, p_value, len(groups), confidence, used)


def log_paired_differences(
    log_a: Any,
    log_b: Any,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    where: Callable[[Any], bool] | None = None,
) -> dict[str, PairedDifference]:
    """Every metric both logs report, compared ``a - b`` on the samples both scored.

    Works from the logs alone (metrics are re-created through Inspect's registry,
    see :func:`~alignlab.analysis.logged_metrics`); scorer by scorer, each metric
    reported for the same scorer in both logs is compared with
    :func:`paired_metric_difference`, resampling the clusters named by the logs'
    cluster key.  Spread metrics (:data:`SPREAD_METRICS`) and metrics the registry
    cannot re-create are left out.

    Args:
        log_a: An Inspect ``EvalLog`` with samples (model A).
        log_b: An ``EvalLog`` of the same eval (model B).
        n_resamples: Bootstrap resamples per metric.
        confidence: Confidence level of the intervals.
        seed: Bootstrap seed (the same for every metric).
        where: Keep only the sample scores for which this is true (e.g. one
            surface format), in both logs.  None: every sample.

    Returns:
        ``{metric: difference}``, keyed by the metric's name; when two scorers
        report a metric of the same name, both are keyed ``"scorer/metric"``.

    Raises:
        AlignlabError: If a log has no samples, the logs name different cluster
            keys or define a metric differently, or they share no sample.
    """
    key = _shared_cluster_key(log_a, log_b)
    functions = logged_metrics(log_a)
    definitions_a, definitions_b = _metric_definitions(log_a), _metric_definitions(log_b)
    scores_b = {score.name: score for score in _results(log_b)}
    pairs: list[tuple[str, str]] = []
    for score in _results(log_a):
        if score.name not in scores_b:
            continue
        for name in score.metrics:
            if name in SPREAD_METRICS or name not in functions:
                continue
            if name not in scores_b[score.name].metrics:
                continue
            if definitions_a.get(name) != definitions_b.get(name):
                raise AlignlabError(
                    f"metric '{name}' is defined differently in the two logs: "
                    f"{definitions_a.get(name)} vs {definitions_b.get(name)}"
                )
            pairs.append((score.name, name))

    def cluster(score: Any) -> Hashable:
        return cluster_key(score, key)

    def kept(scores: list[Any]) -> list[Any]:
        return scores if where is None else [s for s in scores if where(s)]

    names = [name for _, name in pairs]
    out: dict[str, PairedDifference] = {}
    for scorer_name, name in pairs:
        label = name if names.count(name) == 1 else f"{scorer_name}/{name}"
        out[label] = paired_metric_difference(
            functions[name],
            kept(sample_scores(_with_samples(log_a), scorer_name)),
            kept(sample_scores(_with_samples(log_b), scorer_name)),
            cluster=cluster,
            n_resamples=n_resamples,
            confidence=confidence,
            seed=seed,
        )
    return out


def mcnemar_from_logs(log_a: Any, log_b: Any, scorer: str | None = None) -> McNemarResult | None:
    """Exact McNemar test on a scorer's per-sample pass/fail outcome in two logs.

    The outcome is the scorer's value: 1 when the answer was the target, 0 when
    not.  Samples are matched by sample id and epoch; only samples both logs
    scored count.  Every sample is treated as an independent pair, so with
    several samples per item the p-value is too small (use the cluster-bootstrap
    p-value of :func:`log_paired_differences` there).

    Args:
        log_a: An Inspect ``EvalLog`` with samples (model A; ``only_a`` counts its wins).
        log_b: An ``EvalLog`` of the same eval (model B).
        scorer: Scorer name; by default the first scorer of ``log_a`` that ``log_b`` also has.

    Returns:
        The McNemar result, or None when the scorer's values are not all 0/1
        (or no scorer is shared).

    Raises:
        AlignlabError: If a log has no samples or the logs share no scored sample.
    """
    outcomes_a, outcomes_b = _outcomes(log_a), _outcomes(log_b)
    if scorer is None:
        shared = [s.name for s in _results(log_a) if s.name in {t.name for t in _results(log_b)}]
        if not shared:
            return None
        scorer = shared[0]
    a = outcomes_a.get(scorer, {})
    b = outcomes_b.get(scorer, {})
    common = [k for k in a if k in b]
    if not common:
        raise AlignlabError(f"the two logs share no sample scored by '{scorer}'")
    values_a = [a[k] for k in common]
    values_b = [b[k] for k in common]
    if not all(_is_binary(v) for v in values_a + values_b):
        return None
    return mcnemar_exact([bool(v) for v in values_a], [bool(v) for v in values_b])


def _common_clusters(
    scores_a: Sequence[Any], scores_b: Sequence[Any], key: Callable[[Any], Hashable]
) -> list[tuple[list[Any], list[Any]]]:
    """The clusters of the samples both sides scored, each as (A's scores, B's scores)."""
    common = {s.sample_id for s in scores_a} & {s.sample_id for s in scores_b}
    if not common:
        raise AlignlabError("the two score lists share no sample id")
    groups: dict[Hashable, tuple[list[Any], list[Any]]] = {}
    cluster_of: dict[Hashable, Hashable] = {}
    for side, scores in enumerate((scores_a, scores_b)):
        for score in scores:
            if score.sample_id not in common:
                continue
            group = key(score)
            seen = cluster_of.setdefault(score.sample_id, group)
            if seen != group:
                raise AlignlabError(
                    f"sample {score.sample_id!r} is in cluster {seen!r} and in cluster {group!r}"
                )
            groups.setdefault(group, ([], []))[side].append(score)
    return list(groups.values())


def _resampled_difference(
    metric: Callable[[list[Any]], Any],
    groups: list[tuple[list[Any], list[Any]]],
    indices: Iterable[Any],
) -> float:
    """Metric of A minus metric of B on the clusters ``indices`` (with repeats)."""
    chosen = [groups[int(i)] for i in indices]
    a = [s for scores, _ in chosen for s in scores]
    b = [s for _, scores in chosen for s in scores]
    return _as_number(metric(a)) - _as_number(metric(b))


def _as_number(value: Any) -> float:
    if not isinstance(value, int | float | np.number):
        raise AlignlabError(f"a paired difference needs a numeric metric, got {value!r}")
    number = float(value)
    return number if math.isfinite(number) else math.nan


def _summarise(
    distribution: NDArray[np.float64], confidence: float
) -> tuple[float, float, float, int]:
    """Percentile interval, bootstrap p-value and resamples used, from a bootstrap distribution."""
    defined = distribution[np.isfinite(distribution)]
    if len(defined) == 0 or 1 - len(defined) / len(distribution) > MAX_UNDEFINED_SHARE:
        return math.nan, math.nan, math.nan, len(defined)
    alpha = 1 - confidence
    low, high = np.percentile(defined, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    two_sided = 2 * min(float(np.mean(defined <= 0)), float(np.mean(defined >= 0)))
    p_value = min(1.0, max(two_sided, 1 / (len(defined) + 1)))
    return float(low), float(high), p_value, len(defined)


def _results(log: Any) -> list[Any]:
    return list(log.results.scores) if log.results is not None else []


def _with_samples(log: Any) -> Any:
    if not log.samples:
        raise AlignlabError(
            f"log {getattr(log, 'location', '')!r} has no samples (read without header_only?)"
        )
    return log


def _shared_cluster_key(log_a: Any, log_b: Any) -> str:
    keys = [
        str((log.eval.metadata or {}).get(CLUSTER_KEY_METADATA, DEFAULT_CLUSTER_KEY))
        for log in (log_a, log_b)
    ]
    if keys[0] != keys[1]:
        raise AlignlabError(f"the logs resample different clusters: '{keys[0]}' vs '{keys[1]}'")
    return keys[0]


def _metric_definitions(log: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """``{short_name: (registry name, options)}`` of the metrics the log's scorers declared."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for scorer in log.eval.scorers or []:
        for definition in scorer.metrics or []:
            if hasattr(definition, "name"):
                out[definition.name.split("/")[-1]] = (definition.name, definition.options or {})
    return out


def _outcomes(log: Any) -> dict[str, dict[tuple[Any, int], Any]]:
    """``{scorer: {(sample id, epoch): value}}`` of a log with samples."""
    out: dict[str, dict[tuple[Any, int], Any]] = {}
    for sample in _with_samples(log).samples:
        for name, score in (sample.scores or {}).items():
            out.setdefault(name, {})[(sample.id, sample.epoch)] = score.value
    return out


def _is_binary(value: Any) -> bool:
    return isinstance(value, bool | int | float) and value in (0, 1)
