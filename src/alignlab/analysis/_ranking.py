"""Rank method variants by aligned difference from a reference, optionally on robust metrics.

Why: a table of differences per metric does not say which method did best,
and a method can top it by moving a metric that can be gamed (issue 13: "rank
alignment methods only on what survives" the attacks).  This module turns a
run's paired comparisons into one ranking per reference, on one split, and
says which metrics it used and which it left out, and why.

The score, stated once so the report can quote it: for each eval metric with
an aligned direction (``EvalInfo.better``: ``higher`` or ``lower``), the
paired difference (variant minus reference) is signed so that positive means
more aligned (a ``lower`` metric's difference is negated) and averaged over
seeds; the score is the mean of these over the metrics ranked on.  Beside it,
the number of metrics on which the variant is significantly more (less)
aligned: the adjusted p-value is below ``alpha`` with the aligned sign in every
seed compared.  Variants are ordered by score, then by better minus worse,
then by name.

What was simplified: the mean treats every metric as on one scale (true for
the built-in evals' rates in [0, 1]; a metric on another scale would weigh
more or less); metrics whose aligned direction is ``zero`` (closer to 0 is
better) are left out, since a difference alone has no aligned sign; with
``rank_on="robust"``, a metric is used only when the robustness verdict is
exactly ``robust`` (``inconclusive`` ones are left out too: too few samples to
call them robust).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import pandas as pd

from alignlab._errors import AlignlabError

RankOn = Literal["all", "robust"]
"""Rank on every metric with a direction, or only on those whose verdict is ``robust``."""
RANK_ON: Final[tuple[RankOn, ...]] = ("all", "robust")
PREFERRED_SPLIT: Final = "heldout"
"""The split ranked on when present (the phrasings no training run has seen)."""
RANKING_ALPHA: Final = 0.05
"""Adjusted p-value below which a difference counts as significant."""
ALIGNED_SIGN: Final[Mapping[str, int]] = {"higher": 1, "lower": -1}
"""How a difference is signed so that positive means more aligned."""
COMPARISON_COLUMNS: Final = (
    "label",
    "reference",
    "seed",
    "eval",
    "split",
    "metric",
    "difference",
    "p_adjusted",
)
"""Columns :func:`rank_methods` needs (one row per stored comparison)."""
RANKING_COLUMNS: Final = (
    "reference",
    "rank",
    "label",
    "score",
    "n_metrics",
    "n_better",
    "n_worse",
    "rank_all",
)
"""Columns of :attr:`MethodRanking.table`."""
METRIC_COLUMNS: Final = ("eval", "metric", "direction", "verdict", "reason")
"""Columns of :attr:`MethodRanking.used` and :attr:`MethodRanking.excluded`."""
ROBUST: Final = "robust"


@dataclass(frozen=True)
class MethodRanking:
    """One ranking per reference on one split, with the metrics used and left out."""

    split: str
    """The split ranked on."""
    rank_on: RankOn
    """``all`` or ``robust``."""
    table: pd.DataFrame
    """Columns :data:`RANKING_COLUMNS`, best first within each reference; every compared
    variant has a row, those with no metric to score last with ``rank`` and ``score``
    NaN; ``rank_all`` is the rank on all metrics with a direction (equal to ``rank``
    when ``rank_on`` is ``all``)."""
    used: pd.DataFrame
    """Metrics ranked on (columns :data:`METRIC_COLUMNS`; ``reason`` empty)."""
    excluded: pd.DataFrame
    """Metrics left out, each with its reason (columns :data:`METRIC_COLUMNS`)."""


def _choose_split(splits: Sequence[str]) -> str:
    return PREFERRED_SPLIT if PREFERRED_SPLIT in splits else splits[0]


def _classify(
    metrics: Sequence[tuple[str, str]],
    directions: Mapping[str, Mapping[str, str]],
    verdicts: Mapping[str, Mapping[str, str]] | None,
    rank_on: RankOn,
) -> tuple[list[dict[str, str | None]], list[dict[str, str | None]], set[tuple[str, str]]]:
    """Split the eval metrics into used and excluded; also the set usable when ranking on all."""
    used: list[dict[str, str | None]] = []
    excluded: list[dict[str, str | None]] = []
    with_direction: set[tuple[str, str]] = set()
    for eval_name, metric in metrics:
        direction = directions.get(eval_name, {}).get(metric)
        verdict = None if verdicts is None else verdicts.get(eval_name, {}).get(metric)
        row = {"eval": eval_name, "metric": metric, "direction": direction, "verdict": verdict}
        if direction is None:
            excluded.append({**row, "reason": "no aligned direction"})
            continue
        if direction not in ALIGNED_SIGN:
            excluded.append(
                {**row, "reason": f"aligned direction '{direction}': a difference has no sign"}
            )
            continue
        with_direction.add((eval_name, metric))
        if rank_on == ROBUST and verdict != ROBUST:
            reason = "no verdict in the robustness file" if verdict is None else verdict
            excluded.append({**row, "reason": reason})
            continue
        used.append({**row, "reason": ""})
    return used, excluded, with_direction


def _rank(rows: pd.DataFrame, metrics: set[tuple[str, str]]) -> pd.DataFrame:
    """Score and order every (reference, label) on ``metrics``; ``rows`` holds one split."""
    ranked = [(e, m) in metrics for e, m in zip(rows["eval"], rows["metric"], strict=True)]
    rows = rows.assign(_ranked=ranked)
    tables = []
    for reference, compared in rows.groupby("reference", sort=False):
        own = compared[compared["_ranked"]]
        records = []
        for label in dict.fromkeys(compared["label"]):  # every compared variant, even unscored
            mine = own[own["label"] == label]
            per_metric = mine.groupby(["eval", "metric"], sort=False)
            aligned = per_metric["aligned"].mean().dropna()
            better = per_metric["better"].all() & per_metric["aligned"].count().gt(0)
            worse = per_metric["worse"].all() & per_metric["aligned"].count().gt(0)
            records.append(
                {
                    "reference": reference,
                    "label": label,
                    "score": float(aligned.mean()) if len(aligned) else math.nan,
                    "n_metrics": len(aligned),
                    "n_better": int(better.sum()),
                    "n_worse": int(worse.sum()),
                }
            )
        table = pd.DataFrame.from_records(records)
        table["_net"] = table["n_better"] - table["n_worse"]
        table["_undefined"] = table["score"].isna()
        table = table.sort_values(
            ["_undefined", "score", "_net", "label"],
            ascending=[True, False, False, True],
            kind="stable",
        ).drop(columns=["_net", "_undefined"])
        ranks = pd.Series(range(1, len(table) + 1), index=table.index, dtype=float)
        table.insert(1, "rank", ranks.where(table["score"].notna()))
        tables.append(table)
    columns = ["reference", "rank", "label", "score", "n_metrics", "n_better", "n_worse"]
    if not tables:
        return pd.DataFrame(columns=columns)
    return pd.concat(tables, ignore_index=True)[columns]


def rank_methods(
    comparisons: pd.DataFrame,
    directions: Mapping[str, Mapping[str, str]],
    *,
    verdicts: Mapping[str, Mapping[str, str]] | None = None,
    rank_on: RankOn = "all",
    split: str | None = None,
    alpha: float = RANKING_ALPHA,
) -> MethodRanking | None:
    """Rank every compared variant against each reference (see the module docstring).

    Args:
        comparisons: One row per paired comparison (columns :data:`COMPARISON_COLUMNS`).
        directions: Eval -> metric -> aligned direction (``higher``, ``lower``, ``zero``).
        verdicts: Eval -> metric -> robustness verdict, if a robustness file was given.
        rank_on: ``all`` or ``robust`` (needs ``verdicts``).
        split: The split to rank on (default: ``heldout`` when compared, else the first).
        alpha: Significance level of the better/worse counts (on adjusted p-values).

    Returns:
        The ranking, or None when there are no comparisons.

    Raises:
        AlignlabError: If a column is missing, ``rank_on`` is unknown, ``robust``
            comes without verdicts, or ``split`` was not compared.
    """
    absent = [column for column in COMPARISON_COLUMNS if column not in comparisons.columns]
    if absent:
        raise AlignlabError(f"the comparisons lack the columns {', '.join(absent)}")
    if rank_on not in RANK_ON:
        raise AlignlabError(f"rank_on must be one of {', '.join(RANK_ON)}, got '{rank_on}'")
    if rank_on == ROBUST and verdicts is None:
        raise AlignlabError("rank_on 'robust' needs verdicts (a robustness file)")
    if comparisons.empty:
        return None
    splits = list(dict.fromkeys(comparisons["split"]))
    chosen = _choose_split(splits) if split is None else split
    if chosen not in splits:
        raise AlignlabError(f"no comparisons on split '{chosen}'; compared: {', '.join(splits)}")
    rows = comparisons[comparisons["split"] == chosen].reset_index(drop=True)
    metrics = list(dict.fromkeys(zip(rows["eval"], rows["metric"], strict=True)))
    used, excluded, with_direction = _classify(metrics, directions, verdicts, rank_on)
    sign = [
        ALIGNED_SIGN.get(directions.get(e, {}).get(m, ""), 0)
        for e, m in zip(rows["eval"], rows["metric"], strict=True)
    ]
    rows["aligned"] = rows["difference"].astype(float) * sign
    significant = rows["p_adjusted"].astype(float) < alpha
    rows["better"] = significant & (rows["aligned"] > 0)
    rows["worse"] = significant & (rows["aligned"] < 0)
    used_set = {(str(row["eval"]), str(row["metric"])) for row in used}
    table = _rank(rows, used_set)
    everything = _rank(rows, with_direction)[["reference", "label", "rank"]]
    table = table.merge(
        everything.rename(columns={"rank": "rank_all"}), on=["reference", "label"], how="left"
    )
    undefined = {
        (str(e), str(m))
        for (e, m), group in rows.groupby(["eval", "metric"], sort=False)
        if group["difference"].isna().all()
    }
    for row in used:
        if (row["eval"], row["metric"]) in undefined:
            row["reason"] = f"undefined on '{chosen}' (no finite difference)"
    return MethodRanking(
        split=chosen,
        rank_on=rank_on,
        table=table[list(RANKING_COLUMNS)].reset_index(drop=True),
        used=pd.DataFrame.from_records(
            [r for r in used if not r["reason"]], columns=list(METRIC_COLUMNS)
        ),
        excluded=pd.DataFrame.from_records(
            excluded + [r for r in used if r["reason"]], columns=list(METRIC_COLUMNS)
        ),
    )
