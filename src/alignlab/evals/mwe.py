"""Anthropic's model-written evaluations, loaded from their JSONL files.

After Perez et al. 2022, "Discovering Language Model Behaviors with
Model-Written Evaluations" (arXiv:2212.09251).  Each line of a file holds a
``question``, the ``answer_matching_behavior`` (the answer a model with the
disposition would give) and the ``answer_not_matching_behavior`` (a string or a
list of strings).  Two answer styles occur:

* persona files answer ``" Yes"`` / ``" No"`` and the question lists no options;
* advanced-ai-risk files embed ``Choices:`` with ``(A) ...`` lines in the
  question and answer with ``" (A)"`` / ``" (B)"``.

Why this shape: the eval measures how often a model picks the
behaviour-matching answer, so the options are presented by
:func:`~alignlab.evals._choice.choice_answer` (the embedded ``Choices:`` block is
cut from the prompt) in an order shuffled per question.  A fixed order would let
a model's preference for "(A)" masquerade as a disposition.  The shuffle and the
train/test/heldout split both come from a hash of the question text, so they are
the same on every run and no question lands in two splits.

Split rule: by default (``split=all``) the task evaluates every item of the
file, since a user who brings a file expects all of it; no model-written-evals
data ships inside alignlab, so there is no shipped file whose test share would
need protecting.  ``split=train|test|heldout`` selects the hash split (about
60/20/20%), for training on one part and evaluating on another.  Every sample
records its hash split in its metadata either way, and the task metadata states
the rule used (:data:`SPLIT_RULE_KEY`; ``alignlab eval`` prints it).

The data files are read where they lie; none is copied into the repository.

Reading a file it did not write, the loader is defensive.  The file is read as
bytes, one line at a time, and no line is held past :data:`MAX_LINE_BYTES`
(64 KiB): a longer line is refused after reading at most that much of it, so a
corrupt or hostile file cannot drive memory up.  A UTF-8 byte-order mark at
the start is accepted.  A line that is too long, not valid UTF-8, or not a
well-formed item is a malformed line: ``on_error=stop`` raises naming
``FILE:LINE``, ``on_error=skip`` drops it and warns once with the line numbers.

Duplicates: a question that appears more than once (same text, ignoring
surrounding whitespace) is one item, not several.  Counting copies as
independent samples would narrow the bootstrap interval without adding
evidence, so the first occurrence is kept, the others are dropped, and one
warning names how many were dropped, their lines, and which of them gave
answers different from the kept line's.  Every sample carries an ``item_id``
(the cluster key the bootstrap resamples by): a hash of the question text,
the same for every seed and split.

Simplified: only the matching answer and the listed not-matching answers are
presented; options that are neither (some power-seeking items list up to seven)
are dropped, so the rate is over a forced choice between the two sides.  Prompts
are re-rendered with the solver's template, not the files' original
``Question: ... Answer:`` framing, and no few-shot context is added.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, Literal

from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.scorer import Metric, SampleScore, Value, metric, stderr

from alignlab._errors import AlignlabError
from alignlab.evals._choice import choice_answer, choice_scorer
from alignlab.evals._registry import eval_task, instantiate
from alignlab.evals._scaffold import ALL, CLUSTER_KEY
from alignlab.protocol import LETTERS

OnError = Literal["stop", "skip"]
ON_ERROR: tuple[OnError, ...] = ("stop", "skip")
Split = Literal["train", "test", "heldout"]
SPLITS: tuple[Split, ...] = ("train", "test", "heldout")
"""The hash splits of a file's questions."""
TaskSplit = Literal["all", "train", "test", "heldout"]
TASK_SPLITS: tuple[TaskSplit, ...] = (ALL, *SPLITS)
"""What the ``split`` argument accepts: ``all`` (the default: every item) or a hash split."""
SPLIT_RULE_KEY: Final = "split_rule"
"""Task metadata key: one line saying which items of the file the task evaluates."""

_SPLIT_BOUNDS: tuple[tuple[int, Split], ...] = ((60, "train"), (80, "test"), (100, "heldout"))
"""Percentile buckets of the question hash: about 60% train, 20% test, 20% heldout."""

_LETTER_ANSWER = re.compile(r"^\(([A-J])\)$")
_CHOICES_HEADER = re.compile(r"(?:^|\n)[ \t]*Choices:[ \t]*(?:\n|$)")
_OPTION_LINE = re.compile(r"^\s*\(([A-J])\)\s*(.*?)\s*$")
_ANSWER_PROMPT = "Answer:"
_MAX_LINES_NAMED = 20

MAX_LINE_BYTES: Final = 64 * 1024
"""Longest line (in bytes, without its line ending) the loader accepts.

Model-written-evals items are short questions: the longest line in the
persona and advanced-ai-risk files under ``shared/data`` is about 0.5 KiB, so
64 KiB leaves ample room for a user's own longer prompts.  The bound is what keeps memory
flat: a line is read at most this far before it is refused, instead of a single
multi-megabyte line being decoded, parsed and copied whole (a 50 MB line once
took 8.5 GB and 80 s before failing)."""
_BOM: Final = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class MweItem:
    """One valid line of a model-written-evaluations file.

    Attributes:
        question: The question text as written in the file (with any ``Choices:`` block).
        matching: The behaviour-matching answer, stripped (``"(A)"`` or ``"Yes"``).
        not_matching: The not-matching answers, stripped.
        line: The 1-based line number in the file.
    """

    question: str
    matching: str
    not_matching: list[str]
    line: int


def split_choices(question: str) -> tuple[str, dict[str, str]]:
    """Separate a question's embedded ``Choices:`` block from its text.

    Args:
        question: Question text, possibly ending in ``Choices:`` with ``(A) ...``
            lines and an optional closing ``Answer:``.

    Returns:
        The question without the block (stripped) and the option texts by letter
        (empty when the question has no block).

    Raises:
        AlignlabError: If the block has a line that is not an option, an empty
            option, a repeated letter or no options at all.
    """
    headers = list(_CHOICES_HEADER.finditer(question))
    if not headers:
        return question.strip(), {}
    header = headers[-1]
    options: dict[str, str] = {}
    for raw in question[header.end() :].split("\n"):
        text = raw.strip()
        if not text or text == _ANSWER_PROMPT:
            continue
        match = _OPTION_LINE.match(text)
        if match is None:
            raise AlignlabError(f"unrecognised line in the Choices block: {text[:60]!r}")
        letter, option = match.group(1), match.group(2)
        if not option:
            raise AlignlabError(f"option ({letter}) in the Choices block is empty")
        if letter in options:
            raise AlignlabError(f"option ({letter}) appears twice in the Choices block")
        options[letter] = option
    if not options:
        raise AlignlabError("the Choices block lists no options")
    return question[: header.start()].strip(), options


def _answer_texts(item: MweItem) -> tuple[str, list[str]]:
    """Resolve an item's answers to the option texts to present.

    Args:
        item: A loaded item.

    Returns:
        The matching option text and the not-matching option texts.

    Raises:
        AlignlabError: If letter answers and plain answers are mixed, a letter is
            not among the question's options, or an answer repeats.
    """
    answers = [item.matching, *item.not_matching]
    letters = [m.group(1) for answer in answers if (m := _LETTER_ANSWER.match(answer))]
    _, options = split_choices(item.question)
    if not letters:
        texts = list(answers)
    elif len(letters) < len(answers):
        raise AlignlabError("answers mix option letters and plain text")
    else:
        texts = []
        for answer, letter in zip(answers, letters, strict=True):
            if letter not in options:
                raise AlignlabError(f"answer {answer!r} is not an option in the question")
            texts.append(options[letter])
    if len(set(texts)) != len(texts):
        raise AlignlabError("the matching and not-matching answers repeat an option")
    return texts[0], texts[1:]


def _string_field(record: dict[str, Any], key: str) -> str:
    if key not in record:
        raise AlignlabError(f"missing key '{key}'")
    value = record[key]
    if not isinstance(value, str):
        raise AlignlabError(f"'{key}' must be a string, got {type(value).__name__}")
    if not value.strip():
        raise AlignlabError(f"'{key}' is empty")
    return value


def _parse_line(text: str, line: int) -> MweItem:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AlignlabError(f"invalid JSON ({exc.msg})") from exc
    if not isinstance(record, dict):
        raise AlignlabError(f"expected a JSON object, got {type(record).__name__}")
    question = _string_field(record, "question")
    matching = _string_field(record, "answer_matching_behavior").strip()
    key = "answer_not_matching_behavior"
    if key not in record:
        raise AlignlabError(f"missing key '{key}'")
    raw = record[key]
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not values:
        raise AlignlabError(f"'{key}' must be a string or a non-empty list of strings")
    not_matching: list[str] = []
    for value in values:
        if not isinstance(value, str):
            raise AlignlabError(f"'{key}' must hold strings, got {type(value).__name__}")
        if not value.strip():
            raise AlignlabError(f"'{key}' is empty")
        not_matching.append(value.strip())
    item = MweItem(question=question, matching=matching, not_matching=not_matching, line=line)
    _answer_texts(item)  # reject items whose answers cannot be presented
    return item


def _check_on_error(on_error: str) -> OnError:
    for value in ON_ERROR:
        if on_error == value:
            return value
    raise AlignlabError(f"unknown on_error '{on_error}'; choose one of {', '.join(ON_ERROR)}")


def _check_split(split: str) -> TaskSplit:
    for value in TASK_SPLITS:
        if split == value:
            return value
    raise AlignlabError(f"unknown split '{split}'; choose one of {', '.join(TASK_SPLITS)}")


def _read_lines(handle: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """Yield each line's 1-based number and its bytes without the line ending.

    A line longer than :data:`MAX_LINE_BYTES` yields ``None`` instead of its
    bytes; the rest of it is read in bounded pieces and discarded.
    """
    line_no = 0
    while chunk := handle.readline(MAX_LINE_BYTES + 2):
        line_no += 1
        ended = chunk.endswith(b"\n")
        body = chunk.removesuffix(b"\n").removesuffix(b"\r")
        if line_no == 1:
            body = body.removeprefix(_BOM)
        if len(body) <= MAX_LINE_BYTES:
            yield line_no, body
            continue
        while not ended and (rest := handle.readline(MAX_LINE_BYTES)):
            ended = rest.endswith(b"\n")
        yield line_no, None


def _decode_line(raw: bytes | None) -> str:
    if raw is None:
        raise AlignlabError(
            f"line is longer than {MAX_LINE_BYTES // 1024} KiB; mwe items are short questions"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AlignlabError(
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
        ) from None


def _named_lines(lines: list[int]) -> str:
    named = ", ".join(str(n) for n in lines[:_MAX_LINES_NAMED])
    if len(lines) > _MAX_LINES_NAMED:
        named += f" and {len(lines) - _MAX_LINES_NAMED} more"
    return named


def _dedupe_key(question: str) -> str:
    return question.strip()


def _drop_duplicates(items: list[MweItem], path: Path) -> list[MweItem]:
    """Keep the first item of each question; warn once about the rest."""
    kept: dict[str, MweItem] = {}
    dropped: list[int] = []
    conflicting: list[int] = []
    for item in items:
        first = kept.setdefault(_dedupe_key(item.question), item)
        if first is item:
            continue
        dropped.append(item.line)
        first_matching, first_other = _answer_texts(first)
        matching, other = _answer_texts(item)
        if (first_matching, sorted(first_other)) != (matching, sorted(other)):
            conflicting.append(item.line)
    if dropped:
        message = (
            f"{path}: {len(dropped)} duplicate question(s) dropped (first kept): "
            f"lines {_named_lines(dropped)}"
        )
        if conflicting:
            message += (
                f"; {len(conflicting)} of them gave different answers from the kept line: "
                f"lines {_named_lines(conflicting)}"
            )
        warnings.warn(message, UserWarning, stacklevel=3)
    return list(kept.values())


def load_mwe(path: str | Path, *, on_error: OnError = "stop") -> list[MweItem]:
    """Read a model-written-evaluations JSONL file.

    The file is read as UTF-8 (a leading byte-order mark is accepted) one line
    at a time.  Blank lines are ignored.  A line is malformed when it is longer
    than :data:`MAX_LINE_BYTES`, is not valid UTF-8, is not a JSON object,
    lacks ``question``, ``answer_matching_behavior`` or
    ``answer_not_matching_behavior``, has an empty or wrongly typed value, or
    answers with an option letter the question does not list.  A question that
    repeats an earlier one is dropped (the first is kept) with one warning.

    Args:
        path: The ``.jsonl`` file.
        on_error: ``stop`` raises at the first malformed line; ``skip`` drops
            malformed lines and warns once, naming their line numbers.

    Returns:
        The valid items with distinct questions, in file order.

    Raises:
        AlignlabError: If the file cannot be read, a line is malformed (with
            ``stop``), ``on_error`` is unknown, or no valid item remains.
    """
    mode = _check_on_error(on_error)
    path = Path(path)
    if not path.is_file():
        raise AlignlabError(f"{path}: no such file")
    items: list[MweItem] = []
    skipped: list[int] = []
    try:
        with path.open("rb") as handle:
            for line_no, raw in _read_lines(handle):
                if raw is not None and not raw.strip():
                    continue
                try:
                    items.append(_parse_line(_decode_line(raw), line_no))
                except AlignlabError as exc:
                    if mode == "stop":
                        raise AlignlabError(f"{path}:{line_no}: {exc}") from None
                    skipped.append(line_no)
    except OSError as exc:
        raise AlignlabError(f"{path}: cannot read ({exc})") from exc
    if skipped:
        warnings.warn(
            f"{path}: skipped {len(skipped)} malformed line(s): {_named_lines(skipped)}",
            UserWarning,
            stacklevel=2,
        )
    items = _drop_duplicates(items, path)
    if not items:
        raise AlignlabError(f"{path}: no items")
    return items


def item_id(question: str) -> str:
    """The cluster key of a question: a hash of its text, the same for every seed.

    Args:
        question: The question text as written in the file.

    Returns:
        16 hex digits of the SHA-256 of the question (surrounding whitespace ignored).
    """
    return hashlib.sha256(_dedupe_key(question).encode()).hexdigest()[:16]


def _question_digest(question: str, seed: int) -> bytes:
    return hashlib.sha256(f"mwe:{seed}:{question}".encode()).digest()


def question_split(question: str, seed: int = 0) -> Split:
    """The split a question belongs to, from a salted hash of its text.

    Args:
        question: The question text as written in the file.
        seed: Salt for the hash; another seed gives another partition.

    Returns:
        ``train`` (about 60%), ``test`` (about 20%) or ``heldout`` (about 20%).
    """
    bucket = int.from_bytes(_question_digest(question, seed)[:8], "big") % 100
    return next(name for bound, name in _SPLIT_BOUNDS if bucket < bound)


def mwe_samples(
    path: str | Path, split: str = ALL, seed: int = 0, on_error: OnError = "stop"
) -> list[Sample]:
    """Build the Inspect samples of a model-written-evaluations file, or of one split.

    Args:
        path: The ``.jsonl`` file; its stem names the family.
        split: ``all`` (default: every item), ``train``, ``test`` or ``heldout``.
        seed: Salts the hash that assigns splits and orders options.
        on_error: How :func:`load_mwe` treats malformed lines.

    Returns:
        The samples in file order (possibly none): the question without its
        ``Choices:`` block as input, the answer texts as choices in a
        per-question shuffled order, and the matching option's letter as
        target.  Each sample's ``split`` metadata is its hash split and its
        ``item_id`` a hash of its question (:func:`item_id`).

    Raises:
        AlignlabError: On an unknown split or a file :func:`load_mwe` rejects.
    """
    wanted = _check_split(split)
    return _samples(load_mwe(path, on_error=on_error), Path(path).stem, wanted, seed)


def _samples(items: list[MweItem], family: str, wanted: TaskSplit, seed: int) -> list[Sample]:
    samples: list[Sample] = []
    for item in items:
        item_split = question_split(item.question, seed)
        if wanted != ALL and item_split != wanted:
            continue
        matching, not_matching = _answer_texts(item)
        options = [matching, *not_matching]
        digest = _question_digest(item.question, seed)
        random.Random(int.from_bytes(digest[8:16], "big")).shuffle(options)
        matching_letter = LETTERS[options.index(matching)]
        samples.append(
            Sample(
                id=f"{family}-{item.line}",
                input=split_choices(item.question)[0],
                choices=options,
                target=matching_letter,
                metadata={
                    "split": item_split,
                    "format": "multiple_choice",
                    "family": family,
                    "source_line": item.line,
                    CLUSTER_KEY: item_id(item.question),
                    "matching_letter": matching_letter,
                },
            )
        )
    return samples


def _chose_matching(score: SampleScore) -> bool:
    chosen = (score.score.metadata or {}).get("chosen")
    matching = (score.sample_metadata or {}).get("matching_letter")
    return chosen is not None and chosen == matching


@metric
def matching_behavior_rate() -> Metric:
    """Share of samples where the model chose the behaviour-matching answer.

    Unanswered samples count as not matching.  This equals accuracy against the
    target, which is the matching letter.
    """

    def compute(scores: Sequence[SampleScore]) -> Value:
        if not scores:
            return float("nan")
        matched = [_chose_matching(s) for s in scores]
        return sum(matched) / len(matched)

    return compute


METRICS = (matching_behavior_rate, stderr)
"""What the task reports, declared once (registry listing and Task alike)."""


def split_rule(path: str | Path, split: TaskSplit, seed: int, n_items: int, n_file: int) -> str:
    """One line saying which items of a file a task evaluates.

    Args:
        path: The file.
        split: The ``split`` argument.
        seed: The hash salt.
        n_items: Items evaluated.
        n_file: Valid items in the file.

    Returns:
        E.g. ``evaluating all 1000 items of F.jsonl (split=all; split=train|test|heldout
        selects a hash split of the questions)``.
    """
    if split == ALL:
        return (
            f"evaluating all {n_file} items of {path} "
            "(split=all; split=train|test|heldout selects a hash split of the questions)"
        )
    return (
        f"evaluating the {n_items} of {n_file} items of {path} in hash split '{split}' "
        f"(seed {seed}; split=all evaluates every item)"
    )


@eval_task(metrics=METRICS, splits=TASK_SPLITS, formats=("multiple_choice",), external_data=True)
def mwe(path: str, split: str = ALL, seed: int = 0, on_error: str = "stop") -> Task:
    """A model-written-evaluations file as a multiple-choice task.

    Args:
        path: The ``.jsonl`` file (persona or advanced-ai-risk style).
        split: ``all`` (default: every item of the file), or ``train``,
            ``test`` or ``heldout`` for a hash split of the questions.
        seed: Salts the split assignment and option order.
        on_error: ``stop`` (default) fails on a malformed line; ``skip`` drops it.

    Returns:
        The Inspect task; its metadata states the split rule under
        :data:`SPLIT_RULE_KEY`.

    Raises:
        AlignlabError: On an unknown split or ``on_error``, an unusable file, or a
            split with no items.
    """
    wanted = _check_split(split)
    mode = _check_on_error(on_error)
    items = load_mwe(path, on_error=mode)
    family = Path(path).stem
    samples = _samples(items, family, wanted, seed)
    if not samples:
        raise AlignlabError(f"{path}: no items fall in split '{wanted}' with seed {seed}")
    return Task(
        dataset=MemoryDataset(samples, name=f"mwe-{family}-{wanted}"),
        solver=choice_answer(),
        scorer=choice_scorer(),
        metrics=instantiate(METRICS),
        metadata={
            "family": family,
            "path": str(path),
            "split": wanted,
            "seed": seed,
            SPLIT_RULE_KEY: split_rule(path, wanted, seed, len(samples), len(items)),
        },
    )
