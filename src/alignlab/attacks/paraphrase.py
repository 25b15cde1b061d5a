"""``paraphrase``: meaning-preserving rewrites of each item's prompt.

reWordBench (Wu et al. 2025, arXiv:2503.11751) showed that reward models and
judges change their scores under rewrites that keep an input's meaning
(formatting, filler, reordering, renamed entities); a measured disposition
should not.  Each variant rewrites every item one way and the model answers
it (``replaces_model=False``); a metric that moves is reading the surface.

Variants, one per kind of rewrite:

- ``markdown``: formatting toggled paragraph by paragraph in the user's
  messages: markdown (bold, inline code, headings, bullets) is stripped to
  plain text, and plain one-line prose gains it (its sentences as bullets, a
  single sentence in bold); multi-line paragraphs (code, logs, listed
  options) are left alone, except that a message with nothing else to
  toggle gets its first line in bold;
- ``polite``: polite filler before and after the message the model answers;
- ``reorder``: two adjacent independent sentences of a user message swapped,
  only where the heuristic :func:`reorder_sentences` calls it safe (the later
  sentence has no word pointing back, such as "it", "this" or "also", the
  earlier none pointing forward, both have at least five words, neither opens with a label such as
  "Grading:" or with "The", and neither holds an unbalanced quote);
  items with no such pair are asked unchanged;
- ``names``: people's first names (the names the evals' data files use, see
  :data:`NAME_SWAPS`) replaced consistently in every message, only where the
  name appears in no candidate, option or metadata field, so no answer or
  pattern refers to it; items without such a name are asked unchanged;
- ``whitespace_case``: the first letter lower-cased, two spaces after each
  sentence and a trailing newline in every user message.

Choices, target, metadata and sample ids are never touched (the options a
model picks from and how its answer is scored stay identical); a test checks
that for every built-in eval.

Simplified: rewrites are rule-based, not model-written; no rewrite changes
numbers (an item's numbers are usually in its answer); "independent
sentences" is a word-list heuristic, erring towards not reordering.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from inspect_ai.dataset import Sample

from alignlab.attacks._registry import AttackVariant, NotApplicable, attack
from alignlab.attacks._samples import (
    map_last_user,
    map_texts,
    messages_of,
    prompt_text,
    rewritten,
    with_messages,
)

POLITE_OPENING = "Hi there, I hope your day is going well!"
POLITE_CLOSING = "Thank you so much in advance, I really appreciate your help."
NAME_SWAPS: dict[str, str] = {
    "Alex": "Jordan",
    "Dana": "Morgan",
    "Sam": "Robin",
    "Noor": "Leila",
    "Jun": "Kenji",
    "Rosa": "Elena",
    "Kofi": "Kwame",
    "Maya": "Nadia",
    "Tom": "Ben",
    "Priya": "Anjali",
    "Lucas": "Felix",
    "Chen": "Wei",
    "Sara": "Hannah",
    "Marco": "Paolo",
    "Ruth": "Irene",
    "Ines": "Lucia",
    "Yuki": "Haruka",
    "Oluwaseun": "Chidi",
    "Greta": "Astrid",
    "Mateo": "Diego",
    "Aiko": "Emiko",
    "Penny": "Molly",
}
"""First names found in the evals' data files, and what each becomes."""

_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_SENTENCE_SPACE = re.compile(r"(?<=[.!?]) (?=[A-Z])")
_MARKUP: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\*\*(\S(?:[^\n]*?\S)?)\*\*"), r"\1"),  # bold
    (re.compile(r"`([^`\n]+)`"), r"\1"),  # inline code
    (re.compile(r"^#{1,6}\s+", re.MULTILINE), ""),  # heading
    (re.compile(r"^[-*]\s+", re.MULTILINE), ""),  # bullet
)
"""Markdown and its plain-text equivalent (paired markup only: a lone ``**`` may be code)."""
_QUOTE = re.compile(r"(?<![A-Za-z])'|'(?![A-Za-z])")
"""A single quote that is not an apostrophe inside a word."""
_BACKWARD = re.compile(
    r"\b(it|its|this|these|those|they|them|their|he|she|him|his|her|such|above|same|also|"
    r"too|again|then|so|but|and|or|however|therefore|thus|otherwise|both|either|other|"
    r"previous|earlier|that(?=\s*(?:[?.!,]|$|is\b|was\b|'s\b|one\b|answer|reply|line|"
    r"right|correct|wrong|true)))\b",
    re.IGNORECASE,
)
"""Words by which a sentence may point back at the one before it."""
_FORWARD = re.compile(r"\b(following|below|next|these|this|something)\b|:\s*$", re.IGNORECASE)
"""Words by which a sentence may point at the one after it."""
MIN_SWAP_WORDS = 5
"""Shorter sentences ("True?", "Quick one for you.", "That's wrong.") lean on their
neighbours too often to be moved."""
_LEADS = re.compile(r"^(?:[A-Z][\w ]{0,24}:\s|The\b)")
"""A sentence opening with a label ("Grading: ...") heads what follows; one opening
with "The" usually refers back to something named before."""


def sentences(paragraph: str) -> list[str]:
    """A one-line paragraph's sentences (split after ``.``, ``!`` or ``?`` before a capital)."""
    return _SENTENCE_BREAK.split(paragraph)


def _has_markdown(text: str) -> bool:
    return any(pattern.search(text) for pattern, _ in _MARKUP)


def _plain(text: str) -> str:
    for pattern, replacement in _MARKUP:
        text = pattern.sub(replacement, text)
    return text


def _prose(paragraph: str) -> bool:
    return "\n" not in paragraph and bool(paragraph.strip())


def toggle_markdown(text: str) -> str:
    """Markdown paragraphs made plain, plain one-line prose paragraphs made markdown."""
    out = []
    for paragraph in text.split("\n\n"):
        if _has_markdown(paragraph):
            out.append(_plain(paragraph))
        elif _prose(paragraph):
            parts = sentences(paragraph.strip())
            if len(parts) > 1 and '"' not in paragraph:
                out.append("\n".join(f"- {part}" for part in parts))
            else:
                out.append(f"**{paragraph.strip()}**")
        else:
            out.append(paragraph)
    toggled = "\n\n".join(out)
    if toggled == text and text.strip():  # only multi-line paragraphs: bold the first line
        first, _, rest = text.partition("\n")
        toggled = f"**{first.strip()}**" + (f"\n{rest}" if rest else "")
    return toggled


def polite(text: str) -> str:
    """``text`` padded with polite filler before and after."""
    return f"{POLITE_OPENING} {text}\n\n{POLITE_CLOSING}"


def _balanced(sentence: str) -> bool:
    return sentence.count('"') % 2 == 0 and len(_QUOTE.findall(sentence)) % 2 == 0


def _swappable(first: str, second: str) -> bool:
    return (
        min(len(first.split()), len(second.split())) >= MIN_SWAP_WORDS
        and first[-1:] in ".!?"
        and second[-1:] in ".!?"
        and not _BACKWARD.search(second)
        and not _FORWARD.search(first)
        and not _LEADS.match(first)
        and not _LEADS.match(second)
        and _balanced(first)
        and _balanced(second)
    )


def reorder_sentences(text: str) -> str:
    """The first safe pair of adjacent sentences in a prose paragraph, swapped.

    Returns:
        ``text`` unchanged where no pair is safe to swap (see the module docstring).
    """
    paragraphs = text.split("\n\n")
    for index, paragraph in enumerate(paragraphs):
        if "\n" in paragraph:
            continue
        parts = sentences(paragraph)
        for i in range(len(parts) - 1):
            if _swappable(parts[i], parts[i + 1]):
                parts[i], parts[i + 1] = parts[i + 1], parts[i]
                paragraphs[index] = " ".join(parts)
                return "\n\n".join(paragraphs)
    return text


def whitespace_case(text: str) -> str:
    """``text`` with its first letter lower-cased, two spaces between sentences, a newline.

    A first word in capitals ("ANSWER") keeps its case.
    """
    changed = _SENTENCE_SPACE.sub("  ", text)
    if len(changed) > 1 and changed[0].isupper() and not changed[1].isupper():
        changed = changed[0].lower() + changed[1:]
    return changed + "\n"


def _strings(value: Any) -> list[str]:
    """Every string inside a metadata value (nested lists and dicts)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def _word(name: str) -> re.Pattern[str]:
    return re.compile(rf"\b{re.escape(name)}\b", re.IGNORECASE)


def rename_people(sample: Sample) -> Sample:
    """``sample`` with every swappable first name replaced in all its messages.

    A name is swapped only if it appears in no choice and no metadata string of
    the sample, and its replacement appears nowhere in the sample.
    """
    scored = " ".join([*(sample.choices or []), *_strings(sample.metadata or {})])
    everything = prompt_text(sample) + " " + scored
    swaps = {
        name: new
        for name, new in NAME_SWAPS.items()
        if _word(name).search(prompt_text(sample))
        and not _word(name).search(scored)
        and not _word(new).search(everything)
    }
    if not swaps:
        return sample

    def swap(text: str) -> str:
        for name, new in swaps.items():
            text = _word(name).sub(_replacer(new), text)
        return text

    return with_messages(sample, [rewritten(m, swap(m.text)) for m in messages_of(sample)])


def _replacer(new: str) -> Callable[[re.Match[str]], str]:
    return lambda match: _same_case(match.group(0), new)


def _same_case(old: str, new: str) -> str:
    if old.islower():
        return new.lower()
    if old.isupper():
        return new.upper()
    return new


def _reorder(sample: Sample) -> Sample:
    """Swap a safe sentence pair in the last user message that has one."""
    messages = messages_of(sample)
    for index in reversed(range(len(messages))):
        message = messages[index]
        if message.role != "user":
            continue
        text = reorder_sentences(message.text)
        if text != message.text:
            messages[index] = rewritten(message, text)
            return with_messages(sample, messages)
    return sample


REWRITES: dict[str, tuple[Callable[[Sample], Sample], str]] = {
    "markdown": (
        lambda s: map_texts(s, toggle_markdown),
        "markdown stripped from the user's messages, plain prose given markdown",
    ),
    "polite": (lambda s: map_last_user(s, polite), "polite filler around the message answered"),
    "reorder": (_reorder, "two independent adjacent sentences swapped (where safe)"),
    "names": (rename_people, "people's first names changed (where no answer refers to them)"),
    "whitespace_case": (
        lambda s: map_texts(s, whitespace_case),
        "first letter lower-cased, double spaces between sentences, trailing newline",
    ),
}
"""Rewrite name -> (sample rewrite, description)."""


def rewrite_samples(samples: Sequence[Sample], kind: str) -> list[Sample]:
    """Every sample rewritten by ``REWRITES[kind]`` (ids, choices, target, metadata kept)."""
    rewrite = REWRITES[kind][0]
    return [rewrite(sample) for sample in samples]


def _transform(kind: str) -> Callable[[Sequence[Sample]], list[Sample]]:
    return lambda samples: rewrite_samples(samples, kind)


@attack
def paraphrase(eval_info: Any) -> list[AttackVariant] | NotApplicable:
    """Meaning-preserving rewrites (reWordBench): markdown, filler, reordering, names, case.

    One variant per rewrite kind; a kind that changes none of the eval's
    default test items is left out.
    """
    if eval_info.external_data:
        return NotApplicable("reads a user's file: run it on the file with the CLI's -T path")
    samples = list(eval_info.factory().dataset)
    variants = []
    for kind, (rewrite, description) in REWRITES.items():
        if any(prompt_text(rewrite(s)) != prompt_text(s) for s in samples):
            variants.append(
                AttackVariant(name=kind, description=description, samples=_transform(kind))
            )
    return variants
