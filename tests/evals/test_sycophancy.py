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
