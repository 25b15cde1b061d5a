"""What an experiment stores: runs, cells, metrics, training curves, paired comparisons.

One pydantic model per table of the results store (SQLite in the run
directory by default, PostgreSQL when several machines share an experiment).
The executor writes them, the report and ``alignlab export`` read them; the
Inspect ``.eval`` logs that cells point to stay the per-sample record.

Every record has a ``version`` (the schema version of this module) so a store
written by an older alignlab can be recognised rather than misread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

RECORD_VERSION: Final = 1
"""Schema version of every record below; bump it when a field changes meaning."""

CellKind = Literal["train", "eval", "rm_train", "rm_accuracy", "rm_robustness", "rm_best_of_n"]
"""A train cell (base, method, params, seed) makes an adapter; an eval cell scores one.
An ``rm_train`` cell trains a reward model (base, kind, params, seed); its ``rm_accuracy``,
``rm_robustness`` and ``rm_best_of_n`` cells score it on gold-labelled pairs."""

CELL_KINDS: Final[tuple[CellKind, ...]] = (
    "train",
    "eval",
    "rm_train",
    "rm_accuracy",
    "rm_robustness",
    "rm_best_of_n",
)
"""Every cell kind (the store checks a cell's kind against these)."""
REWARD_EVAL_KINDS: Final[tuple[CellKind, ...]] = ("rm_accuracy", "rm_robustness", "rm_best_of_n")
"""Cell kinds that score a trained reward model."""

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
    """``train``, ``eval``, or one of the reward-model kinds (:data:`CELL_KINDS`)."""
    label: str
    """Human name: the method variant (e.g. ``reward_misspecification[p=0.5]``) for both kinds."""
    inputs: dict[str, Any]
    """Everything the key hashes, stored so that a key mismatch can be explained."""
    upstream: str | None = None
    """Key of the train cell an eval cell evaluates, or of the ``rm_train`` cell a
    reward-model eval cell scores (None for train cells)."""
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


class RewardPairRecord(Record):
    """The rewards one reward model gave both replies of one gold-labelled pair (``rm_accuracy``).

    Stored per pair so that two reward models scored on the same pairs can be compared
    paired (:class:`RewardComparisonRecord`).
    """

    cell_key: str
    """The ``rm_accuracy`` cell."""
    position: int
    """Index of the pair in the cell's pair list (the same pairs in the same order for every
    reward model scored on the same split)."""
    family: str
    """Pair family (``opinion``, ``are_you_sure``, ``mistakes``, ``reward_hacking``)."""
    item_id: str
    """The eval sample the pair comes from."""
    chosen_reward: float
    """Reward of the gold-preferred reply."""
    rejected_reward: float
    """Reward of the other reply (the pair counts as right only if strictly lower)."""


class RobustnessRecord(Record):
    """A reward model's accuracy drop under one meaning-preserving transform (``rm_robustness``)."""

    cell_key: str
    """The ``rm_robustness`` cell."""
    position: int
    """Order of the transform in the cell."""
    transform: str
    """Transform name (:data:`alignlab.rewards.TRANSFORMS`)."""
    n_pairs: int
    """Pairs the transform applies to (the drop is measured on these)."""
    original: float
    """Accuracy on those pairs as they are."""
    transformed: float
    """Accuracy on the rewritten pairs."""
    accuracy_drop: float
    """Original minus rewritten accuracy."""
    ci_low: float
    """Paired bootstrap 95% interval of the drop."""
    ci_high: float
    """Upper bound."""


class BestOfNRecord(Record):
    """One point of a reward model's best-of-N over-optimisation curve (``rm_best_of_n``)."""

    cell_key: str
    """The ``rm_best_of_n`` cell."""
    n: int
    """Replies per prompt the proxy chooses from."""
    kl: float
    """Analytic KL of best-of-``n`` from the policy, ``log n - (n - 1) / n`` (nats)."""
    proxy: float
    """Mean proxy reward of the chosen reply."""
    proxy_ci_low: float
    """Bootstrap 95% interval over prompts."""
    proxy_ci_high: float
    """Upper bound."""
    gold: float
    """Mean gold reward of the chosen reply."""
    gold_ci_low: float
    """Bootstrap 95% interval over prompts."""
    gold_ci_high: float
    """Upper bound."""
    n_prompts: int
    """Prompts the curve averages over."""


class RewardComparisonRecord(Record):
    """Two reward models' pairwise accuracy compared on the same pairs (paired)."""

    run_id: str
    """The run whose analysis produced it."""
    label: str
    """The reward model (its spec label)."""
    reference: str
    """The reward model it is compared with (the spec's first reward model)."""
    base: str
    """Base model both were trained on."""
    seed: int
    """Training seed of both."""
    split: str
    """Split of the pairs."""
    difference: float
    """Accuracy of ``label`` minus accuracy of ``reference``."""
    ci_low: float
    """Paired bootstrap 95% interval of the difference."""
    ci_high: float
    """Upper bound."""
    mcnemar_p: float
    """Exact McNemar p-value on the pairs exactly one of them ranked right."""
    n_pairs: int
    """Pairs both were scored on."""


@dataclass(frozen=True)
class RewardResults:
    """A run's stored reward-model results, as the report reads them.

    Accuracy lives in the metrics of the ``rm_accuracy`` cells (``accuracy`` and
    ``accuracy/FAMILY``); the rest in these records.
    """

    robustness: Sequence[RobustnessRecord] = ()
    """Accuracy drops of the ``rm_robustness`` cells."""
    best_of_n: Sequence[BestOfNRecord] = ()
    """Best-of-N points of the ``rm_best_of_n`` cells."""
    comparisons: Sequence[RewardComparisonRecord] = ()
    """Each reward model minus the spec's first one, paired."""
