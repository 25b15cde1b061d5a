"""The attack registry: one module and one decorator per attack, like evals and methods.

An attack is a function ``(eval_info) -> list[AttackVariant] | NotApplicable``:
given the eval it is pointed at, the ways it will try to game it (each a
variant run beside the unattacked eval on the same samples), or the reason it
cannot apply.  A variant changes how the eval is answered (its solver: e.g. a
policy with no disposition) and/or what is asked (its samples: e.g. options
reordered); the runner (:mod:`alignlab.attacks._run`) scores both on the same
items and compares them metric by metric.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from alignlab._lookup import import_submodules, lookup, summary


@dataclass(frozen=True)
class NotApplicable:
    """Why an attack cannot apply to an eval (recorded as ``"n/a: <reason>"``)."""

    reason: str


@dataclass(frozen=True)
class AttackVariant:
    """One way an attack tries to game an eval."""

    name: str
    """Short name, e.g. ``always_first``."""
    description: str
    """One line: what it does."""
    solver: Callable[[], Any] | None = None
    """A solver factory that answers instead of the model (None: the model answers)."""
    samples: Callable[[Sequence[Any]], list[Any]] | None = None
    """A transform of the eval's samples (None: unchanged); ids must be kept for pairing."""
    replaces_model: bool = False
    """The variant's answers do not come from the model at all (a degenerate policy)."""


AttackFunction = Callable[[Any], "list[AttackVariant] | NotApplicable"]


@dataclass(frozen=True)
class AttackInfo:
    """What the CLI needs to know about one attack."""

    name: str
    description: str
    build: AttackFunction


_ATTACKS: dict[str, AttackInfo] = {}


def attack(function: AttackFunction) -> AttackFunction:
    """Register an attack (the decorated function's name is the attack's name).

    Args:
        function: ``(eval_info) -> list[AttackVariant] | NotApplicable``.

    Returns:
        The function, unchanged.
    """
    _ATTACKS[function.__name__] = AttackInfo(
        name=function.__name__, description=summary(function), build=function
    )
    return function


def unregister(name: str) -> None:
    """Remove an attack (for tests that register a toy one)."""
    _ATTACKS.pop(name, None)


def registered_attacks() -> dict[str, AttackInfo]:
    """Every attack in :mod:`alignlab.attacks`, importing its modules on first call."""
    import alignlab.attacks as package

    import_submodules(package)
    return dict(sorted(_ATTACKS.items()))


def get_attack(name: str) -> AttackInfo:
    """One attack by name (an unknown name is a one-line error listing the known ones)."""
    return lookup(registered_attacks(), name, "attack")
