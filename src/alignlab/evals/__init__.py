"""Evals of model psychology and behaviour, as Inspect tasks.

Each eval is one module with an ``@task`` factory registered as
``alignlab/<name>``; :data:`TASKS` maps names to those factories.
"""

from collections.abc import Callable

from inspect_ai import Task

from alignlab.evals._choice import choice_answer, choice_scorer, format_options, parse_letter
from alignlab.evals.sycophancy import sycophancy, sycophancy_samples

TASKS: dict[str, Callable[..., Task]] = {"sycophancy": sycophancy}
"""Built-in evals by name."""

__all__ = [
    "TASKS",
    "choice_answer",
    "choice_scorer",
    "format_options",
    "parse_letter",
    "sycophancy",
    "sycophancy_samples",
]
