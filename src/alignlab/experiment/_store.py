"""The results store: where an experiment's runs, cells, metrics, curves and comparisons live.

Why a database rather than files: the executor runs hundreds of cells
unattended, may be killed at any moment, and must resume exactly where it
stopped; the report must read a consistent picture while cells still run.
A transactional store gives both: :meth:`Store.finish_cell` writes a cell's
results and marks it ``done`` in one transaction, so a crash before the commit
leaves the cell not done and without partial results.

Two backends behind one class, with the SQL written once (``?`` placeholders,
rewritten to ``%s`` for PostgreSQL; types that both engines accept):

- **SQLite** (the default): one file in the run directory, opened by one
  writer process (the executor holds the run lock). ``journal_mode=WAL`` lets
  the report read while the executor writes; ``synchronous=NORMAL`` because
  WAL + NORMAL is durable against a crashed or killed process, the failure we
  guard against (power loss may drop the last committed transaction but never
  corrupts the file), and it avoids an fsync per cell. A busy timeout makes a
  second writer wait its turn instead of failing. Foreign keys are on. Not for
  network file systems (WAL needs shared memory on one machine).
- **PostgreSQL** (``postgresql://...``): several machines share one experiment.
  ``psycopg`` 3, autocommit outside explicit transactions, a connect timeout so
  an unreachable server is a one-line :class:`~alignlab.AlignlabError` before
  any training starts.

What was simplified:

- NaN: SQLite stores a NaN ``REAL`` as ``NULL``, so every non-optional float
  (metric ``value``/``ci_low``/``ci_high``, curve ``loss``, comparison
  ``difference``/``ci_low``/``ci_high``/``p_value``/``p_adjusted``) is written
  as ``NULL`` when NaN and read back as NaN, on both backends alike. Optional
  floats (``duration_s``, ``mcnemar_p``) keep ``NULL`` as ``None``; a NaN given
  there comes back as ``None``.
- JSON fields (``inputs``, ``spec_json``) are stored as JSON text on both
  backends (exactly as written; no JSONB, so no JSON queries in SQL).
- Records carry no per-row version: the store has one ``schema_version`` row;
  opening a store written by a newer alignlab is a one-line error.  Version 2
  added the reward-model cell kinds and their result tables; a version-1 store
  is migrated when opened (its ``cells`` table rebuilt with the wider kind
  check on SQLite, the check replaced on PostgreSQL; the new tables created),
  in one transaction.
- A cell's ``run_id`` is the run that first planned it; membership of later
  runs lives in a separate table, so :meth:`Store.cells` of a later run returns
  shared cells with the first run's ``run_id``.
- :meth:`Store.mark_running` does not arbitrate between machines: it records
  the owner unconditionally. Deciding who runs which cell is the executor's job.
- A lost PostgreSQL connection mid-run surfaces as the driver's error; there is
  no reconnect.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from alignlab._errors import AlignlabError
from alignlab.experiment._records import (
    CELL_KINDS,
    BestOfNRecord,
    CellRecord,
    ComparisonRecord,
    CurvePoint,
    MetricRecord,
    Record,
    RewardComparisonRecord,
    RewardPairRecord,
    RobustnessRecord,
    RunRecord,
)
from alignlab.files import atomic_write_text

SCHEMA_VERSION: Final = 2
"""Version of the tables below; bump it (and add a migration) when they change."""
SQLITE_BUSY_TIMEOUT_S: Final = 60.0
"""How long a SQLite writer waits for another writer's transaction to finish."""
PG_CONNECT_TIMEOUT_S: Final = 10
"""Seconds to wait for a PostgreSQL server before giving up (unless the URL sets one)."""
PG_SCHEMES: Final = ("postgresql", "postgres")
"""URL schemes that select the PostgreSQL backend."""
EXPORT_FORMATS: Final = ("csv", "parquet")
"""Formats :func:`export` can write."""
_PG_SCHEMA_LOCK: Final = 0x616C676E6C6162
"""Advisory-lock id that serialises schema creation between machines."""

_KINDS_SQL: Final = ", ".join(f"'{kind}'" for kind in CELL_KINDS)
_V1_KINDS_SQL: Final = "'train', 'eval'"
"""The cell kinds of schema version 1 (what :func:`_migrate_from_1` widens)."""

_SCHEMA: Final[tuple[str, ...]] = (
    """CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        spec_yaml TEXT NOT NULL,
        spec_json TEXT NOT NULL,
        created_at TEXT NOT NULL,
        alignlab_version TEXT NOT NULL
    )""",
    f"""CREATE TABLE IF NOT EXISTS cells (
        key TEXT PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        kind TEXT NOT NULL CONSTRAINT cells_kind_check CHECK (kind IN ({_KINDS_SQL})),
        label TEXT NOT NULL,
        inputs TEXT NOT NULL,
        upstream TEXT,
        state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
        artifact TEXT,
        owner TEXT,
        started_at TEXT,
        finished_at TEXT,
        duration_s DOUBLE PRECISION,
        error TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS run_cells (
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        cell_key TEXT NOT NULL REFERENCES cells (key),
        position BIGINT NOT NULL,
        PRIMARY KEY (run_id, cell_key)
    )""",
    """CREATE TABLE IF NOT EXISTS metrics (
        cell_key TEXT NOT NULL REFERENCES cells (key),
        metric TEXT NOT NULL,
        value DOUBLE PRECISION,
        ci_low DOUBLE PRECISION,
        ci_high DOUBLE PRECISION,
        n BIGINT NOT NULL,
        position BIGINT NOT NULL,
        PRIMARY KEY (cell_key, metric)
    )""",
    """CREATE TABLE IF NOT EXISTS curves (
        cell_key TEXT NOT NULL REFERENCES cells (key),
        step BIGINT NOT NULL,
        loss DOUBLE PRECISION,
        PRIMARY KEY (cell_key, step)
    )""",
    """CREATE TABLE IF NOT EXISTS comparisons (
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        position BIGINT NOT NULL,
        label TEXT NOT NULL,
        reference TEXT NOT NULL,
        seed BIGINT NOT NULL,
        eval TEXT NOT NULL,
        split TEXT NOT NULL,
        metric TEXT NOT NULL,
        difference DOUBLE PRECISION,
        ci_low DOUBLE PRECISION,
        ci_high DOUBLE PRECISION,
        p_value DOUBLE PRECISION,
        p_adjusted DOUBLE PRECISION,
        correction TEXT NOT NULL,
        mcnemar_p DOUBLE PRECISION,
        n_pairs BIGINT NOT NULL,
        PRIMARY KEY (run_id, position)
    )""",
    """CREATE TABLE IF NOT EXISTS rm_pairs (
        cell_key TEXT NOT NULL REFERENCES cells (key),
        position BIGINT NOT NULL,
        family TEXT NOT NULL,
        item_id TEXT NOT NULL,
        chosen_reward DOUBLE PRECISION,
        rejected_reward DOUBLE PRECISION,
        PRIMARY KEY (cell_key, position)
    )""",
    """CREATE TABLE IF NOT EXISTS rm_robustness (
        cell_key TEXT NOT NULL REFERENCES cells (key),
        position BIGINT NOT NULL,
        transform TEXT NOT NULL,
        n_pairs BIGINT NOT NULL,
        original DOUBLE PRECISION,
        transformed DOUBLE PRECISION,
        accuracy_drop DOUBLE PRECISION,
        ci_low DOUBLE PRECISION,
        ci_high DOUBLE PRECISION,
        PRIMARY KEY (cell_key, position)
    )""",
    """CREATE TABLE IF NOT EXISTS rm_best_of_n (
        cell_key TEXT NOT NULL REFERENCES cells (key),
        n BIGINT NOT NULL,
        kl DOUBLE PRECISION,
        proxy DOUBLE PRECISION,
        proxy_ci_low DOUBLE PRECISION,
        proxy_ci_high DOUBLE PRECISION,
        gold DOUBLE PRECISION,
        gold_ci_low DOUBLE PRECISION,
        gold_ci_high DOUBLE PRECISION,
        n_prompts BIGINT NOT NULL,
        PRIMARY KEY (cell_key, n)
    )""",
    """CREATE TABLE IF NOT EXISTS rm_comparisons (
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        position BIGINT NOT NULL,
        label TEXT NOT NULL,
        reference TEXT NOT NULL,
        base TEXT NOT NULL,
        seed BIGINT NOT NULL,
        split TEXT NOT NULL,
        difference DOUBLE PRECISION,
        ci_low DOUBLE PRECISION,
        ci_high DOUBLE PRECISION,
        mcnemar_p DOUBLE PRECISION,
        n_pairs BIGINT NOT NULL,
        PRIMARY KEY (run_id, position)
    )""",
)

_R = TypeVar("_R", bound=Record)

_CELL_RESULT_TABLES: Final[dict[type[Record], tuple[str, str]]] = {
    RewardPairRecord: ("rm_pairs", "t.position"),
    RobustnessRecord: ("rm_robustness", "t.position"),
    BestOfNRecord: ("rm_best_of_n", "t.n"),
}
"""Per-cell result records of reward-model cells: table and row order within a cell."""


def _record_fields(model: type[Record]) -> tuple[tuple[str, ...], frozenset[str]]:
    """A record's stored columns (its fields but ``version``) and those that are plain floats."""
    fields = tuple(name for name in model.model_fields if name != "version")
    floats = frozenset(name for name in fields if model.model_fields[name].annotation is float)
    return fields, floats


_CELL_COLUMNS: Final = (
    "key, run_id, kind, label, inputs, upstream, state, artifact, owner,"
    " started_at, finished_at, duration_s, error"
)
_CELL_FIELDS: Final = tuple(name.strip() for name in _CELL_COLUMNS.split(","))
_CELL_SELECT: Final = (
    "SELECT c.key, c.run_id, c.kind, c.label, c.inputs, c.upstream, c.state, c.artifact,"
    " c.owner, c.started_at, c.finished_at, c.duration_s, c.error FROM cells c"
)
_COMPARISON_FIELDS: Final = (
    "label",
    "reference",
    "seed",
    "eval",
    "split",
    "metric",
    "difference",
    "ci_low",
    "ci_high",
    "p_value",
    "p_adjusted",
    "correction",
    "mcnemar_p",
    "n_pairs",
)
_COMPARISON_NAN_FIELDS: Final = frozenset(
    {"difference", "ci_low", "ci_high", "p_value", "p_adjusted"}
)


def _to_db(value: float) -> float | None:
    """NaN -> NULL (SQLite cannot store NaN; PostgreSQL follows suit for one behaviour)."""
    return None if math.isnan(value) else value


def _from_db(value: float | None) -> float:
    """NULL -> NaN for floats that are never optional."""
    return math.nan if value is None else float(value)


def _one_line(error: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(str(error).split()) or type(error).__name__


def _mask_url(url: str) -> str:
    """``url`` with its password (in the authority or a ``password=`` parameter) masked."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        credentials, _, host = netloc.rpartition("@")
        user = credentials.split(":", 1)[0]
        netloc = f"{user}:***@{host}"
    query = urlencode(
        [(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query)], safe="*"
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class _Sql:
    """One cursor that takes ``?`` placeholders on either backend."""

    def __init__(self, raw: Any, postgres: bool) -> None:
        self._raw = raw
        self._postgres = postgres

    def _fix(self, sql: str) -> str:
        return sql.replace("?", "%s") if self._postgres else sql

    def run(self, sql: str, params: Sequence[object] = ()) -> int:
        """Execute one statement; return the number of rows it changed."""
        self._raw.execute(self._fix(sql), tuple(params))
        return int(self._raw.rowcount)

    def many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """Execute one statement per parameter row."""
        if rows:
            self._raw.executemany(self._fix(sql), [tuple(row) for row in rows])

    def one(self, sql: str, params: Sequence[object] = ()) -> tuple[Any, ...] | None:
        """The first row of a query, or None."""
        self._raw.execute(self._fix(sql), tuple(params))
        row = self._raw.fetchone()
        return None if row is None else tuple(row)

    def all(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Every row of a query."""
        self._raw.execute(self._fix(sql), tuple(params))
        return [tuple(row) for row in self._raw.fetchall()]


class Store:
    """An experiment's results, in SQLite or PostgreSQL (see the module docstring).

    Open one with :func:`open_store`. Methods are safe to call from several
    threads (one lock serialises them); each write is one transaction.
    """

    url: str
    """Display form: ``sqlite:///abs/path`` or the PostgreSQL URL with its password masked."""

    def __init__(self, connection: Any, *, postgres: bool, url: str) -> None:
        self._conn = connection
        self._postgres = postgres
        self._lock = threading.RLock()
        self.url = url

    # -- plumbing ------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[_Sql]:
        """One write transaction: committed on success, rolled back on any exception."""
        with self._lock:
            if self._postgres:
                with self._conn.transaction(), self._conn.cursor() as cursor:
                    yield _Sql(cursor, postgres=True)
                return
            cursor = self._conn.cursor()
            # IMMEDIATE takes the write lock now (waiting up to the busy timeout)
            # rather than failing when a read transaction upgrades later.
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield _Sql(cursor, postgres=False)
                cursor.execute("COMMIT")
            except BaseException:
                self._conn.rollback()  # a no-op when SQLite already rolled back
                raise
            finally:
                cursor.close()

    @contextmanager
    def _read(self) -> Iterator[_Sql]:
        """A cursor for queries (autocommit: each statement sees the latest commit)."""
        with self._lock:
            cursor = self._conn.cursor()
            try:
                yield _Sql(cursor, postgres=self._postgres)
            finally:
                cursor.close()

    def _create_schema(self) -> None:
        """Create the tables if needed; refuse a store written by a newer schema."""
        with self._write() as sql:
            if self._postgres:
                sql.run(f"SELECT pg_advisory_xact_lock({_PG_SCHEMA_LOCK})")
            sql.run("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            row = sql.one("SELECT MAX(version) FROM schema_version")
            found = None if row is None or row[0] is None else int(row[0])
            if found == 1:
                self._migrate_from_1(sql)
                sql.run("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
                found = SCHEMA_VERSION
            if found is not None and found != SCHEMA_VERSION:
                newer = found > SCHEMA_VERSION
                raise AlignlabError(
                    f"results store {self.url} has schema version {found}, this alignlab "
                    f"reads version {SCHEMA_VERSION}: "
                    + ("upgrade alignlab" if newer else "no migration exists; use a new store")
                )
            for statement in _SCHEMA:
                sql.run(statement)
            if found is None:
                sql.run("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))

    def _migrate_from_1(self, sql: _Sql) -> None:
        """Widen ``cells.kind`` to the reward-model kinds (the new tables follow from _SCHEMA).

        PostgreSQL replaces the check in place.  SQLite cannot alter a check, so
        the table is rebuilt (SQLite's documented procedure: create, copy, drop,
        rename); foreign keys are off while the schema is set up (see
        :func:`_open_sqlite`) and checked before the transaction commits.
        """
        if self._postgres:
            sql.run("ALTER TABLE cells DROP CONSTRAINT IF EXISTS cells_kind_check")
            sql.run(
                f"ALTER TABLE cells ADD CONSTRAINT cells_kind_check CHECK (kind IN ({_KINDS_SQL}))"
            )
            return
        row = sql.one("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'cells'")
        if row is None:
            return
        old = str(row[0])
        if f"IN ({_V1_KINDS_SQL})" not in old:
            raise AlignlabError(f"results store {self.url}: unexpected cells table, cannot migrate")
        new = old.replace(f"IN ({_V1_KINDS_SQL})", f"IN ({_KINDS_SQL})")
        sql.run(new.replace("CREATE TABLE cells", "CREATE TABLE cells_v2", 1))
        sql.run("INSERT INTO cells_v2 SELECT * FROM cells")
        sql.run("DROP TABLE cells")
        sql.run("ALTER TABLE cells_v2 RENAME TO cells")
        if sql.all("PRAGMA foreign_key_check"):
            raise AlignlabError(f"results store {self.url}: foreign keys broken by the migration")

    # -- runs ----------------------------------------------------------------

    def add_run(self, run: RunRecord) -> None:
        """Record a run; a run already stored under ``run.run_id`` is left as it is.

        Args:
            run: The run (its id is the hash of its validated spec).
        """
        with self._write() as sql:
            sql.run(
                "INSERT INTO runs (run_id, name, spec_yaml, spec_json, created_at,"
                " alignlab_version) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id) DO NOTHING",
                (
                    run.run_id,
                    run.name,
                    run.spec_yaml,
                    json.dumps(run.spec_json),
                    run.created_at,
                    run.alignlab_version,
                ),
            )

    _RUN_FIELDS: Final = (
        "run_id",
        "name",
        "spec_yaml",
        "spec_json",
        "created_at",
        "alignlab_version",
    )
    _RUN_SELECT: Final = f"SELECT {', '.join(_RUN_FIELDS)} FROM runs"

    @classmethod
    def _run(cls, row: tuple[Any, ...]) -> RunRecord:
        fields = dict(zip(cls._RUN_FIELDS, row, strict=True))
        return RunRecord(**{**fields, "spec_json": json.loads(fields["spec_json"])})

    def get_run(self, run_id: str) -> RunRecord | None:
        """The run stored under ``run_id``, or None."""
        with self._read() as sql:
            row = sql.one(f"{self._RUN_SELECT} WHERE run_id = ?", (run_id,))
        return None if row is None else self._run(row)

    def runs(self) -> list[RunRecord]:
        """Every run, oldest first."""
        with self._read() as sql:
            rows = sql.all(f"{self._RUN_SELECT} ORDER BY created_at, run_id")
        return [self._run(row) for row in rows]

    # -- cells ---------------------------------------------------------------

    def plan_cells(self, run_id: str, cells: Sequence[CellRecord]) -> None:
        """Add cells to a run: new ones are inserted ``queued``, existing ones keep their state.

        Args:
            run_id: The run (already added with :meth:`add_run`).
            cells: The run's cells in planning order. A cell already stored
                (same key, e.g. planned by another run or an earlier attempt)
                keeps its state and results; it only becomes a member of this run.

        Raises:
            ValueError: If the run was never added.
        """
        with self._write() as sql:
            if sql.one("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)) is None:
                raise ValueError(f"run {run_id} is not in the store; add_run first")
            sql.many(
                f"INSERT INTO cells ({_CELL_COLUMNS}) VALUES"
                " (?, ?, ?, ?, ?, ?, 'queued', NULL, NULL, NULL, NULL, NULL, NULL)"
                " ON CONFLICT (key) DO NOTHING",
                [
                    (c.key, c.run_id, c.kind, c.label, json.dumps(c.inputs), c.upstream)
                    for c in cells
                ],
            )
            row = sql.one("SELECT MAX(position) FROM run_cells WHERE run_id = ?", (run_id,))
            start = 0 if row is None or row[0] is None else int(row[0]) + 1
            sql.many(
                "INSERT INTO run_cells (run_id, cell_key, position) VALUES (?, ?, ?)"
                " ON CONFLICT (run_id, cell_key) DO NOTHING",
                [(run_id, cell.key, start + i) for i, cell in enumerate(cells)],
            )

    @staticmethod
    def _cell(row: tuple[Any, ...]) -> CellRecord:
        fields = dict(zip(_CELL_FIELDS, row, strict=True))
        return CellRecord(**{**fields, "inputs": json.loads(fields["inputs"])})

    def get_cell(self, key: str) -> CellRecord | None:
        """The cell stored under ``key``, or None."""
        with self._read() as sql:
            row = sql.one(f"{_CELL_SELECT} WHERE c.key = ?", (key,))
        return None if row is None else self._cell(row)

    def cells(self, run_id: str) -> list[CellRecord]:
        """The run's cells (including those shared with other runs), in planning order."""
        with self._read() as sql:
            rows = sql.all(
                f"{_CELL_SELECT} JOIN run_cells r ON r.cell_key = c.key"
                " WHERE r.run_id = ? ORDER BY r.position",
                (run_id,),
            )
        return [self._cell(row) for row in rows]

    @staticmethod
    def _set_cell(sql: _Sql, key: str, assignments: str, values: Sequence[object]) -> None:
        """``UPDATE cells SET <assignments>`` on the cell ``key``, which must be stored."""
        if sql.run(f"UPDATE cells SET {assignments} WHERE key = ?", (*values, key)) == 0:
            raise AlignlabError(f"cell {key} is not in the results store")

    def mark_running(self, key: str, owner: str, started_at: str) -> None:
        """Mark a cell ``running`` by ``owner`` (``pid@host``); clears a previous failure.

        Raises:
            AlignlabError: If the cell is not in the store.
        """
        with self._write() as sql:
            self._set_cell(
                sql,
                key,
                "state = 'running', owner = ?, started_at = ?,"
                " finished_at = NULL, duration_s = NULL, error = NULL",
                (owner, started_at),
            )

    def finish_cell(
        self,
        key: str,
        *,
        artifact: str | None,
        finished_at: str,
        duration_s: float,
        metrics: Sequence[MetricRecord] = (),
        curve: Sequence[CurvePoint] = (),
        results: Sequence[RewardPairRecord | RobustnessRecord | BestOfNRecord] = (),
    ) -> None:
        """Store a cell's results and mark it ``done``, in one transaction.

        The cell's previous metrics and curve are replaced. If anything fails
        before the commit (a constraint, a crash), nothing of it is stored and
        the cell keeps its previous state.

        Args:
            key: The cell.
            artifact: Adapter directory or ``.eval`` log, relative to the run directory.
            finished_at: UTC, ISO 8601.
            duration_s: Wall time of the cell's work.
            metrics: The eval cell's metrics (``cell_key`` must be ``key``).
            curve: The train cell's loss curve (``cell_key`` must be ``key``).
            results: A reward-model cell's per-pair, robustness or best-of-N records
                (``cell_key`` must be ``key``).

        Raises:
            ValueError: If a metric, curve point or result belongs to another cell.
            AlignlabError: If the cell is not in the store.
        """
        keys = {m.cell_key for m in metrics} | {p.cell_key for p in curve}
        strays = (keys | {r.cell_key for r in results}) - {key}
        if strays:
            raise ValueError(f"results for cells {sorted(strays)} given to finish_cell({key})")
        with self._write() as sql:
            sql.run("DELETE FROM metrics WHERE cell_key = ?", (key,))
            sql.run("DELETE FROM curves WHERE cell_key = ?", (key,))
            sql.many(
                "INSERT INTO metrics (cell_key, metric, value, ci_low, ci_high, n, position)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (key, m.metric, _to_db(m.value), _to_db(m.ci_low), _to_db(m.ci_high), m.n, i)
                    for i, m in enumerate(metrics)
                ],
            )
            sql.many(
                "INSERT INTO curves (cell_key, step, loss) VALUES (?, ?, ?)",
                [(key, p.step, _to_db(p.loss)) for p in curve],
            )
            for model, (table, _) in _CELL_RESULT_TABLES.items():
                sql.run(f"DELETE FROM {table} WHERE cell_key = ?", (key,))
                fields, floats = _record_fields(model)
                sql.many(
                    f"INSERT INTO {table} ({', '.join(fields)})"
                    f" VALUES ({', '.join('?' for _ in fields)})",
                    [
                        tuple(
                            _to_db(getattr(r, name)) if name in floats else getattr(r, name)
                            for name in fields
                        )
                        for r in results
                        if type(r) is model
                    ],
                )
            self._set_cell(
                sql,
                key,
                "state = 'done', artifact = ?, finished_at = ?, duration_s = ?, error = NULL",
                (artifact, finished_at, duration_s),
            )

    def fail_cell(self, key: str, error: str, finished_at: str) -> None:
        """Mark a cell ``failed`` with a one-line error.

        Raises:
            AlignlabError: If the cell is not in the store.
        """
        with self._write() as sql:
            self._set_cell(
                sql, key, "state = 'failed', error = ?, finished_at = ?", (error, finished_at)
            )

    def reset_stale(self, is_alive: Callable[[str], bool]) -> list[str]:
        """Put back to ``queued`` every ``running`` cell whose owner process is gone.

        Args:
            is_alive: Whether an owner (``pid@host``) still runs. It decides for
                other hosts too (e.g. answer True for hosts it cannot check).

        Returns:
            The keys of the cells reset, in key order.
        """
        with self._read() as sql:
            running = sql.all("SELECT key, owner FROM cells WHERE state = 'running' ORDER BY key")
        stale = [(key, owner) for key, owner in running if owner is None or not is_alive(owner)]
        reset: list[str] = []
        with self._write() as sql:
            for key, owner in stale:
                # The owner guard skips a cell that someone claimed in the meantime.
                guard = "owner IS NULL" if owner is None else "owner = ?"
                changed = sql.run(
                    "UPDATE cells SET state = 'queued', owner = NULL, started_at = NULL"
                    f" WHERE key = ? AND state = 'running' AND {guard}",
                    (key,) if owner is None else (key, owner),
                )
                if changed:
                    reset.append(key)
        return reset

    # -- results -------------------------------------------------------------

    def _rows_of_run(
        self, run_id: str, table: str, columns: str, order: str
    ) -> list[tuple[Any, ...]]:
        """The run's cells' rows in ``table`` (aliased ``t``): ``t.cell_key, <columns>``.

        By planning order, then ``order``.
        """
        with self._read() as sql:
            rows = sql.all(
                f"SELECT t.cell_key, {columns} FROM {table} t"
                " JOIN run_cells r ON r.cell_key = t.cell_key WHERE r.run_id = ?"
                f" ORDER BY r.position, {order}",
                (run_id,),
            )
        return rows

    def metrics(self, run_id: str) -> list[MetricRecord]:
        """The metrics of the run's cells, by planning order, each cell's in the order given."""
        rows = self._rows_of_run(
            run_id, "metrics", "t.metric, t.value, t.ci_low, t.ci_high, t.n", "t.position"
        )
        return [
            MetricRecord(
                cell_key=key,
                metric=metric,
                value=_from_db(value),
                ci_low=_from_db(low),
                ci_high=_from_db(high),
                n=n,
            )
            for key, metric, value, low, high, n in rows
        ]

    def curves(self, run_id: str) -> list[CurvePoint]:
        """The loss curves of the run's train cells, by planning order then step."""
        rows = self._rows_of_run(run_id, "curves", "t.step, t.loss", "t.step")
        return [CurvePoint(cell_key=k, step=step, loss=_from_db(loss)) for k, step, loss in rows]

    def _cell_results(self, run_id: str, model: type[_R]) -> list[_R]:
        """The run's cells' rows of one reward-model result table, by planning order."""
        table, order = _CELL_RESULT_TABLES[model]
        fields, floats = _record_fields(model)
        others = [name for name in fields if name != "cell_key"]
        rows = self._rows_of_run(run_id, table, ", ".join(f"t.{n}" for n in others), order)
        return [
            model.model_validate(
                {
                    "cell_key": row[0],
                    **{
                        name: _from_db(value) if name in floats else value
                        for name, value in zip(others, row[1:], strict=True)
                    },
                }
            )
            for row in rows
        ]

    def reward_pairs(self, run_id: str) -> list[RewardPairRecord]:
        """The per-pair rewards of the run's ``rm_accuracy`` cells, by planning order then pair."""
        return self._cell_results(run_id, RewardPairRecord)

    def robustness_rows(self, run_id: str) -> list[RobustnessRecord]:
        """The accuracy drops of the run's ``rm_robustness`` cells, in stored order."""
        return self._cell_results(run_id, RobustnessRecord)

    def best_of_n_points(self, run_id: str) -> list[BestOfNRecord]:
        """The best-of-N points of the run's ``rm_best_of_n`` cells, by planning order then N."""
        return self._cell_results(run_id, BestOfNRecord)

    def replace_reward_comparisons(
        self, run_id: str, rows: Sequence[RewardComparisonRecord]
    ) -> None:
        """Replace the run's reward-model comparisons with ``rows``, in one transaction.

        Raises:
            ValueError: If a row belongs to another run.
        """
        strays = {row.run_id for row in rows} - {run_id}
        if strays:
            raise ValueError(f"comparisons of runs {sorted(strays)} given for run {run_id}")
        fields, floats = _record_fields(RewardComparisonRecord)
        stored = [name for name in fields if name != "run_id"]
        values = [
            (
                run_id,
                position,
                *(_to_db(getattr(row, n)) if n in floats else getattr(row, n) for n in stored),
            )
            for position, row in enumerate(rows)
        ]
        with self._write() as sql:
            sql.run("DELETE FROM rm_comparisons WHERE run_id = ?", (run_id,))
            sql.many(
                f"INSERT INTO rm_comparisons (run_id, position, {', '.join(stored)})"
                f" VALUES (?, ?, {', '.join('?' for _ in stored)})",
                values,
            )

    def reward_comparisons(self, run_id: str) -> list[RewardComparisonRecord]:
        """The run's reward-model comparisons, in the order they were stored."""
        fields, floats = _record_fields(RewardComparisonRecord)
        stored = [name for name in fields if name != "run_id"]
        with self._read() as sql:
            rows = sql.all(
                f"SELECT {', '.join(stored)} FROM rm_comparisons WHERE run_id = ?"
                " ORDER BY position",
                (run_id,),
            )
        return [
            RewardComparisonRecord.model_validate(
                {
                    "run_id": run_id,
                    **{
                        n: _from_db(v) if n in floats else v
                        for n, v in zip(stored, row, strict=True)
                    },
                }
            )
            for row in rows
        ]

    def replace_comparisons(self, run_id: str, rows: Sequence[ComparisonRecord]) -> None:
        """Replace the run's comparisons with ``rows`` (kept in this order), in one transaction.

        Raises:
            ValueError: If a row belongs to another run.
        """
        strays = {row.run_id for row in rows} - {run_id}
        if strays:
            raise ValueError(f"comparisons of runs {sorted(strays)} given for run {run_id}")
        columns = ", ".join(_COMPARISON_FIELDS)
        marks = ", ".join("?" for _ in _COMPARISON_FIELDS)
        values = []
        for position, row in enumerate(rows):
            fields = row.model_dump(include=set(_COMPARISON_FIELDS))
            for name in _COMPARISON_NAN_FIELDS:
                fields[name] = _to_db(fields[name])
            values.append((run_id, position, *(fields[name] for name in _COMPARISON_FIELDS)))
        with self._write() as sql:
            sql.run("DELETE FROM comparisons WHERE run_id = ?", (run_id,))
            sql.many(
                f"INSERT INTO comparisons (run_id, position, {columns}) VALUES (?, ?, {marks})",
                values,
            )

    def comparisons(self, run_id: str) -> list[ComparisonRecord]:
        """The run's comparisons, in the order they were stored."""
        columns = ", ".join(_COMPARISON_FIELDS)
        with self._read() as sql:
            rows = sql.all(
                f"SELECT {columns} FROM comparisons WHERE run_id = ? ORDER BY position",
                (run_id,),
            )
        records = []
        for row in rows:
            fields = dict(zip(_COMPARISON_FIELDS, row, strict=True))
            for name in _COMPARISON_NAN_FIELDS:
                fields[name] = _from_db(fields[name])
            records.append(ComparisonRecord(run_id=run_id, **fields))
        return records

    # -- lifetime ------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _open_sqlite(path: Path) -> Store:
    path = path.expanduser().absolute()
    url = f"sqlite://{path}"
    try:
        if path.is_dir():
            raise AlignlabError(f"results store {path} is a directory, not a SQLite file")
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            path, timeout=SQLITE_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
    except OSError as error:
        raise AlignlabError(f"cannot create results store {path}: {_one_line(error)}") from error
    except sqlite3.Error as error:
        raise AlignlabError(f"cannot open results store {path}: {_one_line(error)}") from error
    return _set_up(
        Store(connection, postgres=False, url=url),
        connection,
        sqlite3.Error,
        str(path),
        ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL"),
        # after the schema is set up: a migration rebuilds a referenced table
        ("PRAGMA foreign_keys=ON",),
    )


def _set_up(
    store: Store,
    connection: Any,
    errors: type[Exception],
    shown: str,
    pragmas: Sequence[str] = (),
    after: Sequence[str] = (),
) -> Store:
    """``store`` once ``pragmas``, the schema (migrated if older), then ``after`` have run.

    On any failure the connection is closed; ``errors`` (the driver's) become one
    :class:`AlignlabError` line naming ``shown``.
    """
    try:
        for pragma in pragmas:
            _execute_when_unlocked(connection, pragma, errors)
        store._create_schema()
        for pragma in after:
            _execute_when_unlocked(connection, pragma, errors)
    except errors as error:
        connection.close()
        raise AlignlabError(f"cannot open results store {shown}: {_one_line(error)}") from error
    except BaseException:
        connection.close()
        raise
    return store


LOCKED_RETRY_S: Final = 0.05
"""Pause between attempts at a setup statement another process holds the lock for."""


def _execute_when_unlocked(connection: Any, statement: str, errors: type[Exception]) -> None:
    """Run ``statement``, retrying while the database is locked (up to the busy timeout).

    Why: ``PRAGMA journal_mode=WAL`` on a database another process is creating can
    fail with "database is locked" at once, without SQLite's busy handler waiting
    (seen when two writer processes opened a new store at the same moment).
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            connection.execute(statement)
            return
        except errors as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(LOCKED_RETRY_S)


def _open_postgres(url: str) -> Store:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    shown = _mask_url(url)
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error as error:
        raise AlignlabError(f"bad PostgreSQL URL {shown}: {_one_line(error)}") from error
    timeout = params.get("connect_timeout") or PG_CONNECT_TIMEOUT_S
    try:
        connection = psycopg.connect(url, autocommit=True, connect_timeout=timeout)
    except psycopg.Error as error:
        raise AlignlabError(
            f"cannot connect to results store {shown}: {_one_line(error)}"
        ) from error
    return _set_up(Store(connection, postgres=True, url=shown), connection, psycopg.Error, shown)


def open_store(location: str | Path) -> Store:
    """Open (creating if needed) the results store at ``location``.

    Args:
        location: A file path (SQLite; parent directories are created; a
            ``sqlite:///abs/path`` URL is accepted too) or a ``postgresql://`` URL.

    Returns:
        The store, with its tables created.

    Raises:
        AlignlabError: One line, if the location is malformed, unreachable or
            unwritable, or the store was written by a newer alignlab.
    """
    if isinstance(location, Path):
        return _open_sqlite(location)
    scheme, sep, rest = location.partition("://")
    if not sep:
        return _open_sqlite(Path(location))
    if scheme == "sqlite":
        if not rest.startswith("/"):
            raise AlignlabError(f"bad SQLite URL {location}: use sqlite:///absolute/path")
        return _open_sqlite(Path(rest))
    if scheme in PG_SCHEMES:
        return _open_postgres(location)
    raise AlignlabError(
        f"unsupported results store {_mask_url(location)}: use a file path or postgresql://..."
    )


def _frame(records: Sequence[Any], model: type[Any]) -> Any:
    """A DataFrame with one column per record field; dict fields as JSON text."""
    import pandas as pd

    rows = []
    for record in records:
        row = record.model_dump()
        rows.append({k: json.dumps(v) if isinstance(v, dict) else v for k, v in row.items()})
    return pd.DataFrame(rows, columns=list(model.model_fields))


def _write_parquet(frame: Any, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        frame.to_parquet(temporary, engine="pyarrow", index=False)
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def export(
    store: Store,
    run_id: str,
    out_dir: Path,
    formats: Sequence[str] = EXPORT_FORMATS,
) -> list[Path]:
    """Write a run's cells, metrics, curves and comparisons as one file per table and format.

    Files are ``out_dir/{cells,metrics,curves,comparisons}.{csv,parquet}`` (and the
    reward-model tables ``rm_pairs``, ``rm_robustness``, ``rm_best_of_n``,
    ``rm_comparisons`` when the run has rows in them), one
    column per record field (``inputs`` as JSON text; NaN as an empty CSV
    field), each written atomically.

    Args:
        store: The store.
        run_id: The run.
        out_dir: Directory for the files (created if needed).
        formats: Any of ``csv`` and ``parquet``.

    Returns:
        The files written, table by table.

    Raises:
        AlignlabError: If a format is unknown or the run is not in the store.
    """
    unknown = [f for f in formats if f not in EXPORT_FORMATS]
    if unknown:
        raise AlignlabError(
            f"unknown export format {unknown[0]!r}: use {' or '.join(EXPORT_FORMATS)}"
        )
    if store.get_run(run_id) is None:
        raise AlignlabError(f"run {run_id} is not in the results store {store.url}")
    tables = {
        "cells": _frame(store.cells(run_id), CellRecord),
        "metrics": _frame(store.metrics(run_id), MetricRecord),
        "curves": _frame(store.curves(run_id), CurvePoint),
        "comparisons": _frame(store.comparisons(run_id), ComparisonRecord),
    }
    rewards = {
        "rm_pairs": _frame(store.reward_pairs(run_id), RewardPairRecord),
        "rm_robustness": _frame(store.robustness_rows(run_id), RobustnessRecord),
        "rm_best_of_n": _frame(store.best_of_n_points(run_id), BestOfNRecord),
        "rm_comparisons": _frame(store.reward_comparisons(run_id), RewardComparisonRecord),
    }
    tables.update({name: frame for name, frame in rewards.items() if not frame.empty})
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for table, frame in tables.items():
        for fmt in formats:
            path = out_dir / f"{table}.{fmt}"
            if fmt == "csv":
                atomic_write_text(path, frame.to_csv(index=False))
            else:
                _write_parquet(frame, path)
            written.append(path)
    return written
