"""``position_debias_per_condition`` on a scripted model whose position prior depends on the prompt.

The control: a model whose preference factorises into a position prior times
a content preference, as PriDe assumes, but with a *different* prior per
condition (strongly "A" in one, strongly "B" in the other).  One pooled prior
averages the two away and leaves the model answering by position; one prior
per condition recovers each exactly, so the hardened eval reads the content.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from inspect_ai import Task
from inspect_ai.dataset import Sample

from alignlab.attacks import harden_eval, run_attack
from alignlab.attacks.position_debias import prior_group
from alignlab.attacks.position_debias_per_condition import CONDITION_KEY
from alignlab.evals import choice_task, eval_task, unregister
from tests._scripted import scripted_choice_model
from tests.attacks._position_models import PREFERENCE, gold_rate, gold_text, toy_samples

TOY_EVAL = "toy_prior_per_condition"
PRIOR_BY_CONDITION = {"leans_a": (0.9, 0.1), "leans_b": (0.1, 0.9)}
ITEMS = 24


def _samples() -> list[Sample]:
    """The toy items (gold at A), in two conditions that alternate every two items."""
    return [
        sample.model_copy(
            update={
                "metadata": {
                    **(sample.metadata or {}),
                    CONDITION_KEY: "leans_a" if (i // 2) % 2 == 0 else "leans_b",
                }
            }
        )
        for i, sample in enumerate(toy_samples(ITEMS))
    ]


@pytest.fixture
def toy_eval() -> Iterator[str]:
    @eval_task(metrics=(gold_rate,), better={"gold_rate": "higher"})
    def toy_prior_per_condition(split: str = "test") -> Task:
        """Toy: two conditions whose position priors differ."""
        return choice_task(f"toy-{split}", _samples(), (gold_rate,), {})

    try:
        yield TOY_EVAL
    finally:
        unregister(TOY_EVAL)


def _weigh(sample: Sample, options: list[str]) -> list[float]:
    prior = PRIOR_BY_CONDITION[str((sample.metadata or {})[CONDITION_KEY])]
    gold = gold_text(sample)
    return [
        prior[i] * (PREFERENCE if option == gold else 1 - PREFERENCE)
        for i, option in enumerate(options)
    ]


def test_one_prior_per_condition_reads_the_content_where_a_pooled_one_does_not(
    toy_eval: str, tmp_path: Path
) -> None:
    model = scripted_choice_model(_samples(), _weigh)
    results = {}
    for hardening in ("position_debias", "position_debias_per_condition"):
        report = run_attack(
            toy_eval,
            model,
            "answer_position",
            splits=("test",),
            log_dir=tmp_path / hardening,
            hardening=hardening,
        )
        results[hardening] = report.splits["test"].variants["shift_1"].metrics["gold_rate"]
    pooled, per_condition = results["position_debias"], results["position_debias_per_condition"]
    # the pooled prior is about uniform, so each condition still answers by its position:
    # right only on the 8 calibration samples (permutation-debiased) and half the other 16
    assert pooled.base == pytest.approx(2 / 3) and pooled.ci_low < 0 < pooled.ci_high
    assert (per_condition.base, per_condition.attacked, per_condition.effect) == (1.0, 1.0, 0.0)


def test_prior_groups() -> None:
    assert prior_group({CONDITION_KEY: "x"}, 4, None) == (4, None)
    assert prior_group({CONDITION_KEY: "x"}, 4, CONDITION_KEY) == (4, "x")
    assert prior_group({}, 2, CONDITION_KEY) == (2, None)


def test_applies_where_position_debias_does() -> None:
    assert harden_eval("sycophancy", "position_debias_per_condition").solver is not None
    with pytest.raises(Exception, match="does not apply to eval 'cot_faithfulness'"):
        harden_eval("cot_faithfulness", "position_debias_per_condition")
