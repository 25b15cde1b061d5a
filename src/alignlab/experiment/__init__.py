"""Experiments: one spec runs the whole matrix (train variants, evaluate, compare, report).

``alignlab run SPEC.yaml`` validates the spec (:func:`load_spec`), expands it
into content-addressed cells (:func:`make_plan`), runs what the results store
does not already have (:func:`run_session`) and writes a report; a rerun
after any crash resumes where it stopped.  Predictions about the results are
registered in the run's hash-chained ledger before the cells run, then resolved
and scored (:func:`register`, :func:`score_run`).  A spec may name a robustness
file (``robustness:``) whose verdicts the report shows, and rank methods on
robust metrics only (``rank_on: robust``; :class:`RankingSettings`).  A spec's
``reward_models:`` are trained and scored as cells too (accuracy, robustness,
best-of-N; :class:`RewardTrainCell`, :class:`RewardEvalCell`).  See ``docs/experiments.md``.
"""

from alignlab.experiment._execute import REPORT_FILE, RUN_ID_FILE, SPEC_FILE, RunSummary, execute
from alignlab.experiment._keys import KEY_SCHEME, canonical_json, cell_key, explain_mismatch
from alignlab.experiment._ledger import (
    LEDGER_FILE,
    PREDICTION_TYPES,
    Assumption,
    LedgerEntry,
    LedgerScores,
    Prediction,
    Theory,
    append_to_ledger,
    export_ledger,
    read_ledger,
    register,
    score_ledger,
    score_run,
    verify_ledger,
)
from alignlab.experiment._plan import (
    EvalCell,
    Plan,
    RewardEvalCell,
    RewardTrainCell,
    TrainCell,
    make_plan,
)
from alignlab.experiment._progress import ProgressView
from alignlab.experiment._ranking import (
    RANKING_FILE,
    RankingSettings,
    read_ranking_settings,
    store_ranking_settings,
)
from alignlab.experiment._ray import execute_ray
from alignlab.experiment._records import (
    CELL_KINDS,
    CELL_STATES,
    RECORD_VERSION,
    REWARD_EVAL_KINDS,
    BestOfNRecord,
    CellKind,
    CellRecord,
    CellState,
    ComparisonRecord,
    CurvePoint,
    MetricRecord,
    RewardComparisonRecord,
    RewardPairRecord,
    RewardResults,
    RobustnessRecord,
    RunRecord,
)
from alignlab.experiment._session import (
    EXECUTORS,
    STORE_FILE,
    Session,
    cached_keys,
    method_ranking,
    open_session,
    report_run,
    run_session,
)
from alignlab.experiment._spec import (
    PROFILES,
    BestOfNSettings,
    ExperimentSpec,
    LoadedSpec,
    Profile,
    RankOn,
    RewardEvalSettings,
    RewardModelEntry,
    Variant,
    load_spec,
    load_spec_text,
)
from alignlab.experiment._store import Store, export, open_store

__all__ = [
    "CELL_KINDS",
    "CELL_STATES",
    "EXECUTORS",
    "KEY_SCHEME",
    "LEDGER_FILE",
    "PREDICTION_TYPES",
    "PROFILES",
    "RANKING_FILE",
    "RECORD_VERSION",
    "REPORT_FILE",
    "REWARD_EVAL_KINDS",
    "RUN_ID_FILE",
    "SPEC_FILE",
    "STORE_FILE",
    "Assumption",
    "BestOfNRecord",
    "BestOfNSettings",
    "CellKind",
    "CellRecord",
    "CellState",
    "ComparisonRecord",
    "CurvePoint",
    "EvalCell",
    "ExperimentSpec",
    "LedgerEntry",
    "LedgerScores",
    "LoadedSpec",
    "MetricRecord",
    "Plan",
    "Prediction",
    "Profile",
    "ProgressView",
    "RankOn",
    "RankingSettings",
    "RewardComparisonRecord",
    "RewardEvalCell",
    "RewardEvalSettings",
    "RewardModelEntry",
    "RewardPairRecord",
    "RewardResults",
    "RewardTrainCell",
    "RobustnessRecord",
    "RunRecord",
    "RunSummary",
    "Session",
    "Store",
    "Theory",
    "TrainCell",
    "Variant",
    "append_to_ledger",
    "cached_keys",
    "canonical_json",
    "cell_key",
    "execute",
    "execute_ray",
    "explain_mismatch",
    "export",
    "export_ledger",
    "load_spec",
    "load_spec_text",
    "make_plan",
    "method_ranking",
    "open_session",
    "open_store",
    "read_ledger",
    "read_ranking_settings",
    "register",
    "report_run",
    "run_session",
    "score_ledger",
    "score_run",
    "store_ranking_settings",
    "verify_ledger",
]
