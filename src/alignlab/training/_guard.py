"""The leakage guard: only ``train`` splits may be trained on.

It regenerates every registered eval's ``test`` and ``heldout`` prompts and
refuses training data that contains one of them (by hash of the normalised
user text) or the evals' canary string (:data:`alignlab.evals.CANARY`).
:func:`alignlab.training.run` calls it once, for every training kind, before
any trainer starts.

A user message counts as a test/heldout prompt if it appears there and *not* in
the same eval's ``train`` split: multi-turn items share boilerplate turns
across splits by design (a "you got that wrong" pushback after a content turn
that is split-specific), and such a turn is not an item.  Multiple-choice items
are protected both as the generator writes them and as the solver shows them
(question, lettered options, answer instruction), since training data renders
them the second way.

No silent holes: an eval registered with ``external_data=True`` (it reads a
user's file, e.g. ``mwe``) has no generator to regenerate, so it is skipped,
and the skip is recorded in :class:`GuardReport` (hence in the manifest).  Any
other eval whose task factory or sample generator raises makes the guard
fail, naming the eval, instead of dropping that eval from the protected set.

One audited exemption: the ``train_on_public`` contamination attack trains on
an eval's ``test`` items on purpose, to measure how much an eval rewards
having seen its items.  :func:`check_no_leakage` lets such items through only
when given a :class:`GuardExemption` whose method is listed in
:data:`CONTAMINATION_METHODS` (edited here, nowhere else) and acknowledged by
the user; it exempts that one eval's one split and nothing else (the canary,
every other eval and split, and the same eval's other protected split are
still refused), and the report says what was let through
(:attr:`GuardReport.exempted`; the manifest records
:class:`Contamination`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from alignlab._errors import AlignlabError
from alignlab.evals import CANARY, registered_evals
from alignlab.training._examples import Example, SFTExample, normalise, user_text

GUARD_SEEDS = (0, 1)
"""Seeds whose test/heldout (and train) items the guard regenerates, at each eval's defaults."""

PROTECTED_SPLITS = ("test", "heldout")
"""Splits whose prompts training data may not contain."""

CONTAMINATION_METHODS: Final = frozenset({"train_on_public"})
"""The only methods the guard lets train on an eval's protected items, each only with
the user's acknowledgement (:class:`GuardExemption`).  Adding a method here is the
audit point: nothing else can widen the exemption."""


class Contamination(BaseModel):
    """An eval's protected split that a run trained on knowingly (in its manifest)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    eval: str
    """The eval whose items were trained on."""
    split: str
    """Its split (``test``)."""
    n_items: int
    """How many of its items the method built into the training data (the token
    budget and the learning check's held-back share may train on fewer)."""


@dataclass(frozen=True)
class GuardExemption:
    """A request to let one eval's one protected split through the guard."""

    method: str
    """The registered method asking (must be in :data:`CONTAMINATION_METHODS`)."""
    contamination: Contamination
    """Which eval and split."""
    acknowledged: bool
    """The user said they know the run contaminates (``i_know_this_contaminates``)."""


class GuardReport(BaseModel):
    """Which evals the leakage guard protected, and which it could not (and why)."""

    model_config = ConfigDict(frozen=True)

    checked: list[str] = Field(default_factory=list)
    """Evals whose test/heldout prompts were regenerated and refused in training data."""
    skipped: dict[str, str] = Field(default_factory=dict)
    """Evals left out, with the reason (only evals that declare ``external_data``)."""
    exempted: str | None = None
    """``EVAL/SPLIT`` whose items the guard knowingly let through (a contamination
    run, see :class:`GuardExemption`); None for every other run."""


@dataclass(frozen=True)
class Protection:
    """What the guard compares training data against, and what it covers."""

    hashes: frozenset[str]
    """Hashes of the normalised protected user texts."""
    report: GuardReport
    """Evals checked and skipped."""
    by_split: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    """The same hashes by ``(eval, split)`` (what an exemption may let through)."""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


EXTERNAL_DATA_REASON = (
    "reads external data (registered with external_data=True): no generator to regenerate "
    "its test/heldout items, so they are not protected"
)


@lru_cache(maxsize=1)
def protection() -> Protection:
    """Hashes of the user messages of every registered eval's test and heldout items.

    Messages that the same eval's ``train`` split also contains are left out (shared
    boilerplate turns, not items).  Cached; call ``protection.cache_clear()`` after
    registering or unregistering an eval.

    Returns:
        The hashes and the report of evals checked and skipped.

    Raises:
        AlignlabError: If an eval that does not declare ``external_data`` fails to
            generate a split (naming the eval, the split and the error).
    """
    hashes: set[str] = set()
    by_split: dict[tuple[str, str], frozenset[str]] = {}
    checked: list[str] = []
    skipped: dict[str, str] = {}
    for info in registered_evals().values():
        if info.external_data:
            skipped[info.name] = EXTERNAL_DATA_REASON
            continue
        per_split: dict[str, set[str]] = {}
        for split in ("train", *PROTECTED_SPLITS):
            if split not in info.splits:
                continue
            texts = per_split.setdefault(split, set())
            for seed in GUARD_SEEDS:
                for args in info.item_args:
                    texts.update(_split_user_texts(info.name, info.factory, split, seed, args))
        shared = per_split.get("train", set())
        for split in PROTECTED_SPLITS:
            if split in per_split:
                digests = frozenset(_digest(t) for t in per_split[split] - shared)
                by_split[(info.name, split)] = digests
                hashes.update(digests)
        checked.append(info.name)
    report = GuardReport(checked=checked, skipped=skipped)
    return Protection(frozenset(hashes), report, by_split)


def protected_hashes() -> frozenset[str]:
    """Hashes of every protected (test/heldout-only) user message; see :func:`protection`."""
    return protection().hashes


def _split_user_texts(
    name: str, factory: Any, split: str, seed: int, args: dict[str, Any] | None = None
) -> set[str]:
    """Normalised user texts of one split of one eval; any failure names the eval."""
    try:
        task = factory(split=split, seed=seed, **(args or {}))
        return {text for sample in task.dataset for text in _sample_user_texts(sample)}
    except Exception as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise AlignlabError(
            f"leakage guard: eval '{name}' failed to generate its {split} split (seed {seed}): "
            f"{type(exc).__name__}{': ' + detail if detail else ''}; fix the eval, or register "
            "it with external_data=True if it reads a user's file"
        ) from exc


def _sample_user_texts(sample: Any) -> Iterable[str]:
    """Normalised user texts of a sample, plus the last one as the MC solver renders it."""
    from alignlab.protocol import REPLY_PATTERNS_KEY, render_multiple_choice

    if isinstance(sample.input, str):
        texts = [sample.input]
    else:
        texts = [m.text for m in sample.input if m.role == "user"]
    yield from (normalise(t) for t in texts)
    if texts and sample.choices and REPLY_PATTERNS_KEY not in (sample.metadata or {}):
        yield normalise(render_multiple_choice(texts[-1], [str(c) for c in sample.choices]))


def exempt_hashes(guarded: Protection, exemption: GuardExemption) -> frozenset[str]:
    """The protected hashes an exemption lets through: its eval's split, nothing shared.

    A text that also belongs to another eval's or split's protected items stays refused.

    Raises:
        AlignlabError: A method not in :data:`CONTAMINATION_METHODS`, an exemption the
            user did not acknowledge, or an eval/split the guard does not protect.
    """
    where = f"{exemption.contamination.eval}/{exemption.contamination.split}"
    if exemption.method not in CONTAMINATION_METHODS:
        raise AlignlabError(
            f"leakage guard: method '{exemption.method}' may not train on protected items "
            f"({where}); only {', '.join(sorted(CONTAMINATION_METHODS))} may"
        )
    if not exemption.acknowledged:
        raise AlignlabError(
            f"leakage guard: training on {where} contaminates the eval; "
            "pass i_know_this_contaminates=true to do it anyway"
        )
    key = (exemption.contamination.eval, exemption.contamination.split)
    if key not in guarded.by_split:
        raise AlignlabError(f"leakage guard: {where} is not a protected eval split")
    others = frozenset().union(*(h for k, h in guarded.by_split.items() if k != key))
    return guarded.by_split[key] - others


def check_no_leakage(
    examples: Sequence[Example], exemption: GuardExemption | None = None
) -> GuardReport:
    """Refuse training data that contains an eval's test/heldout prompt or the canary.

    Args:
        examples: The training examples.
        exemption: Let one eval's one protected split through (contamination runs
            only; see :func:`exempt_hashes`).  None: refuse every protected prompt.

    Returns:
        Which evals were checked and which were skipped (for the manifest), and
        the split exempted, if any.

    Raises:
        AlignlabError: Naming the first offending example, an eval that failed to
            generate its items, or an exemption that is not allowed.
    """
    guarded = protection()
    allowed = exempt_hashes(guarded, exemption) if exemption is not None else frozenset()
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
            digest = _digest(text)
            if digest in guarded.hashes and digest not in allowed:
                raise AlignlabError(
                    f"training example {index} contains a test/heldout eval prompt: "
                    f"'{text[:60]}...'; methods may only use train splits"
                )
    if exemption is None:
        return guarded.report
    contamination = exemption.contamination
    return guarded.report.model_copy(
        update={"exempted": f"{contamination.eval}/{contamination.split}"}
    )
