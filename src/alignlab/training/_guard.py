"""Training examples, their token accounting, and the leakage guard.

Methods return plain examples; the trainer owns tokenisation, so every method
is charged for tokens the same way.  The leakage guard is the project's rule
that only ``train`` splits may be trained on: it regenerates every registered
eval's ``test`` and ``heldout`` prompts and refuses training data that contains
one of them (by hash of the normalised user text) or the evals' canary string.

A user message counts as a test/heldout prompt if it appears there and *not* in
the same eval's ``train`` split: multi-turn items share boilerplate turns
across splits by design (a "you got that wrong" pushback after a content turn
that is split-specific), and such a turn is not an item.  Multiple-choice items
are protected both as the generator writes them and as the solver shows them
(question, lettered options, answer instruction), since training data renders
them the second way.
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


GUARD_SEEDS = (0, 1)
"""Seeds whose test/heldout (and train) items the guard regenerates, at each eval's defaults."""


@lru_cache(maxsize=1)
def protected_hashes() -> frozenset[str]:
    """Hashes of the user messages of every registered eval's test and heldout items.

    Messages that the same eval's ``train`` split also contains are left out (shared
    boilerplate turns, not items).
    """
    from alignlab.evals import registered_evals

    hashes: set[str] = set()
    for info in registered_evals().values():
        per_split: dict[str, set[str]] = {}
        for split in ("train", "test", "heldout"):
            if split not in info.splits:
                continue
            texts = per_split.setdefault(split, set())
            for seed in GUARD_SEEDS:
                try:
                    task = info.factory(split=split, seed=seed)
                except Exception:  # an eval that needs arguments (mwe: a path) has no generator
                    continue
                for sample in task.dataset:
                    texts.update(_sample_user_texts(sample))
        shared = per_split.get("train", set())
        for split in ("test", "heldout"):
            hashes.update(_digest(t) for t in per_split.get(split, set()) - shared)
    return frozenset(hashes)


def _sample_user_texts(sample: Any) -> Iterable[str]:
    """Normalised user texts of a sample, plus the last one as the MC solver renders it."""
    from alignlab.protocol import REPLY_PATTERNS_KEY, render_multiple_choice

    if isinstance(sample.input, str):
        texts = [sample.input]
    else:
        texts = [m.text for m in sample.input if m.role == "user"]
    yield from (_normalise(t) for t in texts)
    if texts and sample.choices and REPLY_PATTERNS_KEY not in (sample.metadata or {}):
        yield _normalise(render_multiple_choice(texts[-1], [str(c) for c in sample.choices]))


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
