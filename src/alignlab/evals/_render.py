"""Eval samples as chat messages and candidate replies, exactly as the eval's solver shows them.

Anything that trains or scores on eval-shaped data (methods' training data,
reward models' preference pairs) must present an item the way the eval does,
or it would measure a format shift rather than the behaviour.  Multiple
choice: the question, lettered options and the answer instruction, answered
with a letter.  Free-text formats: the conversation as is, answered with one
of the candidate replies.  These helpers take a sample of any split; who may
use which split is the caller's rule (methods: ``train`` only).
"""

from __future__ import annotations

from typing import Any

from alignlab.evals._choice import shown_messages
from alignlab.protocol import LETTERS, REPLY_PATTERNS_KEY


def render_prompt(sample: Any) -> tuple[dict[str, str], ...]:
    """The conversation the eval's solver sends for ``sample``, as plain role/content dicts.

    Args:
        sample: An Inspect ``Sample`` from an eval generator (any split).

    Returns:
        Chat messages ending with the user turn; a multiple-choice item's last
        turn carries its lettered options and answer instruction.
    """
    return tuple(shown_messages(sample))  # one rendering: what choice_answer sends


def option_reply(sample: Any, letter: str) -> str:
    """What the assistant says to choose option ``letter``: the letter, or the reply text.

    Args:
        sample: The sample.
        letter: An option letter (``A``, ``B``, ...).

    Returns:
        The letter for a multiple-choice item, else the candidate reply's text.
    """
    index = LETTERS.index(letter)
    if REPLY_PATTERNS_KEY in (sample.metadata or {}):
        return str(sample.choices[index])
    return letter
