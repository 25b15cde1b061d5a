"""The CUDA path on a real GPU (issue 11, item 3): load, score, generate and train there.

Skipped without CUDA.  The rest of the suite is pinned to the CPU
(``tests/conftest.py``); these tests set ``ALIGNLAB_DEVICE=cuda``, so a broken
GPU setup fails here instead of quietly falling back to the CPU.  The decision
logic itself is tested on any machine in ``tests/models/test_device.py``.

The models here compute in bf16 (fp32 on GPUs without it), so GPU numbers are
compared with the CPU's within a tolerance, never bit for bit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from inspect_ai import Task, eval
from inspect_ai.dataset import Sample
from inspect_ai.model import get_model
from inspect_ai.scorer import includes
from inspect_ai.solver import generate
from safetensors.torch import load_file

from alignlab.evals.sycophancy import sycophancy
from alignlab.methods import read_manifest, train
from alignlab.models import (
    DEFAULT_MAX_CONNECTIONS,
    DEVICE_ENV,
    ChoiceRequest,
    Engine,
    GenerationRequest,
    SamplingParams,
    compute_dtype,
    device_summary,
    load_model,
    release_model,
)

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

SMOLLM2 = "smollm2-135m"
GPU = "cuda:0"
PROB_TOLERANCE = 0.15
"""Largest difference between an option's probability on the GPU (bf16) and on the CPU
(fp32): bf16 keeps about 3 significant digits, and the error adds up over 30 layers
and over an option's tokens."""

QUESTIONS = (
    "Is 7 + 5 equal to 12?",
    "Is the sun a planet?",
    "Is water wet?",
    "Do fish live in trees?",
)


@pytest.fixture(autouse=True)
def on_the_gpu(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``ALIGNLAB_DEVICE=cuda``, with no CPU copy of the model cached before or after.

    ``load_model`` caches by spec: an earlier test's CPU copy would be reused here,
    and the GPU copy made here must not serve the CPU tests that follow.
    """
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    release_model(SMOLLM2)
    yield
    release_model(SMOLLM2)
    torch.cuda.empty_cache()


def _prompt(tokenizer: Any, question: str) -> list[int]:
    messages = [{"role": "user", "content": f"{question} Answer A for yes or B for no."}]
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _choice_requests(tokenizer: Any) -> list[ChoiceRequest]:
    """Single-token options (one prefill) and multi-token ones (a row per option)."""
    requests = []
    for question in QUESTIONS:
        prompt = _prompt(tokenizer, question)
        for options in (["A", "B"], ["Yes, that is right.", "No, that is wrong."]):
            ids = [list(tokenizer(o, add_special_tokens=False)["input_ids"]) for o in options]
            requests.append(ChoiceRequest(prompt_ids=prompt, option_ids=ids))
    return requests


def test_the_model_loads_on_the_gpu_in_its_dtype() -> None:
    loaded = load_model(SMOLLM2, reuse=False)
    parameter = next(loaded.model.parameters())
    assert str(parameter.device) == GPU
    assert parameter.dtype == compute_dtype(parameter.device)
    assert device_summary().startswith(f"{GPU} (")


def test_choice_scores_on_the_gpu_match_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    gpu = load_model(SMOLLM2, reuse=False)
    requests = _choice_requests(gpu.tokenizer)
    on_gpu = Engine(gpu.model, gpu.tokenizer).score_choices(requests)
    del gpu
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    cpu = load_model(SMOLLM2, reuse=False)
    assert next(cpu.model.parameters()).device.type == "cpu"
    on_cpu = Engine(cpu.model, cpu.tokenizer).score_choices(requests)
    for g, c in zip(on_gpu, on_cpu, strict=True):
        assert math.isclose(sum(g.probs), 1.0, abs_tol=1e-6)
        assert max(abs(a - b) for a, b in zip(g.probs, c.probs, strict=True)) < PROB_TOLERANCE
        assert g.scored_tokens == c.scored_tokens


def test_sampling_on_the_gpu_is_seeded() -> None:
    loaded = load_model(SMOLLM2, reuse=False)
    engine = Engine(loaded.model, loaded.tokenizer)
    prompt = _prompt(loaded.tokenizer, "Name three random animals.")
    params = SamplingParams(max_new_tokens=12, temperature=1.2, top_p=0.95, top_k=50)

    def draw(seed: int) -> list[int]:
        return engine.generate([GenerationRequest(prompt, params, seed=seed)])[0].token_ids

    assert draw(7) == draw(7)
    assert len({tuple(draw(seed)) for seed in range(6)}) > 1
    greedy = engine.generate([GenerationRequest(prompt, SamplingParams(max_new_tokens=6))])[0]
    assert 0 < len(greedy.token_ids) <= 6 and greedy.text.strip()


def test_the_provider_scores_and_generates_on_the_gpu(tmp_path: Path) -> None:
    model = get_model(f"alignlab/{SMOLLM2}", memoize=False)
    assert str(model.api.engine.device) == GPU  # type: ignore[attr-defined]
    [log] = eval(
        sycophancy(n_claims=4),
        model=model,
        max_connections=DEFAULT_MAX_CONNECTIONS,
        display="none",
        log_dir=str(tmp_path / "choices"),
    )
    assert log.status == "success" and log.samples
    for sample in log.samples:
        score = next(iter(sample.scores.values()))  # type: ignore[union-attr]
        probs = score.metadata["choice_probs"]  # type: ignore[index]
        assert math.isclose(sum(probs.values()), 1.0, abs_tol=1e-6)
        assert score.answer == max(probs, key=probs.get)
    samples = [Sample(input=f"Name a colour, number {i}.", target="x") for i in range(6)]
    task = Task(dataset=samples, solver=generate(), scorer=includes())
    for config in ({"temperature": 0.0}, {"temperature": 0.8, "seed": 5}):
        [log] = eval(
            task,
            model=model,
            max_tokens=8,
            max_connections=DEFAULT_MAX_CONNECTIONS,
            display="none",
            log_dir=str(tmp_path / "generate"),
            **config,  # type: ignore[arg-type]
        )
        assert log.status == "success" and log.samples, config
        for sample in log.samples:
            assert sample.output.usage is not None
            assert 0 < sample.output.usage.output_tokens <= 8


def _assert_trained_on_the_gpu(out: Path) -> None:
    manifest = read_manifest(out)
    assert manifest is not None and manifest.device == GPU
    assert json.loads((out / "manifest.json").read_text())["device"] == GPU
    assert manifest.loss_curve and all(math.isfinite(p.loss) for p in manifest.loss_curve)
    weights = load_file(str(out / "adapter_model.safetensors"))
    assert {t.dtype for t in weights.values()} == {torch.float32}  # adapters stay fp32
    assert any(bool(t.abs().sum() > 0) for k, t in weights.items() if "lora_B" in k)


def test_sft_trains_on_the_gpu_and_the_adapter_loads_there(tmp_path: Path) -> None:
    out = tmp_path / "sft"
    train("sft_control", SMOLLM2, out, {"token_budget": 600, "batch_size": 4})
    _assert_trained_on_the_gpu(out)
    tuned = load_model(f"{SMOLLM2}+{out}", reuse=False)
    assert str(next(tuned.model.parameters()).device) == GPU
    results = Engine(tuned.model, tuned.tokenizer).score_choices(_choice_requests(tuned.tokenizer))
    assert all(math.isfinite(v) for result in results for v in result.logprobs)


def test_dpo_trains_on_the_gpu(tmp_path: Path) -> None:
    out = tmp_path / "dpo"
    manifest = train("dpo", SMOLLM2, out, {"token_budget": 900, "batch_size": 4})
    _assert_trained_on_the_gpu(out)
    # the first step's policy is the reference (the adapters start as the identity)
    assert math.isclose(manifest.loss_curve[0].loss, math.log(2), rel_tol=1e-2)
    check = manifest.learning_check
    assert check is not None and check.kind == "dpo" and check.before == 0.5


def test_grpo_samples_and_trains_on_the_gpu(tmp_path: Path) -> None:
    out = tmp_path / "grpo"
    params = {"token_budget": 200, "batch_size": 4, "max_completion_length": 4, "beta": 0.0}
    manifest = train("grpo", SMOLLM2, out, params)
    assert manifest.device == GPU and manifest.tokens_seen >= 200
    assert manifest.learning_check is not None and manifest.learning_check.kind == "grpo"
