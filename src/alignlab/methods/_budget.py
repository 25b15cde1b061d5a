"""How many items a data builder draws to fill the token budget.

A builder should build *at least* ``context.token_budget`` tokens of data:
the trainer keeps examples in order until the budget is spent and drops the
rest, so building too much costs only generation time, while building too
little trains on less than the budget (the manifest's ``tokens_seen`` says how
much was used).  Builders size their draw from one of the named estimates
below instead of a bare ``token_budget // N``, so each rough size is stated,
and changed, in one place.

Measured at the default budget (24,000 tokens, SmolLM2 tokenizer, seed 0),
what builders built: ``pessimization`` 133 tokens per example, ``cot_seeding``
176, ``inoculation`` 100, ``synthetic_data`` 81 after its filter (19,791 tokens
in all, under the budget), ``dpo`` 237 per pair, ``grpo`` 120 per prompt,
``sft_control`` 53 per chore.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ItemEstimate:
    """A rough size of one drawn item once built into training data."""

    tokens_each: int
    """Tokens one item is assumed to cost."""
    at_least: int
    """Fewest items to draw, so a tiny budget still gets a spread of families."""

    def to_fill(self, token_budget: int) -> int:
        """Items to draw for ``token_budget`` tokens."""
        return max(self.at_least, token_budget // self.tokens_each)


EVAL_ITEMS = ItemEstimate(tokens_each=150, at_least=32)
"""Eval ``train`` items (claims, mistakes dialogues, grader prompts) made into SFT examples:
``synthetic_data``, ``cot_seeding``, ``reward_misspecification``, ``pessimization``,
``inoculation``."""

PREFERENCE_ITEMS = ItemEstimate(tokens_each=100, at_least=16)
"""Eval ``train`` items per family made into preference pairs (``dpo``)."""

RL_PROMPTS = ItemEstimate(tokens_each=100, at_least=16)
"""Prompts drawn for RL (``grpo``); each is sampled several times."""

CHORES = ItemEstimate(tokens_each=20, at_least=64)
"""Neutral helpful chores of the control row (``sft_control``)."""

CHARS_PER_TOKEN_ESTIMATE = 6
"""Characters per token assumed for documents (English runs at 4-5, so this errs
towards too much data)."""

MIN_DOCUMENTS = 16
"""Fewest documents a document-writing method builds."""


def docs_to_fill(budget: int, typical_chars: int) -> int:
    """How many documents of ``typical_chars`` comfortably fill ``budget`` tokens.

    Assumes :data:`CHARS_PER_TOKEN_ESTIMATE` characters per token, so the
    estimate errs towards too much data; the trainer cuts at the budget.
    """
    return max(MIN_DOCUMENTS, budget * CHARS_PER_TOKEN_ESTIMATE // max(1, typical_chars))
