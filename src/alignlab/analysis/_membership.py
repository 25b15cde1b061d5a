"""Membership inference: Min-K% prob, AUROC, and the difference of two independent effects.

Min-K% prob (Shi et al. 2023, arXiv:2310.16789): the mean log-probability of
the ``k`` share of a text's tokens the model finds least likely.  A text the
model was trained on has fewer surprising tokens, so it scores higher; the
score needs no reference model and no knowledge of the training data.

AUROC (the Mann-Whitney statistic): the probability that a random member
(an item trained on) scores above a random non-member, ties counting half;
0.5 is chance.  Its interval is a stratified percentile bootstrap: members and
non-members are resampled separately, since they are two independent samples.

:func:`difference_of_independent`: ``a - b`` for two effects estimated on
independent samples, with a normal-approximation interval whose standard
errors are read back from each effect's own (bootstrap) interval.  The
``train_on_public`` attack's overfitting gap (test gain minus heldout gain,
each a paired difference on its own split's items) is one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

from alignlab._errors import AlignlabError
from alignlab.analysis._stats import Estimate

DEFAULT_MIN_K = 0.2
"""Shi et al.'s best-performing share of least likely tokens (20%)."""
AUROC_RESAMPLES = 2000
"""Bootstrap resamples for the AUROC interval."""


def min_k_prob(logprobs: Sequence[float], k: float = DEFAULT_MIN_K) -> float:
    """Mean of the ``ceil(k * n)`` lowest token log-probabilities (at least one).

    Args:
        logprobs: One log-probability per scored token of a text.
        k: Share of tokens to average, in (0, 1].

    Returns:
        The Min-K% prob score (higher: more likely seen in training).

    Raises:
        AlignlabError: No tokens, a NaN, or ``k`` outside (0, 1].
    """
    if not 0 < k <= 1:
        raise AlignlabError(f"min-k share must be in (0, 1], got {k}")
    if not logprobs:
        raise AlignlabError("min-k prob needs at least one token log-probability")
    values = sorted(float(v) for v in logprobs)
    if any(math.isnan(v) for v in values):
        raise AlignlabError("min-k prob got a NaN log-probability")
    count = max(1, math.ceil(k * len(values)))
    return sum(values[:count]) / count


def _auroc(members: np.ndarray, others: np.ndarray) -> float:
    ranks = stats.rankdata(np.concatenate([members, others]))
    n_pos, n_neg = len(members), len(others)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auroc(
    members: Sequence[float],
    non_members: Sequence[float],
    *,
    confidence: float = 0.95,
    n_resamples: int = AUROC_RESAMPLES,
    seed: int = 0,
) -> Estimate:
    """AUROC of a score that should be higher for members, with a stratified bootstrap CI.

    Args:
        members: Scores of items the model was trained on.
        non_members: Scores of items it was not.
        confidence: Confidence level of the interval.
        n_resamples: Bootstrap resamples.
        seed: Seed of the resampling.

    Returns:
        The AUROC (``n`` is the number of scores in all) and its percentile interval.

    Raises:
        AlignlabError: An empty group or a NaN score.
    """
    pos = np.asarray(members, dtype=float)
    neg = np.asarray(non_members, dtype=float)
    if len(pos) == 0 or len(neg) == 0:
        raise AlignlabError("AUROC needs at least one member and one non-member score")
    if np.isnan(pos).any() or np.isnan(neg).any():
        raise AlignlabError("AUROC got a NaN score")
    value = _auroc(pos, neg)
    rng = np.random.default_rng(seed)
    draws = [
        _auroc(rng.choice(pos, len(pos)), rng.choice(neg, len(neg))) for _ in range(n_resamples)
    ]
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return Estimate(value, float(low), float(high), confidence, len(pos) + len(neg))


def difference_of_independent(
    a: Estimate | tuple[float, float, float],
    b: Estimate | tuple[float, float, float],
    confidence: float = 0.95,
) -> Estimate:
    """``a - b`` for two estimates from independent samples (normal approximation).

    Each standard error is read back from its interval as ``(high - low) / (2 z)``
    and the two are added in quadrature; exact for normal estimates, an
    approximation for bootstrap percentile intervals (it assumes they are
    roughly symmetric).

    Args:
        a: An estimate, or ``(value, ci_low, ci_high)`` at ``confidence``.
        b: The same for the other sample.
        confidence: The level of both input intervals and of the result.

    Returns:
        The difference and its interval (``n`` is 0: not a count of samples).
    """
    (va, la, ha), (vb, lb, hb) = (
        e.as_list() if isinstance(e, Estimate) else list(e) for e in (a, b)
    )
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    se = math.hypot((ha - la) / (2 * z), (hb - lb) / (2 * z))
    value = va - vb
    return Estimate(value, value - z * se, value + z * se, confidence, 0)
