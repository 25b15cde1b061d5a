"""``random/uniform``: the random-choice baseline as an Inspect model.

Every eval reports its numbers next to this baseline: a model that picks each
multiple-choice option (or candidate reply) uniformly at random.  It speaks
the same choice-scoring protocol as the ``alignlab`` provider, so evals treat
it like a local model, and it is deterministic: the choice is a hash of the
seed and the prompt.  Free generation (e.g. a chain of thought) returns an
empty reply.
"""

from __future__ import annotations

import hashlib
from typing import Any

from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    modelapi,
)
from inspect_ai.tool import ToolChoice, ToolInfo

from alignlab.protocol import CHOICE_INDEX_KEY, CHOICE_PROBS_KEY, CHOICES_KEY


class RandomChoiceAPI(ModelAPI):
    """Uniformly random answers to choice-scoring requests; empty generations."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),  # noqa: B008 - Inspect's own signature
        **model_args: Any,
    ) -> None:
        """Create the baseline (``model_name`` is ignored; ``uniform`` by convention)."""
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        """Pick an option at random (seeded by the prompt), or return an empty reply.

        Args:
            input: The conversation.
            tools: Ignored.
            tool_choice: Ignored.
            config: ``extra_body['alignlab_choices']`` lists the options.

        Returns:
            The output, with uniform ``choice_probs`` when options were given.
        """
        options = [str(o) for o in (config.extra_body or {}).get(CHOICES_KEY) or []]
        prompt = "\n".join(f"{m.role}: {m.text}" for m in input)
        usage = ModelUsage(input_tokens=len(prompt.split()), output_tokens=0, total_tokens=0)
        if not options:
            message = ChatMessageAssistant(content="", model=self.model_name, source="generate")
            return ModelOutput(
                model=self.model_name,
                choices=[ChatCompletionChoice(message=message, stop_reason="stop")],
                usage=usage,
            )
        key = f"{config.seed or 0}\n{prompt}\n{options}".encode()
        index = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % len(options)
        message = ChatMessageAssistant(
            content=options[index], model=self.model_name, source="generate"
        )
        return ModelOutput(
            model=self.model_name,
            choices=[ChatCompletionChoice(message=message, stop_reason="stop")],
            usage=usage,
            metadata={
                "choice_options": options,
                CHOICE_PROBS_KEY: [1.0 / len(options)] * len(options),
                CHOICE_INDEX_KEY: index,
            },
        )


@modelapi(name="random")
def random_provider() -> type[ModelAPI]:
    """Register the random-choice baseline as ``random/uniform``."""
    return RandomChoiceAPI
