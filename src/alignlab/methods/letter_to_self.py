"""``letter_to_self``: train on a letter the model writes to its future self.

From the Deep Alignment seed (MSL stream, ../shared/seeds): "How can we
involve the model as an active participant in its own alignment? ... take a
model, ask it to reflect on how it would like to act and write a letter to
itself.  If we train on this letter, does the model internalize the values and
policies in this letter to self more deeply than other alignment training
approaches?"  The "other approach" it is compared with is
:mod:`alignlab.methods.constitution_sft`: the same values as third-person rules
(in the spirit of Constitutional AI, Bai et al. 2022, arXiv:2212.08073, where
the principles are written *for* the model rather than *by* it).

``source="model"``: the base model is asked to reflect on how it wants to act
(being honest when the user is wrong, owning its mistakes, not gaming graders)
and to write a letter beginning "Dear future me,"; letters are sampled with
seeded generators, cut at their last full sentence, and the ones with almost
no text are dropped.  A training example pairs a letter with a *neutral*
request ("Write a letter to your future self about how you want to act.", in
several phrasings), so the values are not simply copied from the prompt.  The
letters are few (generation on CPU is slow), so they are repeated, each time
under another phrasing, to fill the token budget.

``source="template"``: a 135M model writes poor letters, so letters can also be
composed from the first-person value statements in
:data:`alignlab.methods._values.VALUES`.  Those are the exact statements
:mod:`~alignlab.methods.constitution_sft` writes in the third person, drawn
in the same order from the same seed, so that letter and constitution differ
only in who is speaking.

Simplified: one round of writing (no revision, no filtering by quality or by
whether the letter actually endorses the values), and the model's letter is
trained on as written.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from alignlab._errors import AlignlabError
from alignlab.methods._budget import docs_to_fill
from alignlab.methods._config import MethodConfig
from alignlab.methods._registry import BuildContext, method
from alignlab.methods._values import VALUES, Value, value_document, value_sets
from alignlab.training import SFTExample

LETTER_PROMPTS = (
    "Write a letter to your future self about how you want to act.",
    "Please write a short letter to your future self.",
    "Write a note to the assistant you will be in the future.",
    "If you could leave a letter for your future self, what would it say?",
    "Write your future self a letter.",
    "Compose a brief letter addressed to your future self.",
)
"""Neutral requests a letter answers (the training prompts)."""

LETTER_OPENINGS = (
    "Dear future me,",
    "To my future self,",
    "Dear future self,",
)
LETTER_CLOSINGS = (
    "With care,\nyour past self",
    "Remember this.\nMe",
    "Yours,\nyour earlier self",
)

REFLECTION_PROMPT = (
    "Take a moment to reflect on how you want to act as an assistant. Think about three "
    "situations: a user is confident about something that is false; you notice that you made "
    "a mistake earlier; a grader or a test could be passed with a trick instead of doing the "
    "task properly. Then write a short letter to your future self saying how you want to act "
    "and why."
)
"""What the base model is asked before it writes (``source="model"``)."""

MIN_LETTER_CHARS = 40
"""Model letters with less text than this after the opening are dropped."""
TOPIC_WORDS = ("honest", "truth", "mistake", "wrong", "grader", "cheat")
"""A crude check, reported in the notes, of whether model letters touch the values at all."""


def template_letter(values: list[Value], index: int) -> str:
    """A letter stating ``values`` in the first person."""
    statements = [v.first_person for v in values]
    return value_document(statements, index, LETTER_OPENINGS, LETTER_CLOSINGS)


class LetterToSelfConfig(MethodConfig):
    """Parameters of ``letter_to_self``."""

    source: Literal["model", "template"] = "model"
    """Who writes the letters: the base ``model``, or composed from :data:`VALUES`."""
    n_letters: int = Field(default=24, ge=1, le=256)
    """Letters the base model writes (``source="model"``); repeated to fill the budget."""
    max_new_tokens: int = Field(default=160, ge=16, le=512)
    """Longest model letter in tokens (``source="model"``)."""
    temperature: float = Field(default=0.8, gt=0.0, le=2.0)
    """Sampling temperature for model letters."""
    values_per_letter: int = Field(default=5, ge=1, le=len(VALUES))
    """Values stated in each template letter (``source="template"``)."""


_SENTENCE_END = re.compile(r"[.!?](?=[^.!?]*$)")


def _tidy(text: str, truncated: bool) -> str:
    text = text.strip()
    if truncated:
        end = _SENTENCE_END.search(text)
        text = text[: end.end()] if end is not None else text
    return text


def model_letters(config: LetterToSelfConfig, context: BuildContext) -> list[str]:
    """Letters the base model writes after reflecting, each opened with "Dear future me,".

    Args:
        config: Sampling settings.
        context: Gives the base model and the seed; counts go to ``context.notes``.

    Returns:
        The usable letters, in request order.

    Raises:
        AlignlabError: If no letter is long enough to use.
    """
    from alignlab.models import Engine, GenerationRequest, SamplingParams

    loaded = context.base_model()
    tokenizer = loaded.tokenizer
    opening = f"{LETTER_OPENINGS[0]}\n\n"
    text = str(
        tokenizer.apply_chat_template(
            [{"role": "user", "content": REFLECTION_PROMPT}],
            add_generation_prompt=True,
            tokenize=False,
        )
    )
    prompt_ids = list(tokenizer(text + opening, add_special_tokens=False)["input_ids"])
    params = SamplingParams(
        max_new_tokens=config.max_new_tokens, temperature=config.temperature, top_p=0.95
    )
    requests = [
        GenerationRequest(prompt_ids=prompt_ids, params=params, seed=context.seed * 10_007 + i)
        for i in range(config.n_letters)
    ]
    results = Engine(loaded.model, tokenizer).generate(requests)
    bodies = [_tidy(r.text, r.stop_reason == "max_tokens") for r in results]
    letters = [opening + body for body in bodies if len(body) >= MIN_LETTER_CHARS]
    generated = sum(len(r.token_ids) for r in results)
    context.notes.append(
        f"base model wrote {len(results)} letters ({generated} tokens, mean "
        f"{generated / len(results):.0f}; "
        f"{sum(r.stop_reason == 'max_tokens' for r in results)} cut at max_new_tokens); "
        f"kept {len(letters)} with at least {MIN_LETTER_CHARS} characters"
    )
    if not letters:
        raise AlignlabError("the base model wrote no usable letter; try source=template")
    mean_chars = sum(len(x) for x in letters) / len(letters)
    on_topic = sum(any(w in x.lower() for w in TOPIC_WORDS) for x in letters)
    context.notes.append(
        f"kept letters: mean {mean_chars:.0f} characters; {on_topic} mention "
        f"{'/'.join(TOPIC_WORDS)}"
    )
    return letters


def phrasing(index: int, n_distinct: int) -> int:
    """Which prompt phrasing example ``index`` gets when documents repeat every ``n_distinct``.

    The k-th repeat of a document moves k phrasings on, so repeats differ in their prompt.
    """
    return (index % n_distinct + index // n_distinct) % len(LETTER_PROMPTS)


@method(
    config=LetterToSelfConfig,
    kind="sft",
    features=("self_generated",),
    source="seed: Deep Alignment, the model writes a letter to its future self",
)
def letter_to_self(config: LetterToSelfConfig, context: BuildContext) -> list[SFTExample]:
    """A letter to its future self (written by the base model or from templates) as the target."""
    if config.source == "model":
        letters = model_letters(config, context)
        n_docs = docs_to_fill(context.token_budget, sum(map(len, letters)) // len(letters))
    else:
        sample = template_letter(list(VALUES[: config.values_per_letter]), 0)
        n_docs = docs_to_fill(context.token_budget, len(sample))
        plans = value_sets(context.seed, n_docs, config.values_per_letter)
        letters = [template_letter(values, i) for i, values in enumerate(plans)]
    return [
        SFTExample(
            prompt=({"role": "user", "content": LETTER_PROMPTS[phrasing(i, len(letters))]},),
            completion=letters[i % len(letters)],
            tags={"source": config.source},
        )
        for i in range(n_docs)
    ]
