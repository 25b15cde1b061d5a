"""Moving a sample's options to other positions without changing what the item means.

Shared by the ``answer_position`` attack and the ``position_debias`` hardening.
A lettered sample names its options by letter in three places: its ``target``,
metadata fields whose name ends in ``_letter`` (``correct_letter``,
``user_letter``, ``agree_letter``, ``honest_letter``, ``exploit_letter``,
``aligned_letter``, ``matching_letter``, ``hinted_letter``: every one the
built-in evals write) and metadata dicts keyed by letter (``kinds`` in
``mistakes``: letter -> candidate kind).  :func:`rotate_options` moves the
options and remaps all three, so every metric (which reads those fields) keeps
its meaning; a ``_letter`` field holding anything but a valid letter or None is
an error rather than a silent mismatch.

Only lettered samples move.  A free-text sample (``reply_patterns`` in its
metadata) shows no options: its candidates are replies ranked or classified as
a whole, so they have no position to move.  An eval whose prompts already
contain the options (``cot_faithfulness`` writes them, and hints that name a
letter, into the user turn) cannot be reordered without rewriting its text:
:func:`unreorderable_reason` says so.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Final

from inspect_ai.dataset import Sample

from alignlab.protocol import LETTERS, REPLY_PATTERNS_KEY

LETTER_FIELD_SUFFIX: Final = "_letter"
"""Sample metadata fields with this suffix name an option by letter (or are None)."""
LETTER_KEYED_FIELDS: Final = ("kinds",)
"""Sample metadata dicts keyed by option letter."""
MIN_OPTIONS: Final = 2
"""Fewer options than this have no order to change."""
PROBE_SAMPLES: Final = 200
"""How many of an eval's samples :func:`unreorderable_reason` looks at."""


def is_lettered(sample: Sample) -> bool:
    """Whether ``sample`` shows lettered options that can move (at least two, not free text)."""
    return len(sample.choices or []) >= MIN_OPTIONS and REPLY_PATTERNS_KEY not in (
        sample.metadata or {}
    )


def _prompt_text(sample: Sample) -> str:
    if isinstance(sample.input, str):
        return sample.input
    return "\n".join(message.text for message in sample.input)


def options_in_prompt(sample: Sample) -> bool:
    """Whether every option text of a lettered sample already appears in its prompt."""
    text = _prompt_text(sample)
    return is_lettered(sample) and all(option in text for option in sample.choices or [])


def unreorderable_reason(samples: Sequence[Sample]) -> str | None:
    """Why these samples' options cannot be moved, or None when they can.

    Args:
        samples: An eval's samples (the first :data:`PROBE_SAMPLES` are looked at).

    Returns:
        A reason when no sample has lettered options, or when some write their
        options into the prompt (moving ``choices`` would then not move what
        the model sees).
    """
    probe = list(samples)[:PROBE_SAMPLES]
    if not any(is_lettered(sample) for sample in probe):
        return "no sample shows lettered options (free-text replies have no position)"
    if any(options_in_prompt(sample) for sample in probe):
        return (
            "its prompts already contain the options (and letters in hints or examples), "
            "so options cannot be reordered without rewriting the items"
        )
    return None


def _remap(value: Any, mapping: Mapping[str, str], field: str, sample_id: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str) or value not in mapping:
        raise ValueError(
            f"sample {sample_id}: '{field}' is {value!r}, not one of its options' letters"
        )
    return mapping[value]


def rotate_options(sample: Sample, shift: int) -> Sample:
    """``sample`` with its options moved ``shift`` positions later, cyclically.

    The option at position ``j`` moves to ``(j + shift) % n``; the target, every
    ``*_letter`` metadata field and every letter-keyed dict follow it.  The id
    is kept (attack runs pair samples by id).  Samples that are not lettered
    (:func:`is_lettered`) are returned as a copy, unchanged.

    Args:
        sample: The sample.
        shift: Positions to move (any integer; taken modulo the option count).

    Returns:
        A new sample; ``sample`` is not modified.

    Raises:
        ValueError: A letter field that names no option of the sample.
    """
    moved = sample.model_copy(deep=True)
    if not is_lettered(sample):
        return moved
    options = list(sample.choices or [])
    n = len(options)
    k = shift % n
    mapping = {LETTERS[j]: LETTERS[(j + k) % n] for j in range(n)}
    rotated = [""] * n
    for j, option in enumerate(options):
        rotated[(j + k) % n] = option
    moved.choices = rotated
    if isinstance(sample.target, str):
        moved.target = _remap(sample.target, mapping, "target", sample.id)
    else:
        moved.target = [_remap(t, mapping, "target", sample.id) for t in sample.target]
    metadata = copy.deepcopy(dict(sample.metadata or {}))
    for field, value in metadata.items():
        if field.endswith(LETTER_FIELD_SUFFIX):
            metadata[field] = _remap(value, mapping, field, sample.id)
        elif field in LETTER_KEYED_FIELDS and isinstance(value, dict):
            metadata[field] = {
                _remap(letter, mapping, field, sample.id): kind for letter, kind in value.items()
            }
    moved.metadata = metadata
    return moved


def gold_position(sample: Sample) -> int | None:
    """The position of a lettered sample's target option (None: not lettered, or no target)."""
    target = sample.target if isinstance(sample.target, str) else None
    if (
        not is_lettered(sample)
        or target is None
        or target not in LETTERS[: len(sample.choices or [])]
    ):
        return None
    return LETTERS.index(target)


def move_gold_to(sample: Sample, position: int) -> Sample:
    """``sample`` rotated so that its target option sits at ``position`` (mod its count)."""
    gold = gold_position(sample)
    if gold is None:
        return sample.model_copy(deep=True)
    return rotate_options(sample, position - gold)
