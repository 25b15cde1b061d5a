"""``position_debias``: PriDe, the model's prior over option positions divided out.

Zheng et al. 2024, "Large Language Models Are Not Robust Multiple Choice
Selectors" (arXiv:2309.03882), section 4: a model's probability for the option
at position ``i`` factorises (approximately) into a prior over *positions* and a
preference for the option's *content*,
``P_obs(i | x) = P_prior(i) * P_debiased(o_i | x) / Z``.  Shown an item under
every cyclic permutation, each option visits every position once, so the mean
over permutations of ``log P_obs(i | x^perm)`` is ``log P_prior(i)`` plus a
constant: the prior, up to normalisation, from ``n`` forward passes of one item.
PriDe estimates it on a few items (averaging the per-item estimates) and then,
for every other item, divides the observed option probabilities by it and
renormalises: one pass per item, no permutations.

This hardening does two things to an eval (:class:`alignlab.attacks.Hardening`):

- *samples*: options balanced over positions.  Each item (its samples share an
  ``item_id``) gets its gold option moved to position ``(item number) mod n``,
  the same for every sample of the item, so a position prior cannot line up
  with the aligned answer across the eval; every item's answer is kept (the
  target and letter fields move with the options, see
  :func:`alignlab.attacks.rotate_options`).
- *solver*: PriDe around the solver that answers.  The first
  :data:`CALIBRATION_ITEMS` lettered samples of each option count are answered
  under every cyclic permutation (once, by the first sample to be answered,
  while the others wait), giving the prior per option count; every lettered
  sample's option probabilities (``choice_probs`` in the output metadata: the
  local provider's, or any model's that reports them) are then divided by the
  prior and renormalised, and the answer is the most probable option after
  that.  The calibration samples' own answers are the permutation-averaged ones
  (their debiased probabilities, exactly as PriDe takes them).  The raw
  probabilities and the prior are kept in the output metadata
  (``choice_probs_raw``, ``position_prior``).

Left as they are: free-text samples (no positions), answers that come without
option probabilities (a generating API model, a degenerate policy), and samples
answered twice (``are_you_sure``: debiasing only the answer after the pushback
would manufacture flips, and the first answer's probabilities are not kept).

Simplified: cyclic permutations only, as in the paper; the prior is estimated
once per task run (per option count) rather than per domain; calibration items
are the first ones of the dataset, not a random draw (a run with ``--limit``
calibrates on items it scores).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from inspect_ai.dataset import Sample
from inspect_ai.solver import Generate, Solver, TaskState

from alignlab.attacks._answering import answer_with, fresh_state, option_probs, registered_solver
from alignlab.attacks._harden import Hardening, hardening
from alignlab.attacks._options import (
    is_lettered,
    move_gold_to,
    rotate_options,
    unreorderable_reason,
)
from alignlab.attacks._registry import NotApplicable
from alignlab.evals import CLUSTER_KEY, FIRST_ANSWER_KEY
from alignlab.protocol import REPLY_PATTERNS_KEY

CALIBRATION_ITEMS: Final = 8
"""Lettered samples per option count answered under every cyclic permutation (the paper
calibrates on a few percent of the test items; a fixed few keeps ``--limit`` runs cheap)."""
RAW_PROBS_KEY: Final = "choice_probs_raw"
"""``output.metadata`` key: the option probabilities before debiasing."""
PRIOR_KEY: Final = "position_prior"
"""``output.metadata`` key: the estimated prior over positions the answer was divided by."""
SPLIT_ARG: Final = "split"
SOLVER_NAME: Final = "position_debiased"
"""The registered name of the PriDe solver (as the run's log records it)."""
_FLOOR: Final = 1e-12
"""Smallest probability taken to a logarithm."""


def balance_positions(samples: Sequence[Sample]) -> list[Sample]:
    """Every lettered item's gold option moved to position ``item number mod n``.

    Items are numbered in order of first appearance (their ``item_id``, else the
    sample id); all samples of an item get the same gold position, so samples
    that shared a layout still share one.

    Args:
        samples: An eval's samples.

    Returns:
        New samples (ids, answers and letter fields kept consistent).
    """
    numbers: dict[Any, int] = {}
    out: list[Sample] = []
    for sample in samples:
        if not is_lettered(sample):
            out.append(sample.model_copy(deep=True))
            continue
        item = (sample.metadata or {}).get(CLUSTER_KEY, sample.id)
        number = numbers.setdefault(item, len(numbers))
        out.append(move_gold_to(sample, number % len(sample.choices or [])))
    return out


def _normalised(weights: Sequence[float]) -> list[float]:
    total = sum(weights)
    return [w / total for w in weights]


def _softmax_of_logs(logs: Sequence[float]) -> list[float]:
    peak = max(logs)
    return _normalised([math.exp(value - peak) for value in logs])


def estimate_prior(position_probs: Sequence[Sequence[float]]) -> list[float]:
    """One item's prior over positions from its probabilities under every cyclic shift.

    Args:
        position_probs: ``position_probs[k][i]``: probability of the option shown at
            position ``i`` when the options are shifted by ``k`` (``k = 0 .. n-1``).

    Returns:
        ``softmax(mean_k log P(i | shift k))``.
    """
    n = len(position_probs)
    return _softmax_of_logs(
        [sum(math.log(max(p[i], _FLOOR)) for p in position_probs) / n for i in range(n)]
    )


def permutation_debiased(position_probs: Sequence[Sequence[float]]) -> list[float]:
    """One item's content probabilities (original option order) from every cyclic shift.

    Option ``j`` sits at position ``(j + k) % n`` under shift ``k``; its debiased
    probability is ``softmax_j(mean_k log P((j + k) % n | shift k))``.
    """
    n = len(position_probs)
    return _softmax_of_logs(
        [
            sum(math.log(max(position_probs[k][(j + k) % n], _FLOOR)) for k in range(n)) / n
            for j in range(n)
        ]
    )


def debias(probs: Sequence[float], prior: Sequence[float]) -> list[float]:
    """Observed option probabilities divided by the position prior, renormalised."""
    return _normalised([max(p, _FLOOR) / max(q, _FLOOR) for p, q in zip(probs, prior, strict=True)])


@dataclass
class _Calibration:
    """What the first answered sample computes for all of a task's samples."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    done: bool = False
    priors: dict[PriorGroup, list[float]] = field(default_factory=dict)
    """Prior over positions per group (none: no probabilities to estimate from)."""
    debiased: dict[Any, list[float]] = field(default_factory=dict)
    """Calibration samples' permutation-debiased probabilities, by sample id."""


PriorGroup = tuple[int, str | None]
"""Which prior a sample is debiased by: its option count and, when grouped, its prompt type."""


def prior_group(metadata: dict[str, Any], n_options: int, group_key: str | None) -> PriorGroup:
    """The prior a sample with ``metadata`` and ``n_options`` options shares with others.

    Args:
        metadata: The sample's metadata.
        n_options: How many options it has.
        group_key: A metadata key whose value names the prompt type (None: one
            prior per option count, as in the paper).

    Returns:
        ``(n_options, prompt type or None)``.
    """
    if group_key is None:
        return (n_options, None)
    value = metadata.get(group_key)
    return (n_options, None if value is None else str(value))


def _calibration_samples(samples: Sequence[Sample], group_key: str | None) -> list[Sample]:
    chosen: dict[PriorGroup, list[Sample]] = {}
    for sample in samples:
        if is_lettered(sample):
            key = prior_group(dict(sample.metadata or {}), len(sample.choices or []), group_key)
            group = chosen.setdefault(key, [])
            if len(group) < CALIBRATION_ITEMS:
                group.append(sample)
    return [sample for group in chosen.values() for sample in group]


def pride(inner: Solver, samples: list[Sample], group_key: str | None = None) -> Solver:
    """PriDe around ``inner``: calibrate on a few permuted samples, then debias every answer.

    Args:
        inner: The solver that answers (sets ``choice_probs`` where it can).
        samples: The samples the task will answer (the calibration ones are the
            first :data:`CALIBRATION_ITEMS` lettered samples per group).
        group_key: A metadata key naming each sample's prompt type: one prior
            per option count *and* prompt type (None: per option count only).

    Returns:
        A solver.
    """
    calibration = _Calibration()
    calibrating = _calibration_samples(samples, group_key)

    def group_of(metadata: dict[str, Any], n_options: int) -> PriorGroup:
        return prior_group(metadata, n_options, group_key)

    async def permuted(sample: Sample, like: TaskState, generate: Generate) -> list[float] | None:
        by_shift: list[list[float]] = []
        for shift in range(len(sample.choices or [])):
            state = await inner(fresh_state(rotate_options(sample, shift), like), generate)
            probs = option_probs(state)
            if probs is None or FIRST_ANSWER_KEY in state.metadata:
                return None
            by_shift.append(probs)
        calibration.debiased[sample.id] = permutation_debiased(by_shift)
        return estimate_prior(by_shift)

    async def calibrate(like: TaskState, generate: Generate) -> None:
        async with calibration.lock:
            if calibration.done:
                return
            found = await asyncio.gather(*(permuted(s, like, generate) for s in calibrating))
            estimates: dict[PriorGroup, list[list[float]]] = {}
            for sample, prior in zip(calibrating, found, strict=True):
                if prior is not None:
                    group = group_of(dict(sample.metadata or {}), len(prior))
                    estimates.setdefault(group, []).append(prior)
            calibration.priors = {
                group: _normalised([sum(p[i] for p in priors) / len(priors) for i in range(n)])
                for group, priors in estimates.items()
                for n in [group[0]]
            }
            calibration.done = True

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        await calibrate(state, generate)
        state = await inner(state, generate)
        probs = option_probs(state)
        prior = calibration.priors.get(group_of(state.metadata, len(state.choices)))
        if (
            probs is None
            or prior is None
            or REPLY_PATTERNS_KEY in state.metadata
            or FIRST_ANSWER_KEY in state.metadata
        ):
            return state
        debiased = calibration.debiased.get(state.sample_id) or debias(probs, prior)
        answer_with(state, debiased, {RAW_PROBS_KEY: probs, PRIOR_KEY: prior})
        return state

    return registered_solver(SOLVER_NAME, solve)


@hardening
def position_debias(eval_info: Any, task_args: dict[str, Any]) -> Hardening | NotApplicable:
    """PriDe (arXiv:2309.03882): options balanced over positions, the position prior divided out.

    See the module docstring.
    """
    args = {name: value for name, value in task_args.items() if name != SPLIT_ARG}
    reason = unreorderable_reason(list(eval_info.factory(**args).dataset))
    if reason is not None:
        return NotApplicable(reason)
    return Hardening(
        description="options balanced over positions; PriDe prior over positions divided out",
        samples=balance_positions,
        solver=pride,
    )
