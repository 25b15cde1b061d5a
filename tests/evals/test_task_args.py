"""check_task_args: task arguments checked against the factory's signature."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.scorer import accuracy

from alignlab import AlignlabError
from alignlab.evals import check_task_args, eval_task, get_eval, unregister


@pytest.fixture
def toy() -> Iterator[str]:
    @eval_task(metrics=[accuracy])
    def toy_task_args(
        path: str,
        n: int = 1,
        rate: float = 0.5,
        flag: bool = False,
        cap: int | None = None,
        extra: list[str] | None = None,
    ) -> Task:
        """A toy eval for argument checks."""
        return Task(dataset=MemoryDataset([Sample(input="x", target="y")]))

    yield "toy_task_args"
    unregister("toy_task_args")


def test_valid_arguments_pass(toy: str) -> None:
    info = get_eval(toy)
    args: dict[str, Any] = {"path": "f", "n": 3, "flag": True, "cap": None, "extra": ["a"]}
    assert check_task_args(info, args) == args


def test_int_for_float_is_converted(toy: str) -> None:
    checked = check_task_args(get_eval(toy), {"path": "f", "rate": 1})
    assert checked["rate"] == 1.0 and isinstance(checked["rate"], float)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"path": "f", "colour": "red"}, "unknown task argument 'colour' for 'toy_task_args'; "),
        ({"n": 1}, "missing task argument 'path' for 'toy_task_args'"),
        ({"path": "f", "n": 2.5}, "task argument 'n' for 'toy_task_args' must be int, got 2.5"),
        ({"path": "f", "n": "abc"}, "must be int, got 'abc' (str)"),
        ({"path": "f", "n": True}, "must be int, got True (bool)"),
        ({"path": "f", "rate": "x"}, "'rate' for 'toy_task_args' must be float"),
        ({"path": "f", "flag": 1}, "'flag' for 'toy_task_args' must be bool, got 1 (int)"),
        ({"path": "f", "cap": "x"}, "'cap' for 'toy_task_args' must be int or None"),
        ({"path": 3}, "'path' for 'toy_task_args' must be str, got 3 (int)"),
    ],
)
def test_bad_arguments_are_one_line(toy: str, args: dict[str, Any], message: str) -> None:
    with pytest.raises(AlignlabError) as info:
        check_task_args(get_eval(toy), args)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_argument_lists_valid_ones(toy: str) -> None:
    valid = r"valid arguments: path, n, rate, flag, cap, extra, scoring$"
    with pytest.raises(AlignlabError, match=valid):
        check_task_args(get_eval(toy), {"path": "f", "colour": "red"})


def test_every_builtin_default_passes() -> None:
    from alignlab.evals import registered_evals

    for info in registered_evals().values():
        args = {"path": "f.jsonl"} if info.external_data else {}
        assert check_task_args(info, args) == args
