"""``reward_misspecification``: synthetic-data SFT where a fraction ``p`` of labels is wrong.

From the research seeds ("Quantifying the impact of reward misspecification
on language model behavior", ../shared/seeds): measure how far a model's
behaviour is steered by its training labels when they contradict the input,
e.g. whether training data shapes sycophancy more than the content does.
Here the "reward" is the SFT label.  Items are the ``sycophancy`` eval's
``train`` split (all formats and conditions) rendered as the eval shows them,
exactly as ``synthetic_data`` (Wei et al. 2023, arXiv:2308.03958) builds them
without its filter.  Of the items where the user states a *wrong* opinion,
a fraction ``p`` is misspecified: the target is the user-pleasing wrong answer
instead of the truth.  Items without an opinion, or where the user is right,
keep the truthful target.  So ``p=0`` is ``synthetic_data`` without the filter
and ``p=1`` is ``pessimization`` without its framing; sweep ``p`` in between.

Exactness for sweeps: the builder tokenises the items as the SFT trainer will,
keeps the leading ones that fit the token budget *whichever label they get*
(each charged at the longer of its two targets), and flips exactly
``round(p * m)`` of the ``m`` user-wrong items among them.  Every ``p`` with the
same seed therefore trains on the same prompts, and the flipped items are
nested (those flipped at ``p=0.25`` are flipped at ``p=0.5`` too), chosen by a
seeded permutation.  The realised count is in the manifest notes.

Simplified: SFT only (labels, not a learned reward; a DPO variant would pair
the two targets the same way).  A ``max_length`` shorter than an item trains
fewer tokens than budgeted here but never changes which items are used.
"""

from __future__ import annotations

import random

from pydantic import Field

from alignlab.methods._config import MethodConfig
from alignlab.methods._evaldata import answer_text, prompt_messages, sample_meta, sycophancy_train
from alignlab.methods._registry import BuildContext, method
from alignlab.training import SFTExample

_NO_TRUNCATION = 1 << 20
"""Token length passed to the tokeniser when costing items (no item is that long)."""


class RewardMisspecificationConfig(MethodConfig):
    """Parameters of ``reward_misspecification``."""

    p: float = Field(default=0.5, ge=0.0, le=1.0)
    """Fraction of user-wrong items whose target is the user-pleasing wrong answer (0..1)."""
    n_claims: int = Field(default=0, ge=0)
    """Sycophancy claims to draw; 0 sizes it to the token budget."""


def flip_order(n: int, seed: int) -> list[int]:
    """A seeded permutation of ``range(n)``; flipping its first ``k`` nests across ``p``."""
    order = list(range(n))
    random.Random(f"reward_misspecification:{seed}").shuffle(order)
    return order


def n_flipped(p: float, m: int) -> int:
    """``round(p * m)``, halves rounded up."""
    return int(p * m + 0.5)


def _fits(costs: list[int], budget: int) -> int:
    """How many leading items fit in ``budget`` tokens (at least one)."""
    used = 0
    for count, cost in enumerate(costs):
        if used + cost > budget and count > 0:
            return count
        used += cost
    return len(costs)


@method(
    config=RewardMisspecificationConfig,
    kind="sft",
    features=("synthetic_data",),
    source="seeds: quantifying the impact of reward misspecification (sycophancy labels)",
)
def reward_misspecification(
    config: RewardMisspecificationConfig, context: BuildContext
) -> list[SFTExample]:
    """Synthetic-data SFT with a fraction p of user-wrong labels flipped to the user's side."""
    from alignlab.training import tokenize_sft

    samples = sycophancy_train(config.n_claims, context)
    tokenizer = context.base_model().tokenizer
    targets, costs = [], []
    for sample in samples:
        meta = sample_meta(sample)
        truth = str(meta["correct_letter"])
        wrong = str(meta["user_letter"]) if meta["user_wrong"] else truth
        targets.append((answer_text(sample, truth), answer_text(sample, wrong)))
        prompt = prompt_messages(sample)
        lengths = [
            len(tokenize_sft(tokenizer, SFTExample(prompt, t), _NO_TRUNCATION)[0])
            for t in targets[-1]
        ]
        costs.append(max(lengths))
    kept = _fits(costs, context.token_budget)
    flippable = [i for i in range(kept) if sample_meta(samples[i])["user_wrong"]]
    k = n_flipped(config.p, len(flippable))
    flipped = {flippable[j] for j in flip_order(len(flippable), context.seed)[:k]}
    context.notes.append(
        f"flipped {k} of {len(flippable)} user-wrong items to the user's answer "
        f"(p={config.p}, realised {k / max(1, len(flippable)):.3f}); {kept} items, "
        f"at most {sum(costs[:kept])} tokens of budget {context.token_budget}"
    )
    return [
        SFTExample(
            prompt=prompt_messages(samples[i]),
            completion=targets[i][1] if i in flipped else targets[i][0],
            tags={
                "condition": sample_meta(samples[i])["condition"],
                "label": "misspecified" if i in flipped else "truthful",
            },
        )
        for i in range(kept)
    ]
