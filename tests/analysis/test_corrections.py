"""Multiple-comparison corrections against hand computations, and seed-to-seed spread."""

from __future__ import annotations

import math

import pytest

from alignlab import AlignlabError
from alignlab.analysis import (
    CORRECTIONS,
    DEFAULT_CORRECTION,
    adjust_p_values,
    seed_spread,
)

P = [0.01, 0.04, 0.03, 0.20]


def test_benjamini_hochberg_by_hand() -> None:
    # sorted: 0.01, 0.03, 0.04, 0.20 times m / rank = 0.04, 0.06, 0.0533, 0.20;
    # then the running minimum from the largest down: 0.04, 0.0533, 0.0533, 0.20
    expected = [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.20]
    assert adjust_p_values(P) == pytest.approx(expected)
    assert adjust_p_values(P, "benjamini-hochberg") == pytest.approx(expected)
    assert DEFAULT_CORRECTION == "benjamini-hochberg"


def test_holm_by_hand() -> None:
    # sorted: 0.01, 0.03, 0.04, 0.20 times (m - rank + 1) = 0.04, 0.09, 0.08, 0.20;
    # then the running maximum: 0.04, 0.09, 0.09, 0.20
    assert adjust_p_values(P, "holm") == pytest.approx([0.04, 0.09, 0.09, 0.20])
    assert adjust_p_values([0.5, 0.9], "holm") == pytest.approx([1.0, 1.0])  # capped at 1
    assert set(CORRECTIONS) == {"benjamini-hochberg", "holm"}


def test_untestable_comparisons_stay_nan_and_leave_the_family() -> None:
    adjusted = adjust_p_values([0.01, math.nan, 0.04])
    assert adjusted[0] == pytest.approx(0.02) and adjusted[2] == pytest.approx(0.04)
    assert math.isnan(adjusted[1])
    assert adjust_p_values([]) == []
    assert all(math.isnan(p) for p in adjust_p_values([math.nan], "holm"))


def test_bad_input() -> None:
    with pytest.raises(AlignlabError, match=r"\[0, 1\]"):
        adjust_p_values([0.5, 1.5])
    with pytest.raises(AlignlabError, match="unknown correction"):
        adjust_p_values([0.5], "bonferroni")  # type: ignore[arg-type]


def test_default_is_what_comparison_records_say() -> None:
    from alignlab.experiment import ComparisonRecord

    assert ComparisonRecord.model_fields["correction"].default == DEFAULT_CORRECTION


def test_seed_spread() -> None:
    spread = seed_spread({0: 0.1, 1: 0.3, 2: 0.2})
    assert spread.mean == pytest.approx(0.2) and spread.sd == pytest.approx(0.1)  # ddof=1
    assert (spread.min, spread.max, spread.n_seeds) == (0.1, 0.3, 3)
    assert seed_spread([0.1, 0.3, 0.2]) == spread

    one = seed_spread([0.4, math.nan])  # an undefined seed is left out
    assert one.mean == 0.4 and one.n_seeds == 1 and math.isnan(one.sd)
    assert seed_spread([math.nan]).n_seeds == 0
    with pytest.raises(AlignlabError, match="at least one"):
        seed_spread([])
