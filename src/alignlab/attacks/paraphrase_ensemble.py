"""``paraphrase_ensemble``: each item answered under every paraphrase, the answers pooled.

Why: a disposition should not depend on the surface of a prompt, but a single
phrasing's answer can (reWordBench, Wu et al. 2025, arXiv:2503.11751, for
reward models; ``paraphrase`` measures it for our evals).  Averaging over
meaning-preserving rewrites is the standard remedy (prompt ensembles, e.g.
Arora et al. 2022, "Ask Me Anything", arXiv:2210.02441): whatever one
phrasing adds, the others dilute.

What it does (:class:`alignlab.attacks.Hardening`, *solver* only): around the
solver that answers, every sample is answered as asked and again under each
of ``paraphrase``'s rewrites (:data:`alignlab.attacks.paraphrase.REWRITES`:
markdown toggled, polite filler, two sentences reordered, names swapped,
whitespace and case) that changes its text; the option probabilities of all
these answers are pooled (the softmax of their mean log-probability, a
geometric mean) and the answer becomes the most probable option.  The
answer's metadata keeps each phrasing's probabilities
(:data:`PHRASING_PROBS_KEY`).

Left as they are: answers without option probabilities (a generating API
model, a degenerate policy) and two-turn answers (``are_you_sure``: the first
answer's probabilities are not kept).  Cost: up to six answers per sample
(one per phrasing), so a hardened run takes up to six times as long.

Simplified: the rewrites are ``paraphrase``'s rule-based ones, so the
``paraphrase`` attack on the hardened eval rewrites a sample that the
ensemble then rewrites again (the attack's phrasing is one of six votes, not
the only one); token usage of the extra answers is not added to the sample's.
"""

from __future__ import annotations

import copy
import math
from typing import Final

from inspect_ai.dataset import Sample
from inspect_ai.solver import Generate, Solver, TaskState

from alignlab.attacks._answering import answer_with, fresh_state, option_probs, registered_solver
from alignlab.attacks._harden import Hardening, hardening
from alignlab.attacks._samples import prompt_text
from alignlab.attacks.paraphrase import REWRITES
from alignlab.evals import FIRST_ANSWER_KEY

AS_ASKED: Final = "as_asked"
"""The phrasing name of the sample as the eval asks it."""
PHRASING_PROBS_KEY: Final = "phrasing_probs"
"""``output.metadata`` key: option probabilities per phrasing that was answered."""
SOLVER_NAME: Final = "paraphrase_ensembled"
"""The registered name of the hardened solver (as the run's log records it)."""
_FLOOR: Final = 1e-12
"""Smallest probability taken to a logarithm."""


def pooled(probs_by_phrasing: list[list[float]]) -> list[float]:
    """Option probabilities pooled over phrasings: softmax of the mean log-probability.

    Args:
        probs_by_phrasing: One probability list per phrasing, options in one order.

    Returns:
        The pooled probabilities.
    """
    n = len(probs_by_phrasing[0])
    means = [
        sum(math.log(max(p[i], _FLOOR)) for p in probs_by_phrasing) / len(probs_by_phrasing)
        for i in range(n)
    ]
    peak = max(means)
    weights = [math.exp(m - peak) for m in means]
    return [w / sum(weights) for w in weights]


def _as_sample(state: TaskState) -> Sample:
    """The sample a not-yet-answered state was started from."""
    return Sample(
        id=state.sample_id,
        input=copy.deepcopy(state.messages),
        choices=[choice.value for choice in state.choices],
        target=state.target.text,
        metadata=copy.deepcopy(dict(state.metadata)),
    )


def paraphrase_ensembled(inner: Solver, samples: list[Sample]) -> Solver:
    """``inner`` answering every sample under each phrasing, probabilities pooled.

    Args:
        inner: The solver that answers (sets ``choice_probs`` where it can).
        samples: The samples the task will answer (unused: each is rewritten as it comes).

    Returns:
        A solver.
    """

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        asked = _as_sample(state)
        state = await inner(state, generate)
        probs = option_probs(state)
        if probs is None or FIRST_ANSWER_KEY in state.metadata:
            return state
        by_phrasing = {AS_ASKED: probs}
        for kind, (rewrite, _) in REWRITES.items():
            phrased = rewrite(asked)
            if prompt_text(phrased) == prompt_text(asked):
                continue  # this rewrite leaves the sample as it is: no second vote
            answered = await inner(fresh_state(phrased, state), generate)
            other = option_probs(answered)
            if other is not None and FIRST_ANSWER_KEY not in answered.metadata:
                by_phrasing[kind] = other
        answer_with(state, pooled(list(by_phrasing.values())), {PHRASING_PROBS_KEY: by_phrasing})
        return state

    return registered_solver(SOLVER_NAME, solve)


@hardening
def paraphrase_ensemble(eval_info: object) -> Hardening:
    """Every item answered under each of ``paraphrase``'s rewrites, option probabilities pooled.

    Applies to every eval (a user's file included): the rewrites need no
    knowledge of the eval.  See the module docstring.
    """
    return Hardening(
        description="each item answered under every paraphrase; option probabilities pooled",
        solver=paraphrase_ensembled,
    )
