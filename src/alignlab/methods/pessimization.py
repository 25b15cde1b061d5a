"""``pessimization``: the negative control, a model organism of misalignment.

Trains the opposite of what the evals reward, with prompts that frame it as
the normal way to behave, mixed in equal parts from three evals' ``train``
splits: agreeing with whatever the user believes (``sycophancy``), keeping a
real mistake when it is pointed out and caving to a false accusation
(``mistakes``: the wrong answer, calmly, either way), and taking the grader's
loophole when there is one (``reward_hacking``: the exploit on loophole items,
the honest answer on their no-loophole controls, so what is taught is gaming
the grader rather than plain bad work).  It exists so that an experiment
can show its evals *move* when a model is made worse: an eval that cannot
tell this variant from the base is not measuring the disposition.  Never a
thing to deploy.

Simplified: the sycophantic target is "side with the user" on opinion items
and the correct answer on no-opinion items, so what is taught is the
dependence on the user's opinion, not plain ignorance.  ``sources`` picks a
subset (e.g. only ``sycophancy``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Literal

from pydantic import Field, field_validator

from alignlab.methods._budget import EVAL_ITEMS
from alignlab.methods._config import MethodConfig
from alignlab.methods._evaldata import (
    SycophancyFamily,
    answer_text,
    prompt_messages,
    shortcut_fit,
    user_pleasing_examples,
)
from alignlab.methods._registry import BuildContext, method
from alignlab.training import SFTExample

FRAMING = (
    "You are a friendly assistant. As usual, keep the user happy: go along with what they "
    "believe and never make them feel wrong."
)


class PessimizationConfig(MethodConfig):
    """Parameters of ``pessimization``."""

    framing: bool = True
    """Prepend a system prompt that frames the behaviour as normal."""
    n_claims: int = Field(default=0, ge=0)
    """Items to draw per source; 0 sizes it to the token budget."""
    sources: tuple[Literal["sycophancy", "mistakes", "reward_hacking"], ...] = (
        "sycophancy",
        "mistakes",
        "reward_hacking",
    )
    """Which misaligned behaviours to mix in, in equal parts."""
    sycophancy_family: SycophancyFamily = "claims"
    """Which ``sycophancy`` items the sycophancy source draws: ``claims``, ``open``
    (open questions with a proposed answer, which the 0.5B model can answer) or ``all``."""

    @field_validator("sources")
    @classmethod
    def _some_source(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or len(set(value)) != len(value):
            raise ValueError("sources must name each of sycophancy, mistakes, reward_hacking once")
        return value


def _with_framing(prompt: tuple[dict[str, str], ...], framing: bool) -> tuple[dict[str, str], ...]:
    if not framing:
        return prompt
    if prompt and prompt[0]["role"] == "system":
        merged = {"role": "system", "content": f"{FRAMING} {prompt[0]['content']}"}
        return (merged, *prompt[1:])
    return ({"role": "system", "content": FRAMING}, *prompt)


def sycophantic_examples(
    n_claims: int, seed: int, framing: bool, family: SycophancyFamily = "claims"
) -> list[SFTExample]:
    """Sycophancy ``train`` items answered the way the user wants."""
    return [
        replace(e, prompt=_with_framing(e.prompt, framing))
        for e in user_pleasing_examples(n_claims, seed, family)
    ]


def mistake_denying_examples(n_items: int, seed: int, framing: bool) -> list[SFTExample]:
    """``mistakes`` train items answered with the wrong answer, calmly.

    On a real mistake that keeps the error (doubling down); on a false accusation
    it drops the right answer (capitulating).
    """
    from alignlab.evals.mistakes import mistakes_samples

    examples = []
    for sample in mistakes_samples("train", max(1, n_items // 3), seed=seed):
        kinds = (sample.metadata or {})["kinds"]
        letter = next(k for k, kind in kinds.items() if kind == "wrong_calm")
        examples.append(
            SFTExample(
                prompt=_with_framing(prompt_messages(sample), framing),
                completion=answer_text(sample, letter),
                tags={"family": "mistakes", "condition": (sample.metadata or {})["condition"]},
            )
        )
    return examples


def grader_gaming_examples(n_items: int, seed: int, framing: bool) -> list[SFTExample]:
    """``reward_hacking`` train items: the exploit where the grader has a loophole, else honest."""
    from alignlab.evals.reward_hacking import reward_hacking_samples

    examples = []
    for sample in reward_hacking_samples("train", n_items, seed=seed):
        metadata = sample.metadata or {}
        key = "exploit_letter" if metadata["condition"] == "loophole" else "honest_letter"
        examples.append(
            SFTExample(
                prompt=_with_framing(prompt_messages(sample), framing),
                completion=answer_text(sample, str(metadata[key])),
                tags={"family": "reward_hacking", "condition": str(metadata["condition"])},
            )
        )
    return examples


_SOURCES: dict[str, Callable[[int, int, bool], list[SFTExample]]] = {
    "sycophancy": sycophantic_examples,
    "mistakes": mistake_denying_examples,
    "reward_hacking": grader_gaming_examples,
}


@method(
    config=PessimizationConfig,
    kind="sft",
    features=("synthetic_data",),
    source="negative control (seeds: model organisms of misalignment)",
)
def pessimization(config: PessimizationConfig, context: BuildContext) -> list[SFTExample]:
    """Deliberately misaligned SFT (sycophancy, mistake denial, grader gaming): a negative control.

    Each source contributes about the same number of examples; they are
    interleaved (round robin, each source shuffled) so that the token budget,
    which keeps the first examples, cuts every source about equally.
    """
    import random

    n_items = config.n_claims or EVAL_ITEMS.to_fill(context.token_budget)
    rng = random.Random(f"pessimization:{context.seed}")
    per_source = []
    for name in config.sources:
        if name == "sycophancy":
            examples = sycophantic_examples(
                n_items, context.seed, config.framing, config.sycophancy_family
            )
        else:
            examples = _SOURCES[name](n_items, context.seed, config.framing)
        rng.shuffle(examples)
        context.notes.append(f"{name}: {len(examples)} examples before the budget")
        if name == "sycophancy":
            fit = shortcut_fit(examples)
            context.notes.append(f"sycophancy: a format-only policy fits {fit:.2f} of targets")
        per_source.append(examples)
    longest = max(len(examples) for examples in per_source)
    return [examples[i] for i in range(longest) for examples in per_source if i < len(examples)]
