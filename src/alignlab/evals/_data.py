"""One typed loader for every eval's data file (``evals/data/<eval>.yaml``).

Eval content (templates, fact tables, situations, candidate replies) lives in
YAML files a person can read and edit without reading Python; each eval
declares a pydantic schema for its file (``extra="forbid"``, so a misspelt key
is an error, not a silently ignored one).  A bad entry is reported with the
file and line it came from: pydantic's error location is walked down the YAML
node tree to the node that holds the bad value.

Every file carries the canary string (:data:`CANARY`) and a ``version``:
training data that contains the canary is refused by the leakage guard, and
third parties can filter the files out of scraped corpora.
"""

from __future__ import annotations

import string
from collections.abc import Collection, Sequence
from functools import cache
from pathlib import Path
from typing import Annotated, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    model_validator,
)

from alignlab.evals._scaffold import CANARY, Pool, Split
from alignlab.yamlfile import load_yaml_file

DATA_DIR = Path(__file__).parent / "data"
"""Where the built-in evals' data files live."""

DATA_VERSION = 1
"""The data file schema version this code reads."""


def _exactly(expected: object, problem: str) -> AfterValidator:
    """A pydantic field validator: the value must equal ``expected``.

    Args:
        expected: The only value allowed.
        problem: The error message, a ``str.format`` template over ``{value}``
            (the value given) and ``{expected}``.

    Returns:
        The validator, for ``Annotated[type, _exactly(...)]``.
    """

    def check(value: object) -> object:
        if value != expected:
            raise ValueError(problem.format(value=value, expected=expected))
        return value

    return AfterValidator(check)


class EvalData(BaseModel):
    """Base of every eval data file's schema: the canary, a version, nothing unknown."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    canary: Annotated[str, _exactly(CANARY, "must be the eval canary string '{expected}'")]
    """Must be :data:`CANARY` exactly."""
    version: Annotated[
        int, _exactly(DATA_VERSION, "unsupported data version {value}; alignlab reads {expected}")
    ]
    """Schema version of the file (:data:`DATA_VERSION`)."""


class Entry(BaseModel):
    """Base of the records inside a data file: frozen, no unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


PoolContent = TypeVar("PoolContent", bound=Entry)


class PooledData(EvalData, Generic[PoolContent]):
    """Base of a data file with one section per content pool (:func:`~alignlab.evals.pool`).

    Subclass it as ``PooledData[MyPool]`` and add the sections every split uses.
    """

    shared: PoolContent
    """What ``train`` and ``test`` draw from."""
    heldout: PoolContent
    """What only ``heldout`` draws from."""

    def content(self, which: Pool | Split) -> PoolContent:
        """One pool's content.

        Args:
            which: ``shared`` or ``heldout``, or a split (``train`` and ``test``
                draw from ``shared``).

        Returns:
            That pool's content.
        """
        return self.heldout if which == "heldout" else self.shared


Schema = TypeVar("Schema", bound=EvalData)


def check_template(text: str, allowed: Sequence[str], required: Sequence[str] = ()) -> str:
    """``text`` if it is a ``str.format`` template over ``allowed`` that uses ``required``.

    Data files hold templates; checking them at load time turns a typo into a
    FILE:LINE error instead of a ``KeyError`` in the middle of generation.

    Args:
        text: The template.
        allowed: Placeholder names it may use.
        required: Placeholder names it must use.

    Returns:
        ``text`` unchanged.

    Raises:
        ValueError: On a malformed template, an unknown or a missing placeholder.
    """
    try:
        used = {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
    except ValueError as exc:
        raise ValueError(
            f"not a valid template ({exc}); write a literal brace as {{{{ }}}}"
        ) from None
    if unknown := used - set(allowed):
        may = ", ".join("{" + name + "}" for name in allowed) or "no placeholders"
        unknown_text = ", ".join("{" + name + "}" for name in sorted(unknown))
        raise ValueError(f"unknown placeholder {unknown_text}; this text may use {may}")
    if missing := set(required) - used:
        raise ValueError(f"must use {', '.join('{' + name + '}' for name in sorted(missing))}")
    return text


def placeholders(*allowed: str, required: Sequence[str] = ()) -> AfterValidator:
    """A pydantic field validator that applies :func:`check_template`.

    Use as ``Annotated[str, placeholders("a", "b", required=("a",))]``.
    """
    return AfterValidator(lambda text: check_template(text, allowed, required))


def one_of(names: Collection[str], what: str) -> AfterValidator:
    """A pydantic field validator: the value must be one of ``names``.

    Use as ``Annotated[str, one_of(("+", "-"), "operator")]``.
    """

    def check(value: str) -> str:
        if value not in names:
            raise ValueError(f"unknown {what} {value!r}; choose one of {' '.join(names)}")
        return value

    return AfterValidator(check)


class Span(Entry):
    """Whole numbers from ``low`` to ``high``, both included."""

    low: int
    high: int

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) is above high ({self.high})")
        return self

    def values(self) -> list[str]:
        """Every number in the span, as text."""
        return [str(n) for n in range(self.low, self.high + 1)]


def load_data_file(path: Path, schema: type[Schema]) -> Schema:
    """Read and validate one eval data file.

    Args:
        path: The YAML file.
        schema: Its pydantic schema.

    Returns:
        The validated data.

    Raises:
        AlignlabError: ``FILE:LINE: field: problem`` for the first bad entry, or
            for a file that is missing or not YAML.
    """
    return load_yaml_file(path, schema, what="eval data file")


@cache
def _load_builtin(name: str, schema: type[EvalData]) -> EvalData:
    return load_data_file(DATA_DIR / f"{name}.yaml", schema)


def load_eval_data(name: str, schema: type[Schema]) -> Schema:
    """A built-in eval's data file, validated once and cached.

    Args:
        name: The eval's name (the file is ``evals/data/<name>.yaml``).
        schema: Its pydantic schema.

    Returns:
        The validated data.
    """
    data = _load_builtin(name, schema)
    assert isinstance(data, schema)
    return data
