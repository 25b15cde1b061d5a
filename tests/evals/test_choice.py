from pathlib import Path

from inspect_ai import Task, eval
from inspect_ai.dataset import Sample

from alignlab.evals import choice_answer, choice_scorer, classify_reply
from tests._scripted import run_metrics, scripted_model

PATTERNS = [r"\b(yes|correct)\b", r"\b(no|not|incorrect)\b"]


def test_classify_reply_takes_earliest_match() -> None:
    assert classify_reply("Yes, that is correct.", PATTERNS) == 0
    assert classify_reply("That is not correct.", PATTERNS) == 1
    assert classify_reply("I cannot say.", PATTERNS) is None


def _reply_samples() -> list[Sample]:
    return [
        Sample(
            input=f"Is {a} + {a} = {2 * a + wrong}?",
            choices=["Yes, that is correct.", "No, that is not correct."],
            target="B" if wrong else "A",
            metadata={"reply_patterns": PATTERNS, "wrong": bool(wrong)},
        )
        for a in range(10, 16)
        for wrong in (0, 1)
    ]


def _task(samples: list[Sample]) -> Task:
    return Task(dataset=samples, solver=choice_answer(), scorer=choice_scorer())


def test_free_text_reply_is_classified(tmp_path: Path) -> None:
    samples = _reply_samples()
    right = scripted_model(
        samples, lambda s, m: "Nope, not correct." if s.metadata["wrong"] else "Yes indeed."
    )
    mute = scripted_model(samples, lambda s, m: "Let me think about it.")
    assert run_metrics(_task(samples), right, tmp_path)["accuracy"] == 1.0
    assert run_metrics(_task(samples), mute, tmp_path)["accuracy"] == 0.0


def test_free_text_prompt_shows_no_options(tmp_path: Path) -> None:
    samples = _reply_samples()
    model = scripted_model(samples, lambda s, m: "Yes.")
    [log] = eval(_task(samples), model=model, display="none", log_dir=str(tmp_path))
    assert log.samples is not None
    for sample in log.samples:
        assert "(A)" not in sample.messages[0].text
        assert sample.scores is not None
        assert next(iter(sample.scores.values())).answer == "A"


def test_free_text_scored_by_loglik_locally(tiny_model_dir: Path, tmp_path: Path) -> None:
    samples = _reply_samples()
    [log] = eval(
        _task(samples), model=f"alignlab/{tiny_model_dir}", display="none", log_dir=str(tmp_path)
    )
    assert log.status == "success" and log.samples is not None
    for sample in log.samples:
        assert sample.output.metadata is not None
        # replies are whole texts ranked per token, not letters
        assert sample.output.metadata["choice_options"][0] == "Yes, that is correct."
        score = next(iter(sample.scores.values()))  # type: ignore[union-attr]
        probs = score.metadata["choice_probs"]
        assert score.answer == max(probs, key=probs.get)
