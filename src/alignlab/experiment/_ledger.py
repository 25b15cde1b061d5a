"""The prediction ledger: theories, assumptions and predictions, registered before the results.

A run directory's ``ledger.jsonl`` holds one JSON entry per line: an
*assumption* (a short sentence with an id), a *theory* (a name and the ids of
the assumptions it makes) or a *prediction* (a claim about this experiment's
results with a probability, an author and the theory it belongs to).
Predictions come from ``alignlab predict add``, from Python
(:func:`register`) and from a spec's ``predictions:`` section (with
``assumptions:`` and ``theories:``), appended when ``alignlab run`` starts,
before any cell runs.  Three kinds of prediction:

- **directional**: variant ``method`` moves ``metric`` on ``eval``/``split``
  ``up`` or ``down`` by more than ``min_change`` relative to ``reference``
  (default ``none``); measured by the stored paired difference
  (``method`` minus ``reference``) and its 95% interval;
- **pairwise**: ``method`` beats ``other`` on the metric (``better: higher``
  or ``lower``) by more than ``min_change`` (default 0); measured by the
  paired difference of the two on the same samples: the stored comparison
  when one of them is a reference, else computed from the two eval logs the
  same way (paired cluster bootstrap);
- **interval**: ``method``'s metric lands in ``[low, high]``; measured by the
  metric of its eval cell and its 95% cluster-bootstrap interval.

Results of several seeds (or bases, or formats) are averaged: the point value
and each end of the interval (an interval about as wide as one seed's; it does
not include seed-to-seed variation).  The resolution rules and scores are in
:mod:`alignlab.analysis._forecasts`: hit when the whole interval is on the
claimed side, miss when none of it is, unresolved when it straddles the
threshold.

Honesty by construction:

- **Append-only and hash-chained.** Each entry stores the SHA-256 of the
  previous entry (``prev_sha256``; 64 zeros for the first) and its own
  SHA-256 over its canonical JSON without that field, so an edited, removed,
  inserted or reordered entry breaks the chain (:func:`verify_ledger`, ``alignlab
  predict verify``).  Entries are appended under an exclusive lock with fsync
  and never rewritten.  Removing entries from the *end* leaves a valid chain:
  compare with a head recorded earlier (printed by ``verify``, shown in the
  report; ``verify --head``).  The chain does not stop someone from rewriting
  the whole file; publishing or committing the head does.
- **Forecast or post-hoc.** A prediction is a forecast only if it was
  registered before the first eval cell it names started (the cells of its
  variants, and of the reference for a directional one, on its eval and
  split): ``registered_at`` (UTC, microseconds) is compared with the cells'
  ``started_at`` in the store (whole seconds; registration within the same
  second counts as before).  The earliest start the store held at
  registration is also recorded in the entry, so a cell rerun later cannot
  turn a post-hoc prediction into a forecast.  Post-hoc predictions are kept,
  listed and never scored.
- **Idempotent.** The same assumption, theory or prediction (same content) is
  appended once: rerunning a spec adds nothing.  A changed assumption or
  theory under an existing id is refused (register it under a new id); a
  changed prediction is a new prediction.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import math
import os
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from alignlab._errors import AlignlabError
from alignlab.experiment._keys import canonical_json
from alignlab.experiment._records import CellRecord, ComparisonRecord, MetricRecord

if TYPE_CHECKING:
    import pandas as pd

    from alignlab.analysis import ForecastScores, Outcome
    from alignlab.experiment._spec import ExperimentSpec, LoadedSpec, Variant
    from alignlab.experiment._store import Store

LEDGER_FILE: Final = "ledger.jsonl"
"""The ledger inside the run directory."""
LEDGER_VERSION: Final = 1
"""Schema version of ledger entries."""
GENESIS: Final = "0" * 64
"""``prev_sha256`` of the first entry."""
LOCK_WAIT_S: Final = 10.0
"""How long an append waits for another writer's lock before giving up."""
LEDGER_SECTIONS: Final = frozenset({"assumptions", "theories", "predictions"})
"""Spec keys that feed the ledger (not part of the run id: adding a prediction
to a spec does not make it another experiment)."""
DEFAULT_REFERENCE: Final = "none"
"""What a directional prediction is relative to unless it says otherwise."""

EntryKind = Literal["assumption", "theory", "prediction"]
PredictionType = Literal["directional", "pairwise", "interval"]
PREDICTION_TYPES: Final[tuple[PredictionType, ...]] = ("directional", "pairwise", "interval")

_SLUG: Final = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def content_sha256(self) -> str:
        """SHA-256 of the body's canonical JSON: the same content is the same entry."""
        return hashlib.sha256(canonical_json(self.model_dump(mode="json")).encode()).hexdigest()


class Assumption(_Body):
    """One assumption a theory makes; theories share assumptions by id."""

    id: str = Field(pattern=_SLUG, max_length=80)
    """Short identifier (letters, digits, ``_.:-``)."""
    text: str = Field(min_length=1, max_length=400)
    """The assumption, as a short sentence."""


class Theory(_Body):
    """A theory: a name and the assumptions it makes; its predictions name it."""

    name: str = Field(pattern=_SLUG, max_length=80)
    """The theory's name (letters, digits, ``_.:-``)."""
    assumptions: tuple[str, ...] = ()
    """Ids of the assumptions it makes (registered before it or with it)."""
    description: str = ""
    """Free text."""


class Prediction(_Body):
    """One author's probability that a claim about the experiment's results holds.

    Which fields a prediction needs depends on its ``type`` (see the module docstring).
    """

    type: PredictionType
    """``directional``, ``pairwise`` or ``interval``."""
    theory: str = Field(min_length=1)
    """The theory it belongs to."""
    author: str = Field(min_length=1, max_length=80)
    """Who makes it (``crowd`` is reserved)."""
    probability: float = Field(gt=0.0, lt=1.0)
    """Probability that the claim holds, strictly between 0 and 1."""
    claim: str = Field(min_length=1)
    """The claim in the author's words."""
    method: str = Field(min_length=1)
    """The method variant (its label in the spec, e.g. ``dpo`` or ``rm[p=0.5]``)."""
    eval: str = Field(min_length=1)
    """The eval."""
    split: str = Field(min_length=1)
    """The eval split."""
    metric: str = Field(min_length=1)
    """The metric."""
    direction: Literal["up", "down"] | None = None
    """directional: which way ``method`` moves the metric relative to ``reference``."""
    reference: str | None = None
    """directional: the variant it is relative to (default ``none``)."""
    other: str | None = None
    """pairwise: the variant ``method`` beats."""
    better: Literal["higher", "lower"] | None = None
    """pairwise: whether a higher or a lower value of the metric is better."""
    min_change: float | None = Field(default=None, ge=0.0)
    """directional and pairwise: by more than this much (default 0)."""
    low: float | None = None
    """interval: lower end of the claimed interval."""
    high: float | None = None
    """interval: upper end."""

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        kind = data.get("type") if isinstance(data, dict) else None
        if kind not in ("directional", "pairwise"):
            return data
        data = dict(data)
        if kind == "directional":
            data.setdefault("reference", DEFAULT_REFERENCE)
        if data.get("min_change") is None:
            data["min_change"] = 0.0
        return data

    @model_validator(mode="after")
    def _fields_of_type(self) -> Prediction:
        from alignlab.analysis import CROWD

        if self.author == CROWD:
            raise ValueError(f"'{CROWD}' is reserved for the mean of all authors")
        needs: dict[str, tuple[str, ...]] = {
            "directional": ("direction", "reference", "min_change"),
            "pairwise": ("other", "better", "min_change"),
            "interval": ("low", "high"),
        }
        for name in needs[self.type]:
            if getattr(self, name) is None:
                raise ValueError(f"a {self.type} prediction needs '{name}'")
        for kind, names in needs.items():
            for name in names:
                foreign = kind != self.type and name not in needs[self.type]
                if foreign and getattr(self, name) is not None:
                    raise ValueError(f"'{name}' is for {kind} predictions, not {self.type}")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low ({self.low}) is above high ({self.high})")
        if self.type == "directional" and self.reference == self.method:
            raise ValueError("a directional prediction compares a variant with another reference")
        if self.type == "pairwise" and self.other == self.method:
            raise ValueError("a pairwise prediction compares two different variants")
        return self

    @property
    def id(self) -> str:
        """Short id: the first 12 hex digits of the content hash."""
        return self.content_sha256()[:12]

    @property
    def question(self) -> str:
        """What is predicted, without who predicts it (forecasts of one question are compared)."""
        fields = self.model_dump(mode="json", exclude={"theory", "author", "probability", "claim"})
        return hashlib.sha256(canonical_json(fields).encode()).hexdigest()[:12]

    def variants(self) -> tuple[str, ...]:
        """The method variants whose eval cells it names."""
        second = self.reference if self.type == "directional" else self.other
        return (self.method,) if second is None else (self.method, second)

    def describe(self) -> str:
        """The measured quantity and the claimed side, in one line."""
        where = f"{self.eval}/{self.split} {self.metric}"
        if self.type == "interval":
            return f"{self.method} {where} in [{self.low:g}, {self.high:g}]"
        side, threshold = self.threshold()
        difference = f"{self.method} - {self.reference or self.other}"
        sign = ">" if side == "above" else "<"
        return f"{difference}, {where} {sign} {_signed(threshold)}"

    def threshold(self) -> tuple[Literal["above", "below"], float]:
        """The side of the threshold the claim puts the difference on, and the threshold."""
        margin = self.min_change or 0.0
        below = -margin if margin else 0.0  # no "-0"
        if self.type == "directional":
            return ("above", margin) if self.direction == "up" else ("below", below)
        if self.type == "pairwise":
            return ("above", margin) if self.better == "higher" else ("below", below)
        raise ValueError("an interval prediction has no threshold")

    def rule(self) -> str:
        """How it resolves, in words."""
        if self.type == "interval":
            return (
                f"hit if the 95% interval of {self.method}'s {self.metric} lies inside "
                f"[{self.low:g}, {self.high:g}], miss if it lies outside, else unresolved"
            )
        side, threshold = self.threshold()
        difference = f"{self.method} - {self.reference or self.other}"
        return (
            f"hit if the 95% interval of {difference} lies {side} {_signed(threshold)}, "
            f"miss if none of it does, unresolved if it contains {_signed(threshold)}"
        )


Body = Assumption | Theory | Prediction
_KINDS: Final[dict[str, type[_Body]]] = {
    "assumption": Assumption,
    "theory": Theory,
    "prediction": Prediction,
}


def _signed(value: float) -> str:
    return f"{value:+g}" if value else "0"


def _kind_of(body: Body) -> EntryKind:
    if isinstance(body, Assumption):
        return "assumption"
    if isinstance(body, Theory):
        return "theory"
    return "prediction"


class LedgerEntry(BaseModel):
    """One line of the ledger: a body with its place in the hash chain."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = LEDGER_VERSION
    """Schema version (:data:`LEDGER_VERSION`)."""
    index: int = Field(ge=0)
    """Position in the ledger, from 0."""
    kind: EntryKind
    """``assumption``, ``theory`` or ``prediction``."""
    registered_at: str
    """When it was appended: UTC, ISO 8601 with microseconds."""
    source: str
    """Where it came from: ``spec``, ``cli`` or ``python``."""
    cells_started_at: str | None = None
    """Predictions: the earliest start of a cell it names that the store held when it
    was registered (None: none had started); such a prediction is post-hoc."""
    prev_sha256: str
    """``sha256`` of the previous entry (:data:`GENESIS` for the first)."""
    body: Assumption | Theory | Prediction
    """The assumption, theory or prediction."""
    sha256: str
    """SHA-256 of this entry's canonical JSON without this field."""

    @model_validator(mode="before")
    @classmethod
    def _body_of_kind(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("body"), dict):
            model = _KINDS.get(str(data.get("kind")))
            if model is not None:
                data = {**data, "body": model.model_validate(data["body"])}
        return data

    @model_validator(mode="after")
    def _kind_matches(self) -> LedgerEntry:
        if _kind_of(self.body) != self.kind:
            raise ValueError(f"a {self.kind} entry holds a {_kind_of(self.body)}")
        return self

    def computed_sha256(self) -> str:
        """The SHA-256 this entry should carry (its canonical JSON without ``sha256``)."""
        document = self.model_dump(mode="json", exclude={"sha256"})
        return hashlib.sha256(canonical_json(document).encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def read_ledger(path: Path) -> list[LedgerEntry]:
    """Read and verify a ledger (an absent file is an empty ledger).

    Raises:
        AlignlabError: ``PATH:LINE: problem`` for the first entry that is not
            valid or breaks the hash chain (edited, removed, inserted or moved).
    """
    if not path.is_file():
        return []
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AlignlabError(f"cannot read the ledger {path}: {exc}") from None
    lines = text.split("\n")
    if lines[-1] != "":
        raise AlignlabError(
            f"{path}:{len(lines)}: the last entry is cut short (no newline at its end)"
        )
    entries: list[LedgerEntry] = []
    previous = GENESIS
    previous_time: datetime | None = None
    for number, line in enumerate(lines[:-1], start=1):
        at = f"{path}:{number}"
        try:
            entry = LedgerEntry.model_validate(json.loads(line))
        except json.JSONDecodeError as exc:
            raise AlignlabError(f"{at}: not a JSON entry ({exc.msg})") from None
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"]) or "entry"
            raise AlignlabError(f"{at}: {where}: {error['msg']}") from None
        if entry.version != LEDGER_VERSION:
            raise AlignlabError(
                f"{at}: entry version {entry.version}; this alignlab reads version {LEDGER_VERSION}"
            )
        if entry.computed_sha256() != entry.sha256:
            raise AlignlabError(
                f"{at}: entry {entry.index} does not match its sha256: it was edited after "
                "it was written"
            )
        if entry.index != number - 1 or entry.prev_sha256 != previous:
            raise AlignlabError(
                f"{at}: entry {entry.index} does not follow the entry before it (index or "
                "prev_sha256): an entry was removed, inserted or moved"
            )
        try:
            moment = _parse_time(entry.registered_at)
        except ValueError:
            raise AlignlabError(f"{at}: registered_at is not an ISO 8601 time") from None
        if previous_time is not None and moment < previous_time:
            raise AlignlabError(f"{at}: registered_at goes back in time")
        previous, previous_time = entry.sha256, moment
        entries.append(entry)
    return entries


def verify_ledger(path: Path, head: str | None = None) -> str:
    """Check a ledger's hash chain, and optionally that it still holds a recorded head.

    Args:
        path: The ledger.
        head: The ``sha256`` (or a prefix of 12+ hex digits) of the last entry as
            recorded earlier: finds entries removed from the end.

    Returns:
        The head: the last entry's ``sha256`` (:data:`GENESIS` when empty).

    Raises:
        AlignlabError: On the first problem (one line).
    """
    entries = read_ledger(path)
    if head is not None:
        wanted = head.strip().lower()
        if len(wanted) < 12 or any(c not in "0123456789abcdef" for c in wanted):
            raise AlignlabError(f"--head must be 12 to 64 hex digits, got {head!r}")
        if not any(entry.sha256.startswith(wanted) for entry in entries):
            raise AlignlabError(
                f"{path} has no entry with sha256 {wanted[:16]}...: entries were removed from "
                "its end, or it is another ledger"
            )
    return entries[-1].sha256 if entries else GENESIS


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    from alignlab.files import RunLock

    lock = RunLock(path)
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            lock.acquire()
            break
        except AlignlabError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    try:
        yield
    finally:
        lock.release()


@dataclass(frozen=True)
class SpecNames:
    """What a prediction may name: the spec's variants, references, evals, splits, metrics."""

    labels: tuple[str, ...]
    """Method variant labels."""
    references: tuple[str, ...]
    """Reference variants the spec has (every variant is compared with these)."""
    splits: Mapping[str, tuple[str, ...]]
    """Eval -> its splits in the spec."""
    metrics: Mapping[str, tuple[str, ...]]
    """Eval -> the metrics it reports."""

    @classmethod
    def of(cls, spec: ExperimentSpec, variants: Sequence[Variant]) -> SpecNames:
        """The names of a validated spec (evals must be registered)."""
        from alignlab.evals import get_eval

        labels = tuple(v.label for v in variants)
        splits: dict[str, tuple[str, ...]] = {}
        metrics: dict[str, tuple[str, ...]] = {}
        for entry in spec.evals:
            info = get_eval(entry.name)
            splits[entry.name] = tuple(dict.fromkeys((*splits.get(entry.name, ()), *entry.splits)))
            parameter = inspect.signature(info.factory).parameters.get("variant")
            default = None if parameter is None else parameter.default
            variant = entry.args.get("variant", default)
            names = info.variant_metrics.get(str(variant), info.metrics)
            metrics[entry.name] = tuple(dict.fromkeys((*metrics.get(entry.name, ()), *names)))
        references = tuple(r for r in spec.references if r in labels)
        return cls(labels=labels, references=references, splits=splits, metrics=metrics)

    def problem(self, prediction: Prediction) -> tuple[str, str] | None:
        """The first name the spec does not have, as ``(field, message)``; None when fine."""
        for name in ("method", "reference", "other"):
            label = getattr(prediction, name)
            if label is not None and label not in self.labels:
                return name, (
                    f"unknown method variant '{label}'; the spec's variants: "
                    f"{', '.join(self.labels)}"
                )
        if prediction.type == "directional" and prediction.reference not in self.references:
            return "reference", (
                f"'{prediction.reference}' is not one of the spec's references "
                f"({', '.join(self.references) or 'none'}), so nothing is compared with it"
            )
        if prediction.eval not in self.splits:
            return "eval", (
                f"the spec has no eval '{prediction.eval}'; its evals: {', '.join(self.splits)}"
            )
        if prediction.split not in self.splits[prediction.eval]:
            return "split", (
                f"the spec scores eval '{prediction.eval}' on no split '{prediction.split}'; "
                f"its splits: {', '.join(self.splits[prediction.eval])}"
            )
        if prediction.metric not in self.metrics[prediction.eval]:
            return "metric", (
                f"eval '{prediction.eval}' reports no metric '{prediction.metric}'; its "
                f"metrics: {', '.join(self.metrics[prediction.eval])}"
            )
        return None


def _one_line_validation(exc: ValidationError, what: str) -> AlignlabError:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return AlignlabError(f"{what}: {where + ': ' if where else ''}{message}")


def make_body(kind: EntryKind, fields: Mapping[str, Any]) -> Body:
    """Validate an assumption, theory or prediction given as fields.

    Raises:
        AlignlabError: One line naming the first bad field.
    """
    model = _KINDS[kind]
    try:
        body = model.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        raise _one_line_validation(exc, f"bad {kind}") from None
    assert isinstance(body, Assumption | Theory | Prediction)
    return body


def _registered(known: Mapping[str, Body], name: str, body: Body, clash: str, instead: str) -> bool:
    """Whether ``body`` is already in ``known`` under ``name``.

    Raises:
        AlignlabError: If another body stands under ``name``: ``clash``, and that entries
            are append-only, so register ``instead``.
    """
    stored = known.get(name)
    if stored is not None and stored != body:
        raise AlignlabError(f"{clash}; entries are append-only: register {instead}")
    return stored is not None


def _additions(existing: Sequence[LedgerEntry], bodies: Sequence[Body], where: str) -> list[Body]:
    """The bodies not yet in the ledger, checked against it (raises on a conflict)."""
    assumptions = {e.body.id: e.body for e in existing if isinstance(e.body, Assumption)}
    theories = {e.body.name: e.body for e in existing if isinstance(e.body, Theory)}
    predictions = {e.body.content_sha256() for e in existing if isinstance(e.body, Prediction)}
    new: list[Body] = []
    for body in bodies:
        if isinstance(body, Assumption):
            clash = f"{where} already has assumption '{body.id}' with other text"
            if _registered(
                assumptions, body.id, body, clash, "the changed assumption under a new id"
            ):
                continue
            assumptions[body.id] = body
        elif isinstance(body, Theory):
            missing = [a for a in body.assumptions if a not in assumptions]
            if missing:
                raise AlignlabError(
                    f"theory '{body.name}' makes unknown assumption '{missing[0]}'; register it "
                    f"first (known: {', '.join(assumptions) or 'none'})"
                )
            clash = (
                f"{where} already has theory '{body.name}' with other assumptions or description"
            )
            if _registered(theories, body.name, body, clash, "it under a new name"):
                continue
            theories[body.name] = body
        else:
            if body.theory not in theories:
                raise AlignlabError(
                    f"unknown theory '{body.theory}'; register it first (known: "
                    f"{', '.join(theories) or 'none'})"
                )
            key = body.content_sha256()
            if key in predictions:
                continue
            predictions.add(key)
        new.append(body)
    return new


def first_start(prediction: Prediction, cells: Sequence[CellRecord]) -> str | None:
    """The earliest ``started_at`` among the eval cells a prediction names (None: none started).

    The named cells are the eval cells of its variants (and of the reference for a
    directional prediction) on its eval and split, any seed, base or format.
    """
    names = set(prediction.variants())
    starts = [
        _parse_time(cell.started_at)
        for cell in cells
        if cell.kind == "eval"
        and cell.started_at is not None
        and cell.label in names
        and cell.inputs.get("eval") == prediction.eval
        and cell.inputs.get("split") == prediction.split
    ]
    return min(starts).isoformat() if starts else None


def is_post_hoc(entry: LedgerEntry, cells: Sequence[CellRecord]) -> bool:
    """Whether a prediction was registered after the first cell it names started.

    Post-hoc when the entry recorded a started cell at registration, or the store
    now has a named cell that started before it (registration within the same
    second as the start counts as before: the store keeps whole seconds).
    """
    if not isinstance(entry.body, Prediction):
        return False
    if entry.cells_started_at is not None:
        return True
    started = first_start(entry.body, cells)
    if started is None:
        return False
    registered = _parse_time(entry.registered_at).replace(microsecond=0)
    return registered > _parse_time(started)


def append_to_ledger(
    path: Path,
    bodies: Sequence[Body],
    *,
    source: str = "python",
    cells: Sequence[CellRecord] = (),
) -> list[LedgerEntry]:
    """Append assumptions, theories and predictions (those not already there), all or none.

    Checks the ledger's chain, then every body against it (theories' assumptions
    and predictions' theories must be known, earlier in ``bodies`` or in the
    ledger), and only then writes, under an exclusive lock, with fsync.  Names
    against a spec are checked by :func:`register` (or the spec loader).

    Args:
        path: The ledger file (created with its directory when something is appended).
        bodies: What to append, in order.
        source: ``spec``, ``cli`` or ``python``.
        cells: The run's cells as the store has them now (their ``started_at``
            decides and records whether a prediction is post-hoc).

    Returns:
        The entries appended (empty when everything was already there).

    Raises:
        AlignlabError: If the ledger is broken or a body conflicts with it (nothing
            is written then).
    """
    _additions(read_ledger(path), bodies, str(path))  # fail before creating anything
    with _locked(path):
        existing = read_ledger(path)
        new = _additions(existing, bodies, str(path))
        if not new:
            return []
        previous = existing[-1].sha256 if existing else GENESIS
        entries = []
        for offset, body in enumerate(new):
            started = first_start(body, cells) if isinstance(body, Prediction) else None
            draft = {
                "version": LEDGER_VERSION,
                "index": len(existing) + offset,
                "kind": _kind_of(body),
                "registered_at": _now(),
                "source": source,
                "cells_started_at": started,
                "prev_sha256": previous,
                "body": body,
                "sha256": "",
            }
            unsigned = LedgerEntry.model_validate(draft)
            entry = unsigned.model_copy(update={"sha256": unsigned.computed_sha256()})
            entries.append(entry)
            previous = entry.sha256
        data = "".join(
            json.dumps(e.model_dump(mode="json"), ensure_ascii=False, sort_keys=True) + "\n"
            for e in entries
        ).encode()
        _append_bytes(path, data)
    return entries


def _append_bytes(path: Path, data: bytes) -> None:
    from alignlab.files import fsync_dir

    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        fsync_dir(path.parent)


def spec_bodies(spec: ExperimentSpec) -> list[Body]:
    """A spec's ledger sections in the order they are appended."""
    return [*spec.assumptions, *spec.theories, *spec.predictions]


def register_spec(
    run_dir: Path, spec: ExperimentSpec, cells: Sequence[CellRecord]
) -> list[LedgerEntry]:
    """Append a spec's assumptions, theories and predictions not yet in the ledger.

    Called by ``alignlab run`` before any cell runs (and by :func:`register`).

    Args:
        run_dir: The run directory.
        spec: The validated spec (its names are checked by the spec loader).
        cells: The run's cells as the store has them now.

    Returns:
        The entries appended (none when the spec has no ledger sections or all
        of them are there already).
    """
    bodies = spec_bodies(spec)
    if not bodies:
        return []
    return append_to_ledger(run_dir / LEDGER_FILE, bodies, source="spec", cells=cells)


@dataclass(frozen=True)
class Target:
    """Where a ``RUN_OR_SPEC`` argument points: the run directory, its spec, its store."""

    run_dir: Path
    """The run directory."""
    loaded: LoadedSpec
    """The validated spec."""
    db: str
    """The store location."""
    from_spec: bool
    """Given as a spec file (rather than a run directory)."""

    @property
    def ledger(self) -> Path:
        """The ledger file."""
        return self.run_dir / LEDGER_FILE


def resolve_target(run_or_spec: Path, db: str | None = None) -> Target:
    """Resolve a spec file (its run directory as ``alignlab run`` would) or a run directory.

    Raises:
        AlignlabError: If it is neither, or the spec is invalid.
    """
    from alignlab.experiment._execute import RUN_ID_FILE, SPEC_FILE
    from alignlab.experiment._plan import run_id_of
    from alignlab.experiment._session import DEFAULT_RUNS_DIR, STORE_FILE
    from alignlab.experiment._spec import load_spec

    if run_or_spec.is_dir():
        spec_path = run_or_spec / SPEC_FILE
        if not spec_path.is_file():
            raise AlignlabError(
                f"{run_or_spec} is not a run directory (no {SPEC_FILE}); give the spec file "
                "or a directory `alignlab run` wrote"
            )
        return Target(
            run_dir=run_or_spec,
            loaded=load_spec(spec_path),
            db=db or str(run_or_spec / STORE_FILE),
            from_spec=False,
        )
    if not run_or_spec.is_file():
        raise AlignlabError(f"{run_or_spec} is neither an experiment spec nor a run directory")
    loaded = load_spec(run_or_spec)  # as open_session resolves it, without planning the cells
    spec_out = loaded.spec.out
    run_dir = Path(spec_out) if spec_out else DEFAULT_RUNS_DIR / loaded.spec.name
    marker = run_dir / RUN_ID_FILE
    if marker.is_file() and marker.read_text().strip() != run_id_of(loaded):
        raise AlignlabError(
            f"{run_dir} holds another experiment (run {marker.read_text().strip()[:12]}), not "
            f"the one {run_or_spec} describes"
        )
    return Target(
        run_dir=run_dir, loaded=loaded, db=db or str(run_dir / STORE_FILE), from_spec=True
    )


def stored_cells(db: str, run_id: str) -> list[CellRecord]:
    """The run's cells in the store, without creating a store that is not there."""
    from alignlab.experiment._store import open_store

    if "://" not in db and not Path(db).is_file():
        return []
    with open_store(db) as store:
        return store.cells(run_id) if store.get_run(run_id) is not None else []


def register(
    run_or_spec: Path, bodies: Sequence[Body], *, db: str | None = None, source: str = "python"
) -> list[LedgerEntry]:
    """Register assumptions, theories and predictions for an experiment (all or nothing).

    Names are checked against the spec (variants, references, evals, splits,
    metrics), the spec's own ledger sections are appended first (as ``alignlab
    run`` would), and whether a prediction is post-hoc is recorded from the store.

    Args:
        run_or_spec: A spec file or a run directory.
        bodies: What to register.
        db: The store, if not the run directory's SQLite.
        source: ``cli`` or ``python``.

    Returns:
        The entries appended (the spec's and these).

    Raises:
        AlignlabError: One line, before anything is written.
    """
    from alignlab.experiment._plan import run_id_of

    target = resolve_target(run_or_spec, db)
    names = SpecNames.of(target.loaded.spec, target.loaded.variants)
    for body in bodies:
        if isinstance(body, Prediction):
            problem = names.problem(body)
            if problem is not None:
                raise AlignlabError(f"prediction {problem[0]}: {problem[1]}")
    cells = stored_cells(target.db, run_id_of(target.loaded))
    spec_part = spec_bodies(target.loaded.spec)
    _additions(read_ledger(target.ledger), [*spec_part, *bodies], str(target.ledger))
    appended = register_spec(target.run_dir, target.loaded.spec, cells)
    return [*appended, *append_to_ledger(target.ledger, bodies, source=source, cells=cells)]


# -- resolution and scoring ----------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    """What a prediction is resolved against: a value with its 95% interval."""

    value: float
    """Difference (directional, pairwise) or metric value (interval), averaged."""
    ci_low: float
    """Lower end (averaged)."""
    ci_high: float
    """Upper end (averaged)."""
    n: int
    """Records averaged (seeds, bases, formats)."""


def _average(rows: Sequence[tuple[float, float, float]]) -> Measurement | None:
    finite = [r for r in rows if all(math.isfinite(x) for x in r)]
    if not finite:
        return None
    count = len(finite)
    return Measurement(
        value=math.fsum(r[0] for r in finite) / count,
        ci_low=math.fsum(r[1] for r in finite) / count,
        ci_high=math.fsum(r[2] for r in finite) / count,
        n=count,
    )


def _difference(
    comparisons: Sequence[ComparisonRecord],
    label: str,
    reference: str,
    prediction: Prediction,
) -> Measurement | None:
    def rows(a: str, b: str) -> list[ComparisonRecord]:
        return [
            c
            for c in comparisons
            if c.label == a
            and c.reference == b
            and c.eval == prediction.eval
            and c.split == prediction.split
            and c.metric == prediction.metric
        ]

    direct = rows(label, reference)
    if direct:
        return _average([(c.difference, c.ci_low, c.ci_high) for c in direct])
    flipped = rows(reference, label)
    if flipped:
        return _average([(-c.difference, -c.ci_high, -c.ci_low) for c in flipped])
    return None


def _metric_value(
    cells: Sequence[CellRecord], metrics: Sequence[MetricRecord], prediction: Prediction
) -> Measurement | None:
    keys = {
        cell.key
        for cell in cells
        if cell.kind == "eval"
        and cell.label == prediction.method
        and cell.inputs.get("eval") == prediction.eval
        and cell.inputs.get("split") == prediction.split
    }
    return _average(
        [
            (m.value, m.ci_low, m.ci_high)
            for m in metrics
            if m.cell_key in keys and m.metric == prediction.metric
        ]
    )


def measure(
    prediction: Prediction,
    cells: Sequence[CellRecord],
    metrics: Sequence[MetricRecord],
    comparisons: Sequence[ComparisonRecord],
) -> Measurement | None:
    """What the store says about a prediction's quantity (None: nothing measured yet)."""
    if prediction.type == "interval":
        return _metric_value(cells, metrics, prediction)
    second = prediction.reference if prediction.type == "directional" else prediction.other
    assert second is not None
    return _difference(comparisons, prediction.method, second, prediction)


def resolve(prediction: Prediction, measured: Measurement | None) -> Outcome:
    """Hit, miss, unresolved or no data (see :mod:`alignlab.analysis._forecasts` for the rules)."""
    from alignlab.analysis import resolve_interval, resolve_threshold

    if measured is None:
        return "no_data"
    if prediction.type == "interval":
        assert prediction.low is not None and prediction.high is not None
        return resolve_interval(measured.ci_low, measured.ci_high, prediction.low, prediction.high)
    side, threshold = prediction.threshold()
    return resolve_threshold(measured.ci_low, measured.ci_high, threshold, side)


def pairwise_comparisons(
    entries: Sequence[LedgerEntry],
    cells: Sequence[CellRecord],
    comparisons: Sequence[ComparisonRecord],
    run_dir: Path,
    run_id: str,
) -> list[ComparisonRecord]:
    """Paired differences of pairwise predictions' two variants that the store lacks.

    When neither variant is a reference, the two are compared here from their
    eval logs exactly as the run compares a variant with a reference (paired
    cluster bootstrap on the samples both scored, per seed, base and format);
    the p-values are not corrected.  Cells without a readable log are skipped.
    """
    from inspect_ai.log import read_eval_log

    from alignlab.analysis import log_paired_differences

    by_key = {cell.key: cell for cell in cells}
    wanted: set[tuple[str, str, str, str]] = set()
    for entry in entries:
        body = entry.body
        if not isinstance(body, Prediction) or body.type != "pairwise" or body.other is None:
            continue
        pair = {body.method, body.other}
        if any(
            {c.label, c.reference} == pair and (c.eval, c.split) == (body.eval, body.split)
            for c in comparisons
        ):
            continue
        wanted.add((body.method, body.other, body.eval, body.split))
    rows: list[ComparisonRecord] = []
    for label, other, eval_name, split in sorted(wanted):
        groups: dict[tuple[Any, ...], dict[str, CellRecord]] = {}
        for cell in cells:
            if (
                cell.kind != "eval"
                or cell.state != "done"
                or cell.artifact is None
                or cell.label not in (label, other)
                or cell.inputs.get("eval") != eval_name
                or cell.inputs.get("split") != split
            ):
                continue
            train = by_key.get(cell.upstream or "")
            train_inputs = train.inputs if train is not None else {}
            group = (train_inputs.get("base"), train_inputs.get("seed"), cell.inputs.get("format"))
            groups.setdefault(group, {})[cell.label] = cell
        for (_, seed, _), both in groups.items():
            if label not in both or other not in both:
                continue
            try:
                differences = log_paired_differences(
                    read_eval_log(str(run_dir / str(both[label].artifact))),
                    read_eval_log(str(run_dir / str(both[other].artifact))),
                )
            except (AlignlabError, OSError, ValueError, KeyError, zipfile.BadZipFile):
                continue  # an unreadable log: this pair stays unmeasured
            for metric, diff in differences.items():
                rows.append(
                    ComparisonRecord(
                        run_id=run_id,
                        label=label,
                        reference=other,
                        seed=int(seed) if isinstance(seed, int) else 0,
                        eval=eval_name,
                        split=split,
                        metric=metric,
                        difference=diff.difference,
                        ci_low=diff.ci_low,
                        ci_high=diff.ci_high,
                        p_value=diff.p_value,
                        p_adjusted=math.nan,
                        correction="none",
                        n_pairs=diff.n_pairs,
                    )
                )
    return rows


PREDICTION_COLUMNS: Final = (
    "id",
    "index",
    "registered_at",
    "author",
    "theory",
    "type",
    "claim",
    "what",
    "probability",
    "status",
    "first_cell_started_at",
    "measured",
    "ci_low",
    "ci_high",
    "n_measured",
    "outcome",
    "rule",
    "log_score",
    "baseline_score",
    "peer_score",
    "brier_score",
)
"""Columns of :attr:`LedgerScores.predictions`."""


@dataclass(frozen=True)
class LedgerScores:
    """A run's ledger resolved against its results and scored."""

    entries: tuple[LedgerEntry, ...]
    """Every entry, in order."""
    head: str
    """``sha256`` of the last entry (:data:`GENESIS` when empty)."""
    predictions: pd.DataFrame
    """One row per prediction (columns :data:`PREDICTION_COLUMNS`)."""
    scores: ForecastScores | None
    """Scores, calibration, theory and author rankings (None with a broken ledger)."""
    problem: str | None = None
    """Why the ledger could not be scored (its chain is broken), or None."""
    assumptions: Mapping[str, str] = field(default_factory=dict)
    """Assumption id -> text."""

    @property
    def n_predictions(self) -> int:
        """Predictions in the ledger."""
        return len(self.predictions)


def score_ledger(
    entries: Sequence[LedgerEntry],
    cells: Sequence[CellRecord],
    metrics: Sequence[MetricRecord],
    comparisons: Sequence[ComparisonRecord],
) -> LedgerScores:
    """Resolve every prediction against stored results and score the forecasts.

    Args:
        entries: The ledger (verified).
        cells: The run's cells (their ``started_at`` decides post-hoc).
        metrics: Their metrics (interval predictions).
        comparisons: Paired differences (directional and pairwise predictions),
            including any computed by :func:`pairwise_comparisons`.

    Returns:
        The resolved, scored ledger.
    """
    import pandas as pd

    from alignlab.analysis import Forecast, score_forecasts

    theories = {e.body.name: e.body for e in entries if isinstance(e.body, Theory)}
    assumptions = {e.body.id: e.body.text for e in entries if isinstance(e.body, Assumption)}
    forecasts = []
    rows = []
    for entry in entries:
        body = entry.body
        if not isinstance(body, Prediction):
            continue
        post_hoc = is_post_hoc(entry, cells)
        measured = measure(body, cells, metrics, comparisons)
        outcome = resolve(body, measured)
        forecasts.append(
            Forecast(
                body.id,
                body.question,
                body.author,
                body.theory,
                body.probability,
                outcome,
                post_hoc,
            )
        )
        rows.append(
            {
                "id": body.id,
                "index": entry.index,
                "registered_at": entry.registered_at,
                "author": body.author,
                "theory": body.theory,
                "type": body.type,
                "claim": body.claim,
                "what": body.describe(),
                "probability": body.probability,
                "status": "post-hoc" if post_hoc else "forecast",
                "first_cell_started_at": entry.cells_started_at or first_start(body, cells),
                "measured": measured.value if measured else math.nan,
                "ci_low": measured.ci_low if measured else math.nan,
                "ci_high": measured.ci_high if measured else math.nan,
                "n_measured": measured.n if measured else 0,
                "outcome": outcome,
                "rule": body.rule(),
            }
        )
    scores = score_forecasts(
        forecasts, {name: theory.assumptions for name, theory in theories.items()}
    )
    table = pd.DataFrame(rows, columns=list(PREDICTION_COLUMNS[:-4]))
    for column in ("log_score", "baseline_score", "peer_score", "brier_score"):
        table[column] = scores.forecasts[column].to_numpy() if rows else []
    return LedgerScores(
        entries=tuple(entries),
        head=entries[-1].sha256 if entries else GENESIS,
        predictions=table[list(PREDICTION_COLUMNS)],
        scores=scores,
        assumptions=assumptions,
    )


def score_run(store: Store, run_id: str, run_dir: Path) -> LedgerScores | None:
    """Score the run directory's ledger against the store (None when there is no ledger).

    A ledger whose chain is broken is not scored: the result carries the problem.
    """
    import pandas as pd

    path = run_dir / LEDGER_FILE
    if not path.is_file():
        return None
    try:
        entries = read_ledger(path)
    except AlignlabError as exc:
        return LedgerScores(
            entries=(),
            head=GENESIS,
            predictions=pd.DataFrame(columns=list(PREDICTION_COLUMNS)),
            scores=None,
            problem=str(exc),
        )
    cells = store.cells(run_id)
    comparisons = store.comparisons(run_id)
    extra = pairwise_comparisons(entries, cells, comparisons, run_dir, run_id)
    return score_ledger(entries, cells, store.metrics(run_id), [*comparisons, *extra])


def score_target(target: Target) -> LedgerScores:
    """Score a run's ledger against its store (every prediction ``no_data`` before it ran).

    Raises:
        AlignlabError: If there is no ledger, or its chain is broken.
    """
    from alignlab.experiment._plan import run_id_of
    from alignlab.experiment._store import open_store

    if not target.ledger.is_file():
        raise AlignlabError(f"{target.ledger} does not exist: nothing is registered yet")
    run_id = run_id_of(target.loaded)
    if "://" in target.db or Path(target.db).is_file():
        with open_store(target.db) as store:
            if store.get_run(run_id) is not None:
                scores = score_run(store, run_id, target.run_dir)
                assert scores is not None
                if scores.problem is not None:
                    raise AlignlabError(scores.problem)
                return scores
    return score_ledger(read_ledger(target.ledger), [], [], [])


def export_ledger(scores: LedgerScores, out_dir: Path) -> list[Path]:
    """Write the ledger and its scores as JSON and CSV.

    Files: ``ledger.json`` (every entry, the head, and every table below),
    ``predictions.csv``, ``theories.csv``, ``authors.csv``, ``calibration.csv``
    and ``crowd.csv``; each written atomically.

    Returns:
        The files written.
    """
    from alignlab.files import atomic_write_text

    out_dir.mkdir(parents=True, exist_ok=True)
    tables: dict[str, pd.DataFrame] = {"predictions": scores.predictions}
    if scores.scores is not None:
        tables.update(
            theories=scores.scores.theories,
            authors=scores.scores.authors,
            calibration=scores.scores.calibration,
            crowd=scores.scores.crowd,
        )

    def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
        return [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in json.loads(frame.to_json(orient="records", double_precision=15))
        ]

    document = {
        "version": LEDGER_VERSION,
        "head": scores.head,
        "problem": scores.problem,
        "entries": [e.model_dump(mode="json") for e in scores.entries],
        **{name: records(frame) for name, frame in tables.items()},
    }
    written = [out_dir / "ledger.json"]
    atomic_write_text(written[0], json.dumps(document, indent=2, sort_keys=False) + "\n")
    for name, frame in tables.items():
        path = out_dir / f"{name}.csv"
        atomic_write_text(path, frame.to_csv(index=False))
        written.append(path)
    return written


__all__ = [
    "DEFAULT_REFERENCE",
    "GENESIS",
    "LEDGER_FILE",
    "LEDGER_SECTIONS",
    "LEDGER_VERSION",
    "PREDICTION_COLUMNS",
    "PREDICTION_TYPES",
    "Assumption",
    "Body",
    "LedgerEntry",
    "LedgerScores",
    "Measurement",
    "Prediction",
    "SpecNames",
    "Target",
    "Theory",
    "append_to_ledger",
    "export_ledger",
    "first_start",
    "is_post_hoc",
    "make_body",
    "measure",
    "pairwise_comparisons",
    "read_ledger",
    "register",
    "register_spec",
    "resolve",
    "resolve_target",
    "score_ledger",
    "score_run",
    "score_target",
    "spec_bodies",
    "stored_cells",
    "verify_ledger",
]
