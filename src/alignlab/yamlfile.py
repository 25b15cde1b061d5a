"""YAML files validated by pydantic, with errors that name the file and line.

Eval data files and experiment specs are YAML a person edits by hand; a
mistake in one must come back as ``FILE:LINE: field: problem``, not as a
pydantic dump or a traceback.  pydantic reports where in the *data* the
problem is (``rows.1.value``); this module walks that location down the YAML
*node* tree, which still knows the line each value came from.

When pydantic reports several errors, an unknown key is preferred: a
misspelt required key produces both "field required" (at the parent) and
"extra inputs are not permitted" (at the typo), and the typo's line is the one
a person needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from alignlab._errors import AlignlabError

Model = TypeVar("Model", bound=BaseModel)

_PREFERRED_ERROR_TYPES = ("extra_forbidden",)
"""pydantic error types reported first when there are several (see the module docstring)."""


def line_of(node: yaml.Node | None, location: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the YAML node at ``location`` (or of its deepest existing parent).

    Args:
        node: The composed YAML document (``yaml.compose``).
        location: A pydantic error location (keys and list indices).

    Returns:
        The line, or None for an empty document.
    """
    line = None if node is None else node.start_mark.line + 1
    for part in location:
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == part), None)
            if child is None:
                key = next((k for k, _ in node.value if k.value == part), None)
                return key.start_mark.line + 1 if key is not None else line
            node = child
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
        else:
            return line
        line = node.start_mark.line + 1
    return line


def validate_yaml_text(text: str, where: str, schema: type[Model]) -> Model:
    """Parse ``text`` as YAML and validate it with ``schema``.

    Args:
        text: The YAML text.
        where: What to call it in errors (usually the file path).
        schema: The pydantic model.

    Returns:
        The validated model.

    Raises:
        AlignlabError: ``WHERE:LINE: field: problem`` for the first (preferred)
            validation error, or ``WHERE:LINE: not valid YAML: ...``.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        raw: Any = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f":{mark.line + 1}" if mark is not None else ""
        raise AlignlabError(f"{where}{at}: not valid YAML: {exc.problem}") from None
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        error = next((e for e in errors if e["type"] in _PREFERRED_ERROR_TYPES), errors[0])
        location = tuple(error["loc"])
        line = line_of(root, location)
        field = ".".join(str(p) for p in location) or "file"
        at = f"{where}:{line}" if line is not None else where
        raise AlignlabError(f"{at}: {field}: {error['msg']}") from None


def load_yaml_file(path: Path, schema: type[Model], *, what: str = "file") -> Model:
    """Read ``path`` and validate it with ``schema`` (see :func:`validate_yaml_text`).

    Args:
        path: The YAML file.
        schema: The pydantic model.
        what: What the file is, for the "cannot read" error (e.g. ``eval data file``).

    Returns:
        The validated model.

    Raises:
        AlignlabError: If the file cannot be read or is invalid (naming file and line).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AlignlabError(f"cannot read {what} {path}: {exc}") from None
    return validate_yaml_text(text, str(path), schema)


__all__ = ["line_of", "load_yaml_file", "validate_yaml_text"]
