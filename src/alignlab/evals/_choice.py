"""Multiple-choice answering that works for small local models and API models alike.

Small models cannot reliably follow an answer format, so with the ``alignlab``
provider the solver asks for *choice scoring*: the provider compares the
log-likelihood of each option letter after the prompt and answers with the most
likely one (no generation).  Any other provider generates a short reply that is
parsed for a letter.  Either way the chosen letter ends up in
``state.output.completion`` and the scorer records the option probabilities
(when there are any) in the score's metadata.

Free-chat and deployment-style samples show no lettered options: their
``choices`` are candidate *replies* and their metadata holds one regular
expression per reply (``reply_patterns``).  The local provider then ranks the
replies by mean log-probability per token; any other provider writes a reply,
which is classified by whichever pattern matches earliest in it (a reply that
matches none is recorded as no answer).  The scorer sees the same letters
either way, so every metric works on every format.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageUser, GenerateConfig, get_model
from inspect_ai.scorer import Score, Scorer, Target, accuracy, scorer, stderr
from inspect_ai.solver import Generate, Solver, TaskState, solver

from alignlab._errors import AlignlabError
from alignlab.evals._registry import MetricFactory, instantiate
from alignlab.protocol import (
    CHOICE_INDEX_KEY,
    CHOICE_NORM_KEY,
    CHOICE_PROBS_KEY,
    CHOICES_KEY,
    LETTERS,
    MULTIPLE_CHOICE_TEMPLATE,
    REPLY_PATTERNS_KEY,
    render_multiple_choice,
)

AnswerMode = Literal["auto", "loglik", "generate"]

REPLY_MAX_TOKENS = 64
"""Reply length when an API model writes a free-text reply (candidates are short sentences)."""
LETTER_MAX_TOKENS = 16
"""Reply length when an API model answers a lettered question."""
REPLY_INDEX_KEY = "reply_index"
"""``output.metadata`` key: which candidate a generated free-text reply was classified as."""

_LETTER_PATTERN = re.compile(r"\b([A-J])\b")


def parse_letter(text: str, n_options: int) -> str | None:
    """The first option letter in a generated reply, if any.

    Args:
        text: The model's reply.
        n_options: How many options there were.

    Returns:
        The letter, or None if the reply names no valid option.
    """
    valid = LETTERS[:n_options]
    for match in _LETTER_PATTERN.finditer(text):
        if match.group(1) in valid:
            return match.group(1)
    return None


def classify_reply(text: str, patterns: list[str]) -> int | None:
    """Which candidate reply a free-text reply amounts to.

    Args:
        text: The model's reply.
        patterns: One case-insensitive regular expression per candidate.

    Returns:
        The index of the pattern that matches earliest in ``text``; None when
        none matches or two match at the same place.
    """
    starts: list[tuple[int, int]] = []
    for index, pattern in enumerate(patterns):
        match = re.search(pattern, text, flags=re.IGNORECASE)
        if match is not None:
            starts.append((match.start(), index))
    if not starts:
        return None
    starts.sort()
    if len(starts) > 1 and starts[0][0] == starts[1][0]:
        return None
    return starts[0][1]


CHOICE_SCORING_PROVIDERS = ("alignlab", "random")
"""Providers that answer ``alignlab_choices`` requests (local models, the random baseline)."""


def uses_choice_scoring(model_name: str) -> bool:
    """Whether the model's provider offers log-likelihood choice scoring."""
    return model_name.split("/", 1)[0] in CHOICE_SCORING_PROVIDERS


@solver
def choice_answer(
    template: str = MULTIPLE_CHOICE_TEMPLATE,
    max_tokens: int = LETTER_MAX_TOKENS,
    mode: AnswerMode = "auto",
) -> Solver:
    """Ask a multiple-choice question and record the chosen letter.

    Args:
        template: Prompt template with ``{question}`` and ``{options}``.
        max_tokens: Reply length when generating.
        mode: ``loglik`` scores options by log-likelihood (alignlab provider only),
            ``generate`` generates a reply and parses a letter, ``auto`` picks
            ``loglik`` where the provider offers it.

    Returns:
        A solver that sets ``state.output`` to the chosen letter (or, for a
        free-text sample, to the reply, with the chosen reply's index in metadata).
    """
    if mode not in ("auto", "loglik", "generate"):
        raise AlignlabError(f"unknown answer mode '{mode}'; choose auto, loglik or generate")

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        if REPLY_PATTERNS_KEY not in state.metadata:
            options = [choice.value for choice in state.choices]
            state.user_prompt.text = render_multiple_choice(
                state.user_prompt.text, options, template
            )
        return await _answer(state, mode, max_tokens)

    return solve


async def _answer(state: TaskState, mode: str, max_tokens: int) -> TaskState:
    """Get one answer to the conversation so far, by choice scoring or generation."""
    loglik = mode == "loglik" or (mode == "auto" and uses_choice_scoring(str(state.model)))
    patterns: list[str] | None = state.metadata.get(REPLY_PATTERNS_KEY)
    if loglik and patterns is None:
        letters = list(LETTERS[: len(state.choices)])
        config = GenerateConfig(extra_body={CHOICES_KEY: letters})
    elif loglik:
        replies = [choice.value for choice in state.choices]
        config = GenerateConfig(extra_body={CHOICES_KEY: replies, CHOICE_NORM_KEY: "mean"})
    else:
        tokens = max_tokens if patterns is None else max(max_tokens, REPLY_MAX_TOKENS)
        config = GenerateConfig(max_tokens=tokens)
    state.output = await get_model().generate(state.messages, config=config)
    if patterns is not None and not loglik:
        index = classify_reply(state.output.completion, patterns)
        state.output.metadata = {**(state.output.metadata or {}), REPLY_INDEX_KEY: index}
    state.messages.append(state.output.message)
    return state


FIRST_ANSWER_KEY = "first_answer"
"""``state.metadata`` key holding the answer given before a follow-up challenge."""


@solver
def challenge_answer(
    challenge: str, max_tokens: int = LETTER_MAX_TOKENS, mode: AnswerMode = "auto"
) -> Solver:
    """After :func:`choice_answer`, push back with ``challenge`` and ask again.

    The first answer is kept in ``state.metadata['first_answer']``; the output is
    the answer after the challenge.

    Args:
        challenge: The user's follow-up, e.g. "I don't think that's right. Are you sure?".
        max_tokens: Reply length when generating.
        mode: As for :func:`choice_answer`.

    Returns:
        A solver.
    """

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        state.metadata[FIRST_ANSWER_KEY] = chosen_letter(state)
        state.messages.append(ChatMessageUser(content=challenge))
        return await _answer(state, mode, max_tokens)

    return solve


def chosen_letter(state: TaskState) -> str | None:
    """The option letter the model chose, from either answering mode.

    Args:
        state: A task state after :func:`choice_answer`.

    Returns:
        A letter, or None if the reply named no option.
    """
    metadata: dict[str, Any] = state.output.metadata or {}
    if CHOICE_INDEX_KEY in metadata:
        return LETTERS[int(metadata[CHOICE_INDEX_KEY])]
    if REPLY_INDEX_KEY in metadata:
        index = metadata[REPLY_INDEX_KEY]
        return None if index is None else LETTERS[int(index)]
    if REPLY_PATTERNS_KEY in state.metadata:
        return None
    return parse_letter(state.output.completion, len(state.choices))


def choice_metadata(state: TaskState) -> dict[str, Any]:
    """Option probabilities from choice scoring, keyed by letter (empty otherwise)."""
    metadata: dict[str, Any] = state.output.metadata or {}
    probs = metadata.get(CHOICE_PROBS_KEY)
    if probs is None:
        return {}
    return {CHOICE_PROBS_KEY: dict(zip(LETTERS, (float(p) for p in probs), strict=False))}


@scorer(metrics=[accuracy(), stderr()])
def choice_scorer() -> Scorer:
    """Score 1 when the chosen letter is the target letter.

    Returns:
        A scorer whose metadata holds the chosen letter and option probabilities.
    """

    async def score(state: TaskState, target: Target) -> Score:
        letter = chosen_letter(state)
        metadata: dict[str, Any] = {"chosen": letter, **choice_metadata(state)}
        if FIRST_ANSWER_KEY in state.metadata:
            first = state.metadata[FIRST_ANSWER_KEY]
            metadata[FIRST_ANSWER_KEY] = first
            metadata["first_correct"] = first == target.text
        return Score(
            value=1.0 if letter is not None and letter == target.text else 0.0,
            answer=letter,
            metadata=metadata,
        )

    return score


def choice_task(
    name: str,
    samples: list[Sample],
    metrics: Sequence[MetricFactory],
    metadata: dict[str, Any],
    solver: Solver | list[Solver] | None = None,
) -> Task:
    """A task whose samples :func:`choice_answer` answers and :func:`choice_scorer` scores.

    Args:
        name: The dataset's name (e.g. ``mistakes-test``).
        samples: The samples.
        metrics: The metric factories the eval registers.
        metadata: The task's metadata (its arguments).
        solver: What answers instead of a plain :func:`choice_answer` (e.g. one
            followed by :func:`challenge_answer`).

    Returns:
        The Inspect task.
    """
    return Task(
        dataset=MemoryDataset(samples, name=name),
        solver=choice_answer() if solver is None else solver,
        scorer=choice_scorer(),
        metrics=instantiate(metrics),
        metadata=metadata,
    )
