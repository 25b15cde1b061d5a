"""Score a reward model on gold-labelled pairs: pairwise accuracy, intervals, paired tests.

Pairwise accuracy is RewardBench's headline number (Lambert et al. 2024,
arXiv:2403.13787): the share of pairs whose chosen reply gets the higher
reward.  A tie counts as wrong (a reward model that cannot tell the replies
apart has not ranked them).  Its interval is Wilson's score interval, which
keeps its coverage near 0 and 1 where the normal approximation fails.  Two
reward models scored on the same pairs are compared with the pairing: the
accuracy difference with a paired bootstrap interval and an exact McNemar
test on the discordant pairs (:mod:`alignlab.analysis`).

Simplified: pairs from one eval item (e.g. a claim's three conditions) are
treated as independent; a cluster bootstrap over items would widen the
intervals somewhat.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from scipy import stats

from alignlab._errors import AlignlabError
from alignlab.analysis import Estimate, McNemarResult, mcnemar_exact, paired_bootstrap_diff
from alignlab.rewards._pairs import PreferencePair
from alignlab.rewards._registry import Scorer

CONFIDENCE: Final = 0.95
"""Confidence level of every interval here."""


@dataclass(frozen=True)
class PairOutcome:
    """A pair and the rewards one reward model gave its two replies."""

    pair: PreferencePair
    """The gold-labelled pair."""
    chosen_reward: float
    """Reward of the gold-preferred reply."""
    rejected_reward: float
    """Reward of the other one."""

    @property
    def correct(self) -> bool:
        """Whether the gold-preferred reply got the strictly higher reward."""
        return self.chosen_reward > self.rejected_reward


def score_pairs(scorer: Scorer, pairs: Sequence[PreferencePair]) -> list[PairOutcome]:
    """Score both replies of every pair with ``scorer``.

    Raises:
        AlignlabError: If there are no pairs.
    """
    if not pairs:
        raise AlignlabError("no pairs to score")
    prompts = [p.prompt for p in pairs] * 2
    responses = [p.chosen for p in pairs] + [p.rejected for p in pairs]
    rewards = scorer.score(prompts, responses)
    n = len(pairs)
    return [PairOutcome(p, rewards[i], rewards[n + i]) for i, p in enumerate(pairs)]


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> Estimate:
    """The share ``successes / n`` with Wilson's score interval.

    Raises:
        AlignlabError: If ``n`` is below 1 or ``successes`` outside ``[0, n]``.
    """
    if n < 1 or not 0 <= successes <= n:
        raise AlignlabError(f"need 0 <= successes <= n and n >= 1, got {successes} of {n}")
    interval = stats.binomtest(successes, n).proportion_ci(confidence, method="wilson")
    return Estimate(
        value=successes / n,
        ci_low=float(interval.low),
        ci_high=float(interval.high),
        confidence=confidence,
        n=n,
    )


def pairwise_accuracy(outcomes: Sequence[PairOutcome]) -> Estimate:
    """Share of pairs ranked right, with a Wilson interval.

    Raises:
        AlignlabError: If there are no outcomes.
    """
    if not outcomes:
        raise AlignlabError("no scored pairs")
    return wilson_interval(sum(o.correct for o in outcomes), len(outcomes))


def accuracy_by_family(outcomes: Sequence[PairOutcome]) -> dict[str, Estimate]:
    """:func:`pairwise_accuracy` of each pair family present, in order of appearance."""
    families: dict[str, list[PairOutcome]] = {}
    for outcome in outcomes:
        families.setdefault(outcome.pair.family, []).append(outcome)
    return {family: pairwise_accuracy(group) for family, group in families.items()}


@dataclass(frozen=True)
class RewardComparison:
    """Two reward models on the same pairs."""

    a: Estimate
    """Pairwise accuracy of A."""
    b: Estimate
    """Pairwise accuracy of B."""
    difference: Estimate
    """A minus B, with a paired bootstrap interval."""
    mcnemar: McNemarResult
    """Exact McNemar test on the pairs exactly one of them ranked right."""


def compare_reward_models(
    a: Sequence[PairOutcome], b: Sequence[PairOutcome], seed: int = 0
) -> RewardComparison:
    """Compare two reward models scored on the same pairs, in the same order.

    Args:
        a: Outcomes of reward model A.
        b: Outcomes of reward model B on the same pairs.
        seed: Seed of the bootstrap resampling.

    Returns:
        Both accuracies, the paired difference and McNemar's test.

    Raises:
        AlignlabError: If the outcomes are empty or not on the same pairs.
    """
    if len(a) != len(b) or not a:
        raise AlignlabError(f"compare needs the same non-empty pairs, got {len(a)} and {len(b)}")
    for index, (x, y) in enumerate(zip(a, b, strict=True)):
        if x.pair != y.pair:
            raise AlignlabError(f"pair {index} differs between the two reward models' outcomes")
    hits_a, hits_b = [o.correct for o in a], [o.correct for o in b]
    difference = paired_bootstrap_diff(
        [float(h) for h in hits_a], [float(h) for h in hits_b], confidence=CONFIDENCE, seed=seed
    )
    return RewardComparison(
        a=pairwise_accuracy(a),
        b=pairwise_accuracy(b),
        difference=difference,
        mcnemar=mcnemar_exact(hits_a, hits_b),
    )
