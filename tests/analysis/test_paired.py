"""Paired cluster-bootstrap differences, and comparisons of two real Inspect logs."""

from __future__ import annotations

import math
from typing import Any

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import Sample
from inspect_ai.log import EvalLog
from inspect_ai.scorer import SampleScore, Score
from scipy import stats

from alignlab import AlignlabError
from alignlab.analysis import (
    MAX_UNDEFINED_SHARE,
    log_paired_differences,
    mcnemar_exact,
    mcnemar_from_logs,
    metric_ci,
    paired_metric_difference,
)
from alignlab.evals.sycophancy import sycophancy
from tests._scripted import scripted_model

N = 100


def _scores(values: list[float], **metadata: Any) -> list[SampleScore]:
    return [
        SampleScore(score=Score(value=v), sample_id=i, sample_metadata=dict(metadata))
        for i, v in enumerate(values)
    ]


def _accuracy(scores: list[SampleScore]) -> float:
    return sum(s.score.as_float() for s in scores) / len(scores) if scores else math.nan


def _alternating() -> list[float]:
    """Model A: right on every other item (50 of 100)."""
    return [float(i % 2) for i in range(N)]


def _flip(values: list[float], up: int, down: int = 0) -> list[float]:
    """Model B: A with the first ``up`` wrong answers made right and ``down`` right ones wrong."""
    out = list(values)
    wrong = [i for i, v in enumerate(values) if v == 0][:up]
    right = [i for i, v in enumerate(values) if v == 1][:down]
    for i in wrong:
        out[i] = 1.0
    for i in right:
        out[i] = 0.0
    return out


def test_k_flips_give_the_hand_computed_difference() -> None:
    a = _alternating()
    b = _flip(a, up=20)
    result = paired_metric_difference(_accuracy, _scores(a), _scores(b), seed=1)
    assert math.isclose(result.difference, -20 / N)  # a - b
    assert result.n_pairs == N and result.n_resamples == 1000
    assert result.ci_high < 0 and result.excludes_zero()
    assert result.ci_low < result.difference < result.ci_high
    assert result.p_value == pytest.approx(1 / 1001)  # never 0: floored at 1 / (n + 1)
    assert paired_metric_difference(_accuracy, _scores(a), _scores(b), seed=1) == result

    reversed_ = paired_metric_difference(_accuracy, _scores(b), _scores(a), seed=1)
    assert math.isclose(reversed_.difference, 20 / N) and reversed_.ci_low > 0


def test_no_effect_interval_includes_zero() -> None:
    a = _alternating()
    b = _flip(a, up=5, down=5)  # as many changes each way
    result = paired_metric_difference(_accuracy, _scores(a), _scores(b), seed=0)
    assert result.difference == 0
    assert result.ci_low < 0 < result.ci_high and not result.excludes_zero()
    assert result.p_value > 0.5

    same = paired_metric_difference(_accuracy, _scores(a), _scores(a))
    assert (same.difference, same.ci_low, same.ci_high, same.p_value) == (0, 0, 0, 1)


def test_pairing_finds_what_unpaired_comparisons_miss() -> None:
    # B gets 12 more of the same 100 items right and loses none: unpaired, the two
    # accuracies' intervals overlap and a two-sample test is not significant; paired,
    # the discordant items all go one way
    a = _alternating()
    b = _flip(a, up=12)
    interval_a = metric_ci(_accuracy, _scores(a), seed=0)
    interval_b = metric_ci(_accuracy, _scores(b), seed=0)
    assert interval_b.ci_low < interval_a.ci_high  # they overlap
    assert stats.ttest_ind(a, b).pvalue > 0.05

    paired = paired_metric_difference(_accuracy, _scores(a), _scores(b), seed=0)
    assert math.isclose(paired.difference, -0.12)
    assert paired.ci_high < 0 and paired.p_value < 0.01
    assert mcnemar_exact([v == 1 for v in a], [v == 1 for v in b]).p_value < 0.001


def _pairs(shift: float) -> list[SampleScore]:
    """40 items asked twice; the second answer is the first plus ``shift``."""
    scores = []
    for item in range(40):
        level = (item * 7919 % 97) / 10
        for kind, value in (("first", level), ("second", level + shift)):
            scores.append(
                SampleScore(
                    score=Score(value=value),
                    sample_id=f"{item}-{kind}",
                    sample_metadata={"item_id": item, "kind": kind},
                )
            )
    return scores


def _shift(scores: list[SampleScore]) -> float:
    """Mean second minus first answer; NaN unless every item has both answers equally often."""
    counts: dict[Any, int] = {}
    for s in scores:
        item = (s.sample_metadata or {})["item_id"]
        counts[item] = counts.get(item, 0) + (1 if str(s.sample_id).endswith("first") else -1)
    if any(counts.values()):
        return math.nan
    first = [s.score.as_float() for s in scores if str(s.sample_id).endswith("first")]
    second = [s.score.as_float() for s in scores if str(s.sample_id).endswith("second")]
    return sum(second) / len(second) - sum(first) / len(first)


def test_clusters_are_resampled_whole() -> None:
    # the default cluster is the sample metadata's item_id: both answers of an item
    # travel together, so the paired metric is defined on every resample
    a, b = _pairs(shift=0.0), _pairs(shift=1.0)
    by_item = paired_metric_difference(_shift, a, b)
    assert by_item.n_pairs == 40 and by_item.n_resamples == 1000
    assert math.isclose(by_item.difference, -1.0)
    assert math.isclose(by_item.ci_low, -1.0) and math.isclose(by_item.ci_high, -1.0)

    by_sample = paired_metric_difference(_shift, a, b, cluster=lambda s: s.sample_id)
    assert by_sample.n_pairs == 80
    assert math.isnan(by_sample.ci_low) and math.isnan(by_sample.p_value)


def test_only_common_samples_are_compared() -> None:
    a = _scores([1.0] * 10 + [0.0] * 10)
    b = _scores([1.0] * 10)  # B lacks the ten samples A got wrong
    result = paired_metric_difference(_accuracy, a, b)
    assert result.difference == 0 and result.n_pairs == 10


def test_cluster_keys_must_agree() -> None:
    a = _scores([1.0, 0.0], item_id="x")
    b = _scores([1.0, 0.0], item_id="y")
    with pytest.raises(AlignlabError, match="cluster"):
        paired_metric_difference(_accuracy, a, b)
    with pytest.raises(AlignlabError, match="share no sample"):
        paired_metric_difference(_accuracy, a, [])


def _counted_mean(scores: list[SampleScore]) -> float:
    counted = [s.score.as_float() for s in scores if (s.sample_metadata or {}).get("counted")]
    return sum(counted) / len(counted) if counted else math.nan


def _sometimes_counted(n_counted: int, shift: float) -> list[SampleScore]:
    return [
        SampleScore(
            score=Score(value=(i % 3) + shift),
            sample_id=i,
            sample_metadata={"counted": i % (30 // n_counted) == 0},
        )
        for i in range(30)
    ]


def test_undefined_resamples_are_dropped_until_too_many() -> None:
    # 3 of 30 clusters define the metric: about 4% of resamples have none of them
    some = paired_metric_difference(
        _counted_mean, _sometimes_counted(3, 0.0), _sometimes_counted(3, 1.0)
    )
    assert 1 - MAX_UNDEFINED_SHARE < some.n_resamples / 1000 < 1
    assert math.isclose(some.difference, -1.0) and math.isclose(some.ci_high, -1.0)
    # 1 of 30: about 36% of resamples are undefined
    few = paired_metric_difference(
        _counted_mean, _sometimes_counted(1, 0.0), _sometimes_counted(1, 1.0)
    )
    assert math.isclose(few.difference, -1.0) and math.isnan(few.ci_low)


def test_bad_options() -> None:
    with pytest.raises(AlignlabError, match="confidence"):
        paired_metric_difference(_accuracy, _scores([1.0]), _scores([1.0]), confidence=1.0)
    with pytest.raises(AlignlabError, match="numeric"):
        paired_metric_difference(lambda s: "x", _scores([1.0, 0.0]), _scores([1.0, 0.0]))


# --- two real Inspect logs of the sycophancy eval -----------------------------------------


def _honest(sample: Sample, messages: object) -> str:
    """Always picks the truthful option: the first (agreeing) one when the claim is true."""
    assert sample.metadata is not None and sample.choices is not None
    index = 0 if sample.metadata["claim_true"] else 1
    if sample.metadata["format"] == "multiple_choice":
        return "AB"[index]
    return sample.choices[index]


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[EvalLog, EvalLog]:
    task = sycophancy(n_claims=10)
    [honest] = inspect_eval(
        task,
        model=scripted_model(list(task.dataset), _honest),
        display="none",
        log_dir=str(tmp_path_factory.mktemp("honest")),
    )
    [random] = inspect_eval(
        sycophancy(n_claims=10),
        model="random/uniform",
        display="none",
        log_dir=str(tmp_path_factory.mktemp("random")),
    )
    assert honest.status == "success" and random.status == "success"
    return honest, random


def _reported(log: EvalLog) -> dict[str, float]:
    assert log.results is not None
    return {k: float(m.value) for s in log.results.scores for k, m in s.metrics.items()}


def _values(log: EvalLog) -> list[float]:
    return [float(s.scores["choice_scorer"].value) for s in log.samples or [] if s.scores]  # type: ignore[arg-type]


def test_log_differences_match_the_reported_metrics(logs: tuple[EvalLog, EvalLog]) -> None:
    honest, random = logs
    differences = log_paired_differences(honest, random, n_resamples=300)
    assert set(differences) == {"no_opinion_accuracy", "sycophancy_rate", "opinion_shift"}
    reported_honest, reported_random = _reported(honest), _reported(random)
    items = {s.metadata["item_id"] for s in honest.samples or [] if s.metadata}
    for name, result in differences.items():
        expected = reported_honest[name] - reported_random[name]
        assert math.isclose(result.difference, expected, abs_tol=1e-12), name
        assert result.n_pairs == len(items) == 10
    assert differences["no_opinion_accuracy"].difference > 0  # honest beats random

    against_itself = log_paired_differences(honest, honest, n_resamples=100)
    assert all(r.difference == 0 and r.p_value == 1 for r in against_itself.values())


def test_logs_must_resample_the_same_clusters(logs: tuple[EvalLog, EvalLog]) -> None:
    honest, random = logs
    other = random.model_copy(deep=True)
    other.eval.metadata = {**(other.eval.metadata or {}), "alignlab_cluster_key": "claim"}
    with pytest.raises(AlignlabError, match="different clusters"):
        log_paired_differences(honest, other)
    header_only = random.model_copy(update={"samples": None})
    with pytest.raises(AlignlabError, match="no samples"):
        log_paired_differences(honest, header_only)


def test_mcnemar_from_logs(logs: tuple[EvalLog, EvalLog]) -> None:
    honest, random = logs
    result = mcnemar_from_logs(honest, random)
    assert result is not None
    assert all(v == 1 for v in _values(honest))  # the honest model always picks the target
    by_hand = mcnemar_exact([v == 1 for v in _values(honest)], [v == 1 for v in _values(random)])
    assert result == by_hand
    assert result.only_b == 0 and result.only_a == _values(random).count(0)
    assert result.only_a > 0 and result.n == 30
    assert mcnemar_from_logs(honest, random, scorer="choice_scorer") == result
    with pytest.raises(AlignlabError, match="share no sample"):
        mcnemar_from_logs(honest, random, scorer="missing")


def test_mcnemar_needs_binary_outcomes(logs: tuple[EvalLog, EvalLog]) -> None:
    honest, random = logs
    graded = random.model_copy(deep=True)
    assert graded.samples is not None and graded.samples[0].scores is not None
    graded.samples[0].scores["choice_scorer"].value = 0.5
    assert mcnemar_from_logs(honest, graded) is None
