import math

import numpy as np
import pytest

from alignlab import AlignlabError
from alignlab.analysis import (
    Estimate,
    bootstrap_ci,
    mcnemar_exact,
    paired_bootstrap_diff,
)

# --- McNemar ---------------------------------------------------------------


def test_mcnemar_hand_example() -> None:
    # 1 pair only A passed, 7 pairs only B passed, 3 both, 2 neither.
    a = [True] + [False] * 7 + [True] * 3 + [False] * 2
    b = [False] + [True] * 7 + [True] * 3 + [False] * 2
    result = mcnemar_exact(a, b)
    assert (result.only_a, result.only_b, result.n) == (1, 7, 13)
    # Exact two-sided: 2 * sum_{k<=1} C(8, k) / 2^8 = 2 * 9 / 256.
    expected = 2 * (math.comb(8, 0) + math.comb(8, 1)) / 2**8
    assert expected == 0.0703125
    assert result.p_value == pytest.approx(expected)
    # Swapping the models swaps the counts, not the p-value.
    swapped = mcnemar_exact(b, a)
    assert (swapped.only_a, swapped.only_b) == (7, 1)
    assert swapped.p_value == pytest.approx(expected)


def test_mcnemar_no_discordant_pairs() -> None:
    a = [True, False, True, True]
    result = mcnemar_exact(a, list(a))
    assert (result.only_a, result.only_b) == (0, 0)
    assert result.p_value == 1.0


def test_mcnemar_balanced_discordance_is_not_significant() -> None:
    result = mcnemar_exact([True, False] * 5, [False, True] * 5)
    assert (result.only_a, result.only_b) == (5, 5)
    assert result.p_value == pytest.approx(1.0)


# --- paired bootstrap ------------------------------------------------------


def test_paired_constant_difference() -> None:
    b = [0.0, 0.25, 1.0, 0.75, 0.1]
    a = [x + 0.5 for x in b]
    est = paired_bootstrap_diff(a, b)
    assert est.value == pytest.approx(0.5)
    assert est.ci_low == pytest.approx(0.5)
    assert est.ci_high == pytest.approx(0.5)
    assert est.n == 5


def test_paired_positive_difference_excludes_zero() -> None:
    rng = np.random.default_rng(1)
    b = rng.normal(0.0, 1.0, size=200)  # large between-sample spread...
    a = b + 0.15 + rng.normal(0.0, 0.2, size=200)  # ...small within-pair noise
    est = paired_bootstrap_diff(a.tolist(), b.tolist())
    assert est.value == pytest.approx(float(np.mean(a - b)))
    assert est.ci_low > 0
    assert est.ci_low <= 0.15 <= est.ci_high
    # Pairing matters: the unpaired intervals of a and b overlap heavily.
    ci_a, ci_b = bootstrap_ci(a.tolist()), bootstrap_ci(b.tolist())
    assert ci_a.ci_low < ci_b.ci_high
    assert est.ci_high - est.ci_low < (ci_a.ci_high - ci_a.ci_low) / 2


def test_paired_sign() -> None:
    est = paired_bootstrap_diff([0.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 0.0])
    assert est.value == pytest.approx(-0.5)
    assert est.ci_high <= 0


# --- bootstrap_ci ----------------------------------------------------------


def test_bootstrap_ci_brackets_mean() -> None:
    values = [0.1, 0.9, 0.4, 0.4, 0.7, 0.2, 1.0, 0.0]
    est = bootstrap_ci(values)
    assert isinstance(est, Estimate)
    assert est.value == pytest.approx(sum(values) / len(values))
    assert est.ci_low <= est.value <= est.ci_high
    assert est.ci_low < est.ci_high
    assert (est.confidence, est.n) == (0.95, 8)
    assert est.as_list() == [est.value, est.ci_low, est.ci_high]


def test_bootstrap_ci_matches_normal_approximation() -> None:
    # 400 coin flips at p = 0.5: standard error 0.025, 95% CI about 0.5 +- 0.049.
    est = bootstrap_ci([1.0, 0.0] * 200, n_resamples=5000)
    assert est.value == 0.5
    assert est.ci_low == pytest.approx(0.5 - 1.96 * 0.025, abs=0.01)
    assert est.ci_high == pytest.approx(0.5 + 1.96 * 0.025, abs=0.01)


def test_bootstrap_ci_deterministic() -> None:
    values = np.random.default_rng(0).random(50).tolist()
    assert bootstrap_ci(values, seed=7) == bootstrap_ci(values, seed=7)
    assert bootstrap_ci(values, seed=7) != bootstrap_ci(values, seed=8)


def test_bootstrap_ci_wider_at_higher_confidence() -> None:
    values = np.random.default_rng(0).random(50).tolist()
    narrow = bootstrap_ci(values, confidence=0.9)
    wide = bootstrap_ci(values, confidence=0.99)
    assert wide.ci_low < narrow.ci_low
    assert wide.ci_high > narrow.ci_high


@pytest.mark.parametrize("values", [[0.7], [0.3, 0.3, 0.3]])
def test_bootstrap_ci_degenerate(values: list[float]) -> None:
    est = bootstrap_ci(values)
    assert est.as_list() == pytest.approx([values[0]] * 3)


# --- errors ----------------------------------------------------------------


def test_empty_input() -> None:
    with pytest.raises(AlignlabError, match="non-empty"):
        bootstrap_ci([])
    with pytest.raises(AlignlabError, match="non-empty"):
        paired_bootstrap_diff([], [])
    with pytest.raises(AlignlabError, match="empty"):
        mcnemar_exact([], [])


def test_mismatched_lengths() -> None:
    with pytest.raises(AlignlabError, match="differ in length: 3 vs 2"):
        paired_bootstrap_diff([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(AlignlabError, match="differ in length: 1 vs 2"):
        mcnemar_exact([True], [True, False])


@pytest.mark.parametrize("confidence", [0.0, 1.0, 95.0, -0.5])
def test_bad_confidence(confidence: float) -> None:
    with pytest.raises(AlignlabError, match="confidence must be in"):
        bootstrap_ci([1.0, 2.0], confidence=confidence)
    with pytest.raises(AlignlabError, match="confidence must be in"):
        paired_bootstrap_diff([1.0, 2.0], [0.0, 1.0], confidence=confidence)


def test_bad_n_resamples() -> None:
    with pytest.raises(AlignlabError, match="n_resamples"):
        bootstrap_ci([1.0, 2.0], n_resamples=0)


def test_nan_values() -> None:
    with pytest.raises(AlignlabError, match="NaN"):
        bootstrap_ci([1.0, float("nan")])
    with pytest.raises(AlignlabError, match="NaN"):
        paired_bootstrap_diff([1.0, 2.0], [float("nan"), 1.0])
