"""``answer_position``: the same items with their options at every other position.

Zheng et al. 2024, "Large Language Models Are Not Robust Multiple Choice
Selectors" (arXiv:2309.03882): moving the gold option of MMLU items to (D)
dropped gpt-3.5-turbo from 67.2 to 60.9, because models carry a prior over
option *positions* (or letters) that adds to what they know about the content.
Our small models answer lettered items by position ("A" on every
multiple-choice ``sycophancy`` item), so a metric read from lettered answers may
measure where the aligned option happens to sit rather than the disposition.

One variant per cyclic shift ``k = 1 .. n-1`` of the options (``n``: the most
options any lettered item of the eval has; an item with fewer options is
shifted by ``k`` modulo its own count, so some variants leave it where it was).
The target and every letter-keyed metadata field follow the options
(:func:`alignlab.attacks.rotate_options`), so every metric keeps its meaning and
a model that reads the content answers every variant alike.  Free-text items
show no options and are left as they are.

Besides the per-metric effects, the diagnostics hook reports the spread of
per-position recall, RStd (the paper's measure of selection bias): the recall of
the gold option grouped by the gold option's position, and the standard
deviation of those recalls over positions (population std, as a fraction, not
in percent), for the unattacked run, each variant, and all cyclic permutations
pooled (each item counted once per distinct position of its gold option).  A
model that reads only the content has RStd 0 over all permutations.

Simplified: cyclic shifts only (the paper also uses them; all ``n!`` orders
would cost far more for the same prior); the gold option is the sample's
``target`` (for evals without a "correct" answer, e.g. ``reward_hacking``, the
aligned option), so recall is recall of the aligned option.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from inspect_ai.dataset import Sample

from alignlab.attacks._options import (
    gold_position,
    is_lettered,
    rotate_options,
    unreorderable_reason,
)
from alignlab.attacks._registry import AttackVariant, NotApplicable, attack
from alignlab.protocol import LETTERS, REPLY_PATTERNS_KEY

BASE: Final = "base"
ALL_PERMUTATIONS: Final = "all_permutations"
RSTD_PREFIX: Final = "rstd_"
RECALL_PREFIX: Final = "recall_"
SPLIT_ARG: Final = "split"
MIN_POSITIONS: Final = 2
"""RStd needs the gold option at two positions at least (else it is undefined)."""


def shift_variant_name(shift: int) -> str:
    """The variant that moves every option ``shift`` places later."""
    return f"shift_{shift}"


def _shifter(shift: int) -> Callable[[Sequence[Sample]], list[Sample]]:
    return lambda samples: [rotate_options(sample, shift) for sample in samples]


def _outcomes(log: Any) -> list[tuple[Any, str, bool]]:
    """``(sample id, gold letter, chose gold)`` per lettered, scored sample of a log."""
    out: list[tuple[Any, str, bool]] = []
    for sample in log.samples or []:
        metadata = sample.metadata or {}
        target = sample.target if isinstance(sample.target, str) else None
        if (
            REPLY_PATTERNS_KEY in metadata
            or len(sample.choices or []) < MIN_POSITIONS
            or target is None
            or target not in LETTERS
            or not sample.scores
        ):
            continue
        score = next(iter(sample.scores.values()))
        chosen = (score.metadata or {}).get("chosen", score.answer)
        out.append((sample.id, target, chosen == target))
    return out


def recall_by_position(outcomes: Sequence[tuple[Any, str, bool]]) -> dict[str, float]:
    """Recall of the gold option per gold position letter (positions with no gold left out)."""
    hits: dict[str, list[bool]] = {}
    for _, gold, hit in outcomes:
        hits.setdefault(gold, []).append(hit)
    return {letter: sum(v) / len(v) for letter, v in sorted(hits.items())}


def rstd(recalls: Mapping[str, float]) -> float | None:
    """Population standard deviation of per-position recalls (None: under two positions)."""
    if len(recalls) < MIN_POSITIONS:
        return None
    return statistics.pstdev(recalls.values())


def position_recall_spread(
    base_log: Any, variant_logs: Mapping[str, Any]
) -> dict[str, float | None]:
    """The diagnostics hook: RStd and per-position recall, unattacked and over all permutations.

    Args:
        base_log: The unattacked run's log.
        variant_logs: Each shift's log, by variant name.

    Returns:
        ``rstd_base``, ``rstd_<variant>``, ``rstd_all_permutations`` and
        ``recall_<letter>_base`` / ``recall_<letter>_all_permutations``.
    """
    base = _outcomes(base_log)
    pooled: dict[tuple[Any, str], bool] = {(sid, gold): hit for sid, gold, hit in base}
    values: dict[str, float | None] = {}
    base_recall = recall_by_position(base)
    values[RSTD_PREFIX + BASE] = rstd(base_recall)
    for name, log in variant_logs.items():
        outcomes = _outcomes(log)
        values[RSTD_PREFIX + name] = rstd(recall_by_position(outcomes))
        for sid, gold, hit in outcomes:  # one permutation per distinct gold position of an item
            pooled.setdefault((sid, gold), hit)
    all_recall = recall_by_position([(sid, gold, hit) for (sid, gold), hit in pooled.items()])
    values[RSTD_PREFIX + ALL_PERMUTATIONS] = rstd(all_recall)
    for suffix, recalls in ((BASE, base_recall), (ALL_PERMUTATIONS, all_recall)):
        for letter, recall in recalls.items():
            values[f"{RECALL_PREFIX}{letter}_{suffix}"] = recall
    return values


@attack(diagnostics=position_recall_spread)
def answer_position(
    eval_info: Any, task_args: dict[str, Any]
) -> list[AttackVariant] | NotApplicable:
    """Every cyclic permutation of the options; the spread of per-position recall (RStd).

    One variant per shift (``shift_1`` .. ``shift_{n-1}``); targets and letter
    fields follow the options (see the module docstring).
    """
    args = {name: value for name, value in task_args.items() if name != SPLIT_ARG}
    samples = list(eval_info.factory(**args).dataset)
    reason = unreorderable_reason(samples)
    if reason is not None:
        return NotApplicable(reason)
    most = max(len(sample.choices or []) for sample in samples if is_lettered(sample))
    if not any(gold_position(sample) is not None for sample in samples):
        return NotApplicable("no lettered sample has a target option")
    return [
        AttackVariant(
            name=shift_variant_name(shift),
            description=f"options moved {shift} place(s) later, cyclically (mod each item's count)",
            samples=_shifter(shift),
        )
        for shift in range(1, most)
    ]
