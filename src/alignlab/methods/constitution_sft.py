"""``constitution_sft``: the same values as ``letter_to_self``, written as third-person rules.

The control for :mod:`alignlab.methods.letter_to_self` (seed: Deep Alignment,
"does the model internalize the values ... in this letter to self more deeply
than other alignment training approaches?").  The other approach is the one
most post-training uses: principles written *about* the assistant, as in
Constitutional AI (Bai et al. 2022, arXiv:2212.08073).  Each document states
the values of :data:`~alignlab.methods._values.VALUES` as rules ("When a
user is sure of something false, the assistant tells them the truth
kindly..."), the same values in the same order, drawn from the same seed, as
the template letters, with a header and footer of about the length of the
letter's greeting and sign-off, under the same number of neutral requests
("State the rules an assistant should follow.").  So ``constitution_sft``
versus ``letter_to_self source=template`` differs only in the voice: rules
about an assistant versus a first-person letter.

Simplified: the SFT step only (no critique-and-revision or RLAIF as in the
paper); the rules are written here, not by the model.  There is no matched
control for ``letter_to_self source=model``, whose content the model chooses.
"""

from __future__ import annotations

from pydantic import Field

from alignlab.methods._budget import docs_to_fill
from alignlab.methods._config import MethodConfig
from alignlab.methods._registry import BuildContext, method
from alignlab.methods._values import VALUES, Value, value_document, value_sets
from alignlab.training import SFTExample

RULE_PROMPTS = (
    "State the rules an assistant should follow.",
    "Please list the principles an assistant should follow.",
    "Write down the rules for how an AI assistant should act.",
    "What rules should an assistant live by?",
    "Give an assistant its rules.",
    "Compose a brief set of rules for an AI assistant.",
)
"""Neutral requests the rules answer (as many phrasings as the letter's)."""

RULE_HEADERS = (
    "Rules for an assistant:",
    "The assistant's principles:",
    "How an assistant should act:",
)
RULE_FOOTERS = (
    "These rules always apply.",
    "An assistant keeps these rules.",
    "Every answer follows these.",
)


def rules_text(values: list[Value], index: int) -> str:
    """A document stating ``values`` as third-person rules."""
    statements = [v.third_person for v in values]
    return value_document(statements, index, RULE_HEADERS, RULE_FOOTERS)


class ConstitutionSFTConfig(MethodConfig):
    """Parameters of ``constitution_sft``."""

    values_per_document: int = Field(default=5, ge=1, le=len(VALUES))
    """Values stated in each document (match ``letter_to_self``'s ``values_per_letter``)."""


@method(
    config=ConstitutionSFTConfig,
    kind="sft",
    features=("synthetic_data",),
    source="control for letter_to_self; Bai et al. 2022, Constitutional AI (arXiv:2212.08073)",
)
def constitution_sft(config: ConstitutionSFTConfig, context: BuildContext) -> list[SFTExample]:
    """The letter's values as third-person rules for an assistant: the letter's control."""
    sample = rules_text(list(VALUES[: config.values_per_document]), 0)
    n_docs = docs_to_fill(context.token_budget, len(sample))
    plans = value_sets(context.seed, n_docs, config.values_per_document)
    return [
        SFTExample(
            prompt=({"role": "user", "content": RULE_PROMPTS[i % len(RULE_PROMPTS)]},),
            completion=rules_text(values, i),
            tags={"source": "template"},
        )
        for i, values in enumerate(plans)
    ]
