"""What the eval, method and training-kind registries share.

Each registry is filled by decorators that run when a module of its package is
imported, so listing it first imports the package's modules
(:func:`import_submodules`); looking a name up fails with a message that lists
the known names (:func:`lookup`); an entry's description is the first line of
its docstring (:func:`summary`).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from types import ModuleType
from typing import TypeVar

from alignlab._errors import AlignlabError

Item = TypeVar("Item")


def import_submodules(package: ModuleType, *, public_only: bool = True) -> None:
    """Import every module of ``package`` (so that their registration decorators run).

    Args:
        package: An imported package.
        public_only: Skip modules whose name starts with an underscore.
    """
    for module in pkgutil.iter_modules(package.__path__):
        if not (public_only and module.name.startswith("_")):
            importlib.import_module(f"{package.__name__}.{module.name}")


def lookup(table: Mapping[str, Item], name: str, kind: str, known: str = "") -> Item:
    """``table[name]``, or an error that names the known entries.

    Args:
        table: Registered entries by name.
        name: The name asked for.
        kind: What an entry is, for the message (``eval``, ``training kind``).
        known: How the message calls the entries (default: ``kind`` plus ``s``).

    Returns:
        The entry.

    Raises:
        AlignlabError: ``unknown KIND 'NAME'; known KINDs: a, b`` if there is no such entry.
    """
    if name not in table:
        names = ", ".join(table)
        raise AlignlabError(f"unknown {kind} '{name}'; known {known or kind + 's'}: {names}")
    return table[name]


def summary(function: object) -> str:
    """The first line of ``function``'s docstring (empty if it has none), as a registry lists it.

    Args:
        function: A registered function (an eval's task factory, a method's builder).

    Returns:
        The first line of the docstring, leading white space removed.
    """
    lines = (function.__doc__ or "").strip().splitlines()
    return lines[0] if lines else ""
