"""The leakage guard has no silent holes.

An eval that declares ``external_data`` (``mwe``) is skipped and the skip is
reported (and lands in the manifest); any other eval whose generator raises
makes the guard, and so training, fail with an error naming the eval.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from inspect_ai import Task
from inspect_ai.scorer import Metric, SampleScore, metric

from alignlab import AlignlabError
from alignlab.evals import eval_task, registered_evals, unregister
from alignlab.methods import train
from alignlab.training import SFTExample, check_no_leakage, protection

BROKEN = "_test_broken_eval"


@metric
def _toy_rate() -> Metric:
    def compute(scores: list[SampleScore]) -> float:
        return 0.0

    return compute


@pytest.fixture()
def fresh_guard() -> Iterator[None]:
    protection.cache_clear()
    yield
    protection.cache_clear()


@pytest.fixture()
def broken_eval(fresh_guard: None) -> Iterator[Callable[[bool], None]]:
    """Registers an eval whose factory raises (optionally declaring external data)."""

    def register(external_data: bool) -> None:
        def factory(split: str = "test", seed: int = 0) -> Task:
            raise ValueError("generator exploded")

        factory.__name__ = BROKEN
        factory.__doc__ = "A broken toy eval."
        eval_task(metrics=(_toy_rate,), external_data=external_data)(factory)
        protection.cache_clear()

    yield register
    unregister(BROKEN)


def test_mwe_is_skipped_and_reported_every_other_eval_checked(fresh_guard: None) -> None:
    report = check_no_leakage([])
    evals = registered_evals()
    assert set(report.skipped) == {n for n, i in evals.items() if i.external_data} == {"mwe"}
    assert "external_data" in report.skipped["mwe"]
    assert set(report.checked) == set(evals) - {"mwe"}
    assert {"sycophancy", "mistakes", "reward_hacking"} <= set(report.checked)


def test_an_eval_whose_generator_raises_makes_the_guard_fail(
    broken_eval: Callable[[bool], None],
) -> None:
    broken_eval(False)
    example = SFTExample(prompt=({"role": "user", "content": "Hello."},), completion="Hi.")
    with pytest.raises(AlignlabError, match=f"eval '{BROKEN}' failed to generate") as info:
        check_no_leakage([example])
    assert "ValueError: generator exploded" in str(info.value)
    assert "\n" not in str(info.value)


def test_a_broken_eval_declaring_external_data_is_skipped(
    broken_eval: Callable[[bool], None],
) -> None:
    broken_eval(True)
    report = check_no_leakage([])
    assert BROKEN in report.skipped and BROKEN not in report.checked


def test_a_broken_eval_makes_training_fail_naming_it(
    broken_eval: Callable[[bool], None], tiny_model_dir: Path, tmp_path: Path
) -> None:
    broken_eval(False)
    out = tmp_path / "out"
    with pytest.raises(AlignlabError, match=f"eval '{BROKEN}'"):
        train("sft_control", str(tiny_model_dir), out, {"token_budget": 200, "batch_size": 4})
    assert not out.exists()
    assert not list(tmp_path.glob(".out.partial-*"))


def test_unregistered_eval_leaves_the_guard_whole(fresh_guard: None) -> None:
    # the fixture above unregisters the toy eval; a fresh guard no longer sees it
    assert BROKEN not in registered_evals()
    report = check_no_leakage([])
    assert BROKEN not in report.checked and BROKEN not in report.skipped
