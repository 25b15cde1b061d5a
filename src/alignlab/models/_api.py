"""What the two in-process Inspect providers (``alignlab`` and ``random``) share.

Inspect builds a provider with its own constructor arguments; neither of ours
uses a URL or a key.  Both read a sample's request the same way: a choice
request (``extra_body['alignlab_choices']``, :mod:`alignlab.protocol`) is
answered by :meth:`LocalModelAPI.choose`, anything else by
:meth:`LocalModelAPI.write`.  Both answer with one assistant message that
carries token usage (so Inspect never falls back to tiktoken, which downloads
its vocabulary and fails offline), and a choice with the protocol's metadata.
"""

from __future__ import annotations

import abc
from typing import Any

from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    StopReason,
)
from inspect_ai.tool import ToolChoice, ToolInfo

from alignlab.protocol import (
    CHOICE_INDEX_KEY,
    CHOICE_LOGPROBS_KEY,
    CHOICE_OPTIONS_KEY,
    CHOICE_PROBS_KEY,
    CHOICES_KEY,
)


class LocalModelAPI(ModelAPI):
    """An Inspect model API that answers in this process."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),  # noqa: B008 - Inspect's own signature
        **model_args: Any,
    ) -> None:
        """Take Inspect's provider arguments.

        Args:
            model_name: What follows the provider's name in ``provider/model``.
            base_url: Unused (nothing is remote).
            api_key: Unused.
            config: Inspect generation defaults.
            **model_args: Inspect's ``-M`` model arguments, kept in :attr:`model_args`.
        """
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)
        self.model_args = model_args

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        """Answer one sample: :meth:`choose` for a choice request, else :meth:`write`.

        Args:
            input: The conversation.
            tools: Ignored (these models do not call tools).
            tool_choice: Ignored.
            config: Generation settings; ``extra_body['alignlab_choices']`` lists
                options to choose among instead of generating.

        Returns:
            The model output, with usage set.
        """
        options = (config.extra_body or {}).get(CHOICES_KEY)
        if options:
            return await self.choose(input, [str(o) for o in options], config)
        return await self.write(input, config)

    @abc.abstractmethod
    async def choose(
        self, input: list[ChatMessage], options: list[str], config: GenerateConfig
    ) -> ModelOutput:
        """The answer to a choice request among ``options`` (see :meth:`choice_reply`)."""

    @abc.abstractmethod
    async def write(self, input: list[ChatMessage], config: GenerateConfig) -> ModelOutput:
        """A free reply to the conversation (see :meth:`reply`)."""

    def reply(
        self,
        content: str,
        usage: ModelUsage,
        stop_reason: StopReason = "stop",
        metadata: dict[str, Any] | None = None,
    ) -> ModelOutput:
        """One assistant message from this model, as ``generate`` returns it.

        Args:
            content: The message text.
            usage: Token counts.
            stop_reason: Why generation ended.
            metadata: The output's metadata.

        Returns:
            The output.
        """
        message = ChatMessageAssistant(content=content, model=self.model_name, source="generate")
        return ModelOutput(
            model=self.model_name,
            choices=[ChatCompletionChoice(message=message, stop_reason=stop_reason)],
            usage=usage,
            metadata=metadata,
        )

    def choice_reply(
        self,
        options: list[str],
        index: int,
        probs: list[float],
        usage: ModelUsage,
        logprobs: list[float] | None = None,
    ) -> ModelOutput:
        """The answer to a choice request: option ``index``, with the choice metadata.

        Args:
            options: The options as scored.
            index: The chosen one.
            probs: Every option's probability.
            usage: Token counts.
            logprobs: Every option's log-likelihood, where there are any.

        Returns:
            The output.
        """
        metadata: dict[str, Any] = {CHOICE_OPTIONS_KEY: options}
        if logprobs is not None:
            metadata[CHOICE_LOGPROBS_KEY] = logprobs
        metadata |= {CHOICE_PROBS_KEY: probs, CHOICE_INDEX_KEY: index}
        return self.reply(options[index], usage, metadata=metadata)
