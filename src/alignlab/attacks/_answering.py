"""Re-asking a sample and replacing its answer: what solver-wrapping hardenings share.

PriDe (``position_debias``) answers calibration samples under every cyclic
permutation, and the paraphrase ensemble answers each sample under every
rewrite; both then replace the answer with the most probable option of
probabilities they computed.  Both need a fresh task state for a (transformed)
sample, the option probabilities of an answer, and a way to swap the answer
that keeps the transcript consistent.
"""

from __future__ import annotations

import copy
from typing import Any

from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessage, ChatMessageUser, ModelOutput
from inspect_ai.scorer import Target
from inspect_ai.solver import Solver, TaskState, solver

from alignlab.protocol import CHOICE_INDEX_KEY, CHOICE_PROBS_KEY, LETTERS


def fresh_state(sample: Sample, like: TaskState) -> TaskState:
    """A task state for ``sample`` as Inspect would start it (model and epoch of ``like``)."""
    messages: list[ChatMessage] = (
        [ChatMessageUser(content=sample.input)]
        if isinstance(sample.input, str)
        else copy.deepcopy(list(sample.input))
    )
    return TaskState(
        model=like.model,
        sample_id=sample.id if sample.id is not None else "",
        epoch=like.epoch,
        input=copy.deepcopy(sample.input),
        messages=messages,
        target=Target(sample.target),
        choices=list(sample.choices or []),
        metadata=copy.deepcopy(dict(sample.metadata or {})),
    )


def option_probs(state: TaskState) -> list[float] | None:
    """The answer's option probabilities by position, when there is one for each option."""
    probs = (state.output.metadata or {}).get(CHOICE_PROBS_KEY)
    if probs is None or len(probs) != len(state.choices):
        return None
    return [float(p) for p in probs]


def answer_with(state: TaskState, probs: list[float], extra: dict[str, Any]) -> None:
    """Replace the answer with the most probable option of ``probs``.

    The new answer is written the way the old one was (the option's text, for
    a reply scored by content, else its letter); ``probs`` become its
    ``choice_probs`` and ``extra`` is added to its metadata; the transcript's
    last assistant message is replaced too.

    Args:
        state: The answered state.
        probs: New option probabilities, by position.
        extra: Further output metadata (what the probabilities were computed from).
    """
    old = state.output
    old_index = (old.metadata or {}).get(CHOICE_INDEX_KEY)
    options = [choice.value for choice in state.choices]
    index = max(range(len(probs)), key=probs.__getitem__)
    as_text = old_index is not None and old.completion == options[int(old_index)]
    replace_answer(
        state,
        options[index] if as_text else LETTERS[index],
        {CHOICE_INDEX_KEY: index, CHOICE_PROBS_KEY: probs, **extra},
    )


def replace_answer(state: TaskState, content: str, extra: dict[str, Any]) -> None:
    """Make ``content`` the answer (same model and usage, ``extra`` added to its metadata).

    The transcript's last assistant message is replaced too, so later turns and
    the log show the answer that is scored.
    """
    old = state.output
    output = ModelOutput.from_content(model=old.model, content=content)
    output.usage = old.usage
    output.metadata = {**(old.metadata or {}), **extra}
    if state.messages and state.messages[-1].role == "assistant":
        state.messages[-1] = output.message
    state.output = output


def registered_solver(name: str, solve: Solver) -> Solver:
    """``solve`` as a solver registered under ``name`` (Inspect runs registered solvers only)."""

    @solver(name=name)
    def factory() -> Solver:
        return solve

    return factory()
