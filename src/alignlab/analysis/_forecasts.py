"""Scoring forecasts: resolve predictions against measured intervals, then score and rank them.

Why: a theory of alignment earns trust by predicting results before they are
measured.  This module turns registered predictions (each a probability that a
claim holds) and the measured intervals into hits and misses, scores every
forecast with proper scoring rules, and ranks authors and theories.  It is
pure: the ledger and the results store live in :mod:`alignlab.experiment`.

Resolution rules (every measurement is a 95% interval ``[low, high]``):

- **Threshold claims** ("the true value is above ``t``", or below it), used by
  directional and pairwise predictions: **hit** when the whole interval lies on
  the claimed side (``low > t`` for above, ``high < t`` for below), **miss**
  when none of it does (``high <= t``, resp. ``low >= t``), **unresolved**
  when ``t`` lies inside the interval: the measurement cannot tell.
- **Interval claims** ("the value lands in ``[a, b]``"): **hit** when the
  measured interval lies inside ``[a, b]``, **miss** when the two do not
  overlap, **unresolved** when they partly overlap.
- **no data** when there is no measurement (a cell not done, a NaN interval).

Only hits and misses are scored.

Scores (natural logarithms, not rescaled; higher is better for all but Brier):

- log score: ``ln p`` on a hit, ``ln(1 - p)`` on a miss;
- baseline score: log score minus ``ln 0.5`` (better than a coin flip when > 0).
  Metaculus's binary baseline score is ``100 * log2(p / 0.5)``, i.e. ours
  times ``100 / ln 2``;
- peer score: log score minus the mean log score of every forecast on the
  same question (so a question's peer scores sum to zero); undefined when
  fewer than two authors forecast the question.  Metaculus compares with the
  *other* forecasters and multiplies by 100: theirs is ours times
  ``100 * N / (N - 1)`` for ``N`` forecasts;
- Brier score: ``(p - outcome)^2`` with outcome 1 on a hit, 0 on a miss
  (lower is better);
- the **crowd**: the mean probability of every forecast on a question, scored
  like an author.

Post-hoc predictions (registered after a cell they name started) are listed
and never scored.  Theories are ranked by mean log score per resolved forecast
with a percentile-bootstrap 95% interval (forecasts resampled; none with fewer
than two), shown with their number of assumptions; authors by mean peer score.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import pandas as pd

from alignlab._errors import AlignlabError

Outcome = Literal["hit", "miss", "unresolved", "no_data"]
"""How a prediction resolved (see the module docstring for the rules)."""
OUTCOMES: Final[tuple[Outcome, ...]] = ("hit", "miss", "unresolved", "no_data")
Side = Literal["above", "below"]
"""Which side of a threshold a claim puts the true value on."""
CROWD: Final = "crowd"
"""The author name of the crowd forecaster (the mean probability of all forecasts)."""
CALIBRATION_BINS: Final = 5
"""Equal-width probability bins of the calibration table."""
FORECAST_COLUMNS: Final = (
    "id",
    "question",
    "author",
    "theory",
    "probability",
    "post_hoc",
    "outcome",
    "log_score",
    "baseline_score",
    "peer_score",
    "brier_score",
)
"""Columns of :attr:`ForecastScores.forecasts`."""
CROWD_COLUMNS: Final = (
    "question",
    "probability",
    "n_forecasts",
    "outcome",
    "log_score",
    "baseline_score",
    "peer_score",
    "brier_score",
)
"""Columns of :attr:`ForecastScores.crowd`."""
CALIBRATION_COLUMNS: Final = ("bin", "low", "high", "n", "mean_probability", "hit_rate")
"""Columns of :attr:`ForecastScores.calibration`."""
THEORY_COLUMNS: Final = (
    "theory",
    "n_assumptions",
    "assumptions",
    "n_predictions",
    "n_post_hoc",
    "n_scored",
    "mean_log_score",
    "ci_low",
    "ci_high",
    "mean_brier_score",
)
"""Columns of :attr:`ForecastScores.theories`."""
AUTHOR_COLUMNS: Final = (
    "author",
    "n_scored",
    "n_peer",
    "mean_peer_score",
    "mean_log_score",
    "mean_baseline_score",
    "mean_brier_score",
)
"""Columns of :attr:`ForecastScores.authors`."""
LN_HALF: Final = math.log(0.5)


def resolve_threshold(ci_low: float, ci_high: float, threshold: float, side: Side) -> Outcome:
    """Resolve "the true value is above (or below) ``threshold``" against a measured interval.

    Args:
        ci_low: Lower end of the measured interval.
        ci_high: Upper end.
        threshold: The claimed bound.
        side: ``above`` or ``below``.

    Returns:
        ``hit`` when the whole interval is on the claimed side (strictly),
        ``miss`` when none of it is, ``unresolved`` when the threshold lies
        inside it, ``no_data`` when an end is NaN.
    """
    if math.isnan(ci_low) or math.isnan(ci_high):
        return "no_data"
    if side == "above":
        return "hit" if ci_low > threshold else "miss" if ci_high <= threshold else "unresolved"
    return "hit" if ci_high < threshold else "miss" if ci_low >= threshold else "unresolved"


def resolve_interval(ci_low: float, ci_high: float, low: float, high: float) -> Outcome:
    """Resolve "the value lands in ``[low, high]``" against a measured interval.

    Returns:
        ``hit`` when ``[ci_low, ci_high]`` lies inside ``[low, high]``, ``miss``
        when the two do not overlap, ``unresolved`` when they partly overlap,
        ``no_data`` when an end is NaN.
    """
    if math.isnan(ci_low) or math.isnan(ci_high):
        return "no_data"
    if low <= ci_low and ci_high <= high:
        return "hit"
    if ci_high < low or ci_low > high:
        return "miss"
    return "unresolved"


def _check_probability(probability: float) -> None:
    if not 0.0 < probability < 1.0:
        raise AlignlabError(f"a probability must lie strictly between 0 and 1, got {probability}")


def log_score(probability: float, hit: bool) -> float:
    """``ln p`` on a hit, ``ln(1 - p)`` on a miss (natural log; 0 is perfect).

    Raises:
        AlignlabError: If ``probability`` is not in (0, 1).
    """
    _check_probability(probability)
    return math.log(probability if hit else 1.0 - probability)


def baseline_score(probability: float, hit: bool) -> float:
    """Log score minus the log score of p = 0.5 (``ln 0.5``): positive beats a coin flip."""
    return log_score(probability, hit) - LN_HALF


def brier_score(probability: float, hit: bool) -> float:
    """``(p - outcome)^2``, outcome 1 on a hit and 0 on a miss (0 is perfect)."""
    _check_probability(probability)
    return (probability - (1.0 if hit else 0.0)) ** 2


@dataclass(frozen=True)
class Forecast:
    """One author's probability that one prediction holds, with how it resolved."""

    id: str
    """The prediction's id."""
    question: str
    """What is predicted, independent of who predicts it: forecasts of the same
    question are compared with each other (peer score, crowd)."""
    author: str
    """Who registered it."""
    theory: str
    """The theory it belongs to."""
    probability: float
    """Probability that the claim holds, in (0, 1)."""
    outcome: Outcome
    """How it resolved."""
    post_hoc: bool = False
    """Registered after a cell it names started: listed, never scored."""


@dataclass(frozen=True)
class ForecastScores:
    """Every score of a set of forecasts (frames with the ``*_COLUMNS`` columns)."""

    forecasts: pd.DataFrame
    """One row per forecast, in the order given; scores NaN unless scored."""
    crowd: pd.DataFrame
    """One row per question with a scored forecast: the crowd forecaster."""
    calibration: pd.DataFrame
    """Scored forecasts binned by probability, with the observed hit rate."""
    theories: pd.DataFrame
    """Theories ranked by mean log score (best first)."""
    authors: pd.DataFrame
    """Authors ranked by mean peer score (best first), then the crowd."""


def _scores(probability: float, hit: bool) -> tuple[float, float, float]:
    return (
        log_score(probability, hit),
        baseline_score(probability, hit),
        brier_score(probability, hit),
    )


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return math.fsum(finite) / len(finite) if finite else math.nan


def mean_with_interval(
    values: Sequence[float], *, n_resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean with a percentile-bootstrap 95% interval; NaN interval with fewer than two values."""
    from alignlab.analysis._stats import bootstrap_ci

    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return math.nan, math.nan, math.nan
    if len(finite) < 2:
        return finite[0], math.nan, math.nan
    estimate = bootstrap_ci(finite, n_resamples=n_resamples, seed=seed)
    return estimate.value, estimate.ci_low, estimate.ci_high


def calibration_table(
    probabilities: Sequence[float], hits: Sequence[bool], bins: int = CALIBRATION_BINS
) -> pd.DataFrame:
    """Forecasts binned by probability (equal-width bins), with how often they came true.

    Args:
        probabilities: Each scored forecast's probability.
        hits: Whether it was a hit.
        bins: Number of bins on [0, 1]; the last is closed on the right.

    Returns:
        One row per bin (columns :data:`CALIBRATION_COLUMNS`); ``mean_probability``
        and ``hit_rate`` are NaN in an empty bin.
    """
    rows = []
    for index in range(bins):
        low, high = index / bins, (index + 1) / bins
        inside = [
            (p, h)
            for p, h in zip(probabilities, hits, strict=True)
            if low <= p < high or (index == bins - 1 and p == high)
        ]
        rows.append(
            {
                "bin": f"{low:.1f}-{high:.1f}",
                "low": low,
                "high": high,
                "n": len(inside),
                "mean_probability": _mean([p for p, _ in inside]),
                "hit_rate": _mean([1.0 if h else 0.0 for _, h in inside]),
            }
        )
    return pd.DataFrame(rows, columns=list(CALIBRATION_COLUMNS))


def score_forecasts(
    forecasts: Sequence[Forecast],
    assumptions: Mapping[str, Sequence[str]] | None = None,
    *,
    n_resamples: int = 2000,
    seed: int = 0,
) -> ForecastScores:
    """Score forecasts, add the crowd, and rank theories and authors.

    Args:
        forecasts: Every prediction with its resolution; post-hoc ones are listed
            with NaN scores.
        assumptions: Theory -> its assumption ids (theories without forecasts are
            listed too); default: the theories the forecasts name, no assumptions.
        n_resamples: Bootstrap resamples of the theory intervals.
        seed: Bootstrap seed (the same seed gives the same intervals).

    Returns:
        The scores (see :class:`ForecastScores` and the module docstring).

    Raises:
        AlignlabError: If a probability is outside (0, 1).
    """
    rows = []
    for forecast in forecasts:
        _check_probability(forecast.probability)
        scored = not forecast.post_hoc and forecast.outcome in ("hit", "miss")
        log, baseline, brier = (
            _scores(forecast.probability, forecast.outcome == "hit")
            if scored
            else (math.nan, math.nan, math.nan)
        )
        rows.append(
            {
                "id": forecast.id,
                "question": forecast.question,
                "author": forecast.author,
                "theory": forecast.theory,
                "probability": forecast.probability,
                "post_hoc": forecast.post_hoc,
                "outcome": forecast.outcome,
                "log_score": log,
                "baseline_score": baseline,
                "peer_score": math.nan,
                "brier_score": brier,
            }
        )
    table = pd.DataFrame(rows, columns=list(FORECAST_COLUMNS))
    scored_rows = table[table["log_score"].notna()]
    crowd_rows = []
    for question, group in scored_rows.groupby("question", sort=False):
        mean_log = float(group["log_score"].mean())
        several = group["author"].nunique() >= 2
        if several:
            table.loc[group.index, "peer_score"] = group["log_score"] - mean_log
        probability = float(group["probability"].mean())
        hit = str(group["outcome"].iloc[0]) == "hit"
        log, baseline, brier = _scores(probability, hit)
        crowd_rows.append(
            {
                "question": question,
                "probability": probability,
                "n_forecasts": len(group),
                "outcome": "hit" if hit else "miss",
                "log_score": log,
                "baseline_score": baseline,
                "peer_score": log - mean_log if several else math.nan,
                "brier_score": brier,
            }
        )
    crowd = pd.DataFrame(crowd_rows, columns=list(CROWD_COLUMNS))
    scored_rows = table[table["log_score"].notna()]
    calibration = calibration_table(
        [float(p) for p in scored_rows["probability"]],
        [o == "hit" for o in scored_rows["outcome"]],
    )
    return ForecastScores(
        forecasts=table,
        crowd=crowd,
        calibration=calibration,
        theories=_rank_theories(table, assumptions, n_resamples, seed),
        authors=_rank_authors(table, crowd),
    )


def _rank_theories(
    table: pd.DataFrame,
    assumptions: Mapping[str, Sequence[str]] | None,
    n_resamples: int,
    seed: int,
) -> pd.DataFrame:
    theories = dict(assumptions or {})
    for theory in table["theory"]:
        theories.setdefault(str(theory), ())
    rows = []
    for theory, uses in theories.items():
        own = table[table["theory"] == theory]
        logs = [float(v) for v in own["log_score"].dropna()]
        mean, low, high = mean_with_interval(logs, n_resamples=n_resamples, seed=seed)
        rows.append(
            {
                "theory": theory,
                "n_assumptions": len(uses),
                "assumptions": ", ".join(uses),
                "n_predictions": len(own),
                "n_post_hoc": int(own["post_hoc"].sum()),
                "n_scored": len(logs),
                "mean_log_score": mean,
                "ci_low": low,
                "ci_high": high,
                "mean_brier_score": _mean([float(v) for v in own["brier_score"]]),
            }
        )
    frame = pd.DataFrame(rows, columns=list(THEORY_COLUMNS))
    return frame.sort_values(
        ["mean_log_score", "n_assumptions", "theory"],
        ascending=[False, True, True],
        na_position="last",
        kind="stable",
    ).reset_index(drop=True)


def _author_row(author: str, group: pd.DataFrame) -> dict[str, object]:
    scored = group[group["log_score"].notna()]
    peers = [float(v) for v in scored["peer_score"].dropna()]
    return {
        "author": author,
        "n_scored": len(scored),
        "n_peer": len(peers),
        "mean_peer_score": _mean(peers),
        "mean_log_score": _mean([float(v) for v in scored["log_score"]]),
        "mean_baseline_score": _mean([float(v) for v in scored["baseline_score"]]),
        "mean_brier_score": _mean([float(v) for v in scored["brier_score"]]),
    }


def _rank_authors(table: pd.DataFrame, crowd: pd.DataFrame) -> pd.DataFrame:
    rows = [_author_row(str(author), group) for author, group in table.groupby("author", sort=True)]
    frame = pd.DataFrame(rows, columns=list(AUTHOR_COLUMNS))
    frame = frame.sort_values(
        ["mean_peer_score", "mean_log_score", "author"],
        ascending=[False, False, True],
        na_position="last",
        kind="stable",
    )
    if not crowd.empty:
        frame = pd.concat(
            [frame, pd.DataFrame([_author_row(CROWD, crowd)], columns=list(AUTHOR_COLUMNS))],
            ignore_index=True,
        )
    return frame.reset_index(drop=True)


__all__ = [
    "AUTHOR_COLUMNS",
    "CALIBRATION_COLUMNS",
    "CROWD",
    "CROWD_COLUMNS",
    "FORECAST_COLUMNS",
    "OUTCOMES",
    "THEORY_COLUMNS",
    "Forecast",
    "ForecastScores",
    "Outcome",
    "Side",
    "baseline_score",
    "brier_score",
    "calibration_table",
    "log_score",
    "mean_with_interval",
    "resolve_interval",
    "resolve_threshold",
    "score_forecasts",
]
