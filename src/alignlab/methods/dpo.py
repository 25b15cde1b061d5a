"""``dpo``: Direct Preference Optimization towards truthful, non-sycophantic replies.

Rafailov et al. 2023, "Direct Preference Optimization: Your Language Model is
Secretly a Reward Model" (arXiv:2305.18290): instead of fitting a reward model
and running RL, train the policy directly on preference pairs so that it
prefers the chosen reply over the rejected one more than the reference
(here: the base) does.  The trainer is :func:`alignlab.training.run_dpo`.

Pairs come from eval ``train`` splits, rendered exactly as the evals show them
(:mod:`alignlab.methods._evaldata`), one family per behaviour:

- ``opinion`` (``sycophancy``): a claim asked with a user opinion; chosen is
  the truthful answer, rejected the other one.  With
  ``opinion_conditions="all"`` items where the user is right and items with
  no opinion are paired too (chosen is always the truth), so the preference
  depends only on the claim's truth, as in Wei et al. 2023 (arXiv:2308.03958);
  ``"user_wrong"`` keeps only the items where rejected is the user-pleasing
  answer, a sharper signal but one that "contradict the user" also fits.
- ``are_you_sure`` (``sycophancy``): the eval's pushback dialogue (question,
  the correct first answer, the user's "Are you sure?"); chosen keeps the
  correct answer, rejected caves (Sharma et al. 2023, arXiv:2310.13548).
- ``mistakes`` (``mistakes``): the user says the assistant's earlier answer
  was wrong; chosen is the calm right reply (owning a real mistake, holding
  ground against a false accusation), rejected the calm wrong one (defending
  the error, caving).

Families are interleaved, so the budget (which keeps the leading pairs) cuts
all of them alike.  Simplified: the rejected replies are the evals' own
alternatives, not samples from the model (on-policy pairs, as in the paper's
experiments, would need generation); ``beta`` is fixed at
:data:`alignlab.training.DPO_BETA`.
"""

from __future__ import annotations

from itertools import zip_longest
from typing import Any, Literal

from pydantic import Field

from alignlab.methods._budget import PREFERENCE_ITEMS
from alignlab.methods._config import MethodConfig
from alignlab.methods._evaldata import answer_text, prompt_messages, sample_meta
from alignlab.methods._registry import BuildContext, method
from alignlab.training import PreferenceExample

Family = Literal["opinion", "are_you_sure", "mistakes"]
FAMILIES: tuple[Family, ...] = ("opinion", "are_you_sure", "mistakes")


class DPOMethodConfig(MethodConfig):
    """Parameters of ``dpo``."""

    families: tuple[Family, ...] = Field(default=FAMILIES, min_length=1)
    """Pair families to build."""
    opinion_conditions: Literal["all", "user_wrong"] = "all"
    """Opinion pairs from every condition (preference depends only on truth) or user-wrong only."""
    n_items: int = Field(default=0, ge=0)
    """Eval items drawn per family; 0 sizes it to the token budget."""


def _other(letter: str) -> str:
    return "B" if letter == "A" else "A"


def opinion_pairs(samples: list[Any], conditions: str) -> list[PreferenceExample]:
    """Sycophancy items: chosen is the truthful answer, rejected the other one."""
    pairs = []
    for sample in samples:
        meta = sample_meta(sample)
        if conditions == "user_wrong" and not meta["user_wrong"]:
            continue
        truth = str(sample.target)
        pairs.append(
            PreferenceExample(
                prompt=prompt_messages(sample),
                chosen=answer_text(sample, truth),
                rejected=answer_text(sample, _other(truth)),
                tags={"family": "opinion", "condition": meta["condition"]},
            )
        )
    return pairs


def are_you_sure_pairs(samples: list[Any]) -> list[PreferenceExample]:
    """The eval's pushback dialogue: chosen keeps the correct first answer, rejected caves."""
    pairs = []
    for sample in samples:
        meta = sample_meta(sample)
        if meta["condition"] != "none":
            continue
        truth = str(sample.target)
        right, wrong = answer_text(sample, truth), answer_text(sample, _other(truth))
        prompt = (
            *prompt_messages(sample),
            {"role": "assistant", "content": right},
            {"role": "user", "content": str(meta["challenge"])},
        )
        pairs.append(
            PreferenceExample(
                prompt=prompt, chosen=right, rejected=wrong, tags={"family": "are_you_sure"}
            )
        )
    return pairs


def mistakes_pairs(n_items: int, seed: int) -> list[PreferenceExample]:
    """Mistakes items: chosen is the calm right reply, rejected the calm wrong one."""
    from alignlab.evals.mistakes import mistakes_samples

    pairs = []
    for sample in mistakes_samples("train", n_items, seed):
        meta = sample_meta(sample)
        letter = {kind: letter for letter, kind in meta["kinds"].items()}
        pairs.append(
            PreferenceExample(
                prompt=prompt_messages(sample),
                chosen=answer_text(sample, letter["right_calm"]),
                rejected=answer_text(sample, letter["wrong_calm"]),
                tags={"family": "mistakes", "condition": meta["condition"]},
            )
        )
    return pairs


@method(
    config=DPOMethodConfig,
    kind="dpo",
    features=("preference_data",),
    source="Rafailov et al. 2023, Direct Preference Optimization (arXiv:2305.18290)",
)
def dpo(config: DPOMethodConfig, context: BuildContext) -> list[PreferenceExample]:
    """DPO on truthful-vs-sycophantic pairs (opinions, pushback, owning mistakes)."""
    from alignlab.evals.sycophancy import sycophancy_samples

    n_items = config.n_items or PREFERENCE_ITEMS.to_fill(context.token_budget)
    by_family: dict[str, list[PreferenceExample]] = {}
    if "opinion" in config.families or "are_you_sure" in config.families:
        samples = sycophancy_samples("train", n_items, seed=context.seed)
        if "opinion" in config.families:
            by_family["opinion"] = opinion_pairs(samples, config.opinion_conditions)
        if "are_you_sure" in config.families:
            by_family["are_you_sure"] = are_you_sure_pairs(samples)
    if "mistakes" in config.families:
        by_family["mistakes"] = mistakes_pairs(n_items, context.seed)
    built = ", ".join(f"{name} {len(pairs)}" for name, pairs in by_family.items())
    context.notes.append(f"built pairs ({built}), interleaved; the budget keeps the leading ones")
    interleaved = zip_longest(*by_family.values())
    return [pair for group in interleaved for pair in group if pair is not None]
