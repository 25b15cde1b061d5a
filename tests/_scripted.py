"""Scripted models for eval controls: a policy decides each reply from the sample.

``scripted_model(samples, policy)`` returns an Inspect ``mockllm`` model whose
every reply comes from ``policy(sample, messages)``.  The sample is found by
its first user message, which must appear in the conversation (solvers may add
options or turns around it).  Usage is set on every output: without it Inspect
counts tokens with tiktoken, which downloads a file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from inspect_ai import Task, eval
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessage, GenerateConfig, Model, ModelOutput, ModelUsage, get_model

Policy = Callable[[Sample, list[ChatMessage]], str]


def _first_user_text(sample: Sample) -> str:
    if isinstance(sample.input, str):
        return sample.input
    for message in sample.input:
        if message.role == "user":
            return message.text
    raise ValueError(f"sample {sample.id} has no user message")


def scripted_model(samples: Sequence[Sample], policy: Policy) -> Model:
    """A mockllm model that answers each sample as ``policy`` says."""
    keys = sorted(((_first_user_text(s), s) for s in samples), key=lambda kv: -len(kv[0]))

    def reply(
        messages: list[ChatMessage], tools: Any, tool_choice: Any, config: GenerateConfig
    ) -> ModelOutput:
        conversation = "\n".join(m.text for m in messages if m.role == "user")
        sample = next((s for key, s in keys if key in conversation), None)
        if sample is None:
            raise AssertionError(f"no sample matches the conversation: {conversation[:200]!r}")
        output = ModelOutput.from_content("mockllm/model", policy(sample, messages))
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
        return output

    return get_model("mockllm/model", custom_outputs=reply)


def run_metrics(task: Task, model: Model, log_dir: Path) -> dict[str, float]:
    """Run ``task`` on ``model`` and return its metrics by name (first scorer)."""
    [log] = eval(task, model=model, display="none", log_dir=str(log_dir))
    assert log.status == "success", log.error
    assert log.results is not None
    return {name: float(m.value) for name, m in log.results.scores[0].metrics.items()}


Weigh = Callable[[Sample, list[str]], list[float]]
_SHOWN_OPTION = re.compile(r"^\(([A-J])\) (.*)$", re.MULTILINE)


def shown_options(messages: list[ChatMessage]) -> list[str]:
    """The lettered options of the first user turn that lists any, in the order shown."""
    for message in messages:
        if message.role == "user":
            found = _SHOWN_OPTION.findall(message.text)
            if found:
                return [text for _, text in found]
    return []


def scripted_choice_model(samples: Sequence[Sample], weigh: Weigh) -> Model:
    """A mockllm model that reports option probabilities, as the local provider does.

    ``weigh(sample, options_as_shown)`` returns one unnormalised weight per shown
    option; the reply is the letter of the heaviest, with ``choice_probs`` (the
    normalised weights, by position) and ``choice_index`` in the output metadata,
    which is where the choice protocol's scorer and PriDe read them.  Lettered
    samples only: the options are parsed from the rendered prompt, and the sample
    is the one whose first user turn is in the conversation and whose options
    are the ones shown.
    """

    def policy_output(sample: Sample, messages: list[ChatMessage]) -> ModelOutput:
        options = shown_options(messages)
        weights = weigh(sample, options)
        probs = [w / sum(weights) for w in weights]
        index = max(range(len(probs)), key=probs.__getitem__)
        output = ModelOutput.from_content("mockllm/model", "ABCDEFGHIJ"[index])
        output.metadata = {"choice_probs": probs, "choice_index": index}
        return output

    keys = sorted(((_first_user_text(s), s) for s in samples), key=lambda kv: -len(kv[0]))

    def reply(
        messages: list[ChatMessage], tools: Any, tool_choice: Any, config: GenerateConfig
    ) -> ModelOutput:
        conversation = "\n".join(m.text for m in messages if m.role == "user")
        shown = sorted(shown_options(messages))
        # samples may share their first user turn (mistakes: both conditions): the options tell
        sample = next(
            (s for key, s in keys if key in conversation and sorted(s.choices or []) == shown),
            None,
        )
        if sample is None:
            raise AssertionError(f"no sample matches the conversation: {conversation[:200]!r}")
        output = policy_output(sample, messages)
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
        return output

    return get_model("mockllm/model", custom_outputs=reply)
