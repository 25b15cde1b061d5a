"""The ``alignlab`` Inspect model provider: local weights, batched, no polling.

``inspect eval TASK --model alignlab/SPEC`` (and ``alignlab eval``) route here.
Inspect calls :meth:`AlignlabModelAPI.generate` once per sample, concurrently.
Each call parks its request in a queue and awaits a future; one worker task
takes *everything* queued, runs it through :class:`~alignlab.models._engine.Engine`
in a thread (torch releases the GIL), and resolves the futures.  Requests that
arrive while a batch runs form the next batch.  Unlike Inspect's ``hf``
provider there is no wall-clock polling: the worker waits only until the
queue stops growing between event-loop turns.  Once every caller of the
running batch is cancelled (Ctrl-C), the engine stops at its next batch or
decode step, so an interrupted eval ends in seconds instead of finishing the
queued work in a thread that the event loop must wait for.

Choice scoring: a solver passes ``GenerateConfig(extra_body={"alignlab_choices":
[...]})``; the provider then scores each option's log-likelihood instead of
generating and returns the most likely option as the completion, with all
option probabilities in ``output.metadata`` (see :mod:`alignlab.evals._choice`).

Every output carries token usage, so Inspect never falls back to tiktoken
(which downloads its vocabulary and fails offline).

Device: :func:`~alignlab.models.load_model` puts the weights on the GPU when
there is one (:func:`~alignlab.models.compute_device`) and the engine batches
wherever they are; the ``threads`` model arg only sets torch's CPU threads.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from inspect_ai.model import ChatMessage, GenerateConfig, ModelOutput, ModelUsage, modelapi

from alignlab.models._api import LocalModelAPI
from alignlab.models._chat import chat_prompt_ids
from alignlab.models._engine import ChoiceRequest, Engine, GenerationRequest, SamplingParams
from alignlab.models._load import load_model
from alignlab.protocol import CHOICE_NORM_KEY, CHOICE_NORMS

if TYPE_CHECKING:
    from alignlab.models._engine import ChoiceResult, GenerationResult

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


def _stop_when_all_done(taken: list[_Pending], stop: threading.Event, _: object) -> None:
    if all(item.future.done() for item in taken):
        stop.set()  # every caller is gone (cancelled): the results are not wanted


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
            # requests whose callers were cancelled while queued are dropped
            taken = [p for p in self.pending if not p.future.done()]
            self.pending = []
            if not taken:
                continue
            stop = threading.Event()  # the engine checks it between batches and steps
            stop_when_unwanted = functools.partial(_stop_when_all_done, taken, stop)
            for item in taken:
                item.future.add_done_callback(stop_when_unwanted)
            try:
                results = await asyncio.to_thread(
                    self._run, [p.request for p in taken], stop.is_set
                )
            except BaseException as exc:
                stop.set()
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
        self,
        requests: list[GenerationRequest | ChoiceRequest],
        should_stop: Callable[[], bool] | None = None,
    ) -> list[GenerationResult | ChoiceResult]:
        out: list[GenerationResult | ChoiceResult | None] = [None] * len(requests)

        def run(kind: type, engine_call: Callable[..., list[Any]]) -> None:
            indices = [i for i, r in enumerate(requests) if isinstance(r, kind)]
            if indices:
                results = engine_call([requests[i] for i in indices], should_stop)
                for i, result in zip(indices, results, strict=True):
                    out[i] = result

        run(ChoiceRequest, self.engine.score_choices)
        run(GenerationRequest, self.engine.generate)
        return [r for r in out if r is not None]


class AlignlabModelAPI(LocalModelAPI):
    """Inspect model API over a locally loaded alignlab model spec."""

    def __init__(self, model_name: str, **kwargs: Any) -> None:
        """Load the model named by ``model_name`` (an alignlab model spec).

        Args:
            model_name: A local model spec: ``smollm2-135m``, a directory, ``BASE+ADAPTER``.
            **kwargs: Inspect's provider arguments (:class:`LocalModelAPI`); of the
                model args, ``max_batch_size`` and ``max_batch_tokens`` tune the
                engine and ``threads`` sets torch's intra-op threads.
        """
        super().__init__(model_name, **kwargs)
        model_args = self.model_args
        import torch

        threads = int(model_args.get("threads", os.cpu_count() or 1))
        torch.set_num_threads(threads)
        loaded = load_model(model_name)
        self.loaded = loaded
        limits = {
            name: int(model_args[name])
            for name in ("max_batch_size", "max_batch_tokens")
            if name in model_args
        }
        self.engine = Engine(loaded.model, loaded.tokenizer, **limits)  # else the engine's defaults
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
        return chat_prompt_ids(self.loaded.tokenizer, chat_to_dicts(messages))

    async def write(self, input: list[ChatMessage], config: GenerateConfig) -> ModelOutput:
        """Generate a reply with ``config``'s sampling settings, batched with other samples'."""
        prompt = self.prompt_ids(input)
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
        usage = ModelUsage(
            input_tokens=result.prompt_tokens,
            output_tokens=output_tokens,
            total_tokens=result.prompt_tokens + output_tokens,
        )
        return self.reply(
            result.text, usage, "stop" if result.stop_reason == "stop" else "max_tokens"
        )

    async def choose(
        self, input: list[ChatMessage], options: list[str], config: GenerateConfig
    ) -> ModelOutput:
        """The option of highest log-likelihood after the prompt, batched with other samples'.

        ``extra_body['alignlab_choice_norm']`` of ``mean`` ranks by log-likelihood per token.
        """
        norm = str((config.extra_body or {}).get(CHOICE_NORM_KEY, "sum"))
        if norm not in CHOICE_NORMS:
            raise ValueError(f"{CHOICE_NORM_KEY} must be 'sum' or 'mean', got '{norm}'")
        prompt = self.prompt_ids(input)
        tokenizer = self.loaded.tokenizer
        option_ids = [list(tokenizer(o, add_special_tokens=False)["input_ids"]) for o in options]
        if any(not ids for ids in option_ids):
            raise ValueError("choice scoring needs non-empty options")
        result: ChoiceResult = await self._batcher().submit(
            ChoiceRequest(prompt_ids=prompt, option_ids=option_ids)
        )
        if norm == "mean":
            result = result.per_token([len(ids) for ids in option_ids])
        usage = ModelUsage(
            input_tokens=result.prompt_tokens, output_tokens=0, total_tokens=result.scored_tokens
        )
        return self.choice_reply(options, result.best, result.probs, usage, result.logprobs)


@modelapi(name="alignlab")
def alignlab_provider() -> type[AlignlabModelAPI]:
    """Register the provider; Inspect imports it lazily through this factory."""
    return AlignlabModelAPI
