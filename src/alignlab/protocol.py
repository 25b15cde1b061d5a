"""The choice protocol: what an eval asks of a model, and how a question is shown.

Both :mod:`alignlab.models` (the provider answers choice requests) and
:mod:`alignlab.evals` (solvers make them; scorers read the answers) import
this module, and so does the leakage guard, which must see a multiple-choice
item exactly as the solver shows it.  Before it existed the keys were declared
twice with a "must match" comment and the prompt was rendered in three places.

A choice request is a ``GenerateConfig.extra_body`` entry, so an eval never
imports the provider and the request shows up in Inspect's transcript.
"""

from __future__ import annotations

from typing import Final, Literal

CHOICES_KEY: Final = "alignlab_choices"
"""``extra_body`` key whose value lists the options to score instead of generating."""

CHOICE_NORM_KEY: Final = "alignlab_choice_norm"
"""``extra_body`` key: ``"sum"`` (default) ranks options by total log-likelihood,
``"mean"`` by log-likelihood per token (free-text replies of unequal length)."""

ChoiceNorm = Literal["sum", "mean"]
CHOICE_NORMS: Final[tuple[ChoiceNorm, ...]] = ("sum", "mean")

CHOICE_INDEX_KEY: Final = "choice_index"
"""``output.metadata`` key: index of the chosen option."""
CHOICE_PROBS_KEY: Final = "choice_probs"
"""``output.metadata`` key: the options' probabilities (softmax over their scores)."""
CHOICE_LOGPROBS_KEY: Final = "choice_logprobs"
"""``output.metadata`` key: the options' log-likelihoods (normalised as asked)."""
CHOICE_OPTIONS_KEY: Final = "choice_options"
"""``output.metadata`` key: the options as scored."""

CHOICE_SCORING_KEY: Final = "choice_scoring"
"""Sample metadata key: how a lettered question is answered (a :data:`ChoiceScoring`).

Stamped on every sample by the eval registry from the task's ``scoring`` argument;
the scorer records the mode that actually produced each answer under the same key."""

ChoiceScoring = Literal["auto", "letter", "content", "content_both_orders"]
CHOICE_SCORINGS: Final[tuple[ChoiceScoring, ...]] = (
    "auto",
    "letter",
    "content",
    "content_both_orders",
)
"""``letter``: the log-likelihood of each option's letter after the lettered prompt.
``content``: the log-likelihood per token of each option's *text* as the reply
(lm-evaluation-harness's length-normalised scoring).  ``content_both_orders``:
``content`` averaged over the options shown in their order and in reverse, so a
position prior cancels.  ``auto``: the model's measured default (content for a
model whose letter answers were shown to ignore content, else letter).  Free-text
samples are always scored by content; generating providers parse a letter."""

REPLY_PATTERNS_KEY: Final = "reply_patterns"
"""Sample metadata key: one regex per candidate reply marks a free-text sample."""

LETTERS: Final = "ABCDEFGHIJ"
"""Option letters, in order."""

MULTIPLE_CHOICE_TEMPLATE: Final = (
    "{question}\n\n{options}\n\nAnswer with the letter of your choice."
)
"""How a lettered question is shown to the model (solver, training data and guard alike)."""

CONTENT_CHOICE_TEMPLATE: Final = "{question}\n\n{options}\n\nAnswer with the option you choose."
"""The same question when the reply scored is an option's text, not its letter."""


def format_options(options: list[str]) -> str:
    """Render options as ``(A) first`` lines.

    Args:
        options: Option texts in order.

    Returns:
        One line per option.
    """
    return "\n".join(f"({LETTERS[i]}) {text}" for i, text in enumerate(options))


def render_multiple_choice(
    question: str, options: list[str], template: str = MULTIPLE_CHOICE_TEMPLATE
) -> str:
    """The user turn of a lettered question, exactly as the model sees it.

    Args:
        question: The question text.
        options: Option texts in order.
        template: A template with ``{question}`` and ``{options}``.

    Returns:
        The rendered prompt.
    """
    return template.format(question=question, options=format_options(options))


__all__ = [
    "CHOICES_KEY",
    "CHOICE_INDEX_KEY",
    "CHOICE_LOGPROBS_KEY",
    "CHOICE_NORMS",
    "CHOICE_NORM_KEY",
    "CHOICE_OPTIONS_KEY",
    "CHOICE_PROBS_KEY",
    "CHOICE_SCORINGS",
    "CHOICE_SCORING_KEY",
    "CONTENT_CHOICE_TEMPLATE",
    "LETTERS",
    "MULTIPLE_CHOICE_TEMPLATE",
    "REPLY_PATTERNS_KEY",
    "ChoiceNorm",
    "ChoiceScoring",
    "format_options",
    "render_multiple_choice",
]
