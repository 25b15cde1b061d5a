"""The ``alignlab`` Inspect model provider: local weights, batched, no polling.

``inspect eval TASK --model alignlab/SPEC`` (and ``alignlab eval``) route here.
Inspect calls :meth:`AlignlabModelAPI.generate` once per sample, concurrently.
Each call parks its request in a queue and awaits a future; one worker task
takes *everything* queued, runs it through :class:`~alignlab.models._engine.Engine`
in a thread (torch releases the GIL), and resolves the futures.  Requests that
arrive while a batch runs form the next batch.  Unlike Inspect's ``hf``
provider there is no wall-clock polling: the worker waits only until the
queue stops growing between event-loop turns.

Choice scoring: a solver passes ``GenerateConfig(extra_body={"alignlab_choices":
[...]})``; the provider then scores each option's log-likelihood instead of
generating and returns the most likely option as the completion, with all
option probabilities in ``output.metadata`` (see :mod:`alignlab.evals._choice`).

Every output carries token usage, so Inspect never falls back to tiktoken
(which downloads its vocabulary and fails offline).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
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

from alignlab.models._engine import (
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_BATCH_TOKENS,
    ChoiceRequest,
    ChoiceResult,
    Engine,
    GenerationRequest,
    GenerationResult,
    SamplingParams,
)
from alignlab.models._load import load_model
from alignlab.protocol import (
    CHOICE_INDEX_KEY,
    CHOICE_LOGPROBS_KEY,
    CHOICE_NORM_KEY,
    CHOICE_NORMS,
    CHOICE_OPTIONS_KEY,
    CHOICE_PROBS_KEY,
    CHOICES_KEY,
)

DEFAULT_MAX_CONNECTIONS = 512
"""Samples Inspect may have in flight; the engine cuts them into batches itself."""

DEFAULT_MAX_NEW_TOKENS = 256


@dataclass
class _Pending:
    request: GenerationRequest | ChoiceRequest
    future: asyncio.Future[GenerationResult | ChoiceResult]


def chat_to_dicts(messages: list[ChatMessage]) -> list[dict[str, str]]:
    """Convert Inspect chat messages to the dicts that chat templates expect.

    Args:
        messages: Inspect messages (tool messages are rendered as user text).

    Returns:
        ``[{"role": ..., "content": ...}]`` with roles system/user/assistant.
    """
    converted: list[dict[str, str]] = []
    for message in messages:
        role = message.role if message.role in ("system", "user", "assistant") else "user"
        converted.append({"role": role, "content": message.text})
    return converted


class _Batcher:
    """Collects concurrent requests on one event loop and serves them in batches."""

    def __init__(self, engine: Engine, loop: asyncio.AbstractEventLoop) -> None:
        self.engine = engine
        self.loop = loop
        self.pending: list[_Pending] = []
        self.worker: asyncio.Task[None] | None = None
        self.batches_run = 0

    async def submit(self, request: GenerationRequest | ChoiceRequest) -> Any:
        future: asyncio.Future[GenerationResult | ChoiceResult] = self.loop.create_future()
        self.pending.append(_Pending(request, future))
        if self.worker is None or self.worker.done():
            self.worker = self.loop.create_task(self._work())
        return await future

    async def _settle(self) -> None:
        # Let every coroutine that is ready to submit do so before cutting a batch:
        # yield event-loop turns while the queue keeps growing (no sleeping on a clock).
        seen = -1
        while len(self.pending) != seen and len(self.pending) < self.engine.max_batch_size * 8:
            seen = len(self.pending)
            for _ in range(4):
                await asyncio.sleep(0)

    async def _work(self) -> None:
        while self.pending:
            await self._settle()
            taken, self.pending = self.pending, []
            try:
                results = await asyncio.to_thread(self._run, [p.request for p in taken])
            except BaseException as exc:
                for item in taken:
                    if not item.future.done():
                        item.future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            self.batches_run += 1
            for item, result in zip(taken, results, strict=True):
                if not item.future.done():
                    item.future.set_result(result)

    def _run(
        self, requests: list[GenerationRequest | ChoiceRequest]
    ) -> list[GenerationResult | ChoiceResult]:
        gen_idx = [i for i, r in enumerate(requests) if isinstance(r, GenerationRequest)]
        choice_idx = [i for i, r in enumerate(requests) if isinstance(r, ChoiceRequest)]
        out: list[GenerationResult | ChoiceResult | None] = [None] * len(requests)
        if choice_idx:
            scored = self.engine.score_choices([requests[i] for i in choice_idx])  # type: ignore[misc]
            for i, choice_result in zip(choice_idx, scored, strict=True):
                out[i] = choice_result
        if gen_idx:
            generated = self.engine.generate([requests[i] for i in gen_idx])  # type: ignore[misc]
            for i, gen_result in zip(gen_idx, generated, strict=True):
                out[i] = gen_result
        return [r for r in out if r is not None]


class AlignlabModelAPI(ModelAPI):
    """Inspect model API over a locally loaded alignlab model spec."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),  # noqa: B008 - Inspect's own signature
        **model_args: Any,
    ) -> None:
        """Load the model named by ``model_name`` (an alignlab model spec).

        Args:
            model_name: A local model spec: ``smollm2-135m``, a directory, ``BASE+ADAPTER``.
            base_url: Unused (local model).
            api_key: Unused (local model).
            config: Inspect generation defaults.
            **model_args: ``max_batch_size`` and ``max_batch_tokens`` tune the engine;
                ``threads`` sets torch's intra-op threads.
        """
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)
        import torch

        threads = int(model_args.get("threads", os.cpu_count() or 1))
        torch.set_num_threads(threads)
        loaded = load_model(model_name)
        self.loaded = loaded
        self.engine = Engine(
            loaded.model,
            loaded.tokenizer,
            max_batch_size=int(model_args.get("max_batch_size", DEFAULT_MAX_BATCH_SIZE)),
            max_batch_tokens=int(model_args.get("max_batch_tokens", DEFAULT_MAX_BATCH_TOKENS)),
        )
        self._batchers: dict[int, _Batcher] = {}

    def max_connections(self) -> int:
        """Let many samples be in flight: batching happens here, not in Inspect."""
        return DEFAULT_MAX_CONNECTIONS

    def connection_key(self) -> str:
        """One pool per loaded model."""
        return self.model_name

    def _batcher(self) -> _Batcher:
        loop = asyncio.get_running_loop()
        batcher = self._batchers.get(id(loop))
        if batcher is None or batcher.loop is not loop:
            batcher = _Batcher(self.engine, loop)
            self._batchers[id(loop)] = batcher
        return batcher

    def prompt_ids(self, messages: list[ChatMessage]) -> list[int]:
        """Token ids of the chat-templated prompt, ready for the assistant's turn.

        Args:
            messages: The conversation so far.

        Returns:
            Prompt token ids.
        """
        tokenizer = self.loaded.tokenizer
        dicts = chat_to_dicts(messages)
        if getattr(tokenizer, "chat_template", None):
            text = tokenizer.apply_chat_template(dicts, add_generation_prompt=True, tokenize=False)
            return list(tokenizer(text, add_special_tokens=False)["input_ids"])
        text = "\n\n".join(d["content"] for d in dicts) + "\n\n"
        return list(tokenizer(text)["input_ids"])

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        """Generate (or choice-score) one sample; batching happens behind the scenes.

        Args:
            input: The conversation.
            tools: Ignored (local models here do not call tools).
            tool_choice: Ignored.
            config: Generation settings; ``extra_body['alignlab_choices']`` asks for
                choice scoring.

        Returns:
            The model output with usage set.
        """
        prompt = self.prompt_ids(input)
        choices = (config.extra_body or {}).get(CHOICES_KEY)
        if choices:
            norm = str((config.extra_body or {}).get(CHOICE_NORM_KEY, "sum"))
            if norm not in CHOICE_NORMS:
                raise ValueError(f"{CHOICE_NORM_KEY} must be 'sum' or 'mean', got '{norm}'")
            return await self._score(prompt, [str(c) for c in choices], per_token=norm == "mean")
        params = SamplingParams(
            max_new_tokens=config.max_tokens or DEFAULT_MAX_NEW_TOKENS,
            temperature=config.temperature if config.temperature is not None else 0.0,
            top_p=config.top_p if config.top_p is not None else 1.0,
            top_k=config.top_k or 0,
            stop_seqs=tuple(config.stop_seqs or ()),
        )
        seed = config.seed if config.seed is not None else 0
        result: GenerationResult = await self._batcher().submit(
            GenerationRequest(prompt_ids=prompt, params=params, seed=seed)
        )
        output_tokens = len(result.token_ids)
        return ModelOutput(
            model=self.model_name,
            choices=[
                ChatCompletionChoice(
                    message=ChatMessageAssistant(
                        content=result.text, model=self.model_name, source="generate"
                    ),
                    stop_reason="stop" if result.stop_reason == "stop" else "max_tokens",
                )
            ],
            usage=ModelUsage(
                input_tokens=result.prompt_tokens,
                output_tokens=output_tokens,
                total_tokens=result.prompt_tokens + output_tokens,
            ),
        )

    async def _score(
        self, prompt: list[int], options: list[str], per_token: bool = False
    ) -> ModelOutput:
        tokenizer = self.loaded.tokenizer
        option_ids = [list(tokenizer(o, add_special_tokens=False)["input_ids"]) for o in options]
        if any(not ids for ids in option_ids):
            raise ValueError("choice scoring needs non-empty options")
        result: ChoiceResult = await self._batcher().submit(
            ChoiceRequest(prompt_ids=prompt, option_ids=option_ids)
        )
        if per_token:
            result = result.per_token([len(ids) for ids in option_ids])
        best = result.best
        return ModelOutput(
            model=self.model_name,
            choices=[
                ChatCompletionChoice(
                    message=ChatMessageAssistant(
                        content=options[best], model=self.model_name, source="generate"
                    ),
                    stop_reason="stop",
                )
            ],
            usage=ModelUsage(
                input_tokens=result.prompt_tokens,
                output_tokens=0,
                total_tokens=result.scored_tokens,
            ),
            metadata={
                CHOICE_OPTIONS_KEY: options,
                CHOICE_LOGPROBS_KEY: result.logprobs,
                CHOICE_PROBS_KEY: result.probs,
                CHOICE_INDEX_KEY: best,
            },
        )


@modelapi(name="alignlab")
def alignlab_provider() -> type[ModelAPI]:
    """Register the provider; Inspect imports it lazily through this factory."""
    return AlignlabModelAPI
