"""One experiment from a spec file to a report: what ``alignlab run`` does.

Order matters for the promise "bad input fails before any training starts":
the spec is validated (names, parameters, task arguments), the plan is built,
the store is opened (an unreachable database fails here), the run directory is
claimed (another experiment's directory is refused) and locked (a second
``alignlab run`` on it is refused, naming the holder); only then do cells run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from alignlab.experiment._execute import (
    REPORT_FILE,
    Event,
    RunSummary,
    execute,
    prepare_run_dir,
)
from alignlab.experiment._plan import Plan, make_plan
from alignlab.experiment._ranking import (
    RANKING_FILE,
    RankingSettings,
    read_ranking_settings,
    store_ranking_settings,
)
from alignlab.experiment._records import ComparisonRecord
from alignlab.experiment._spec import load_spec
from alignlab.experiment._store import Store, open_store

if TYPE_CHECKING:
    import pandas as pd

    from alignlab.analysis import MethodRanking

DEFAULT_RUNS_DIR: Final = Path("runs")
"""Where a spec without ``out`` runs: ``runs/<name>``."""
STORE_FILE: Final = "results.sqlite"
"""The default SQLite store inside the run directory."""


@dataclass(frozen=True)
class Session:
    """A validated, planned experiment with its directory and store location."""

    plan: Plan
    """The cells."""
    run_dir: Path
    """Where adapters, logs and the report go."""
    db: str
    """The store location (a SQLite path or a PostgreSQL URL)."""


def open_session(spec_path: Path, out: Path | None = None, db: str | None = None) -> Session:
    """Validate and plan a spec, and resolve its run directory and store.

    Args:
        spec_path: The YAML spec.
        out: Run directory (default: the spec's ``out``, else ``runs/<name>``).
        db: Store location (default: ``RUN_DIR/results.sqlite``).

    Returns:
        The session.

    Raises:
        AlignlabError: On any bad input (one line, before any work).
    """
    loaded = load_spec(spec_path)
    plan = make_plan(loaded)
    spec_out = loaded.spec.out
    run_dir = out or (Path(spec_out) if spec_out else DEFAULT_RUNS_DIR / loaded.spec.name)
    return Session(plan=plan, run_dir=run_dir, db=db or str(run_dir / STORE_FILE))


def cached_keys(session: Session) -> set[str]:
    """Keys of the plan's cells that the store already has done (nothing is created)."""
    location = Path(session.db)
    if "://" not in session.db and not location.is_file():
        return set()
    with open_store(session.db) as store:
        return {
            record.key
            for record in (store.get_cell(r.key) for r in session.plan.records())
            if record is not None and record.state == "done"
        }


EXECUTORS: Final = ("local", "ray")
"""Where cells run: in this process, or as tasks on a Ray cluster."""


def run_session(
    session: Session,
    on_event: Event | None = None,
    on_step: Callable[[str, int, int, float], None] | None = None,
    write_report: bool = True,
    executor: str = "local",
    address: str | None = None,
) -> RunSummary:
    """Run every cell not yet done, then compare and write the report.

    Args:
        session: The planned experiment.
        on_event: Progress hook for cell state changes.
        on_step: Progress hook for training steps (local executor only).
        write_report: Write ``report.html`` at the end.
        executor: ``local`` or ``ray``.
        address: The Ray cluster's address (``ray`` only; default: ``RAY_ADDRESS``
            or a local instance).

    Raises:
        AlignlabError: If the store cannot be opened, the directory belongs to
            another spec or another process is running it.
    """
    from alignlab._errors import AlignlabError
    from alignlab.files import RunLock

    if executor not in EXECUTORS:
        raise AlignlabError(f"unknown executor '{executor}'; choose {' or '.join(EXECUTORS)}")
    if address is not None and executor != "ray":
        raise AlignlabError("--address is for the ray executor (add --executor ray)")
    with open_store(session.db) as store:
        session.run_dir.mkdir(parents=True, exist_ok=True)
        with RunLock(session.run_dir):
            prepare_run_dir(session.run_dir, session.plan)
            store_ranking_settings(session.run_dir, session.plan.loaded)
            register_spec_predictions(store, session)
            if executor == "ray":
                from alignlab.experiment._ray import execute_ray

                summary = execute_ray(
                    session.plan, store, session.run_dir, address=address, on_event=on_event
                )
            else:
                summary = execute(session.plan, store, session.run_dir, on_event, on_step)
            if write_report:
                summary.report = _fresh_report(store, session)
    return summary


def _fresh_report(store: Store, session: Session) -> Path:
    """``report.html``, rebuilt only when its inputs changed (see ``DerivedStamp``).

    The report reads the store, the ledger and the stored ranking settings: the
    comparisons' inputs and the hashes of the ledger and ranking files fingerprint
    it.  ``alignlab report`` always rebuilds.
    """
    import hashlib

    from alignlab.experiment._execute import (
        REPORT_FILE,
        comparison_inputs,
        read_stamp,
        write_stamp,
    )
    from alignlab.experiment._ledger import LEDGER_FILE
    from alignlab.files import sha256_file

    ledger = session.run_dir / LEDGER_FILE
    ranking = session.run_dir / RANKING_FILE
    rm_done = [
        f"{record.key} {record.finished_at}"
        for record in (store.get_cell(c.key) for c in session.plan.records())
        if record is not None and record.kind.startswith("rm_") and record.state == "done"
    ]
    parts = [
        comparison_inputs(store, session.plan),
        *([hashlib.sha256("\n".join(rm_done).encode()).hexdigest()] if rm_done else []),
        sha256_file(ledger) if ledger.is_file() else "no ledger",
        sha256_file(ranking) if ranking.is_file() else "no ranking settings",
    ]
    inputs = hashlib.sha256("\n".join(parts).encode()).hexdigest()
    report = session.run_dir / REPORT_FILE
    stamp = read_stamp(session.run_dir)
    if stamp.report_sha256 == inputs and report.is_file():
        return report
    path = report_run(store, session.plan.run_id, session.run_dir)
    write_stamp(
        session.run_dir, read_stamp(session.run_dir).model_copy(update={"report_sha256": inputs})
    )
    return path


def register_spec_predictions(store: Store, session: Session) -> None:
    """Append the spec's assumptions, theories and predictions to the ledger (before any cell).

    Idempotent: what the ledger already has is not appended again.  Cells the
    store already started (shared with an earlier run) make a new prediction
    that names them post-hoc.

    Raises:
        AlignlabError: If the ledger is broken or conflicts with the spec.
    """
    from alignlab.experiment._ledger import register_spec, spec_bodies

    if not spec_bodies(session.plan.loaded.spec):
        return
    cells = []
    for record in session.plan.records():
        stored = store.get_cell(record.key)
        if stored is not None:
            cells.append(record.model_copy(update={"started_at": stored.started_at}))
    register_spec(session.run_dir, session.plan.loaded.spec, cells)


PATTERN_SPLIT: Final = "heldout"
"""Patterns are computed on the split no training saw."""
PATTERN_REFERENCE: Final = "none"
"""Patterns relate each variant's difference from the untouched base to its features."""


def _method_of(label: str) -> str:
    return label.split("[", 1)[0]


def feature_patterns(
    comparisons: list[ComparisonRecord], features: dict[str, tuple[str, ...]]
) -> pd.DataFrame | None:
    """Which feature tags go with larger held-out differences from ``none``, per eval metric.

    Descriptive only: few methods, and features are confounded with everything
    else about a method.  Seeds are averaged per variant first.

    Returns:
        One row per (feature, eval/metric) with the columns the report expects,
        or None when fewer than two tagged variants were compared.
    """
    import pandas as pd

    from alignlab.analysis import feature_effects

    rows = [
        c
        for c in comparisons
        if c.split == PATTERN_SPLIT and c.reference == PATTERN_REFERENCE and c.label in features
    ]
    if len({c.label for c in rows}) < 2:
        return None
    frame = pd.DataFrame(
        {"label": c.label, "what": f"{c.eval}/{c.metric}", "score": c.difference} for c in rows
    )
    tables = []
    for what, group in frame.groupby("what", sort=True):
        per_variant = group.groupby("label", as_index=False)["score"].mean()
        per_variant["features"] = [features[label] for label in per_variant["label"]]
        effects = feature_effects(per_variant)
        if effects.empty:
            continue
        effects["feature"] = effects["feature"].map(lambda tag, what=what: f"{tag} · {what}")
        tables.append(effects)
    return pd.concat(tables, ignore_index=True) if tables else None


def method_ranking(
    comparisons: list[ComparisonRecord], settings: RankingSettings
) -> MethodRanking | None:
    """The report's method ranking: the comparisons scored with each eval's aligned directions.

    Args:
        comparisons: The run's stored comparisons.
        settings: The run's stored ranking settings (``rank_on`` and the verdicts).

    Returns:
        The ranking (see :func:`alignlab.analysis.rank_methods`), or None without comparisons.
    """
    import pandas as pd

    from alignlab.analysis import COMPARISON_COLUMNS, rank_methods
    from alignlab.evals import registered_evals

    if not comparisons:
        return None
    frame = pd.DataFrame(
        [c.model_dump(include=set(COMPARISON_COLUMNS)) for c in comparisons],
        columns=list(COMPARISON_COLUMNS),
    )
    evals = registered_evals()
    directions = {name: evals[name].better for name in set(frame["eval"]) if name in evals}
    robustness = settings.robustness
    return rank_methods(
        frame,
        directions,
        verdicts=None if robustness is None else robustness.verdicts,
        rank_on=settings.rank_on,
    )


def report_run(store: Store, run_id: str, run_dir: Path) -> Path:
    """Write the run's report from the store alone (and the run directory's ledger and ranking).

    The prediction ledger and the ranking settings are read when the run has them.

    Returns:
        The report's path.

    Raises:
        AlignlabError: If the run's stored ranking settings are invalid.
    """
    from alignlab.experiment._ledger import score_run
    from alignlab.experiment._records import RewardResults
    from alignlab.methods import registered_methods
    from alignlab.report import write_report

    settings = read_ranking_settings(run_dir)
    run = store.get_run(run_id)
    assert run is not None
    cells = store.cells(run_id)
    comparisons = store.comparisons(run_id)
    methods = registered_methods()
    features = {
        cell.label: methods[_method_of(cell.label)].features
        for cell in cells
        if cell.kind == "train" and _method_of(cell.label) in methods
    }
    return write_report(
        run,
        cells,
        store.metrics(run_id),
        store.curves(run_id),
        comparisons,
        run_dir=run_dir,
        path=run_dir / REPORT_FILE,
        features=features,
        patterns=feature_patterns(comparisons, features),
        ledger=score_run(store, run_id, run_dir),
        ranking=method_ranking(comparisons, settings),
        robustness=settings,
        rewards=RewardResults(
            robustness=store.robustness_rows(run_id),
            best_of_n=store.best_of_n_points(run_id),
            comparisons=store.reward_comparisons(run_id),
        ),
    )
