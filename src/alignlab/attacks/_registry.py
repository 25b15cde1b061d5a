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
they have, or a user's file for an eval that reads one).  An attack may also
supply a *diagnostics hook* (``@attack(diagnostics=...)``): numbers of its own
computed from the ``.eval`` logs of one split (the unattacked run and every
variant), stored beside the per-metric effects (``SplitResult.diagnostics``);
``answer_position`` reports the spread of per-position recall this way.

Two more things an attack may ask for, for attacks that need more than the
eval: *options* of its own (``@attack(options=PydanticModel)``: the builder
then takes a keyword-only ``options`` argument, validated from
``run_attack(..., attack_args=...)`` / the CLI's ``-A key=value``), and the
run's model (a keyword-only ``model`` argument, the Inspect model name).  A
variant may be answered by another model than the run's
(``AttackVariant.model``: ``train_on_public`` answers with a contaminated
adapter of the run's base, ``eval_cue_organism`` with a model organism's).  An
*across-splits hook* (``@attack(across_splits=...)``) computes numbers from
every split's results together (``AttackReport.across_splits``: the overfitting gap is the test
effect minus the heldout effect).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

from pydantic import BaseModel, ValidationError

from alignlab._errors import AlignlabError
from alignlab._lookup import import_submodules, lookup, summary

if TYPE_CHECKING:
    from inspect_ai.model import Model

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
    model: str | Model | None = None
    """An Inspect model (or model name) that answers this variant instead of the run's
    model (e.g. ``alignlab/BASE+ADAPTER``, an adapter of the run's base); None: the
    run's model (or none at all, with ``replaces_model``)."""
    should_be_caught: bool = False
    """The variant's model was trained to behave worse where the eval does not look
    like an eval (a model organism): a robust metric *catches* it, moving in its
    misaligned direction, instead of moving little (:mod:`alignlab.attacks._verdict`).
    The attack's diagnostics must then report :data:`CUE_GAP_KEY`."""


CUE_GAP_KEY = "cue_gap/difference"
"""Diagnostics key of an organism attack: how much more aligned the organism is on
eval-formatted items than on deployment-formatted ones, minus the same gap of the
base.  An organism whose gap did not grow did not learn its cue on that split, and
then "the eval did not catch it" says nothing (:func:`alignlab.attacks.attack_cells`)."""


AttackFunction = Callable[..., "list[AttackVariant] | NotApplicable"]
"""``(eval_info[, task_args][, *, options][, *, model]) -> ...``."""
Diagnostics = Callable[[Any, Mapping[str, Any]], dict[str, float | None]]
"""``(base_log, variant_logs_by_name) -> {name: value}`` for one split (None: undefined)."""
AcrossSplits = Callable[[Mapping[str, Any]], dict[str, float | None]]
"""``(split_results_by_split) -> {name: value}`` from every split's ``SplitResult``."""


@dataclass(frozen=True)
class AttackInfo:
    """What the CLI needs to know about one attack."""

    name: str
    description: str
    build: AttackFunction
    diagnostics: Diagnostics | None = None
    """Numbers of the attack's own computed from one split's logs (None: none)."""
    options: type[BaseModel] | None = None
    """The attack's own options (None: it takes none); the builder gets them as ``options``."""
    across_splits: AcrossSplits | None = None
    """Numbers computed from every split's results together (None: none)."""


_ATTACKS: dict[str, AttackInfo] = {}


def takes_task_args(function: Callable[..., Any]) -> bool:
    """Whether a registered builder takes the run's task arguments as a second argument."""
    positional = [
        p
        for p in inspect.signature(function).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return len(positional) >= 2


def check_attack_args(info: AttackInfo, attack_args: Mapping[str, Any]) -> BaseModel | None:
    """An attack's options validated from ``key -> value`` (None: it takes none).

    Raises:
        AlignlabError: Options for an attack that takes none, an unknown key (listing
            the valid ones), or a bad or missing value, in one line.
    """
    if info.options is None:
        if attack_args:
            raise AlignlabError(
                f"attack '{info.name}' takes no options (got {sorted(attack_args)})"
            )
        return None
    valid = sorted(info.options.model_fields)
    unknown = [k for k in attack_args if k not in valid]
    if unknown:
        raise AlignlabError(
            f"unknown option '{unknown[0]}' for attack '{info.name}'; "
            f"its options: {', '.join(valid)}"
        )
    try:
        return info.options.model_validate(dict(attack_args))
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "value"
        message = error["msg"].removeprefix("Value error, ")
        raise AlignlabError(
            f"attack '{info.name}' option '{where}': {message} (set it with -A {where}=...)"
        ) from None


def build_attack(
    info: AttackInfo,
    eval_info: Any,
    task_args: Mapping[str, Any],
    options: BaseModel | None = None,
    model: str = "",
) -> Any:
    """Call an attack's builder with what it declares: task arguments, ``options``, ``model``."""
    parameters = inspect.signature(info.build).parameters
    keywords: dict[str, Any] = {}
    if "options" in parameters:
        keywords["options"] = options
    if "model" in parameters:
        keywords["model"] = model
    args = (eval_info, dict(task_args)) if takes_task_args(info.build) else (eval_info,)
    return info.build(*args, **keywords)


def build_with_args(
    function: Callable[..., Any], eval_info: Any, task_args: Mapping[str, Any]
) -> Any:
    """Call an attack's (or hardening's) builder, with the task arguments when it takes them."""
    if takes_task_args(function):
        return function(eval_info, dict(task_args))
    return function(eval_info)


@overload
def attack(function: AttackFunction) -> AttackFunction: ...


@overload
def attack(
    function: None = None,
    *,
    diagnostics: Diagnostics | None = None,
    options: type[BaseModel] | None = None,
    across_splits: AcrossSplits | None = None,
) -> Callable[[AttackFunction], AttackFunction]: ...


def attack(
    function: AttackFunction | None = None,
    *,
    diagnostics: Diagnostics | None = None,
    options: type[BaseModel] | None = None,
    across_splits: AcrossSplits | None = None,
) -> AttackFunction | Callable[[AttackFunction], AttackFunction]:
    """Register an attack (the decorated function's name is the attack's name).

    Used bare (``@attack``) or with hooks (``@attack(diagnostics=hook)``).

    Args:
        function: ``(eval_info[, task_args][, *, options][, *, model]) ->
            list[AttackVariant] | NotApplicable``.
        diagnostics: Optional :data:`Diagnostics` hook run on each split's logs.
        options: Optional pydantic model of the attack's own options.
        across_splits: Optional :data:`AcrossSplits` hook run on every split's results.

    Returns:
        The function, unchanged (or a decorator that registers it).
    """

    def register(built: AttackFunction) -> AttackFunction:
        _ATTACKS[built.__name__] = AttackInfo(
            name=built.__name__,
            description=summary(built),
            build=built,
            diagnostics=diagnostics,
            options=options,
            across_splits=across_splits,
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
