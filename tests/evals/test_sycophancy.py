import math
from pathlib import Path

import pytest
from inspect_ai import eval
from inspect_ai.model import ModelOutput, ModelUsage, get_model

from alignlab import AlignlabError
from alignlab.evals import sycophancy, sycophancy_samples


def test_deterministic() -> None:
    first = sycophancy_samples("test", 20, seed=3)
    again = sycophancy_samples("test", 20, seed=3)
    other = sycophancy_samples("test", 20, seed=4)
    assert [s.input for s in first] == [s.input for s in again]
    assert [s.input for s in first] != [s.input for s in other]


def test_splits_disjoint() -> None:
    claims = {
        split: {s.metadata["claim_id"].split("-", 1)[1] for s in sycophancy_samples(split, 200)}  # type: ignore[index]
        for split in ("train", "test", "heldout")
    }
    assert not claims["train"] & claims["test"]
    assert not claims["heldout"] & (claims["train"] | claims["test"])
    heldout_text = {str(s.input) for s in sycophancy_samples("heldout", 50)}
    assert not any("What is your opinion" in t for t in heldout_text)


def test_bad_split() -> None:
    with pytest.raises(AlignlabError, match="unknown split 'dev'"):
        sycophancy_samples("dev")  # type: ignore[arg-type]


def _run_scripted(answer_for, log_dir) -> dict[str, float]:  # type: ignore[no-untyped-def]
    samples = sycophancy_samples("test", 10)
    outputs = [ModelOutput.from_content("mockllm/model", answer_for(s)) for s in samples]
    for output in outputs:  # usage set, or Inspect counts tokens with tiktoken (a download)
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
    model = get_model("mockllm/model", custom_outputs=outputs)
    [log] = eval(
        sycophancy(n_claims=10), model=model, display="none", max_samples=1, log_dir=str(log_dir)
    )
    assert log.results is not None
    return {k: v.value for k, v in log.results.scores[0].metrics.items()}


def test_controls_separate(tmp_path) -> None:  # type: ignore[no-untyped-def]
    honest = _run_scripted(lambda s: "A" if s.metadata["claim_true"] else "B", tmp_path)
    follower = _run_scripted(
        lambda s: {"user_agrees": "A", "user_disagrees": "B"}.get(
            s.metadata["condition"], "A" if s.metadata["claim_true"] else "B"
        ),
        tmp_path,
    )
    assert honest["sycophancy_rate"] == 0.0 and follower["sycophancy_rate"] == 1.0
    assert honest["opinion_shift"] == 0.0 and follower["opinion_shift"] == 1.0
    assert honest["no_opinion_accuracy"] == 1.0


def _run_pushback(first_correct: bool, holds: bool, log_dir: Path) -> float:
    samples = [s for s in sycophancy_samples("test", 8) if s.metadata["condition"] == "none"]  # type: ignore[index]
    outputs = []
    for sample in samples:
        right = "A" if sample.metadata["claim_true"] else "B"  # type: ignore[index]
        wrong = "B" if right == "A" else "A"
        first = right if first_correct else wrong
        second = first if holds else ("B" if first == "A" else "A")
        outputs += [
            ModelOutput.from_content("mockllm/model", first),
            ModelOutput.from_content("mockllm/model", second),
        ]
    for output in outputs:
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
    model = get_model("mockllm/model", custom_outputs=outputs)
    [log] = eval(
        sycophancy(n_claims=8, variant="are_you_sure"),
        model=model,
        display="none",
        max_samples=1,
        log_dir=str(log_dir),
    )
    assert log.results is not None and log.samples is not None
    assert len(log.samples) == 8
    assert all("Are you sure?" in s.messages[-2].text for s in log.samples)
    return float(log.results.scores[0].metrics["flip_rate"].value)


def test_are_you_sure_controls_separate(tmp_path: Path) -> None:
    assert _run_pushback(first_correct=True, holds=True, log_dir=tmp_path) == 0.0
    assert _run_pushback(first_correct=True, holds=False, log_dir=tmp_path) == 1.0
    # a model that was wrong to begin with has no correct answer to abandon
    assert math.isnan(_run_pushback(first_correct=False, holds=False, log_dir=tmp_path))


def test_unknown_variant() -> None:
    with pytest.raises(AlignlabError, match="unknown variant 'nope'"):
        sycophancy(variant="nope")


def test_unknown_answer_mode() -> None:
    from alignlab.evals import choice_answer

    with pytest.raises(AlignlabError, match="unknown answer mode 'guess'"):
        choice_answer(mode="guess")  # type: ignore[arg-type]
