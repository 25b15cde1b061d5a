"""Training examples, and the content hash of a dataset.

Methods return plain examples; the trainers own tokenisation, so every method
is charged for tokens the same way.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Message = dict[str, str]
"""A chat message: ``{"role": ..., "content": ...}``."""


@dataclass(frozen=True)
class SFTExample:
    """A conversation prefix and the assistant reply to learn."""

    prompt: tuple[Message, ...]
    """System/user (and earlier) messages."""
    completion: str
    """The assistant reply the loss is computed on."""
    tags: dict[str, str] = field(default_factory=dict)
    """Free-form labels (family, condition) kept for inspection, not trained on."""


@dataclass(frozen=True)
class PreferenceExample:
    """A prompt with a preferred and a dispreferred reply (for DPO)."""

    prompt: tuple[Message, ...]
    """System/user messages."""
    chosen: str
    """The reply to make more likely."""
    rejected: str
    """The reply to make less likely."""
    tags: dict[str, str] = field(default_factory=dict)
    """Free-form labels kept for inspection."""


Example = SFTExample | PreferenceExample


def normalise(text: str) -> str:
    """Whitespace collapsed, stripped, lower-cased: the form the leakage guard compares."""
    return re.sub(r"\s+", " ", text).strip().lower()


def user_text(messages: Sequence[Message]) -> list[str]:
    """The normalised text of each user message (what the guard compares)."""
    return [normalise(m["content"]) for m in messages if m.get("role") == "user"]


def dataset_sha256(examples: Sequence[Example]) -> str:
    """A content hash of the examples, order included."""
    hasher = hashlib.sha256()
    for example in examples:
        if isinstance(example, SFTExample):
            record: dict[str, Any] = {"prompt": example.prompt, "completion": example.completion}
        else:
            record = {
                "prompt": example.prompt,
                "chosen": example.chosen,
                "rejected": example.rejected,
            }
        hasher.update(json.dumps(record, sort_keys=True).encode())
    return hasher.hexdigest()
