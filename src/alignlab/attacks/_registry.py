"""The attack registry: one module and one decorator per attack, like evals and methods.

An attack is a function ``(eval_info) -> list[AttackVariant] | NotApplicable``:
given the eval it is pointed at, the ways it will try to game it (each a
variant run beside the unattacked eval on the same samples), or the reason it
cannot apply.  A variant changes how the eval is answered (its solver: e.g. a
policy with no disposition) and/or what is asked (its samples: e.g. options
reordered); the runner (:mod:`alignlab.attacks._run`) scores both on the same
items and compares them metric by metric.

An attack function may take a second argument, ``task_args`` (the run's checked
task arguments), to look at the items it will attack (e.g. how many options
they have, or a user's file for an eval that reads one), and a third,
``attack_args``: what the run gives the attack itself (``run_attack(...,
attack_args=...)``; e.g. the model organism ``eval_cue_organism`` compares
with the model, which the CLI's ``--organism`` supplies).  An attack may also
supply a *diagnostics hook* (``@attack(diagnostics=...)``): numbers of its own
computed from the ``.eval`` logs of one split (the unattacked run and every
variant), stored beside the per-metric effects (``SplitResult.diagnostics``);
``answer_position`` reports the spread of per-position recall this way.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

from alignlab._lookup import import_submodules, lookup, summary

REFERENCE_VARIANT = "target"
"""A model-replacing variant by this name answers every item with its target (the
aligned option): the ceiling a metric can reach.  Verdicts judge the other
model-replacing variants against it instead of against the model, so whether a
null policy games a metric does not depend on how good the model is."""


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
    model: Any = None
    """Another model that answers this variant instead of the run's (an Inspect model
    or model name, e.g. a LoRA model organism on the run's base); None: the run's model."""


AttackFunction = Callable[..., "list[AttackVariant] | NotApplicable"]
"""``(eval_info) -> ...``, ``(eval_info, task_args) -> ...`` or
``(eval_info, task_args, attack_args) -> ...``."""
Diagnostics = Callable[[Any, Mapping[str, Any]], dict[str, float | None]]
"""``(base_log, variant_logs_by_name) -> {name: value}`` for one split (None: undefined)."""


@dataclass(frozen=True)
class AttackInfo:
    """What the CLI needs to know about one attack."""

    name: str
    description: str
    build: AttackFunction
    diagnostics: Diagnostics | None = None
    """Numbers of the attack's own computed from one split's logs (None: none)."""


_ATTACKS: dict[str, AttackInfo] = {}


def takes_task_args(function: Callable[..., Any]) -> bool:
    """Whether a registered builder takes the run's task arguments as a second argument."""
    return len(inspect.signature(function).parameters) >= 2


def takes_attack_args(function: Callable[..., Any]) -> bool:
    """Whether a registered builder takes the run's attack arguments as a third argument."""
    return len(inspect.signature(function).parameters) >= 3


def build_with_args(
    function: Callable[..., Any],
    eval_info: Any,
    task_args: Mapping[str, Any],
    attack_args: Mapping[str, Any] | None = None,
) -> Any:
    """Call an attack's (or hardening's) builder, with the arguments it takes.

    Args:
        function: The builder.
        eval_info: The eval it is pointed at.
        task_args: The run's checked task arguments (for builders with two parameters).
        attack_args: The run's attack arguments (for builders with three; None: empty).

    Returns:
        What the builder returns.
    """
    if takes_attack_args(function):
        return function(eval_info, dict(task_args), dict(attack_args or {}))
    if takes_task_args(function):
        return function(eval_info, dict(task_args))
    return function(eval_info)


@overload
def attack(function: AttackFunction) -> AttackFunction: ...


@overload
def attack(
    function: None = None, *, diagnostics: Diagnostics | None = None
) -> Callable[[AttackFunction], AttackFunction]: ...


def attack(
    function: AttackFunction | None = None, *, diagnostics: Diagnostics | None = None
) -> AttackFunction | Callable[[AttackFunction], AttackFunction]:
    """Register an attack (the decorated function's name is the attack's name).

    Used bare (``@attack``) or with a diagnostics hook
    (``@attack(diagnostics=hook)``).

    Args:
        function: ``(eval_info[, task_args]) -> list[AttackVariant] | NotApplicable``.
        diagnostics: Optional :data:`Diagnostics` hook run on each split's logs.

    Returns:
        The function, unchanged (or a decorator that registers it).
    """

    def register(built: AttackFunction) -> AttackFunction:
        _ATTACKS[built.__name__] = AttackInfo(
            name=built.__name__,
            description=summary(built),
            build=built,
            diagnostics=diagnostics,
        )
        return built

    return register if function is None else register(function)


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
