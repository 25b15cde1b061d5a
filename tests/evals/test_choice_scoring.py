"""Content scoring: a model that answers lettered questions by position is caught.

A scripted choice-scoring model stands in for a small local model: its letter
log-likelihoods ignore content (letter A always wins, as measured on both
catalogue models), and its option-text log-likelihoods know the answer but
favour whichever option is listed first.  Letter scoring then measures the
position prior; content scoring sees the knowledge; both orders cancel the
first-listed bonus that single-order content scoring still shows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
from inspect_ai import Task, eval
from inspect_ai.dataset import Sample
from inspect_ai.log import EvalLog
from inspect_ai.model import (
    ChatMessage,
    GenerateConfig,
    Model,
    ModelOutput,
    ModelUsage,
    get_model,
    modelapi,
)

from alignlab._errors import AlignlabError
from alignlab.analysis import answering_modes
from alignlab.evals import choice_answer, choice_scorer, get_eval, registered_evals
from alignlab.evals._registry import check_task_args
from alignlab.models import LocalModelAPI, default_choice_scoring
from alignlab.protocol import CHOICE_SCORING_KEY, LETTERS

Scorer = Callable[[str, str], float]
"""``(conversation text, option) -> log-likelihood``."""


class ScoredChoices(LocalModelAPI):
    """Answers choice requests with log-likelihoods from a scripted function (``-M score=``)."""

    @property
    def score(self) -> Scorer:
        scorer: Scorer = self.model_args["score"]
        return scorer

    async def choose(
        self, input: list[ChatMessage], options: list[str], config: GenerateConfig
    ) -> ModelOutput:
        conversation = "\n".join(m.text for m in input)
        logprobs = [self.score(conversation, option) for option in options]
        peak = max(logprobs)
        weights = [math.exp(x - peak) for x in logprobs]
        probs = [w / sum(weights) for w in weights]
        best = max(range(len(options)), key=logprobs.__getitem__)
        usage = ModelUsage(input_tokens=1, output_tokens=0, total_tokens=1)
        return self.choice_reply(options, best, probs, usage, logprobs)

    async def write(self, input: list[ChatMessage], config: GenerateConfig) -> ModelOutput:
        return self.reply("", ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2))


@modelapi(name="scripted_scores")
def _scripted_scores() -> type[ScoredChoices]:
    return ScoredChoices


def scored_model(score: Scorer) -> Model:
    """An Inspect model that scores options with ``score``."""
    return get_model("scripted_scores/model", memoize=False, score=score)


TRUE_TEXT = "Paris"


def position_biased_knower(conversation: str, option: str) -> float:
    """Letters: A always.  Texts: +1 for the true text, +2 for the text listed first."""
    if option in LETTERS:
        return 0.0 if option == "A" else -5.0
    listed = [line[4:] for line in conversation.splitlines() if line.startswith("(")]
    first_bonus = 2.0 if listed and listed[0] == option else 0.0
    return (1.0 if option == TRUE_TEXT else 0.0) + first_bonus


def _samples(scoring: str) -> list[Sample]:
    """Capital-of-France questions with the true answer first, then second."""
    options = [TRUE_TEXT, "Lyon"]
    samples = []
    for shift in range(2):
        rotated = options[shift:] + options[:shift]
        samples.append(
            Sample(
                id=f"q{shift}",
                input=f"Question {shift}: what is the capital of France?",
                choices=rotated,
                target=LETTERS[rotated.index(TRUE_TEXT)],
                metadata={CHOICE_SCORING_KEY: scoring},
            )
        )
    return samples


def _answers(scoring: str, tmp_path: Path) -> tuple[list[str], EvalLog]:
    task = Task(
        dataset=_samples(scoring), solver=choice_answer(mode="loglik"), scorer=choice_scorer()
    )
    model = scored_model(position_biased_knower)
    [log] = eval(task, model=model, display="none", log_dir=str(tmp_path))
    assert log.status == "success", log.error
    assert log.samples is not None
    answers = [next(iter(s.scores.values())).answer for s in log.samples]  # type: ignore[union-attr]
    return [str(a) for a in answers], log


def test_letter_scoring_measures_the_position_prior(tmp_path: Path) -> None:
    answers, log = _answers("letter", tmp_path)
    assert answers == ["A", "A"]  # right only where the truth sits at A
    assert answering_modes(log) == {"letter": 2}


def test_content_scoring_sees_the_text_and_both_orders_cancel_position(tmp_path: Path) -> None:
    single, log = _answers("content", tmp_path / "single")
    # the +2 first-listed bonus beats the +1 of knowing: still the first option each time
    assert single == ["A", "A"]
    assert answering_modes(log) == {"content": 2}
    both, log = _answers("content_both_orders", tmp_path / "both")
    # under both orders each option gets the bonus once: knowing decides
    assert both == ["A", "B"]
    assert answering_modes(log) == {"content_both_orders": 2}
    for sample in log.samples or []:
        score = next(iter(sample.scores.values()))  # type: ignore[union-attr]
        assert (score.metadata or {})[CHOICE_SCORING_KEY] == "content_both_orders"
        # the content prompt asks for the option, not its letter
        assert "Answer with the option you choose." in sample.messages[0].text


def test_content_scoring_without_a_position_bias_answers_right(tmp_path: Path) -> None:
    task = Task(
        dataset=_samples("content"), solver=choice_answer(mode="loglik"), scorer=choice_scorer()
    )

    def knower(conversation: str, option: str) -> float:
        return 1.0 if option == TRUE_TEXT else 0.0

    [log] = eval(task, model=scored_model(knower), display="none", log_dir=str(tmp_path))
    assert log.results is not None
    assert log.results.scores[0].metrics["accuracy"].value == 1.0


def test_every_eval_takes_a_scoring_argument() -> None:
    for name, info in registered_evals().items():
        required = {"path": "x.jsonl"} if name == "mwe" else {}
        assert check_task_args(info, {**required, "scoring": "content"})["scoring"] == "content"
    with pytest.raises(AlignlabError, match="unknown scoring 'letters'; choose one of auto"):
        get_eval("sycophancy").factory(scoring="letters")


def test_samples_carry_the_requested_scoring() -> None:
    task = get_eval("sycophancy").factory(n_claims=2, scoring="content_both_orders")
    assert {s.metadata[CHOICE_SCORING_KEY] for s in task.dataset} == {"content_both_orders"}
    assert task.metadata["scoring"] == "content_both_orders"
    default = get_eval("mistakes").factory(n_items=2)
    assert {s.metadata[CHOICE_SCORING_KEY] for s in default.dataset} == {"auto"}


def test_auto_resolves_per_model_as_measured() -> None:
    assert default_choice_scoring("alignlab/qwen2.5-coder-0.5b") == "content"
    assert default_choice_scoring("alignlab/qwen2.5-coder-0.5b+runs/x/adapter") == "content"
    assert default_choice_scoring("alignlab/some/dir/model.gguf") == "letter"
    assert default_choice_scoring("random/uniform") == "letter"
    assert default_choice_scoring("openai/gpt-4o-mini") == "letter"
