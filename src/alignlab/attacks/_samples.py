"""Rewriting a sample's conversation without touching what scores it.

The paraphrase and eval-awareness attacks change what a model *reads* (the
text of its messages) and never what *scores* it: the id (the runner pairs
on it), the target, the choices and the metadata (reply patterns, which
option is which) are copied unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from inspect_ai.dataset import Sample
from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageUser,
)

TextRewrite = Callable[[str], str]


def messages_of(sample: Sample) -> list[ChatMessage]:
    """The sample's input as messages (a string input is one user message)."""
    if isinstance(sample.input, str):
        return [ChatMessageUser(content=sample.input)]
    return list(sample.input)


def prompt_text(sample: Sample) -> str:
    """Every message's text, one per line (what a model reads, in order)."""
    return "\n".join(message.text for message in messages_of(sample))


def with_messages(sample: Sample, messages: Sequence[ChatMessage]) -> Sample:
    """A copy of ``sample`` asking ``messages``; id, target, choices and metadata kept.

    A string input stays a string when the result is one user message.
    """
    copy = sample.model_copy(deep=True)
    if isinstance(sample.input, str) and len(messages) == 1 and messages[0].role == "user":
        copy.input = messages[0].text
    else:
        copy.input = list(messages)
    return copy


def rewritten(message: ChatMessage, text: str) -> ChatMessage:
    """``message`` with its text replaced (same role)."""
    if message.role == "system":
        return ChatMessageSystem(content=text)
    if message.role == "assistant":
        return ChatMessageAssistant(content=text)
    if message.role == "user":
        return ChatMessageUser(content=text)
    return message.model_copy(update={"content": text})


def map_texts(sample: Sample, rewrite: TextRewrite, roles: Sequence[str] = ("user",)) -> Sample:
    """``sample`` with ``rewrite`` applied to the text of every message of ``roles``."""
    messages = [
        rewritten(m, rewrite(m.text)) if m.role in roles else m for m in messages_of(sample)
    ]
    return with_messages(sample, messages)


def map_last_user(sample: Sample, rewrite: TextRewrite) -> Sample:
    """``sample`` with ``rewrite`` applied to its last user message (the one answered)."""
    messages = messages_of(sample)
    last = max(i for i, m in enumerate(messages) if m.role == "user")
    messages[last] = rewritten(messages[last], rewrite(messages[last].text))
    return with_messages(sample, messages)
