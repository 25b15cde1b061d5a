from pathlib import Path

import pytest
import torch

from alignlab.models import ChoiceRequest, Engine, GenerationRequest, SamplingParams, load_model


@pytest.fixture(scope="module")
def engine(tiny_model_dir: Path) -> Engine:
    loaded = load_model(str(tiny_model_dir), reuse=False)
    return Engine(loaded.model, loaded.tokenizer, max_batch_size=4, max_batch_tokens=256)


def _prompts(engine: Engine, n: int, shared: str = "") -> list[list[int]]:
    tok = engine.tokenizer
    return [
        tok(shared + f"Question {i}: " + "word " * (i % 7), add_special_tokens=False)["input_ids"]
        for i in range(n)
    ]


SHARED = "You are a careful assistant. Read the question below and answer it well.\n"


@pytest.mark.parametrize("shared", ["", SHARED], ids=["no-shared-prefix", "shared-prefix"])
def test_greedy_matches_unbatched_hf_generate(engine: Engine, shared: str) -> None:
    prompts = _prompts(engine, 9, shared)
    params = SamplingParams(max_new_tokens=6)
    batched = engine.generate([GenerationRequest(p, params) for p in prompts])
    for prompt, result in zip(prompts, batched, strict=True):
        with torch.inference_mode():
            reference = engine.model.generate(
                torch.tensor([prompt]),
                max_new_tokens=6,
                do_sample=False,
                pad_token_id=engine.pad_id,
            )[0, len(prompt) :].tolist()
        eos_cut = next((i + 1 for i, t in enumerate(reference) if t in engine.eos_ids), None)
        assert result.token_ids == reference[:eos_cut]
        assert result.prompt_tokens == len(prompt)


def test_sampling_is_seeded_and_batch_independent(engine: Engine) -> None:
    prompts = _prompts(engine, 6)
    params = SamplingParams(max_new_tokens=8, temperature=1.0, top_p=0.9, top_k=50)
    alone = engine.generate([GenerationRequest(prompts[0], params, seed=7)])[0]
    together = engine.generate([GenerationRequest(p, params, seed=7) for p in prompts])[0]
    other_seed = engine.generate([GenerationRequest(prompts[0], params, seed=8)])[0]
    assert alone.token_ids == together.token_ids
    assert alone.token_ids != other_seed.token_ids


def test_max_tokens_and_stop_reason(engine: Engine) -> None:
    result = engine.generate(
        [GenerationRequest(_prompts(engine, 1)[0], SamplingParams(max_new_tokens=3))]
    )[0]
    assert len(result.token_ids) <= 3
    assert result.stop_reason in ("stop", "max_tokens")
    if result.stop_reason == "max_tokens":
        assert len(result.token_ids) == 3


def _manual_logprob(engine: Engine, prompt: list[int], option: list[int]) -> float:
    with torch.inference_mode():
        logits = engine.model(torch.tensor([prompt + option])).logits[0]
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    return sum(float(log_probs[len(prompt) - 1 + k, t]) for k, t in enumerate(option))


@pytest.mark.parametrize("shared", ["", SHARED], ids=["no-shared-prefix", "shared-prefix"])
def test_choice_scoring_matches_manual_loglik(engine: Engine, shared: str) -> None:
    prompts = _prompts(engine, 6, shared)
    tok = engine.tokenizer
    single = [tok(x, add_special_tokens=False)["input_ids"] for x in ("A", "B", "C")]
    multi = [
        tok(x, add_special_tokens=False)["input_ids"] for x in ("yes it is", "no", "maybe so then")
    ]
    requests = [ChoiceRequest(p, single if i % 2 else multi) for i, p in enumerate(prompts)]
    results = engine.score_choices(requests)
    for request, result in zip(requests, results, strict=True):
        expected = [_manual_logprob(engine, request.prompt_ids, o) for o in request.option_ids]
        assert result.logprobs == pytest.approx(expected, abs=1e-4)
        assert sum(result.probs) == pytest.approx(1.0)
        assert result.best == max(range(3), key=expected.__getitem__)


def test_per_token_ranking_can_reverse_sum_ranking() -> None:
    from alignlab.models._engine import ChoiceResult

    total = ChoiceResult(
        logprobs=[-3.0, -4.0], probs=[0.73, 0.27], prompt_tokens=5, scored_tokens=9
    )
    assert total.best == 0
    mean = total.per_token([1, 4])  # -3.0 per token vs -1.0 per token
    assert mean.best == 1
    assert mean.logprobs == [-3.0, -1.0]
    assert abs(sum(mean.probs) - 1.0) < 1e-9
