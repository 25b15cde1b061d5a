"""What an experiment stores: runs, cells, metrics, training curves, paired comparisons.

One pydantic model per table of the results store (SQLite in the run
directory by default, PostgreSQL when several machines share an experiment).
The executor writes them, the report and ``alignlab export`` read them; the
Inspect ``.eval`` logs that cells point to stay the per-sample record.

Every record has a ``version`` (the schema version of this module) so a store
written by an older alignlab can be recognised rather than misread.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

RECORD_VERSION: Final = 1
"""Schema version of every record below; bump it when a field changes meaning."""

CellKind = Literal["train", "eval"]
"""A train cell (base, method, params, seed) makes an adapter; an eval cell scores one."""

CellState = Literal["queued", "running", "done", "failed"]
"""``done`` is set in the same transaction that stores the cell's results."""

CELL_STATES: Final[tuple[CellState, ...]] = ("queued", "running", "done", "failed")


class Record(BaseModel):
    """Base of every stored record: versioned, no unknown fields, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = RECORD_VERSION
    """Schema version (:data:`RECORD_VERSION`)."""


class RunRecord(Record):
    """One experiment: its spec as written and as validated."""

    run_id: str
    """Stable id: the SHA-256 of the validated spec (so rerunning a spec finds its run)."""
    name: str
    """The spec's ``name``."""
    spec_yaml: str
    """The spec file's text, as given."""
    spec_json: dict[str, Any]
    """The validated spec (defaults filled in)."""
    created_at: str
    """UTC, ISO 8601."""
    alignlab_version: str
    """Version of the alignlab that first ran it."""


class CellRecord(Record):
    """One cell of the experiment graph and its state."""

    key: str
    """Content-addressed key: SHA-256 of ``inputs`` (see :mod:`alignlab.experiment._keys`)."""
    run_id: str
    """The run that planned it (a cell may be shared by runs with the same inputs)."""
    kind: CellKind
    """``train`` or ``eval``."""
    label: str
    """Human name: the method variant (e.g. ``reward_misspecification[p=0.5]``) for both kinds."""
    inputs: dict[str, Any]
    """Everything the key hashes, stored so that a key mismatch can be explained."""
    upstream: str | None = None
    """Key of the train cell an eval cell evaluates (None for train cells)."""
    state: CellState = "queued"
    """Where the cell is."""
    artifact: str | None = None
    """Adapter directory (train) or ``.eval`` log path (eval), relative to the run directory."""
    owner: str | None = None
    """``pid@host`` of the process running it (for stale-running detection)."""
    started_at: str | None = None
    """UTC, ISO 8601."""
    finished_at: str | None = None
    """UTC, ISO 8601."""
    duration_s: float | None = None
    """Wall time of the cell's own work."""
    error: str | None = None
    """One-line error of a failed cell."""


class MetricRecord(Record):
    """One metric of one eval cell, with its cluster-bootstrap interval."""

    cell_key: str
    """The eval cell."""
    metric: str
    """Metric name as the eval reports it."""
    value: float
    """Point estimate (NaN when undefined)."""
    ci_low: float
    """Lower bound of the 95% interval (NaN when it cannot be computed)."""
    ci_high: float
    """Upper bound."""
    n: int
    """Samples scored."""


class CurvePoint(Record):
    """One optimiser step of one train cell."""

    cell_key: str
    """The train cell."""
    step: int
    """Optimiser step, 1-based."""
    loss: float
    """Training loss."""


class ComparisonRecord(Record):
    """A method compared with a reference method on the same samples of one eval cell pair."""

    run_id: str
    """The run whose analysis produced it."""
    label: str
    """The method variant."""
    reference: str
    """The reference variant (``none`` or ``sft_control`` by default)."""
    seed: int
    """Training seed of both variants."""
    eval: str
    """Eval name."""
    split: str
    """Eval split."""
    metric: str
    """Metric name."""
    difference: float
    """Metric of ``label`` minus metric of ``reference``, on the samples both scored."""
    ci_low: float
    """Paired cluster-bootstrap 95% interval of the difference."""
    ci_high: float
    """Upper bound."""
    p_value: float
    """Two-sided bootstrap p-value of "no difference"."""
    p_adjusted: float
    """``p_value`` corrected across the run's method x metric family (see ``correction``)."""
    correction: str = Field(default="benjamini-hochberg")
    """The multiple-comparison correction applied."""
    mcnemar_p: float | None = None
    """Exact McNemar p-value on the per-sample binary outcome, when the metric has one."""
    n_pairs: int
    """Clusters (items) both variants were scored on."""
