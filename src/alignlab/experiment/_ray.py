"""Run a plan on a Ray cluster: every cell a Ray task, this process the store's one writer.

``alignlab run SPEC.yaml --executor ray [--address HOST:PORT]`` runs a sweep
that outgrows one machine on an existing Ray cluster (or, without an address,
on the cluster named by ``RAY_ADDRESS``, else a local Ray instance started for
the run and stopped after it).

The driver (this process) does everything the local executor does except the
work itself: it plans the cells into the store, decides which are cached (the
same rules), marks cells running under its own ``pid@host``, submits one Ray
task per train cell (independent variants train in parallel across the
cluster) and, as soon as a train cell finishes, one task scoring that adapter
on its eval cells (one Inspect ``eval()`` call, as locally).  Tasks return
:class:`~alignlab.experiment._execute.CellOutcome` values and never touch the
store; the driver records each as it arrives, fails the eval cells of a failed
train cell with "upstream failed", then compares variants.  The store is
written by one process only, so SQLite works; a PostgreSQL store works the
same.  Killing the driver cancels its tasks and leaves its cells ``running``
under a dead owner, which the next run resets, exactly as locally.

Requirements on a real cluster:

* **Shared storage.**  Workers write adapters and logs straight into the run
  directory, and read the base model from its path, so ``--out`` (and any
  model given as a local path) must be on a filesystem every node mounts at
  the same path (NFS, a cluster filesystem).  Tasks run in the driver's
  working directory when a node has it, so relative paths resolve as locally.
* **The same environment.**  Every node needs the same Python with alignlab
  (and its model cache at ``ALIGNLAB_CACHE``).  The variables in
  :data:`WORKER_ENV` are passed to the tasks when set here; secrets such as
  ``HF_TOKEN`` are not (runtime environments are visible in Ray's dashboard).

Resources: each task asks Ray for ``num_cpus=1`` -- a scheduling token, not a
thread limit.  Training (and scoring) use every core of their node, as in a
local run, which keeps adapters and metrics bit-identical to a local run on
the same kind of machine (torch's float reductions depend on the thread
count).  A node therefore runs as many cells at once as it declares CPUs; to
run one cell per node at a time, start the node with ``ray start --num-cpus 1``.

Per-step training progress (``on_step``) is not reported from tasks; cell
state changes are (``on_event``).

Simplified: a spec's reward-model cells run in the driver, after the Ray
tasks, as the local executor runs them.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Final

from alignlab._errors import AlignlabError
from alignlab.experiment._execute import (
    CellOutcome,
    Event,
    RunSummary,
    _train_done,
    begin,
    claim_evals,
    compare,
    eval_work,
    now,
    owner_id,
    record_outcome,
    train_work,
)
from alignlab.experiment._plan import EvalCell, Plan, TrainCell
from alignlab.experiment._store import Store

WORKER_ENV: Final = (
    "ALIGNLAB_CACHE",
    "ALIGNLAB_DEVICE",
    "HF_HOME",
    "HF_HUB_CACHE",
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "PYTHONPATH",
    "OMP_NUM_THREADS",
)
"""Environment variables passed to Ray tasks when set in the driver."""
TASK_CPUS: Final = 1
"""CPUs each task asks Ray for (a scheduling token; see the module docstring)."""
CONNECT_TIMEOUT_S: Final = 10.0
"""How long to wait for a cluster address to accept a connection before giving up."""
INSTALL_HINT: Final = "the ray executor needs the 'ray' package: pip install 'alignlab[ray]'"


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise AlignlabError(INSTALL_HINT) from None
    return ray


def worker_env() -> dict[str, str]:
    """The variables of :data:`WORKER_ENV` that are set here (what the tasks get)."""
    return {name: os.environ[name] for name in WORKER_ENV if name in os.environ}


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _probe(address: str) -> None:
    """Fail fast on a ``host:port`` (or ``ray://host:port``) nothing listens on.

    ``ray.init`` keeps retrying such an address for many minutes.
    """
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return  # "auto", "local" and the like: left to ray.init
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise AlignlabError(
            f"cannot reach the Ray cluster at {address}: {_one_line(exc)} "
            "(is the head node running? 'ray start --head' prints its address)"
        ) from None


def _connect(ray: Any, address: str | None) -> bool:
    """Initialise Ray unless it already is; True if this call did."""
    if ray.is_initialized():
        return False
    where = address or os.environ.get("RAY_ADDRESS")
    if where:
        _probe(where)
    try:
        ray.init(address=address, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError, OSError) as exc:
        what = f"cannot connect to the Ray cluster at {where}" if where else "cannot start Ray"
        raise AlignlabError(f"{what}: {_one_line(exc)}") from None
    return True


@contextmanager
def _as_driver(cwd: str, driver_threads: bool) -> Iterator[None]:
    """Inside a task: the driver's working directory, and torch's default thread count.

    Ray sets ``OMP_NUM_THREADS`` to the task's CPUs (1) unless it is set; a local
    run uses every core, and so should the task (same results), unless the
    driver set the variable itself (then the task got it in its environment).
    """
    if not driver_threads:
        os.environ.pop("OMP_NUM_THREADS", None)
    previous = os.getcwd()
    moved = os.path.isdir(cwd)
    if moved:
        os.chdir(cwd)
    try:
        yield
    finally:
        if moved:
            os.chdir(previous)


def _train_task(run_dir: str, cwd: str, driver_threads: bool, cell: TrainCell) -> CellOutcome:
    with _as_driver(cwd, driver_threads):
        return train_work(Path(run_dir), cell)


def _eval_task(
    run_dir: str, cwd: str, driver_threads: bool, cells: list[EvalCell]
) -> list[CellOutcome]:
    with _as_driver(cwd, driver_threads):
        return eval_work(Path(run_dir), cells)


def execute_ray(
    plan: Plan,
    store: Store,
    run_dir: Path,
    *,
    address: str | None = None,
    on_event: Event | None = None,
) -> RunSummary:
    """Run every cell of ``plan`` that the store does not have as Ray tasks, then compare.

    Same cells, cache rules, store records and summary as
    :func:`alignlab.experiment.execute`; see the module docstring for what a
    cluster needs (shared storage for ``run_dir``).

    Args:
        plan: The plan.
        store: The results store; only this process writes it.
        run_dir: The run directory, on storage every Ray node shares.
        address: The cluster (``HOST:PORT``, ``ray://HOST:PORT``, ``auto``); None:
            ``RAY_ADDRESS``, else a local instance.  Ignored when Ray is
            already initialised in this process.
        on_event: Progress hook for cell state changes.

    Returns:
        What was cached, run and failed (failures in the local executor's order).

    Raises:
        AlignlabError: If ``ray`` is not installed or the cluster cannot be reached.
    """
    ray = _import_ray()
    started_init = _connect(ray, address)
    try:
        return _execute(ray, plan, store, run_dir, on_event)
    finally:
        if started_init:
            ray.shutdown()


def _execute(
    ray: Any, plan: Plan, store: Store, run_dir: Path, on_event: Event | None
) -> RunSummary:
    started = time.perf_counter()
    summary, event = begin(plan, store, run_dir, on_event)

    env = worker_env()
    options = {"num_cpus": TASK_CPUS, "runtime_env": {"env_vars": env}}
    train_remote = ray.remote(_train_task).options(**options)
    eval_remote = ray.remote(_eval_task).options(**options)
    args = (str(run_dir.absolute()), os.getcwd(), "OMP_NUM_THREADS" in env)

    failures: dict[str, str] = {}  # cell key -> summary line
    pending: dict[Any, tuple[TrainCell, list[EvalCell]]] = {}  # ref -> (train, eval cells)

    def start_evals(train: TrainCell, train_failed: bool) -> None:
        todo = claim_evals(
            plan,
            store,
            run_dir,
            train,
            train_failed=train_failed,
            summary=summary,
            event=event,
            failed=failures.__setitem__,
        )
        if todo:
            pending[eval_remote.remote(*args, todo)] = (train, todo)

    def record(outcome: CellOutcome, name: str) -> None:
        record_outcome(store, outcome)
        if outcome.error is not None:
            failures[outcome.key] = f"{name}: {outcome.error}"
            event(outcome.key, "failed", outcome.error)
        else:
            summary.done += 1
            event(outcome.key, "done")

    try:
        for cell in plan.train_cells:
            if _train_done(store, run_dir, cell):
                summary.cached += 1
                event(cell.key, "cached")
                start_evals(cell, train_failed=False)
                continue
            store.mark_running(cell.key, owner_id(), now())
            event(cell.key, "running")
            pending[train_remote.remote(*args, cell)] = (cell, [])
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                train, evals = pending.pop(ref)
                if not evals:
                    outcome = _result(ray, ref, train.key)
                    record(outcome, train.variant.label)
                    start_evals(train, train_failed=outcome.error is not None)
                    continue
                results = _results(ray, ref, [c.key for c in evals])
                for eval_cell, outcome in zip(evals, results, strict=True):
                    record(outcome, f"{train.variant.label} {eval_cell.eval}/{eval_cell.split}")
    finally:
        for ref in pending:  # only when interrupted: leave the cluster idle
            with suppress(Exception):  # never hide why we stopped
                ray.cancel(ref)
    order = [c.key for c in plan.train_cells] + [c.key for c in plan.eval_cells]
    summary.failed = [failures[key] for key in order if key in failures]
    from alignlab.experiment._rewards import compare_reward_models, run_reward_cells

    run_reward_cells(plan, store, run_dir, summary, event)  # in the driver (see the docstring)
    compare_reward_models(store, plan)
    compare(store, run_dir, plan)
    summary.seconds = round(time.perf_counter() - started, 1)
    return summary


def _lost(ray: Any, error: BaseException) -> str | None:
    """A one-line message if ``error`` is Ray losing the task (worker or node died), else None.

    Ray retries such tasks itself first; an exception raised by the task's own
    code (a bug) is not a loss and propagates, as it does locally.
    """
    exceptions = ray.exceptions
    if isinstance(error, exceptions.RayTaskError):
        return None
    if isinstance(error, exceptions.RayError):
        return f"ray could not run the task: {_one_line(error)}"
    return None


def _result(ray: Any, ref: Any, key: str) -> CellOutcome:
    try:
        outcome: CellOutcome = ray.get(ref)
    except Exception as exc:
        message = _lost(ray, exc)
        if message is None:
            raise
        return CellOutcome(key=key, error=message)
    return outcome


def _results(ray: Any, ref: Any, keys: list[str]) -> list[CellOutcome]:
    try:
        outcomes: list[CellOutcome] = ray.get(ref)
    except Exception as exc:
        message = _lost(ray, exc)
        if message is None:
            raise
        return [CellOutcome(key=key, error=message) for key in keys]
    return outcomes
