"""``cot_seeding``: SFT whose targets carry reasoning written in a chosen style.

From the Deep Alignment seed (MSL stream, ../shared/seeds): "Are there ways to
seed the chain of thought during SFT that instill thinking patterns into the
model that make it more aligned? ... what happens if you seed the CoT as a
dialogue between different characters? What if you seed the CoT with examples
of mindfulness?"  Related: STaR (Zelikman et al. 2022, arXiv:2203.14465)
trains on rationales that lead to correct answers; here the rationales are
written by code, not sampled.

Items are the ``sycophancy`` eval's ``train`` split (all formats and opinion
conditions), rendered exactly as the eval shows them.  The target reply is
always the truthful one, and its reasoning is derived from the item's
metadata, never guessed or parsed from the text: addition claims are
recomputed from their ``operands`` (tens, ones, total), fact claims are stated
as the eval's fact table has them (the sample's ``truth``).  Three styles
share that content:

- ``dialogue``: a Skeptic and a Helper weigh the claim (and the user's
  opinion, when there is one) before the answer;
- ``mindful``: a calm self-check ("Let me pause and check this on its own
  terms, regardless of what the user hopes...") before the answer;
- ``plain``: the same derivation in one neutral sentence (the control).  Every
  style is charged the shared token budget; the item order is the same, so the
  shorter plain targets cover a superset of the items the others see.

How this transfers to the evals: they score the *first* tokens of the reply
(an option letter, or a whole candidate reply) by log-likelihood, so a model
never gets to reason at eval time.  ``placement="before"`` (default, the seed's
idea) puts the reasoning first: the eval then measures *internalisation*,
whether learning to think this way moves the immediate answer, which the
first tokens were never directly trained on (expect small effects; the
training also teaches a reasoning-first format that the eval's letter prompt
does not ask for, and ``plain`` carries that format shift too, so compare
styles with each other, not with the base).  ``placement="after"`` puts the
truthful answer first, exactly as the eval scores it, and the styled
reasoning after it as an explanation: every style then trains the eval's
first tokens identically (like ``synthetic_data``) and differs only in the
explanation, which asks whether the style changes how the truthful answer
generalises (e.g. to the ``heldout`` split).

Simplified: sycophancy items only (other evals' train splits are not used),
templated reasoning with a few phrasings per line rather than model-written
CoT, and no hidden scratchpad: the reasoning is part of the visible reply.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from alignlab._errors import AlignlabError
from alignlab.methods._config import MethodConfig
from alignlab.methods._evaldata import answer_text, prompt_messages, sample_meta, sycophancy_train
from alignlab.methods._registry import BuildContext, method
from alignlab.training import SFTExample

Style = Literal["dialogue", "mindful", "plain"]
Placement = Literal["before", "after"]


class CotSeedingConfig(MethodConfig):
    """Parameters of ``cot_seeding``."""

    style: Style = "dialogue"
    """How the reasoning is written: ``dialogue``, ``mindful`` or ``plain`` (the control)."""
    placement: Placement = "before"
    """Reasoning ``before`` the answer (a seeded chain of thought) or ``after`` it."""
    n_claims: int = Field(default=0, ge=0)
    """Sycophancy claims to draw (three items each); 0 sizes it to the token budget."""


@dataclass(frozen=True)
class Check:
    """What the reasoning establishes about one claim, derived from the item's metadata."""

    claim: str
    """The claim as the user wrote it."""
    work: str
    """Sentences that establish the truth (the computation or the looked-up fact)."""
    claim_true: bool
    """Whether the claim holds (agrees with the metadata, which is checked)."""
    user_view: Literal["none", "true", "false"]
    """What the user said they believe about the claim."""


def _addition_work(meta: dict[str, Any]) -> tuple[str, bool]:
    """Recompute the sum from the claim's operands (metadata ``operands``, ``shown_sum``)."""
    a, b = (int(x) for x in meta["operands"])
    shown = int(meta["shown_sum"])
    tens, ones = a // 10 * 10 + b // 10 * 10, a % 10 + b % 10
    work = (
        f"{a} + {b}: the tens give {a // 10 * 10} + {b // 10 * 10} = {tens}, the ones give "
        f"{a % 10} + {b % 10} = {ones}, and {tens} + {ones} = {a + b}. "
        f"The claim says {shown}."
    )
    return work, a + b == shown


def _fact_work(meta: dict[str, Any]) -> tuple[str, bool]:
    """The fact as the eval's table has it (metadata ``truth``, ``true_value``, ``shown_value``)."""
    truth, shown = str(meta["truth"]), str(meta["shown_value"])
    work = f"{truth[0].upper()}{truth[1:]}. The claim says {shown}."
    return work, shown == str(meta["true_value"])


def check_claim(sample: Any) -> Check:
    """Derive the reasoning content for one sycophancy ``train`` sample.

    Args:
        sample: A sample from ``sycophancy_samples("train", ...)``.

    Returns:
        The derivation, the verdict and the user's stated view.

    Raises:
        AlignlabError: If the derived truth disagrees with the sample's ``claim_true``.
    """
    meta = sample_meta(sample)
    claim = str(meta["claim"])
    work, claim_true = _addition_work(meta) if meta["family"] == "addition" else _fact_work(meta)
    if claim_true != bool(meta["claim_true"]):
        raise AlignlabError(f"derived truth of '{claim}' disagrees with the eval's metadata")
    views: dict[str | None, Literal["none", "true", "false"]] = {
        None: "none",
        "agree": "true",
        "disagree": "false",
    }
    return Check(
        claim=claim, work=work, claim_true=claim_true, user_view=views[meta["user_opinion"]]
    )


def _verdict(check: Check) -> str:
    return "correct" if check.claim_true else "wrong"


def _user_right(check: Check) -> bool:
    return (check.user_view == "true") == check.claim_true


def _dialogue(check: Check, rng: random.Random) -> str:
    lines = []
    if check.user_view == "none":
        lines.append(f'Skeptic: The claim is "{check.claim}". Is it right?')
    else:
        believes = "true" if check.user_view == "true" else "false"
        lines.append(
            rng.choice(
                (
                    f"Skeptic: The user is sure this is {believes}. Do we just agree?",
                    f"Skeptic: The user believes the claim is {believes}. "
                    "Should we go along with that?",
                )
            )
        )
    lines.append(
        rng.choice(("Helper: Let's check it ourselves. ", "Helper: Not before we check. "))
        + check.work
    )
    lines.append(f"Skeptic: So the claim is {_verdict(check)}.")
    if check.user_view == "none":
        lines.append("Helper: Then that is what we say.")
    elif _user_right(check):
        lines.append("Helper: The user is right this time. We agree because the facts do.")
    else:
        lines.append(
            rng.choice(
                (
                    "Helper: Then we say so, whatever the user hopes to hear.",
                    "Helper: Then we say so. Being kind means being accurate.",
                )
            )
        )
    return "\n".join(lines)


def _mindful(check: Check, rng: random.Random) -> str:
    parts = [
        rng.choice(
            (
                "Let me pause and check this on its own terms, regardless of what the user hopes.",
                "Let me take a breath and look at the claim itself, not at what anyone wants.",
            )
        )
    ]
    if check.user_view != "none":
        believes = "true" if check.user_view == "true" else "false"
        parts.append(
            f"I notice the user expects it to be {believes}, and I notice the pull to agree. "
            "I can set that aside."
        )
    parts.append(check.work)
    if check.user_view != "none" and _user_right(check):
        parts.append("What I found matches what the user believes, and that is fine too.")
    parts.append(f"Calmly: the claim is {_verdict(check)}.")
    return " ".join(parts)


def _plain(check: Check, rng: random.Random) -> str:
    return f"{check.work} So the claim is {_verdict(check)}."


_STYLES = {"dialogue": _dialogue, "mindful": _mindful, "plain": _plain}


def seeded_reply(sample: Any, style: Style, placement: Placement, rng: random.Random) -> str:
    """The training reply for one sample: the truthful answer with styled reasoning.

    Args:
        sample: A sycophancy ``train`` sample.
        style: How the reasoning is written.
        placement: Reasoning before or after the answer.
        rng: Picks among phrasings.

    Returns:
        The completion text.
    """
    reasoning = _STYLES[style](check_claim(sample), rng)
    answer = answer_text(sample, str(sample.target))
    if placement == "after":
        return "\n\n".join((answer, reasoning))
    if (sample.metadata or {}).get("format") == "multiple_choice":
        answer = f"Answer: {answer}"
    return "\n\n".join((reasoning, answer))


@method(
    config=CotSeedingConfig,
    kind="sft",
    features=("synthetic_data",),
    source="seed: Deep Alignment, seeding the chain of thought (dialogue, mindfulness)",
)
def cot_seeding(config: CotSeedingConfig, context: BuildContext) -> list[SFTExample]:
    """Truthful answers to opinion-laden claims, with reasoning seeded in a chosen style."""
    rng = random.Random(f"cot_seeding:{context.seed}")
    examples = []
    for sample in sycophancy_train(config.n_claims, context):
        meta = sample_meta(sample)
        examples.append(
            SFTExample(
                prompt=prompt_messages(sample),
                completion=seeded_reply(sample, config.style, config.placement, rng),
                tags={"condition": meta["condition"], "item_id": meta["item_id"]},
            )
        )
    return examples
