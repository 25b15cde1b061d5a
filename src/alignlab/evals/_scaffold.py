"""What every eval shares: splits, formats, the content split, pools, rates, the canary.

Each eval used to re-declare these (``Split``, ``SPLITS``, ``FORMATS``, its own
hash split and "unknown split" check, and a switch between the content that
``train``/``test`` share and the content only ``heldout`` has, called
``family`` in one eval and ``pool`` in another).  They live here once.

The split rule, the same for every generated eval: ``train`` and ``test`` draw
from the same *shared* pool of templates and content and are separated by a
hash of each item's content key (operands, a fact's subject, a situation's
id), so an item is in exactly one of them; ``heldout`` draws from its own
*heldout* pool (templates, phrasings and content found in no other split).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Final, Literal

from inspect_ai.scorer import SampleScore

from alignlab._errors import AlignlabError

Split = Literal["train", "test", "heldout"]
SPLITS: Final[tuple[Split, ...]] = ("train", "test", "heldout")
"""Every generated eval's splits; ``train`` is the only one a method may read."""

Format = Literal["multiple_choice", "chat", "deployment"]
FORMATS: Final[tuple[Format, ...]] = ("multiple_choice", "chat", "deployment")
"""Surface formats: lettered options, a plain chat, a product assistant's conversation."""

ALL: Final = "all"
"""The ``format`` (and, for user files, ``split``) argument value meaning "every one"."""

Pool = Literal["shared", "heldout"]
"""Which content a split draws from: ``shared`` (train and test) or ``heldout``."""

CANARY: Final = "alignlab-canary-6f1c0e2a: eval data, never train on this"
"""In every eval data file; training data containing it is refused by the leakage guard."""

CLUSTER_KEY: Final = "item_id"
"""Sample metadata key: samples derived from one underlying item share it and are
resampled together by the bootstrap (one claim under several opinions, ...)."""


def check_split(split: str, allowed: Sequence[str] = SPLITS) -> Split:
    """``split`` if it is one of ``allowed``.

    Raises:
        AlignlabError: Naming the valid splits.
    """
    if split not in allowed:
        raise AlignlabError(f"unknown split '{split}'; choose one of {', '.join(allowed)}")
    return split  # type: ignore[return-value]


def check_formats(
    format: str | Sequence[str], allowed: Sequence[str] = FORMATS
) -> tuple[Format, ...]:
    """The formats a ``format`` argument selects: ``all`` or one of ``allowed``.

    A sequence of such values selects each of their formats once, in order.

    Raises:
        AlignlabError: Naming the valid values (or on an empty sequence).
    """
    if not isinstance(format, str):
        if not format:
            raise AlignlabError(f"formats is empty; choose from all, {', '.join(allowed)}")
        return tuple(dict.fromkeys(f for name in format for f in check_formats(name, allowed)))
    if format == ALL:
        return tuple(allowed)  # type: ignore[arg-type]
    if format not in allowed:
        raise AlignlabError(f"unknown format '{format}'; choose all or one of {', '.join(allowed)}")
    return (format,)  # type: ignore[return-value]


def check_positive(name: str, value: int) -> int:
    """``value`` if it is a positive integer.

    Raises:
        AlignlabError: Naming the argument.
    """
    if value <= 0:
        raise AlignlabError(f"{name} must be positive, got {value}")
    return value


def check_generator_args(
    split: str, format: str | Sequence[str], **counts: int
) -> tuple[Split, tuple[Format, ...]]:
    """Check a sample generator's arguments: the split, the format and every count.

    Args:
        split: The ``split`` argument.
        format: The ``format`` argument: ``all`` or one of :data:`FORMATS`, or a
            sequence of them.
        **counts: Arguments that must be positive, by name (e.g. ``n_items=60``).

    Returns:
        The split and the formats ``format`` selects.

    Raises:
        AlignlabError: As :func:`check_split`, :func:`check_formats` and
            :func:`check_positive` (checked in that order).
    """
    checked, formats = check_split(split), check_formats(format)
    for name, value in counts.items():
        check_positive(name, value)
    return checked, formats


def pool(split: Split) -> Pool:
    """The content pool a split draws from."""
    return "heldout" if split == "heldout" else "shared"


def hash_split(key: str) -> Literal["train", "test"]:
    """``train`` or ``test`` for a shared-pool item, by a hash of its content key.

    Half of all keys go to each; the rule is deterministic and the same for
    every eval, so a key's split never depends on generation order or seed.
    """
    return "train" if hashlib.sha256(key.encode()).digest()[0] % 2 == 0 else "test"


def belongs_to(split: Split, key: str) -> bool:
    """Whether a shared-pool item with content ``key`` belongs to ``split`` (heldout: always)."""
    return split == "heldout" or hash_split(key) == split


def rate(values: Iterable[bool | float]) -> float:
    """Mean of ``values`` (True counts 1); NaN when there are none.

    Every eval metric is a share of eligible samples; an empty denominator is
    NaN, never 0, so that "no eligible sample" cannot pass for "never happens".
    """
    listed = [float(v) for v in values]
    return sum(listed) / len(listed) if listed else float("nan")


def accuracy_where(scores: Sequence[SampleScore], condition: str) -> float:
    """Mean score of the samples whose metadata ``condition`` is ``condition``; NaN if none."""
    return rate(
        float(s.score.as_float())
        for s in scores
        if (s.sample_metadata or {}).get("condition") == condition
    )
