"""The eval registry: one decorator per eval module, nothing else to edit.

``@eval_task(metrics=..., splits=..., formats=...)`` registers the function with
Inspect (as ``alignlab/<name>``, via ``inspect_ai.task``) and records what
``alignlab evals`` shows.  :func:`registered_evals` imports every public module
of this package, so a new eval is one new file.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from inspect_ai import task

from alignlab._errors import AlignlabError

TaskFactory = TypeVar("TaskFactory", bound=Callable[..., Any])


@dataclass(frozen=True)
class EvalInfo:
    """What the CLI and experiment specs need to know about one eval."""

    name: str
    """Registered name (``alignlab/<name>`` in Inspect)."""
    factory: Callable[..., Any]
    """The Inspect task factory."""
    description: str
    """First line of the factory's docstring."""
    metrics: tuple[str, ...]
    """Names of the metrics the task reports."""
    splits: tuple[str, ...]
    """Splits the task accepts through its ``split`` argument."""
    formats: tuple[str, ...]
    """Surface formats of its samples."""


_EVALS: dict[str, EvalInfo] = {}


def eval_task(
    *,
    metrics: tuple[str, ...],
    splits: tuple[str, ...] = ("train", "test", "heldout"),
    formats: tuple[str, ...] = ("multiple_choice",),
) -> Callable[[TaskFactory], TaskFactory]:
    """Register an eval's task factory with Inspect and with alignlab.

    Args:
        metrics: Metric names the task reports.
        splits: Splits it accepts.
        formats: Surface formats of its samples.

    Returns:
        A decorator for an ``@task``-style factory.
    """

    def register(factory: TaskFactory) -> TaskFactory:
        name = factory.__name__
        doc = (factory.__doc__ or "").strip().splitlines()
        registered: TaskFactory = task(factory)
        _EVALS[name] = EvalInfo(
            name=name,
            factory=registered,
            description=doc[0] if doc else "",
            metrics=metrics,
            splits=splits,
            formats=formats,
        )
        return registered

    return register


def registered_evals() -> dict[str, EvalInfo]:
    """Every eval in :mod:`alignlab.evals`, importing the modules on first call.

    Returns:
        Eval infos by name, sorted by name.
    """
    import alignlab.evals as package

    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{module.name}")
    return dict(sorted(_EVALS.items()))


def get_eval(name: str) -> EvalInfo:
    """Look up one eval by name.

    Args:
        name: Eval name, e.g. ``sycophancy``.

    Returns:
        Its info.

    Raises:
        AlignlabError: If there is no such eval (the message lists the known ones).
    """
    evals = registered_evals()
    if name not in evals:
        raise AlignlabError(f"unknown eval '{name}'; known evals: {', '.join(evals)}")
    return evals[name]
