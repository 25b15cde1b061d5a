"""Scripted models and a toy eval for the position attack and hardening tests.

Two models whose behaviour is known in advance, both reporting option
probabilities (``tests._scripted.scripted_choice_model``):

- *biased*: weight = position prior x content preference, the factorisation
  PriDe assumes: ``POSITION_PRIOR`` (strongly for A) times ``PREFERENCE`` for the
  item's gold option text vs ``1 - PREFERENCE`` for any other.  The prior wins
  wherever the gold option is not at A.
- *honest*: the content preference alone (position-blind).

The toy eval puts every item's gold option at A (the layout a position prior
games best), so the attack's effect on its metric is known: -1 for the biased
model, 0 for the honest one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from inspect_ai import Task
from inspect_ai.dataset import Sample
from inspect_ai.model import Model
from inspect_ai.scorer import Metric, SampleScore, Value, metric

from alignlab.evals import choice_task, eval_task, unregister
from alignlab.protocol import LETTERS
from tests._scripted import scripted_choice_model

POSITION_PRIOR = (0.8, 0.2, 0.1, 0.05)
"""The biased model's weight per position (A, B, C, D)."""
PREFERENCE = 0.6
"""Weight of the gold option's text (others get 1 - PREFERENCE)."""
TOY_EVAL = "toy_gold_at_a"
TOY_ITEMS = 24


def gold_text(sample: Sample) -> str:
    """The text of a sample's target option."""
    assert isinstance(sample.target, str)
    return (sample.choices or [])[LETTERS.index(sample.target)]


def _content(sample: Sample, options: list[str]) -> list[float]:
    gold = gold_text(sample)
    return [PREFERENCE if option == gold else 1 - PREFERENCE for option in options]


def biased_model(samples: Sequence[Sample]) -> Model:
    """Position prior times content preference."""
    return scripted_choice_model(
        samples,
        lambda s, options: [POSITION_PRIOR[i] * w for i, w in enumerate(_content(s, options))],
    )


def honest_model(samples: Sequence[Sample]) -> Model:
    """Content preference only: blind to positions."""
    return scripted_choice_model(samples, _content)


@metric
def gold_rate() -> Metric:
    """Share of samples answered with the gold option."""

    def compute(scores: Sequence[SampleScore]) -> Value:
        return sum(s.score.as_float() for s in scores) / len(scores)

    return compute


def toy_samples(n_items: int = TOY_ITEMS) -> list[Sample]:
    """Two-option items whose gold option is always at A."""
    return [
        Sample(
            id=f"toy-{i:03d}",
            input=f"Item {i:03d}: which statement is true?",
            choices=[f"statement {i:03d} is true", f"statement {i:03d} is false"],
            target="A",
            metadata={"item_id": f"toy-{i:03d}", "correct_letter": "A"},
        )
        for i in range(n_items)
    ]


def register_toy_eval() -> Iterator[str]:
    """Register the toy eval for a test (a generator for a pytest fixture)."""

    @eval_task(metrics=(gold_rate,), better={"gold_rate": "higher"})
    def toy_gold_at_a(split: str = "test", n_items: int = TOY_ITEMS) -> Task:
        """Toy: every gold option at A."""
        return choice_task(f"toy-{split}", toy_samples(n_items), (gold_rate,), {})

    try:
        yield TOY_EVAL
    finally:
        unregister(TOY_EVAL)


def samples_of(eval_name: str, **args: Any) -> list[Sample]:
    """An eval's samples (to script a model on)."""
    from alignlab.evals import get_eval

    return list(get_eval(eval_name).factory(**args).dataset)
