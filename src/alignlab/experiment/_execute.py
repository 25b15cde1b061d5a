"""Run a plan: train cells, then each adapter's eval cells, then paired comparisons.

The local executor runs cells in dependency order in this process.  Train
cells call :func:`alignlab.methods.train` (itself locked, atomic and
verified); the eval cells of one adapter go to Inspect as one ``eval()`` call
with one provider, so their samples share batches.  A cell becomes ``done``
in the store in the same transaction that stores its results, and only after
its artefact is complete (an adapter with a verified manifest; a ``.eval`` log
moved in from a scratch directory), so killing the run at any moment, SIGKILL
included, loses no finished cell and leaves nothing that looks finished but
is not.  A rerun skips done cells whose artefacts still verify, resets cells
left ``running`` by a dead process, and runs the rest.

A failed cell records its one-line error and does not stop independent cells;
the eval cells of a failed train cell fail with "upstream failed".  After the
cells, every method variant is compared with each reference variant on the
same samples (paired differences with intervals, McNemar on the per-sample
outcome, Benjamini-Hochberg across the run's method x metric family) and the
comparisons are stored for the report.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from alignlab._errors import AlignlabError
from alignlab.experiment._plan import LOGS_DIR, EvalCell, Plan, TrainCell
from alignlab.experiment._records import (
    BestOfNRecord,
    ComparisonRecord,
    CurvePoint,
    MetricRecord,
    RewardPairRecord,
    RobustnessRecord,
    RunRecord,
)
from alignlab.experiment._store import Store

SPEC_FILE: Final = "spec.yaml"
"""The spec as written, kept in the run directory (a different spec there is refused)."""
RUN_ID_FILE: Final = "run_id"
"""The run id of the spec the directory belongs to."""
REPORT_FILE: Final = "report.html"
STAMP_FILE: Final = ".derived.json"
"""What the run's comparisons and report were last derived from (see :class:`DerivedStamp`)."""
"""The report, written at the end of every run."""
UPSTREAM_FAILED: Final = "upstream failed: its train cell did not finish"

Event = Callable[[str, str, str], None]
"""Progress hook: ``(cell_key, state, detail)``; states: cached, running, done, failed."""


def now() -> str:
    """UTC now, ISO 8601 (seconds)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def owner_id() -> str:
    """``pid@host`` of this process (what the store records as a running cell's owner)."""
    return f"{os.getpid()}@{socket.gethostname()}"


def owner_alive(owner: str) -> bool:
    """Whether the process named by ``pid@host`` still runs (other hosts: assumed alive)."""
    from alignlab.files import pid_alive

    pid, _, host = owner.partition("@")
    if host != socket.gethostname():
        return True
    return pid.isdigit() and pid_alive(int(pid))


@dataclass
class RunSummary:
    """What one ``run`` did."""

    run_id: str
    """The run."""
    run_dir: Path
    """Its directory."""
    cached: int = 0
    """Cells whose stored results were reused."""
    done: int = 0
    """Cells run to completion now."""
    failed: list[str] = field(default_factory=list)
    """``label eval/split: error`` of each failed cell."""
    report: Path | None = None
    """The report, when written."""
    seconds: float = 0.0
    """Wall time."""


def prepare_run_dir(run_dir: Path, plan: Plan) -> None:
    """Claim ``run_dir`` for this spec, or refuse if it holds another experiment.

    Raises:
        AlignlabError: If the directory belongs to a different spec.
    """
    from alignlab.files import atomic_write_text

    run_dir.mkdir(parents=True, exist_ok=True)
    marker = run_dir / RUN_ID_FILE
    if marker.is_file():
        existing = marker.read_text().strip()
        if existing != plan.run_id:
            raise AlignlabError(
                f"{run_dir} holds another experiment (run {existing[:12]}); this spec is run "
                f"{plan.run_id[:12]}: choose another --out or delete the directory"
            )
    else:
        atomic_write_text(run_dir / SPEC_FILE, plan.loaded.text)
        atomic_write_text(marker, plan.run_id + "\n")


def run_record(plan: Plan) -> RunRecord:
    """The store record of a plan's run."""
    from alignlab import __version__

    return RunRecord(
        run_id=plan.run_id,
        name=plan.loaded.spec.name,
        spec_yaml=plan.loaded.text,
        spec_json=plan.loaded.spec.model_dump(mode="json"),
        created_at=now(),
        alignlab_version=__version__,
    )


def _train_done(store: Store, run_dir: Path, cell: TrainCell) -> bool:
    from alignlab.methods import read_manifest, verify_run

    record = store.get_cell(cell.key)
    if record is None or record.state != "done":
        return False
    directory = run_dir / cell.adapter_dir
    try:
        manifest = read_manifest(directory)
        if manifest is None:
            return False
        verify_run(directory, manifest)
    except AlignlabError:
        return False
    return True


def _eval_done(store: Store, run_dir: Path, cell: EvalCell) -> bool:
    record = store.get_cell(cell.key)
    return (
        record is not None
        and record.state == "done"
        and record.artifact is not None
        and (run_dir / record.artifact).is_file()
    )


@dataclass(frozen=True)
class CellOutcome:
    """What running one cell produced; the executor records it in the store.

    Work functions return outcomes instead of writing to the store so that the
    same work runs in this process or in a Ray worker, with the driver as the
    store's one writer.
    """

    key: str
    """The cell."""
    error: str | None = None
    """One-line error if the cell failed."""
    artifact: str | None = None
    """Adapter directory or log path, relative to the run directory."""
    duration_s: float = 0.0
    """Wall time of the cell's work."""
    metrics: tuple[MetricRecord, ...] = ()
    """Eval cells: every metric with its interval."""
    curve: tuple[CurvePoint, ...] = ()
    """Train cells: the loss at every step."""
    results: tuple[RewardPairRecord | RobustnessRecord | BestOfNRecord, ...] = ()
    """Reward-model eval cells: per-pair rewards, robustness rows or best-of-N points."""


def record_outcome(store: Store, outcome: CellOutcome) -> None:
    """Store a cell's outcome: done with its results in one transaction, or failed."""
    if outcome.error is not None:
        store.fail_cell(outcome.key, outcome.error, now())
        return
    store.finish_cell(
        outcome.key,
        artifact=outcome.artifact,
        finished_at=now(),
        duration_s=outcome.duration_s,
        metrics=outcome.metrics,
        curve=outcome.curve,
        results=outcome.results,
    )


def train_work(
    run_dir: Path, cell: TrainCell, on_step: Callable[[int, int, float], None] | None = None
) -> CellOutcome:
    """Train one cell's adapter into the run directory (no store access)."""
    from alignlab.methods import train

    started = time.perf_counter()
    try:
        manifest = train(
            cell.variant.method,
            cell.base,
            run_dir / cell.adapter_dir,
            cell.params,
            on_step=on_step,
        )
    except AlignlabError as exc:
        return CellOutcome(key=cell.key, error=str(exc))
    return CellOutcome(
        key=cell.key,
        artifact=cell.adapter_dir,
        duration_s=round(time.perf_counter() - started, 2),
        curve=tuple(
            CurvePoint(cell_key=cell.key, step=p.step, loss=p.loss) for p in manifest.loss_curve
        ),
    )


def _task(cell: EvalCell) -> Any:
    from alignlab.evals import get_eval

    return get_eval(cell.eval).factory(**cell.args)


def _log_name(cell: EvalCell) -> str:
    return f"{LOGS_DIR}/{cell.eval}-{cell.split}-{cell.format}-{cell.key[:16]}.eval"


@contextmanager
def _scratch_logs(run_dir: Path) -> Iterator[Path]:
    from alignlab.files import scratch_dir

    scratch = scratch_dir(run_dir / LOGS_DIR)
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def _released(spec: str, release: Callable[[str], bool]) -> Iterator[None]:
    """Free the adapter's model when its cells are scored (each holds a copy of the base)."""
    try:
        yield
    finally:
        release(spec)


def eval_work(run_dir: Path, cells: Sequence[EvalCell]) -> list[CellOutcome]:
    """Score one adapter on several eval cells in one Inspect ``eval()`` call (no store access).

    Logs are written to a scratch directory and moved into ``logs/`` only when
    complete, so a killed run leaves no log that looks like a finished cell's.
    """
    from inspect_ai import eval as inspect_eval

    from alignlab.analysis import log_metric_estimates
    from alignlab.models import DEFAULT_MAX_CONNECTIONS, release_model

    if not cells:
        return []
    train = cells[0].train
    spec = f"{train.base}+{(run_dir / train.adapter_dir).resolve()}"
    model = f"alignlab/{spec}"
    started = time.perf_counter()
    outcomes = []
    with _scratch_logs(run_dir) as scratch, _released(spec, release_model):
        try:
            logs = inspect_eval(
                [_task(cell) for cell in cells],
                model=model,
                limit=cells[0].limit,
                log_dir=str(scratch),
                max_connections=DEFAULT_MAX_CONNECTIONS,
                max_tasks=len(cells),
                display="none",
                log_format="eval",
                score_display=False,
            )
        except AlignlabError as exc:
            return [CellOutcome(key=cell.key, error=str(exc)) for cell in cells]
        seconds = round((time.perf_counter() - started) / len(cells), 2)
        for cell, log in zip(cells, logs, strict=True):
            if log.status != "success":
                message = log.error.message.strip().splitlines()[-1] if log.error else log.status
                outcomes.append(CellOutcome(key=cell.key, error=message))
                continue
            metrics = tuple(
                MetricRecord(
                    cell_key=cell.key,
                    metric=name,
                    value=estimate.value,
                    ci_low=estimate.ci_low,
                    ci_high=estimate.ci_high,
                    n=n,
                )
                for name, (estimate, n) in log_metric_estimates(log).items()
            )
            target = run_dir / _log_name(cell)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(str(log.location), target)
            outcomes.append(
                CellOutcome(
                    key=cell.key, artifact=_log_name(cell), duration_s=seconds, metrics=metrics
                )
            )
    return outcomes


class DerivedStamp(BaseModel):
    """Fingerprints of what a run's derived results were computed from.

    A rerun in which every cell was cached would otherwise recompute every
    paired bootstrap and redraw every plot (about 20 s of the quickstart's
    cached rerun on a 2-core machine): the fingerprints let it skip both when
    their inputs are unchanged.  Deleting the file only costs the recomputation.
    """

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    comparisons_sha256: str | None = None
    """Of the inputs of the stored comparisons: see :func:`comparison_inputs`."""
    report_sha256: str | None = None
    """Of the inputs of ``report.html``: the comparisons' inputs and the ledger."""


def read_stamp(run_dir: Path) -> DerivedStamp:
    """The run's stamp (an empty one when missing or unreadable: everything is recomputed)."""
    try:
        return DerivedStamp.model_validate_json((run_dir / STAMP_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return DerivedStamp()


def write_stamp(run_dir: Path, stamp: DerivedStamp) -> None:
    """Replace the run's stamp atomically."""
    from alignlab.files import atomic_write_text

    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / STAMP_FILE, stamp.model_dump_json(indent=2) + "\n")


def comparison_inputs(store: Store, plan: Plan) -> str:
    """SHA-256 of everything :func:`compare` reads.

    That is the done eval cells with their logs' names and finish times, the
    references and the alignlab version (statistics code can change with it).
    """
    import hashlib

    from alignlab import __version__
    from alignlab.experiment._keys import canonical_json

    done = []
    for cell in plan.eval_cells:
        record = store.get_cell(cell.key)
        if record is not None and record.state == "done":
            done.append([cell.key, record.artifact, record.finished_at])
    document = {
        "alignlab_version": __version__,
        "references": list(plan.loaded.spec.references),
        "done": sorted(done, key=str),
    }
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


def compare(store: Store, run_dir: Path, plan: Plan) -> list[ComparisonRecord]:
    """Every variant against every reference variant, paired on the same samples.

    Pairs are eval cells of the same base, seed, eval, split and format.  The
    p-values of all rows are adjusted together (Benjamini-Hochberg across the
    run's method x metric family).  Skipped, returning the stored rows, when
    nothing they depend on changed since they were stored (:class:`DerivedStamp`).
    """
    inputs = comparison_inputs(store, plan)
    stamp = read_stamp(run_dir)
    if stamp.comparisons_sha256 == inputs:
        return store.comparisons(plan.run_id)
    rows = _compare(store, run_dir, plan)
    write_stamp(run_dir, stamp.model_copy(update={"comparisons_sha256": inputs}))
    return rows


def _compare(store: Store, run_dir: Path, plan: Plan) -> list[ComparisonRecord]:
    from inspect_ai.log import read_eval_log

    from alignlab.analysis import (
        DEFAULT_CORRECTION,
        adjust_p_values,
        log_paired_differences,
        mcnemar_from_logs,
    )

    references = [
        r for r in plan.loaded.spec.references if r in {v.label for v in plan.loaded.variants}
    ]
    by_group: dict[tuple[Any, ...], dict[str, EvalCell]] = {}
    for cell in plan.eval_cells:
        group = (cell.train.base, cell.train.seed, cell.eval, cell.split, cell.format)
        by_group.setdefault(group, {})[cell.train.variant.label] = cell
    logs: dict[str, Any] = {}

    def log_of(cell: EvalCell) -> Any | None:
        if cell.key not in logs:
            record = store.get_cell(cell.key)
            if record is None or record.state != "done" or record.artifact is None:
                logs[cell.key] = None
            else:
                logs[cell.key] = read_eval_log(str(run_dir / record.artifact))
        return logs[cell.key]

    pending: list[dict[str, Any]] = []
    for (_, seed, eval_name, split, _), cells in by_group.items():
        for reference in references:
            if reference not in cells or log_of(cells[reference]) is None:
                continue
            reference_log = log_of(cells[reference])
            for label, cell in cells.items():
                if label == reference or log_of(cell) is None:
                    continue
                differences = log_paired_differences(log_of(cell), reference_log)
                mcnemar = mcnemar_from_logs(log_of(cell), reference_log)
                for metric, diff in differences.items():
                    pending.append(
                        {
                            "run_id": plan.run_id,
                            "label": label,
                            "reference": reference,
                            "seed": seed,
                            "eval": eval_name,
                            "split": split,
                            "metric": metric,
                            "difference": diff.difference,
                            "ci_low": diff.ci_low,
                            "ci_high": diff.ci_high,
                            "p_value": diff.p_value,
                            "mcnemar_p": mcnemar.p_value if mcnemar is not None else None,
                            "n_pairs": diff.n_pairs,
                        }
                    )
    adjusted = adjust_p_values([row["p_value"] for row in pending]) if pending else []
    rows = [
        ComparisonRecord(**row, p_adjusted=float(p), correction=DEFAULT_CORRECTION)
        for row, p in zip(pending, adjusted, strict=True)
    ]
    store.replace_comparisons(plan.run_id, rows)
    return rows


class EventHook(Protocol):
    """An executor's own event hook: ``detail`` may be left out."""

    def __call__(self, key: str, state: str, detail: str = "") -> None:
        """Report that cell ``key`` is now in ``state``."""


def begin(
    plan: Plan, store: Store, run_dir: Path, on_event: Event | None
) -> tuple[RunSummary, EventHook]:
    """What every executor does first: record the run, plan its cells, reset dead cells.

    Returns:
        An empty summary and an event hook that ignores a missing ``on_event``.
    """
    store.add_run(run_record(plan))
    store.plan_cells(plan.run_id, plan.records())
    store.reset_stale(owner_alive)

    def event(key: str, state: str, detail: str = "") -> None:
        if on_event is not None:
            on_event(key, state, detail)

    return RunSummary(run_id=plan.run_id, run_dir=run_dir), event


def claim_evals(
    plan: Plan,
    store: Store,
    run_dir: Path,
    train: TrainCell,
    *,
    train_failed: bool,
    summary: RunSummary,
    event: EventHook,
    failed: Callable[[str, str], None],
) -> list[EvalCell]:
    """Sort ``train``'s eval cells before running them.

    One with a stored result counts as cached; every other one fails with
    ``UPSTREAM_FAILED`` when ``train_failed`` (``failed(key, line)`` takes its
    summary line), or else is marked running and returned, to be run.
    """
    todo = []
    for cell in (c for c in plan.eval_cells if c.train.key == train.key):
        if _eval_done(store, run_dir, cell):
            summary.cached += 1
            event(cell.key, "cached")
        elif train_failed:
            store.fail_cell(cell.key, UPSTREAM_FAILED, now())
            failed(cell.key, f"{train.variant.label} {cell.eval}/{cell.split}: {UPSTREAM_FAILED}")
            event(cell.key, "failed", UPSTREAM_FAILED)
        else:
            store.mark_running(cell.key, owner_id(), now())
            event(cell.key, "running")
            todo.append(cell)
    return todo


def execute(
    plan: Plan,
    store: Store,
    run_dir: Path,
    on_event: Event | None = None,
    on_step: Callable[[str, int, int, float], None] | None = None,
) -> RunSummary:
    """Run every cell of ``plan`` that the store does not have, then compare.

    Args:
        plan: The plan.
        store: The results store (the run's cells are planned into it here).
        run_dir: The run directory (adapters and logs go below it).
        on_event: Progress hook for cell state changes.
        on_step: Progress hook for training steps: ``(cell_key, step, total, loss)``.

    Returns:
        What was cached, run and failed.
    """
    started = time.perf_counter()
    summary, event = begin(plan, store, run_dir, on_event)
    failed_train: set[str] = set()
    for cell in plan.train_cells:
        if _train_done(store, run_dir, cell):
            summary.cached += 1
            event(cell.key, "cached")
            continue
        store.mark_running(cell.key, owner_id(), now())
        event(cell.key, "running")

        def step(step: int, total: int, loss: float, key: str = cell.key) -> None:
            if on_step is not None:
                on_step(key, step, total, loss)

        outcome = train_work(run_dir, cell, step)
        record_outcome(store, outcome)
        if outcome.error is not None:
            failed_train.add(cell.key)
            summary.failed.append(f"{cell.variant.label}: {outcome.error}")
            event(cell.key, "failed", outcome.error)
        else:
            summary.done += 1
            event(cell.key, "done")
    for train in plan.train_cells:
        todo = claim_evals(
            plan,
            store,
            run_dir,
            train,
            train_failed=train.key in failed_train,
            summary=summary,
            event=event,
            failed=lambda _key, line: summary.failed.append(line),
        )
        for eval_cell, outcome in zip(todo, eval_work(run_dir, todo), strict=True):
            record_outcome(store, outcome)
            if outcome.error is not None:
                name = f"{train.variant.label} {eval_cell.eval}/{eval_cell.split}"
                summary.failed.append(f"{name}: {outcome.error}")
                event(eval_cell.key, "failed", outcome.error)
            else:
                summary.done += 1
                event(eval_cell.key, "done")
    from alignlab.experiment._rewards import compare_reward_models, run_reward_cells

    run_reward_cells(plan, store, run_dir, summary, event, on_step)
    compare_reward_models(store, plan)
    compare(store, run_dir, plan)
    summary.seconds = round(time.perf_counter() - started, 1)
    return summary
