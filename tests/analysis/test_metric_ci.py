import math
import random

from alignlab.analysis import metric_ci


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else math.nan


def test_mean_metric_value_and_interval() -> None:
    rng = random.Random(0)
    values = [float(rng.random() < 0.3) for _ in range(300)]
    estimate = metric_ci(_mean, values, seed=1)
    assert estimate.value == _mean(values)
    assert estimate.ci_low < estimate.value < estimate.ci_high
    assert estimate.ci_high - estimate.ci_low < 0.15
    assert metric_ci(_mean, values, seed=1) == estimate


def test_clusters_keep_pairs_together() -> None:
    # each item is asked twice; the second answer always differs from the first by +1,
    # while item levels vary a lot: a paired metric is exactly 1 in every cluster resample
    rng = random.Random(0)
    scores: list[tuple[int, str, float]] = []
    for item in range(40):
        level = rng.random() * 10
        scores += [(item, "first", level), (item, "second", level + 1)]

    def shift(batch: list[tuple[int, str, float]]) -> float:
        first = [v for _, kind, v in batch if kind == "first"]
        second = [v for _, kind, v in batch if kind == "second"]
        return _mean(second) - _mean(first)

    clustered = metric_ci(shift, scores, cluster=lambda s: s[0])
    unclustered = metric_ci(shift, scores)
    assert math.isclose(clustered.value, 1.0)
    assert math.isclose(clustered.ci_low, 1.0) and math.isclose(clustered.ci_high, 1.0)
    assert unclustered.ci_high - unclustered.ci_low > 0.5


def test_single_cluster_has_no_interval() -> None:
    estimate = metric_ci(_mean, [1.0, 0.0], cluster=lambda s: "all")
    assert estimate.value == 0.5 and math.isnan(estimate.ci_low)
