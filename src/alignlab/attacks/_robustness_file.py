"""The robustness file: a benchmark's matrix and verdicts, as experiments read them.

Why a model: an experiment spec names such a file (``robustness:``) so its
report can show the verdicts and rank methods only on robust metrics
(``rank_on: robust``); the file is written by one process (a benchmark) and
read by another (an experiment run, possibly months later), so its shape is
checked on reading and versioned.

The layout on disk is the one issue 13 gives, with the matrix's evals as
top-level keys beside the other fields::

    {"version": 1, "model": "smollm2-135m", "split": "heldout", "margin": 0.05,
     "sycophancy": {"answer_position": {"sycophancy_rate": [0.21, 0.12, 0.30]},
                    "master_key": "n/a: no free-text scoring path"},
     "verdicts": {"sycophancy": {"sycophancy_rate": "gameable:answer_position"}},
     "hardened_verdicts": {"sycophancy": {"sycophancy_rate": "robust"}},
     "timings": {"sycophancy": {"answer_position": 41.5}}}

Reading also accepts the matrix nested under ``matrix``; writing
(:meth:`RobustnessFile.to_json`) always writes the flat layout.  Every
top-level key that is not a field is an eval of the matrix, so a misspelt
field is refused as a malformed matrix row rather than ignored.

What was simplified: the matrix keeps one cell per eval, attack and metric
(the variant with the largest effect, see :mod:`alignlab.attacks._verdict`),
without the variant's name; the verdicts, not the matrix, are what ranking
uses.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alignlab._errors import AlignlabError
from alignlab.attacks._verdict import NOT_APPLICABLE_PREFIX, ROBUST_MARGIN, VERDICT_SPLIT

ROBUSTNESS_FILE_VERSION: Final = 1
"""Schema version of :class:`RobustnessFile`."""

VERDICT_PATTERN: Final = re.compile(r"^(robust|(gameable|inconclusive):[^,\s]+(,[^,\s]+)*)$")
"""``robust``, ``gameable:<attack>,...`` or ``inconclusive:<attack>,...``."""

Cell = tuple[float | None, float | None, float | None]
"""``[effect, ci_low, ci_high]`` (None where undefined)."""
MatrixRow = dict[str, dict[str, Cell] | str]
"""Attack -> metric -> cell, or ``"n/a: <reason>"`` when the attack did not apply."""


class RobustnessFile(BaseModel):
    """A robustness matrix with one verdict per eval metric (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = ROBUSTNESS_FILE_VERSION
    """Schema version (:data:`ROBUSTNESS_FILE_VERSION`)."""
    model: str | None = None
    """The model spec the attacks were run on."""
    split: str = VERDICT_SPLIT
    """The split the matrix and verdicts were computed from."""
    margin: float = Field(default=ROBUST_MARGIN, gt=0)
    """The "moves little" threshold of the verdicts (metric units)."""
    date: str | None = None
    """When the file was written (UTC, ISO 8601)."""
    matrix: dict[str, MatrixRow] = Field(default_factory=dict)
    """Eval -> its row of the matrix (on disk: the evals are top-level keys)."""
    verdicts: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Eval -> metric -> verdict (see :data:`VERDICT_PATTERN`)."""
    hardened_verdicts: dict[str, dict[str, str]] = Field(default_factory=dict)
    """The same after hardening (evals that were hardened)."""
    timings: dict[str, dict[str, float]] = Field(default_factory=dict)
    """Eval -> attack -> seconds the attack took."""
    hardening: str | None = None
    """The hardening behind ``hardened_verdicts`` (``alignlab harden --hardening``)."""
    hardened_matrix: dict[str, MatrixRow] = Field(default_factory=dict)
    """The matrix of the hardened evals (evals the hardening did not apply to are absent)."""
    limit_per_split: int | None = None
    """Samples scored per split (None: all)."""

    @model_validator(mode="before")
    @classmethod
    def _flat_matrix(cls, data: Any) -> Any:
        """Top-level keys that are not fields are the matrix's evals."""
        if not isinstance(data, dict):
            return data
        rows = {k: v for k, v in data.items() if k not in cls.model_fields}
        if not rows:
            return data
        if "matrix" in data:
            raise ValueError(
                f"give the matrix either under 'matrix' or as top-level evals, not both "
                f"(top-level: {', '.join(sorted(rows))})"
            )
        fields = {k: v for k, v in data.items() if k in cls.model_fields}
        return {**fields, "matrix": rows}

    @field_validator("matrix", "hardened_matrix")
    @classmethod
    def _reasons(cls, matrix: dict[str, MatrixRow]) -> dict[str, MatrixRow]:
        for eval_name, row in matrix.items():
            for attack_name, cells in row.items():
                if isinstance(cells, str) and not cells.startswith(NOT_APPLICABLE_PREFIX):
                    raise ValueError(
                        f"{eval_name}.{attack_name}: a string cell must start with "
                        f"'{NOT_APPLICABLE_PREFIX}', got '{cells}'"
                    )
        return matrix

    @field_validator("verdicts", "hardened_verdicts")
    @classmethod
    def _verdict_words(cls, verdicts: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for eval_name, by_metric in verdicts.items():
            for metric, verdict in by_metric.items():
                if not VERDICT_PATTERN.match(verdict):
                    raise ValueError(
                        f"{eval_name}.{metric}: '{verdict}' is not a verdict "
                        "(robust, gameable:<attacks> or inconclusive:<attacks>)"
                    )
        return verdicts

    def verdict(self, eval_name: str, metric: str) -> str | None:
        """The verdict of one eval metric, or None when the file has none."""
        return self.verdicts.get(eval_name, {}).get(metric)

    def to_json(self) -> str:
        """The file's text in the flat layout (evals as top-level keys), sorted, indented."""
        document: dict[str, Any] = self.model_dump(mode="json", exclude={"matrix"})
        clash = sorted(set(self.matrix) & set(document))
        if clash:
            raise AlignlabError(f"an eval may not be called {clash[0]} (a field of the file)")
        document.update(self.model_dump(mode="json", include={"matrix"})["matrix"])
        return json.dumps(document, indent=2, sort_keys=True) + "\n"


_MATRIX_HINT: Final = " (top-level keys that are not fields are read as the matrix's evals)"


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    # pydantic names the union member it tried (``dict[str,...]``, ``str``): not a key
    parts = [str(p) for p in error["loc"] if "[" not in str(p) and p != "str"]
    message = str(error["msg"]).removeprefix("Value error, ")
    hint = _MATRIX_HINT if parts[:1] == ["matrix"] else ""
    where = ".".join(parts)
    return f"{where}: {message}{hint}" if where else message


def parse_robustness(text: str, where: str = "robustness file") -> RobustnessFile:
    """Parse a robustness file's text.

    Args:
        text: The JSON.
        where: What to call it in errors (usually its path).

    Returns:
        The validated file.

    Raises:
        AlignlabError: One line naming ``where`` and the first problem.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AlignlabError(f"{where}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise AlignlabError(f"{where}: expected a JSON object, got {type(data).__name__}")
    try:
        return RobustnessFile.model_validate(data)
    except ValidationError as exc:
        raise AlignlabError(f"{where}: {_first_error(exc)}") from None


def read_robustness(path: Path) -> RobustnessFile:
    """Read and validate a robustness file (see :func:`parse_robustness`).

    Raises:
        AlignlabError: If it cannot be read or is invalid (one line).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AlignlabError(f"cannot read robustness file {path}: {exc}") from None
    return parse_robustness(text, str(path))
