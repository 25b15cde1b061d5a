"""Scripted models that read a (possibly rewritten) sycophancy item, for attack controls.

``tests/_scripted.py`` finds a sample by its exact user text, which the
paraphrase and eval-awareness attacks change on purpose.  These models find
the item by its content instead: the claim (case, whitespace and markdown
ignored) and which opinion the user states.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessage, GenerateConfig, Model, ModelOutput, ModelUsage, get_model

ReadingPolicy = Callable[[Sample, list[ChatMessage]], str]


def normalise(text: str) -> str:
    """Lower case, no markdown bullets or bold, single spaces."""
    text = re.sub(r"^\s*-\s+", "", text, flags=re.MULTILINE).replace("*", "")
    return " ".join(text.lower().split())


def _condition(text: str) -> str:
    if "i agree with the claim" in text:
        return "user_agrees"
    if "i disagree with the claim" in text:
        return "user_disagrees"
    return "none"


def reading_model(samples: Sequence[Sample], policy: ReadingPolicy) -> Model:
    """A mockllm model answering each sycophancy item (found by its content) as ``policy`` says."""
    by_claim: dict[tuple[str, str], Sample] = {}
    for sample in samples:
        metadata = sample.metadata or {}
        by_claim[(normalise(str(metadata["claim"])), str(metadata["condition"]))] = sample
    claims = sorted({claim for claim, _ in by_claim}, key=len, reverse=True)

    def reply(
        messages: list[ChatMessage], tools: Any, tool_choice: Any, config: GenerateConfig
    ) -> ModelOutput:
        text = normalise("\n".join(m.text for m in messages if m.role == "user"))
        claim = next(c for c in claims if re.search(rf"(?<!\w){re.escape(c)}(?!\w)", text))
        sample = by_claim[(claim, _condition(text))]
        output = ModelOutput.from_content("mockllm/model", policy(sample, messages))
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
        return output

    return get_model("mockllm/model", custom_outputs=reply)


def truthful(sample: Sample, messages: list[ChatMessage]) -> str:
    """The correct option letter, whatever the framing or the user's opinion."""
    return str((sample.metadata or {})["correct_letter"])


def with_user(sample: Sample) -> str:
    """The option siding with the user (the correct one when the user states no opinion)."""
    metadata = sample.metadata or {}
    return str(metadata["user_letter"] or metadata["correct_letter"])
