"""The eval registry: one decorator per eval module, nothing else to edit.

``@eval_task(metrics=..., splits=..., formats=...)`` registers the function with
Inspect (as ``alignlab/<name>``, via ``inspect_ai.task``) and records what
``alignlab evals`` shows.  :func:`registered_evals` imports every public module
of this package, so a new eval is one new file (plus its data file).

Metrics are declared once, as metric *factories* (``@metric`` functions): the
registry takes their names from them, the task factory instantiates the same
tuple with :func:`instantiate`, and a test checks for every eval and variant
that what the registry lists is what the task computes.  Every task built
through the registry records its eval name and resampling cluster key in the
task metadata, so a report can recompute every metric and interval from the
``.eval`` log alone (:func:`alignlab.analysis.log_metric_estimates`).

Every registered eval also takes a ``scoring`` argument (see
:data:`alignlab.protocol.ChoiceScoring`) that the registry adds to the factory's
signature and stamps on every sample, so how a lettered question is answered is
one switch for all evals rather than a parameter each eval must remember to pass.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from inspect_ai import Task, task
from inspect_ai.scorer import Metric
from inspect_ai.util import registry_info

from alignlab._errors import AlignlabError
from alignlab._lookup import import_submodules, lookup, summary
from alignlab.evals._scaffold import CLUSTER_KEY, FORMATS, SPLITS
from alignlab.protocol import CHOICE_SCORING_KEY, CHOICE_SCORINGS

TaskFactory = TypeVar("TaskFactory", bound=Callable[..., Any])
MetricFactory = Callable[[], Metric]

EVAL_NAME_KEY: Final = "alignlab_eval"
"""Task metadata key (hence in the log): the registered eval that built the task."""
CLUSTER_KEY_KEY: Final = "alignlab_cluster_key"
"""Task metadata key: the sample metadata key whose equal values are resampled together."""
DEFAULT_VARIANT: Final = "default"
"""Variant name for evals without variants."""
DIRECTIONS: Final = ("higher", "lower", "zero")
"""Which way a metric is more aligned (``zero``: closer to 0 in either direction)."""
SCORING_ARG: Final = "scoring"
"""The task argument every registered eval accepts: how lettered questions are answered."""
DEFAULT_SCORING: Final = "auto"


def check_scoring(scoring: str) -> str:
    """Validate a ``scoring`` task argument.

    Args:
        scoring: One of :data:`alignlab.protocol.CHOICE_SCORINGS`.

    Returns:
        ``scoring``.

    Raises:
        AlignlabError: One line listing the valid modes.
    """
    if scoring not in CHOICE_SCORINGS:
        raise AlignlabError(
            f"unknown scoring '{scoring}'; choose one of {', '.join(CHOICE_SCORINGS)}"
        )
    return scoring


def _with_scoring(factory: Callable[..., Any]) -> inspect.Signature:
    """``factory``'s signature plus a keyword-only ``scoring: str = "auto"``."""
    signature = inspect.signature(factory)
    params = list(signature.parameters.values())
    if SCORING_ARG in signature.parameters:
        raise TypeError(f"eval '{factory.__name__}' must not declare '{SCORING_ARG}' itself")
    scoring = inspect.Parameter(
        SCORING_ARG, inspect.Parameter.KEYWORD_ONLY, default=DEFAULT_SCORING, annotation="str"
    )
    var_keyword = [p for p in params if p.kind is inspect.Parameter.VAR_KEYWORD]
    plain = [p for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD]
    return signature.replace(parameters=[*plain, scoring, *var_keyword])


def metric_name(factory: MetricFactory) -> str:
    """The short name under which Inspect reports a metric factory's metric."""
    return str(registry_info(factory).name).split("/")[-1]


def instantiate(factories: Sequence[MetricFactory]) -> list[Metric | dict[str, list[Metric]]]:
    """The metrics for ``Task(metrics=...)``, from the tuple the registry declares."""
    return [factory() for factory in factories]


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
    """Names of every metric the task reports (over all variants), in order."""
    splits: tuple[str, ...]
    """Splits the task accepts through its ``split`` argument."""
    formats: tuple[str, ...]
    """Surface formats of its samples."""
    variant_metrics: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Metric names per ``variant`` argument value (``default`` for evals without variants)."""
    metric_factories: dict[str, MetricFactory] = field(default_factory=dict)
    """Metric factories by name: what recomputes a metric from a stored log."""
    external_data: bool = False
    """The eval reads a user's file (it has no generator for the leakage guard to run)."""
    item_args: tuple[dict[str, Any], ...] = ({},)
    """Task arguments that together generate every kind of item the eval has (e.g.
    each item family): the leakage guard protects the items of each."""
    better: dict[str, str] = field(default_factory=dict)
    """Per metric, which way is more aligned: ``higher``, ``lower`` or ``zero``
    (closer to 0); metrics without an entry have no aligned direction (attacks
    report their effects but no verdict on them)."""
    code_version: int = 1
    """Bumped by a developer when the eval's items or scoring change: part of every
    experiment cache key, so cached results of the old version are not reused."""


_EVALS: dict[str, EvalInfo] = {}


def eval_task(
    *,
    metrics: Sequence[MetricFactory] | Mapping[str, Sequence[MetricFactory]],
    splits: tuple[str, ...] = SPLITS,
    formats: tuple[str, ...] = FORMATS,
    external_data: bool = False,
    code_version: int = 1,
    item_args: Sequence[Mapping[str, Any]] = ({},),
    better: Mapping[str, str] | None = None,
) -> Callable[[TaskFactory], TaskFactory]:
    """Register an eval's task factory with Inspect and with alignlab.

    Args:
        metrics: The metric factories the task reports, or, for an eval with a
            ``variant`` argument, a mapping from variant to its metric factories.
        splits: Splits it accepts.
        formats: Surface formats of its samples.
        external_data: Whether the eval reads a user's file instead of
            generating items (the leakage guard then cannot regenerate it).
        code_version: Bump when the eval's items or scoring change (experiment
            caches key on it).
        item_args: Task arguments that together generate every kind of item,
            when the defaults do not (e.g. ``({}, {"family": "open"})``): the
            leakage guard generates each.
        better: Per metric name, the aligned direction: ``higher``, ``lower``
            or ``zero`` (see :attr:`EvalInfo.better`).

    Returns:
        A decorator for an ``@task``-style factory.
    """
    by_variant = (
        {str(k): tuple(v) for k, v in metrics.items()}
        if isinstance(metrics, Mapping)
        else {DEFAULT_VARIANT: tuple(metrics)}
    )
    factories: dict[str, MetricFactory] = {}
    for variant_factories in by_variant.values():
        for factory in variant_factories:
            factories.setdefault(metric_name(factory), factory)
    directions = dict(better or {})
    for name, direction in directions.items():
        if name not in factories or direction not in DIRECTIONS:
            raise TypeError(f"better: '{name}: {direction}' names no metric or direction")

    def register(factory: TaskFactory) -> TaskFactory:
        name = factory.__name__

        @functools.wraps(factory)
        def build(*args: Any, scoring: str = DEFAULT_SCORING, **kwargs: Any) -> Task:
            check_scoring(scoring)
            built = factory(*args, **kwargs)
            if not isinstance(built, Task):
                raise TypeError(f"eval '{name}' factory returned {type(built).__name__}, not Task")
            for sample in built.dataset:
                sample.metadata = {**(sample.metadata or {}), CHOICE_SCORING_KEY: scoring}
            built.metadata = {
                **(built.metadata or {}),
                EVAL_NAME_KEY: name,
                CLUSTER_KEY_KEY: CLUSTER_KEY,
                SCORING_ARG: scoring,
            }
            return built

        build.__signature__ = _with_scoring(factory)  # type: ignore[attr-defined]

        registered: TaskFactory = task(build)  # type: ignore[assignment]
        _EVALS[name] = EvalInfo(
            name=name,
            factory=registered,
            description=summary(factory),
            metrics=tuple(factories),
            splits=splits,
            formats=formats,
            variant_metrics={k: tuple(metric_name(f) for f in v) for k, v in by_variant.items()},
            metric_factories=factories,
            external_data=external_data,
            code_version=code_version,
            item_args=tuple(dict(args) for args in item_args),
            better=directions,
        )
        return registered

    return register


def unregister(name: str) -> None:
    """Remove an eval from alignlab's registry and its task from Inspect's.

    For tests and notebooks that register a toy eval: after this, neither
    ``registered_evals()`` nor ``inspect eval`` sees it.  Inspect has no public
    way to remove a registration, so its registry dict is edited directly.
    """
    info = _EVALS.pop(name, None)
    if info is None:
        return
    from inspect_ai._util import registry as inspect_registry

    task_name = str(registry_info(info.factory).name)
    inspect_registry._registry.pop(inspect_registry.registry_key("task", task_name), None)


def registered_evals() -> dict[str, EvalInfo]:
    """Every eval in :mod:`alignlab.evals`, importing the modules on first call.

    Returns:
        Eval infos by name, sorted by name.
    """
    import alignlab.evals as package

    import_submodules(package)
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
    return lookup(registered_evals(), name, "eval")


def _simple_types(annotation: Any) -> tuple[type, ...] | None:
    """The types a value may have for an int/float/str/bool annotation (optionally ``| None``).

    ``None`` for any other annotation (such values are not checked).
    """
    import types
    import typing

    none = type(None)
    simple: dict[str, type] = {"int": int, "float": float, "str": str, "bool": bool, "None": none}
    if isinstance(annotation, str):  # an annotation that could not be evaluated
        parts = [part.strip() for part in annotation.split("|")]
        found = [simple[part] for part in parts if part in simple]
        return tuple(found) if len(found) == len(parts) else None
    if annotation in simple.values() and annotation is not none:
        return (annotation,)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = typing.get_args(annotation)
        if all(member in simple.values() for member in members):
            return members
    return None


def check_task_args(info: EvalInfo, args: Mapping[str, Any]) -> dict[str, Any]:
    """Check task arguments against an eval's task factory before calling it.

    Every name must be a parameter of the factory, and every parameter without
    a default must be given.  A value for a parameter annotated ``int``,
    ``float``, ``str`` or ``bool`` (or one of them ``| None``) must have that
    type: a bool is not an int, and an int is accepted for a float (converted).
    Values for other annotations are left to the factory.  A ``TypeError`` the
    factory raises later is then a bug, not a bad argument.

    Args:
        info: The eval, e.g. from :func:`get_eval`.
        args: Argument values by name (e.g. YAML-parsed ``-T key=value`` pairs
            or an experiment spec's task arguments).

    Returns:
        The given arguments, ready for ``info.factory(**args)``; defaults are
        not filled in.

    Raises:
        AlignlabError: One line naming an unknown argument (with the valid
            names), a missing required one, or a value of the wrong type (with
            the expected type).
    """
    try:
        signature = inspect.signature(info.factory, eval_str=True)
    except (NameError, SyntaxError, TypeError):  # annotations only a type checker resolves
        signature = inspect.signature(info.factory)
    keyword_kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = {n: p for n, p in signature.parameters.items() if p.kind in keyword_kinds}
    any_name = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    for name in args:
        if name not in params and not any_name:
            valid = ", ".join(params) or "none"
            raise AlignlabError(
                f"unknown task argument '{name}' for '{info.name}'; valid arguments: {valid}"
            )
    for name, param in params.items():
        if param.default is inspect.Parameter.empty and name not in args:
            raise AlignlabError(f"missing task argument '{name}' for '{info.name}'")
    checked = dict(args)
    for name, value in args.items():
        expected = _simple_types(params[name].annotation) if name in params else None
        if expected is None:
            continue
        if isinstance(value, bool):
            ok = bool in expected
        elif isinstance(value, int) and int not in expected and float in expected:
            ok = True
            checked[name] = float(value)
        else:
            ok = isinstance(value, expected)
        if not ok:
            wanted = " or ".join("None" if t is type(None) else t.__name__ for t in expected)
            raise AlignlabError(
                f"task argument '{name}' for '{info.name}' must be {wanted}, "
                f"got {value!r} ({type(value).__name__})"
            )
    return checked
