"""Stopping unwanted work, and refusing NaN log-probabilities (issue: reliability).

An interrupted eval waited 100+ s for the provider's thread to finish the whole
queue; choice scoring on corrupt weights silently picked option A.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import torch

from alignlab.models import ChoiceRequest, Engine, GenerationRequest, SamplingParams, load_model
from alignlab.models._engine import EngineStopped, NonFiniteLogprobsError
from alignlab.models._provider import _Batcher


@pytest.fixture(scope="module")
def engine(tiny_model_dir: Path) -> Engine:
    loaded = load_model(str(tiny_model_dir), reuse=False)
    return Engine(loaded.model, loaded.tokenizer, max_batch_size=2, max_batch_tokens=64)


def _choice_requests(engine: Engine, n: int) -> list[ChoiceRequest]:
    tok = engine.tokenizer
    options = [tok(o, add_special_tokens=False)["input_ids"] for o in (" A", " B")]
    return [
        ChoiceRequest(
            tok(f"Question {i}: pick one.", add_special_tokens=False)["input_ids"], options
        )
        for i in range(n)
    ]


def _after(calls: int) -> Callable[[], bool]:
    """A ``should_stop`` that turns True on its ``calls``-th call, counting calls."""
    count = [0]

    def should_stop() -> bool:
        count[0] += 1
        return count[0] >= calls

    should_stop.count = count  # type: ignore[attr-defined]
    return should_stop


def _hooks(engine: Engine) -> int:
    return sum(len(module._forward_pre_hooks) for module in engine.model.modules())


def test_should_stop_ends_choice_scoring(engine: Engine) -> None:
    requests = _choice_requests(engine, 12)
    assert len(engine.score_choices(requests, should_stop=lambda: False)) == 12
    with pytest.raises(EngineStopped):
        engine.score_choices(requests, should_stop=lambda: True)
    assert _hooks(engine) == 0


def test_should_stop_is_checked_inside_a_forward_pass(engine: Engine) -> None:
    """Between decoder layers: the tiny model has 2, so the 2nd check is mid-forward."""
    stop = _after(2)
    with pytest.raises(EngineStopped):
        engine.score_choices(_choice_requests(engine, 1), should_stop=stop)
    assert stop.count[0] == 2  # type: ignore[attr-defined]
    assert _hooks(engine) == 0  # the layer hooks are removed again


def test_should_stop_ends_generation_between_decode_steps(engine: Engine) -> None:
    prompt = engine.tokenizer("Tell me a story.", add_special_tokens=False)["input_ids"]
    request = GenerationRequest(prompt, SamplingParams(max_new_tokens=50))
    with pytest.raises(EngineStopped):
        engine.generate([request], should_stop=_after(4))  # the first decode step
    assert _hooks(engine) == 0


def test_non_finite_logprobs_raise(tiny_model_dir: Path) -> None:
    loaded = load_model(str(tiny_model_dir), reuse=False)
    with torch.no_grad():
        for name, parameter in loaded.model.named_parameters():
            if "layers.1.mlp.down_proj" in name:
                parameter.fill_(float("nan"))
    engine = Engine(loaded.model, loaded.tokenizer)
    with pytest.raises(NonFiniteLogprobsError, match="non-finite log-probabilities"):
        engine.score_choices(_choice_requests(engine, 2))


class _SlowEngine:
    """Scores choices one slow step at a time, checking ``should_stop`` between steps."""

    max_batch_size = 4

    def __init__(self) -> None:
        self.steps = 0
        self.stopped = False

    def score_choices(
        self, requests: Sequence[ChoiceRequest], should_stop: Callable[[], bool] | None = None
    ) -> list[object]:
        for _ in range(600):  # 60 s if nobody stops it
            if should_stop is not None and should_stop():
                self.stopped = True
                raise EngineStopped("stopped")
            self.steps += 1
            time.sleep(0.1)
        raise AssertionError("never stopped")


def test_cancelled_callers_stop_the_running_batch() -> None:
    """Once every caller of a batch is cancelled, its thread stops within a step."""
    slow = _SlowEngine()

    async def main() -> float:
        batcher = _Batcher(slow, asyncio.get_running_loop())  # type: ignore[arg-type]
        callers = [
            asyncio.ensure_future(batcher.submit(ChoiceRequest([1, 2], [[3], [4]])))
            for _ in range(3)
        ]
        while slow.steps < 3:
            await asyncio.sleep(0.05)
        started = time.monotonic()
        for caller in callers:
            caller.cancel()
        await asyncio.gather(*callers, return_exceptions=True)
        assert batcher.worker is not None
        await asyncio.wait_for(asyncio.shield(batcher.worker), timeout=5)
        return time.monotonic() - started

    # asyncio.run waits for the worker thread at shutdown: it must be finished
    started = time.monotonic()
    assert asyncio.run(main()) < 2
    assert time.monotonic() - started < 10
    assert slow.stopped
