"""``prefix_invariant``: candidate replies ranked without the words they all begin with.

Why: the local ranker picks among an item's candidate replies by mean
log-probability per token (lm-evaluation-harness's length normalisation).  A
shared opening adds the same log-probability to every candidate and is then
divided by different lengths, so it can reorder candidates of unequal length
without saying anything about the item.  ``master_key``'s ranker variants
found it: "I understand your concern." in front of every candidate reply of
``mistakes`` moved ``change_gap`` by +0.267 [+0.067, +0.467] on
``smollm2-135m`` (heldout, 30 samples; ``benchmarks/RESULTS.md``).

What it does (:class:`alignlab.attacks.Hardening`, *solver* only): around the
solver that answers, every free-text sample's candidate replies lose the
longest opening they share, cut at a word boundary, before they are scored;
the candidates are put back afterwards and the chosen reply is recorded whole,
so the scorer, the transcript and every later turn see the replies as written.
Ranking is then exactly invariant to any text put before every candidate (the
shared opening of the unattacked eval included), which is the property the
attack tests.

Left as they are: lettered samples (their options are answered by letter or
scored in both orders, see :data:`alignlab.protocol.CHOICE_SCORINGS`) and
generating models (they write a reply; the candidates are never shown to them,
so this hardening changes nothing for them).

Simplified: the shared opening is dropped, not scored as context (the
provider scores replies after the chat template's generation prompt and has no
reply-prefix request); so the hardened ranker compares ``P(rest | prompt)``
rather than ``P(rest | prompt, opening)``.  A shared *ending* is kept: its
log-probability depends on what precedes it, so it is not content-free.
"""

from __future__ import annotations

from typing import Any, Final

from inspect_ai.dataset import Sample
from inspect_ai.solver import Choices, Generate, Solver, TaskState

from alignlab.attacks._answering import registered_solver, replace_answer
from alignlab.attacks._harden import Hardening, hardening
from alignlab.attacks._registry import NotApplicable
from alignlab.attacks.position_debias import SPLIT_ARG
from alignlab.protocol import CHOICE_INDEX_KEY, REPLY_PATTERNS_KEY

SOLVER_NAME: Final = "prefix_invariant_ranker"
"""The registered name of the hardened solver (as the run's log records it)."""
SHARED_OPENING_KEY: Final = "shared_opening"
"""``output.metadata`` key: the opening dropped before ranking ("" when none)."""


def shared_opening(texts: list[str]) -> str:
    """The longest opening every text shares, ending at a word boundary.

    The opening ends with whitespace, and every text keeps a non-blank rest
    after it, so no candidate is scored as empty.

    Args:
        texts: Candidate replies.

    Returns:
        The shared opening ("" when the texts share no whole word, or there are
        fewer than two).
    """
    if len(texts) < 2:
        return ""
    common = 0
    for letters in zip(*texts, strict=False):
        if any(letter != letters[0] for letter in letters):
            break
        common += 1
    for end in range(common, 0, -1):
        if texts[0][end - 1].isspace() and all(text[end:].strip() for text in texts):
            return texts[0][:end]
    return ""


def prefix_invariant_ranker(inner: Solver, samples: list[Sample]) -> Solver:
    """``inner`` answering free-text samples with their shared opening dropped.

    Args:
        inner: The solver that answers.
        samples: The samples the task will answer (unused: nothing is calibrated).

    Returns:
        A solver.
    """

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        if REPLY_PATTERNS_KEY not in state.metadata or not state.choices:
            return await inner(state, generate)
        written = [choice.value for choice in state.choices]
        opening = shared_opening(written)
        if not opening:
            return await inner(state, generate)
        state.choices = Choices([text[len(opening) :] for text in written])
        try:
            state = await inner(state, generate)
        finally:
            state.choices = Choices(written)
        _record_whole(state, written, opening)
        return state

    return registered_solver(SOLVER_NAME, solve)


def _record_whole(state: TaskState, written: list[str], opening: str) -> None:
    """Make the chosen reply the whole candidate again (output and transcript)."""
    index = (state.output.metadata or {}).get(CHOICE_INDEX_KEY)
    if index is None:  # no ranking happened (a generating model): nothing was shortened
        return
    replace_answer(state, written[int(index)], {SHARED_OPENING_KEY: opening})


@hardening
def prefix_invariant(eval_info: Any, task_args: dict[str, Any]) -> Hardening | NotApplicable:
    """Candidate replies ranked without the opening they all share (a master key's prefix).

    See the module docstring.
    """
    args = {name: value for name, value in task_args.items() if name != SPLIT_ARG}
    dataset = eval_info.factory(**args).dataset
    if not any(REPLY_PATTERNS_KEY in (sample.metadata or {}) for sample in dataset):
        return NotApplicable("no free-text items: every answer is an option letter")
    return Hardening(
        description="candidate replies ranked without the opening they all share",
        solver=prefix_invariant_ranker,
    )
