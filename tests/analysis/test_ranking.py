"""Ranking methods by aligned differences: on all metrics, or on robust ones only.

The constructed case: ``gamer`` gains a lot on a metric the attacks can game
(``shortcut_rate``: a policy with no disposition scores as aligned on it) and
loses a little on the robust metrics; ``honest`` gains modestly on the robust
metrics only.  On all metrics the gamer wins, on robust ones the honest method
does: the gameable metric is what flips the order.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from alignlab._errors import AlignlabError
from alignlab.analysis import COMPARISON_COLUMNS, rank_methods

DIRECTIONS = {
    "ev": {
        "shortcut_rate": "higher",
        "accuracy": "higher",
        "harm_rate": "lower",
        "shift": "zero",
    },
}
VERDICTS = {
    "ev": {
        "shortcut_rate": "gameable:degenerate_policy",
        "accuracy": "robust",
        "harm_rate": "robust",
        "shift": "robust",
    },
}
SIGNIFICANT, NOT_SIGNIFICANT = 0.001, 0.6


def _row(
    label: str,
    metric: str,
    difference: float,
    p: float = NOT_SIGNIFICANT,
    *,
    split: str = "heldout",
    seed: int = 0,
    reference: str = "none",
) -> dict[str, object]:
    return {
        "label": label,
        "reference": reference,
        "seed": seed,
        "eval": "ev",
        "split": split,
        "metric": metric,
        "difference": difference,
        "p_adjusted": p,
    }


def _case() -> pd.DataFrame:
    rows = [
        _row("gamer", "shortcut_rate", 0.60, SIGNIFICANT),
        _row("gamer", "accuracy", -0.05),
        _row("gamer", "harm_rate", 0.02),  # lower is better: slightly worse
        _row("gamer", "shift", 0.30, SIGNIFICANT),
        _row("honest", "shortcut_rate", 0.0),
        _row("honest", "accuracy", 0.10, SIGNIFICANT),
        _row("honest", "harm_rate", -0.08, SIGNIFICANT),  # fewer harms: better
        _row("honest", "shift", 0.0),
        # on test the order is the other way round: heldout must be the split ranked
        _row("gamer", "accuracy", 0.90, SIGNIFICANT, split="test"),
        _row("honest", "accuracy", -0.90, SIGNIFICANT, split="test"),
    ]
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))


def _order(ranking: object) -> list[str]:
    table = ranking.table  # type: ignore[attr-defined]
    return list(table["label"])


def test_a_gameable_metric_flips_the_order() -> None:
    everything = rank_methods(_case(), DIRECTIONS, verdicts=VERDICTS, rank_on="all")
    robust = rank_methods(_case(), DIRECTIONS, verdicts=VERDICTS, rank_on="robust")
    assert everything is not None and robust is not None
    assert everything.split == robust.split == "heldout"
    assert _order(everything) == ["gamer", "honest"]
    assert _order(robust) == ["honest", "gamer"]
    table = robust.table.set_index("label")
    # robust: accuracy and harm_rate; gamer -0.05 and -0.02 (harm up), honest +0.10 and +0.08
    assert table.loc["honest", "score"] == pytest.approx((0.10 + 0.08) / 2)
    assert table.loc["gamer", "score"] == pytest.approx((-0.05 - 0.02) / 2)
    assert table.loc["honest", "n_better"] == 2 and table.loc["honest", "n_worse"] == 0
    assert table.loc["gamer", "n_better"] == 0
    assert list(table["rank_all"]) == [2, 1]  # the order on all metrics, for contrast
    everything_table = everything.table.set_index("label")
    assert everything_table.loc["gamer", "score"] == pytest.approx((0.60 - 0.05 - 0.02) / 3)
    assert everything_table.loc["gamer", "n_better"] == 1


def test_excluded_metrics_name_their_reasons() -> None:
    robust = rank_methods(_case(), DIRECTIONS, verdicts=VERDICTS, rank_on="robust")
    assert robust is not None
    reasons = dict(zip(robust.excluded["metric"], robust.excluded["reason"], strict=True))
    assert reasons == {
        "shortcut_rate": "gameable:degenerate_policy",
        "shift": "aligned direction 'zero': a difference has no sign",
    }
    assert list(robust.used["metric"]) == ["accuracy", "harm_rate"]
    everything = rank_methods(_case(), DIRECTIONS, verdicts=VERDICTS, rank_on="all")
    assert everything is not None
    assert list(everything.excluded["metric"]) == ["shift"]  # the verdicts only annotate
    assert list(everything.used["verdict"]) == ["gameable:degenerate_policy", "robust", "robust"]


def test_metrics_without_verdict_or_direction_are_left_out_when_ranking_on_robust() -> None:
    case = pd.concat(
        [_case(), pd.DataFrame([_row("gamer", "new_rate", 0.4)], columns=list(COMPARISON_COLUMNS))]
    )
    directions = {"ev": {**DIRECTIONS["ev"], "new_rate": "higher"}}
    robust = rank_methods(case, directions, verdicts=VERDICTS, rank_on="robust")
    assert robust is not None
    reasons = dict(zip(robust.excluded["metric"], robust.excluded["reason"], strict=True))
    assert reasons["new_rate"] == "no verdict in the robustness file"
    unsigned = rank_methods(case, DIRECTIONS, rank_on="all")
    assert unsigned is not None
    reasons = dict(zip(unsigned.excluded["metric"], unsigned.excluded["reason"], strict=True))
    assert reasons["new_rate"] == "no aligned direction"


def test_seeds_are_averaged_and_significance_must_hold_in_every_seed() -> None:
    rows = [
        _row("a", "accuracy", 0.10, SIGNIFICANT, seed=0),
        _row("a", "accuracy", 0.30, NOT_SIGNIFICANT, seed=1),
        _row("b", "accuracy", 0.15, SIGNIFICANT, seed=0),
        _row("b", "accuracy", 0.15, SIGNIFICANT, seed=1),
    ]
    ranking = rank_methods(pd.DataFrame(rows), DIRECTIONS)
    assert ranking is not None
    table = ranking.table.set_index("label")
    assert table.loc["a", "score"] == pytest.approx(0.20)
    assert _order(ranking) == ["a", "b"]
    assert table.loc["a", "n_better"] == 0 and table.loc["b", "n_better"] == 1


def test_one_ranking_per_reference_and_unscored_variants_last() -> None:
    rows = [
        _row("a", "accuracy", 0.1),
        _row("b", "accuracy", 0.2),
        _row("a", "accuracy", -0.1, reference="sft_control"),
        _row("b", "accuracy", math.nan, reference="sft_control"),
    ]
    ranking = rank_methods(pd.DataFrame(rows), DIRECTIONS)
    assert ranking is not None
    by_reference = {
        reference: list(group["label"])
        for reference, group in ranking.table.groupby("reference", sort=False)
    }
    assert by_reference == {"none": ["b", "a"], "sft_control": ["a", "b"]}
    last = ranking.table.iloc[-1]
    assert math.isnan(last["rank"]) and math.isnan(last["score"]) and last["n_metrics"] == 0


def test_test_split_is_used_without_heldout_and_bad_input_is_one_line() -> None:
    only_test = _case()[_case()["split"] == "test"]
    ranking = rank_methods(only_test, DIRECTIONS)
    assert ranking is not None and ranking.split == "test"
    assert _order(ranking) == ["gamer", "honest"]
    assert rank_methods(_case().iloc[0:0], DIRECTIONS) is None
    with pytest.raises(AlignlabError, match="needs verdicts"):
        rank_methods(_case(), DIRECTIONS, rank_on="robust")
    with pytest.raises(AlignlabError, match="rank_on must be one of all, robust"):
        rank_methods(_case(), DIRECTIONS, rank_on="best")  # type: ignore[arg-type]
    with pytest.raises(AlignlabError, match="lack the columns p_adjusted"):
        rank_methods(_case().drop(columns=["p_adjusted"]), DIRECTIONS)
    with pytest.raises(AlignlabError, match="no comparisons on split 'train'"):
        rank_methods(_case(), DIRECTIONS, split="train")
