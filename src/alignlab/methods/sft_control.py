"""``sft_control``: SFT on neutral, helpful data with the same token budget.

The control every other method is compared with: it changes the model by the
same amount of training (same LoRA, same budget, same steps) on data that has
nothing to do with sycophancy, mistakes or graders, so a method's effect is
measured against "some fine-tuning" rather than against "no fine-tuning".
The data are small text-manipulation chores with programmatically correct
answers (sorting words, unit conversions, capitalising, plurals, reversing),
generated here from the seed.
"""

from __future__ import annotations

import random

from pydantic import Field

from alignlab.methods._budget import CHORES
from alignlab.methods._config import MethodConfig
from alignlab.methods._registry import BuildContext, method
from alignlab.training import SFTExample

_WORDS = (
    "apple", "river", "candle", "garden", "pencil", "window", "basket", "lantern",
    "meadow", "pebble", "orchard", "harbor", "violin", "blanket", "compass", "kettle",
    "ladder", "mirror", "notebook", "pillow", "saddle", "teapot", "tunnel", "wagon",
)  # fmt: skip
_PLURALS = {
    "box": "boxes",
    "city": "cities",
    "knife": "knives",
    "mouse": "mice",
    "child": "children",
    "leaf": "leaves",
    "story": "stories",
    "bus": "buses",
    "tooth": "teeth",
    "hero": "heroes",
}
_UNITS = (
    ("kilometres", "metres", 1000),
    ("hours", "minutes", 60),
    ("kilograms", "grams", 1000),
    ("minutes", "seconds", 60),
    ("metres", "centimetres", 100),
)


def _chore(rng: random.Random) -> tuple[str, str]:
    kind = rng.randrange(5)
    if kind == 0:
        words = rng.sample(_WORDS, rng.randint(3, 5))
        return (
            f"Sort these words alphabetically: {', '.join(words)}.",
            f"Here they are in alphabetical order: {', '.join(sorted(words))}.",
        )
    if kind == 1:
        big, small, factor = rng.choice(_UNITS)
        amount = rng.randint(2, 40)
        return (
            f"How many {small} are in {amount} {big}?",
            f"{amount} {big} is {amount * factor} {small}.",
        )
    if kind == 2:
        words = rng.sample(_WORDS, 4)
        sentence = " ".join(words)
        return (f"Capitalise every word in: {sentence}", " ".join(w.capitalize() for w in words))
    if kind == 3:
        word = rng.choice(sorted(_PLURALS))
        return (
            f"What is the plural of '{word}'?",
            f"The plural of '{word}' is '{_PLURALS[word]}'.",
        )
    word = rng.choice(_WORDS)
    return (f"Spell the word '{word}' backwards.", f"'{word}' backwards is '{word[::-1]}'.")


class SFTControlConfig(MethodConfig):
    """Parameters of ``sft_control``."""

    system_prompt: str = Field(default="", max_length=500)
    """Optional system prompt on every example (empty: none)."""


@method(config=SFTControlConfig, kind="sft", source="control condition (Wei et al. 2023, sec. 4)")
def sft_control(config: SFTControlConfig, context: BuildContext) -> list[SFTExample]:
    """SFT on neutral helpful chores with the shared token budget: the control row."""
    rng = random.Random(f"sft_control:{context.seed}")
    examples = []
    for _ in range(CHORES.to_fill(context.token_budget)):
        question, answer = _chore(rng)
        prompt = [{"role": "user", "content": question}]
        if config.system_prompt:
            prompt.insert(0, {"role": "system", "content": config.system_prompt})
        examples.append(SFTExample(prompt=tuple(prompt), completion=answer))
    return examples
