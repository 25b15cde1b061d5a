"""Training examples, their token accounting, and the leakage guard.

Methods return plain examples; the trainer owns tokenisation, so every method
is charged for tokens the same way.  The leakage guard is the project's rule
that only ``train`` splits may be trained on: it regenerates every registered
eval's ``test`` and ``heldout`` prompts and refuses training data that contains
one of them (by hash of the normalised user text) or the evals' canary string.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from alignlab._errors import AlignlabError

CANARY = "alignlab-canary-6f1c0e2a: eval data, never train on this"
"""Put in any file of eval items written to disk; training data containing it is refused."""

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


def user_text(messages: Sequence[Message]) -> list[str]:
    """The normalised text of each user message (what the guard compares)."""
    return [_normalise(m["content"]) for m in messages if m.get("role") == "user"]


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


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


GUARD_ITEMS = 300
"""Items regenerated per eval and split for the guard (seed 0 and 1)."""


@lru_cache(maxsize=1)
def protected_hashes() -> frozenset[str]:
    """Hashes of every user message in every registered eval's test and heldout splits."""
    from inspect_ai.dataset import Sample

    from alignlab.evals import registered_evals

    hashes: set[str] = set()
    for info in registered_evals().values():
        for split in ("test", "heldout"):
            if split not in info.splits:
                continue
            for seed in (0, 1):
                try:
                    task = info.factory(split=split, seed=seed)
                except Exception:  # an eval that needs arguments (mwe: a path) has no generator
                    continue
                for sample in task.dataset:
                    assert isinstance(sample, Sample)
                    for text in _sample_user_texts(sample):
                        hashes.add(_digest(text))
    return frozenset(hashes)


def _sample_user_texts(sample: Any) -> Iterable[str]:
    if isinstance(sample.input, str):
        yield _normalise(sample.input)
        return
    for message in sample.input:
        if message.role == "user":
            yield _normalise(message.text)


def check_no_leakage(examples: Sequence[Example]) -> None:
    """Refuse training data that contains an eval's test/heldout prompt or the canary.

    Args:
        examples: The training examples.

    Raises:
        AlignlabError: Naming the first offending example.
    """
    protected = protected_hashes()
    for index, example in enumerate(examples):
        texts = [m["content"] for m in example.prompt]
        texts += (
            [example.completion]
            if isinstance(example, SFTExample)
            else [example.chosen, example.rejected]
        )
        if any(CANARY in text for text in texts):
            raise AlignlabError(f"training example {index} contains the eval canary string")
        for text in user_text(example.prompt):
            if _digest(text) in protected:
                raise AlignlabError(
                    f"training example {index} contains a test/heldout eval prompt: "
                    f"'{text[:60]}...'; methods may only use train splits"
                )
