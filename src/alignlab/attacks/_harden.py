"""The hardening registry: one module and one decorator per way of hardening an eval.

A hardening is a function ``(eval_info[, task_args]) -> Hardening |
NotApplicable``: a new version of the eval that an attack can be compared on
(``run_attack(..., hardening=NAME)``; ``alignlab harden``).  It may change what
is asked (a transform of the samples, e.g. options balanced over positions)
and/or how answers are read (a wrapper around the solver that answers, e.g. one
that divides out the model's position prior).  The runner applies it to the
unattacked eval *and* to every attack variant: the hardening's transform first
(it defines the hardened eval), then the variant's (the attack on the hardened
eval); the wrapper goes around whichever solver answers.

The wrapper is given the samples it will answer as well as the solver, so a
hardening that calibrates on a few items (PriDe estimates a prior from a few
permuted samples) can pick them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from inspect_ai.dataset import Sample
from inspect_ai.solver import Solver

from alignlab._lookup import import_submodules, lookup, summary
from alignlab.attacks._registry import NotApplicable, build_with_args

SampleTransform = Callable[[Sequence[Sample]], list[Sample]]
"""A transform of an eval's samples; ids must be kept (runs pair samples by id)."""
SolverWrapper = Callable[[Solver, list[Sample]], Solver]
"""``(solver that answers, the samples it will answer) -> the hardened solver``."""


@dataclass(frozen=True)
class Hardening:
    """One hardened version of an eval."""

    description: str
    """One line: what it changes."""
    samples: SampleTransform | None = None
    """A transform of the samples (None: unchanged); every item's answer must be kept."""
    solver: SolverWrapper | None = None
    """A wrapper of the solver that answers (None: unchanged)."""


HardeningFunction = Callable[..., "Hardening | NotApplicable"]
"""``(eval_info) -> ...`` or ``(eval_info, task_args) -> ...``."""


@dataclass(frozen=True)
class HardeningInfo:
    """What the CLI needs to know about one hardening."""

    name: str
    description: str
    build: HardeningFunction


_HARDENINGS: dict[str, HardeningInfo] = {}


def hardening(function: HardeningFunction) -> HardeningFunction:
    """Register a hardening (the decorated function's name is its name).

    Args:
        function: ``(eval_info[, task_args]) -> Hardening | NotApplicable``.

    Returns:
        The function, unchanged.
    """
    _HARDENINGS[function.__name__] = HardeningInfo(
        name=function.__name__, description=summary(function), build=function
    )
    return function


def unregister_hardening(name: str) -> None:
    """Remove a hardening (for tests that register a toy one)."""
    _HARDENINGS.pop(name, None)


def registered_hardenings() -> dict[str, HardeningInfo]:
    """Every hardening in :mod:`alignlab.attacks`, importing its modules on first call."""
    import alignlab.attacks as package

    import_submodules(package)
    return dict(sorted(_HARDENINGS.items()))


def get_hardening(name: str) -> HardeningInfo:
    """One hardening by name (an unknown name is a one-line error listing the known ones)."""
    return lookup(registered_hardenings(), name, "hardening")


def build_hardening(
    info: HardeningInfo, eval_info: Any, task_args: dict[str, Any]
) -> Hardening | NotApplicable:
    """The hardening of one eval (or why it does not apply), given the run's task arguments."""
    built: Hardening | NotApplicable = build_with_args(info.build, eval_info, task_args)
    return built
