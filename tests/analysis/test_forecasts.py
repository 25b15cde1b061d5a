"""Resolution rules and forecast scores against hand computation."""

from __future__ import annotations

import math

import pytest

from alignlab import AlignlabError
from alignlab.analysis import (
    CROWD,
    Forecast,
    baseline_score,
    brier_score,
    calibration_table,
    log_score,
    resolve_interval,
    resolve_threshold,
    score_forecasts,
)

NAN = math.nan


@pytest.mark.parametrize(
    ("low", "high", "threshold", "side", "outcome"),
    [
        (0.15, 0.30, 0.1, "above", "hit"),
        (-0.05, 0.08, 0.1, "above", "miss"),
        (-0.05, 0.10, 0.1, "above", "miss"),  # none of it above 0.1
        (0.05, 0.20, 0.1, "above", "unresolved"),  # straddles the threshold
        (0.10, 0.20, 0.1, "above", "unresolved"),  # touches it: not wholly above
        (0.0, 0.0, 0.0, "above", "miss"),  # "moves up" needs more than no change
        (-0.30, -0.15, -0.1, "below", "hit"),
        (-0.08, 0.05, -0.1, "below", "miss"),
        (-0.20, -0.05, -0.1, "below", "unresolved"),
        (NAN, 0.2, 0.1, "above", "no_data"),
    ],
)
def test_threshold_resolution(
    low: float, high: float, threshold: float, side: str, outcome: str
) -> None:
    assert resolve_threshold(low, high, threshold, side) == outcome  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("low", "high", "outcome"),
    [
        (0.3, 0.5, "hit"),
        (0.2, 0.6, "hit"),  # the ends may touch
        (0.65, 0.9, "miss"),
        (0.0, 0.1, "miss"),
        (0.5, 0.8, "unresolved"),
        (0.1, 0.9, "unresolved"),  # wider than the claimed range
        (NAN, NAN, "no_data"),
    ],
)
def test_interval_resolution(low: float, high: float, outcome: str) -> None:
    assert resolve_interval(low, high, 0.2, 0.6) == outcome


def test_single_scores_by_hand() -> None:
    assert log_score(0.7, True) == pytest.approx(math.log(0.7))
    assert log_score(0.7, False) == pytest.approx(math.log(0.3))
    assert baseline_score(0.7, True) == pytest.approx(math.log(1.4))
    assert baseline_score(0.5, False) == pytest.approx(0.0)
    assert baseline_score(0.9, False) == pytest.approx(math.log(0.1) - math.log(0.5))
    assert brier_score(0.7, True) == pytest.approx(0.09)
    assert brier_score(0.7, False) == pytest.approx(0.49)
    for bad in (0.0, 1.0, -0.2, 1.5):
        with pytest.raises(AlignlabError, match="strictly between 0 and 1"):
            log_score(bad, True)


def _forecasts() -> list[Forecast]:
    return [
        # question q1 resolved miss: alice 0.7, bob 0.1
        Forecast("a1", "q1", "alice", "targeted", 0.7, "miss"),
        Forecast("b1", "q1", "bob", "inertia", 0.1, "miss"),
        # question q2 resolved hit: alice 0.6, bob 0.3
        Forecast("a2", "q2", "alice", "targeted", 0.6, "hit"),
        Forecast("b2", "q2", "bob", "inertia", 0.3, "hit"),
        # q3: only bob, a hit: no peer score
        Forecast("b3", "q3", "bob", "inertia", 0.8, "hit"),
        # unresolved and post-hoc: listed, never scored
        Forecast("a4", "q4", "alice", "targeted", 0.9, "unresolved"),
        Forecast("c1", "q1", "carol", "targeted", 0.01, "miss", post_hoc=True),
    ]


def test_scores_peer_and_crowd_by_hand() -> None:
    scores = score_forecasts(_forecasts(), {"targeted": ("a", "b", "c"), "inertia": ("d",)})
    table = scores.forecasts.set_index("id")
    ln = math.log
    assert table.loc["a1", "log_score"] == pytest.approx(ln(0.3))
    assert table.loc["b1", "log_score"] == pytest.approx(ln(0.9))
    assert table.loc["a1", "baseline_score"] == pytest.approx(ln(0.3) - ln(0.5))
    assert table.loc["a1", "brier_score"] == pytest.approx(0.49)
    assert table.loc["b2", "brier_score"] == pytest.approx(0.49)
    # peer: own log score minus the mean of every forecast on the question
    q1_mean = (ln(0.3) + ln(0.9)) / 2
    assert table.loc["a1", "peer_score"] == pytest.approx(ln(0.3) - q1_mean)
    assert table.loc["b1", "peer_score"] == pytest.approx(ln(0.9) - q1_mean)
    assert table.loc["a1", "peer_score"] + table.loc["b1", "peer_score"] == pytest.approx(0.0)
    q2_mean = (ln(0.6) + ln(0.3)) / 2
    assert table.loc["a2", "peer_score"] == pytest.approx(ln(0.6) - q2_mean)
    assert math.isnan(table.loc["b3", "peer_score"])  # one author
    assert table.loc["b3", "log_score"] == pytest.approx(ln(0.8))
    for unscored in ("a4", "c1"):
        assert table.loc[unscored, ["log_score", "peer_score", "brier_score"]].isna().all()
    # the crowd: the mean probability on each question, scored like an author
    crowd = scores.crowd.set_index("question")
    assert list(crowd.index) == ["q1", "q2", "q3"]
    assert crowd.loc["q1", "probability"] == pytest.approx(0.4)  # post-hoc carol left out
    assert crowd.loc["q1", "log_score"] == pytest.approx(ln(0.6))
    assert crowd.loc["q1", "peer_score"] == pytest.approx(ln(0.6) - q1_mean)
    assert crowd.loc["q2", "brier_score"] == pytest.approx((0.45 - 1) ** 2)
    assert math.isnan(crowd.loc["q3", "peer_score"])
    # authors ranked by mean peer score, the crowd last
    authors = scores.authors.set_index("author")
    assert list(scores.authors["author"]) == ["bob", "alice", "carol", CROWD]
    assert authors.loc["bob", "mean_peer_score"] == pytest.approx(
        ((ln(0.9) - q1_mean) + (ln(0.3) - q2_mean)) / 2
    )
    assert authors.loc["bob", "n_scored"] == 3 and authors.loc["bob", "n_peer"] == 2
    assert authors.loc["bob", "mean_log_score"] == pytest.approx((ln(0.9) + ln(0.3) + ln(0.8)) / 3)
    assert authors.loc["carol", "n_scored"] == 0
    # theories ranked by mean log score per scored forecast, with their assumptions
    theories = scores.theories.set_index("theory")
    assert list(scores.theories["theory"]) == ["inertia", "targeted"]
    assert theories.loc["targeted", "n_assumptions"] == 3
    assert theories.loc["inertia", "n_assumptions"] == 1
    assert theories.loc["targeted", "n_predictions"] == 4
    assert theories.loc["targeted", "n_post_hoc"] == 1
    assert theories.loc["targeted", "n_scored"] == 2
    mean = (ln(0.3) + ln(0.6)) / 2
    assert theories.loc["targeted", "mean_log_score"] == pytest.approx(mean)
    low, high = theories.loc["targeted", ["ci_low", "ci_high"]]
    assert low <= mean <= high
    assert ln(0.3) <= low and high <= ln(0.6)


def test_theory_interval_needs_two_forecasts_and_theories_without_any_are_listed() -> None:
    scores = score_forecasts(
        [Forecast("x", "q", "alice", "lone", 0.8, "hit")], {"lone": (), "silent": ("s1", "s2")}
    )
    theories = scores.theories.set_index("theory")
    assert theories.loc["lone", "mean_log_score"] == pytest.approx(math.log(0.8))
    assert math.isnan(theories.loc["lone", "ci_low"])
    assert theories.loc["silent", "n_scored"] == 0
    assert math.isnan(theories.loc["silent", "mean_log_score"])
    assert list(scores.theories["theory"]) == ["lone", "silent"]
    assert scores.authors["author"].tolist() == ["alice", CROWD]


def test_calibration_table() -> None:
    table = calibration_table([0.1, 0.15, 0.5, 0.9, 1.0 - 1e-9], [False, True, True, True, True])
    assert table["n"].tolist() == [2, 0, 1, 0, 2]
    assert table.loc[0, "mean_probability"] == pytest.approx(0.125)
    assert table.loc[0, "hit_rate"] == pytest.approx(0.5)
    assert math.isnan(table.loc[1, "hit_rate"])
    assert table.loc[4, "hit_rate"] == pytest.approx(1.0)
    assert score_forecasts(_forecasts()).calibration["n"].sum() == 5  # scored forecasts only


def test_empty_and_bad_input() -> None:
    scores = score_forecasts([])
    assert scores.forecasts.empty and scores.crowd.empty and scores.theories.empty
    with pytest.raises(AlignlabError, match="strictly between 0 and 1"):
        score_forecasts([Forecast("x", "q", "a", "t", 1.0, "hit")])
