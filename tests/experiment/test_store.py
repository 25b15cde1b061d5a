from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from alignlab import AlignlabError
from alignlab.experiment import _store
from alignlab.experiment._records import (
    CellRecord,
    ComparisonRecord,
    CurvePoint,
    MetricRecord,
    RunRecord,
)
from alignlab.experiment._store import SCHEMA_VERSION, Store, export, open_store

NAN = math.nan


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "run" / "results.sqlite")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture()
def store(location: str) -> Iterator[Store]:
    with open_store(location) as opened:
        yield opened


def raw_execute(location: str, sql: str) -> None:
    """Run one statement on the store's database behind its back."""
    if location.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(location, autocommit=True) as connection:
            connection.execute(sql)  # type: ignore[arg-type]
    else:
        with sqlite3.connect(location, isolation_level=None) as connection:
            connection.execute(sql)
        connection.close()


def run_record(run_id: str = "run-a", name: str = "exp") -> RunRecord:
    return RunRecord(
        run_id=run_id,
        name=name,
        spec_yaml=f"name: {name}\n",
        spec_json={"name": name, "seeds": [0, 1], "nested": {"p": 0.5}},
        created_at=f"2026-01-01T00:00:0{len(run_id) % 10}Z",
        alignlab_version="0.1.0",
    )


def cell(key: str, run_id: str = "run-a", kind: str = "eval", **kwargs: object) -> CellRecord:
    return CellRecord.model_validate(
        {
            "key": key,
            "run_id": run_id,
            "kind": kind,
            "label": f"method[{key}]",
            "inputs": {"key": key, "params": {"p": 0.5}, "seed": 0},
            "upstream": "t1" if kind == "eval" else None,
            **kwargs,
        }
    )


def metric(key: str, name: str, value: float = 0.5, n: int = 10) -> MetricRecord:
    return MetricRecord(cell_key=key, metric=name, value=value, ci_low=0.4, ci_high=0.6, n=n)


def comparison(run_id: str, label: str, p: float = 0.01, **kwargs: object) -> ComparisonRecord:
    return ComparisonRecord.model_validate(
        {
            "run_id": run_id,
            "label": label,
            "reference": "none",
            "seed": 0,
            "eval": "sycophancy",
            "split": "test",
            "metric": "accuracy",
            "difference": 0.1,
            "ci_low": 0.05,
            "ci_high": 0.15,
            "p_value": p,
            "p_adjusted": min(1.0, 2 * p),
            "n_pairs": 30,
            **kwargs,
        }
    )


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def planned(store: Store, run_id: str = "run-a", keys: tuple[str, ...] = ("t1", "e1")) -> None:
    store.add_run(run_record(run_id))
    store.plan_cells(
        run_id, [cell(k, run_id, kind="train" if k.startswith("t") else "eval") for k in keys]
    )


# -- runs and planning ----------------------------------------------------------


def test_add_run_is_idempotent_and_round_trips(store: Store) -> None:
    run = run_record()
    store.add_run(run)
    store.add_run(run)
    assert store.get_run("run-a") == run
    assert store.get_run("missing") is None
    other = run_record("run-bb", name="other")
    store.add_run(other)
    assert store.runs() == [run, other]


def test_store_persists_across_reopen(location: str) -> None:
    with open_store(location) as first:
        planned(first)
        first.finish_cell("t1", artifact="adapters/t1", finished_at="z", duration_s=1.0)
    with open_store(location) as second:
        assert second.get_run("run-a") == run_record()
        assert [c.state for c in second.cells("run-a")] == ["done", "queued"]


def test_plan_cells_inserts_queued_in_order_and_keeps_existing_state(store: Store) -> None:
    planned(store, keys=("t1", "e1", "e2"))
    cells = store.cells("run-a")
    assert [c.key for c in cells] == ["t1", "e1", "e2"]
    assert cells[1] == cell("e1")
    assert all(c.state == "queued" for c in cells)

    store.mark_running("e1", "1@host", "t0")
    store.finish_cell(
        "e1", artifact="logs/e1.eval", finished_at="t1", duration_s=2.5, metrics=[metric("e1", "a")]
    )
    # Replanning (a resumed run), even with a record that claims another state, touches nothing.
    store.plan_cells("run-a", [cell("t1", kind="train"), cell("e1", state="failed"), cell("e3")])
    after = {c.key: c for c in store.cells("run-a")}
    assert list(after) == ["t1", "e1", "e2", "e3"]
    assert after["e1"].state == "done"
    assert after["e1"].artifact == "logs/e1.eval"
    assert after["e1"].duration_s == 2.5
    assert after["e3"].state == "queued"
    assert store.metrics("run-a") == [metric("e1", "a")]


def test_plan_cells_forces_new_cells_to_queued(store: Store) -> None:
    store.add_run(run_record())
    store.plan_cells("run-a", [cell("e1", state="done", artifact="x", owner="1@h")])
    got = store.get_cell("e1")
    assert got is not None
    assert (got.state, got.artifact, got.owner) == ("queued", None, None)


def test_plan_cells_needs_the_run(store: Store) -> None:
    with pytest.raises(ValueError, match="add_run"):
        store.plan_cells("nope", [cell("e1", run_id="nope")])


def test_cell_shared_by_two_runs(store: Store) -> None:
    planned(store, "run-a", ("t1", "e1"))
    store.finish_cell(
        "e1", artifact="e1.eval", finished_at="t", duration_s=1.0, metrics=[metric("e1", "acc")]
    )
    store.add_run(run_record("run-b"))
    store.plan_cells("run-b", [cell("e1", "run-b"), cell("e9", "run-b")])

    in_b = store.cells("run-b")
    assert [c.key for c in in_b] == ["e1", "e9"]
    assert in_b[0].run_id == "run-a"  # the run that first planned it
    assert in_b[0].state == "done"
    assert [c.key for c in store.cells("run-a")] == ["t1", "e1"]
    assert store.metrics("run-b") == store.metrics("run-a") == [metric("e1", "acc")]
    assert store.cells("run-c") == []


# -- cell lifecycle -------------------------------------------------------------


def test_finish_cell_stores_metrics_with_nan_and_curve(store: Store) -> None:
    planned(store)
    store.mark_running("t1", "42@box", "2026-01-01T00:00:00Z")
    running = store.get_cell("t1")
    assert running is not None
    assert (running.state, running.owner, running.started_at) == (
        "running",
        "42@box",
        "2026-01-01T00:00:00Z",
    )
    curve = [CurvePoint(cell_key="t1", step=s, loss=loss) for s, loss in [(1, 2.0), (2, NAN)]]
    store.finish_cell("t1", artifact="adapters/t1", finished_at="f", duration_s=3.0, curve=curve)

    metrics = [
        MetricRecord(cell_key="e1", metric="zeta", value=NAN, ci_low=NAN, ci_high=NAN, n=0),
        MetricRecord(cell_key="e1", metric="alpha", value=0.25, ci_low=-1e-300, ci_high=1e300, n=7),
        MetricRecord(cell_key="e1", metric="inf", value=math.inf, ci_low=-math.inf, ci_high=0, n=1),
    ]
    store.finish_cell(
        "e1", artifact="logs/e1.eval", finished_at="g", duration_s=0.5, metrics=metrics
    )

    done = store.get_cell("t1")
    assert done is not None
    assert (done.state, done.artifact, done.finished_at, done.duration_s) == (
        "done",
        "adapters/t1",
        "f",
        3.0,
    )
    got_curve = store.curves("run-a")
    assert [(p.cell_key, p.step) for p in got_curve] == [("t1", 1), ("t1", 2)]
    assert got_curve[0].loss == 2.0 and math.isnan(got_curve[1].loss)

    got = store.metrics("run-a")
    assert [m.metric for m in got] == ["zeta", "alpha", "inf"]  # order given, not sorted
    for want, have in zip(metrics, got, strict=True):
        assert all(same(getattr(want, f), getattr(have, f)) for f in ("value", "ci_low", "ci_high"))
        assert (have.cell_key, have.n) == (want.cell_key, want.n)


def test_finish_cell_replaces_previous_results(store: Store) -> None:
    planned(store)
    store.finish_cell(
        "e1",
        artifact="a",
        finished_at="1",
        duration_s=1,
        metrics=[metric("e1", "x"), metric("e1", "y")],
    )
    store.finish_cell(
        "e1", artifact="b", finished_at="2", duration_s=2, metrics=[metric("e1", "z")]
    )
    assert store.metrics("run-a") == [metric("e1", "z")]


def test_finish_cell_is_one_transaction_on_a_constraint_violation(store: Store) -> None:
    planned(store)
    store.mark_running("e1", "1@h", "s")
    store.finish_cell(
        "e1", artifact="old", finished_at="1", duration_s=1, metrics=[metric("e1", "a")]
    )
    store.mark_running("e1", "2@h", "s2")
    duplicate = [metric("e1", "b", 0.1), metric("e1", "c"), metric("e1", "b", 0.2)]
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        store.finish_cell("e1", artifact="new", finished_at="2", duration_s=2, metrics=duplicate)
    after = store.get_cell("e1")
    assert after is not None
    assert (after.state, after.owner, after.artifact) == ("running", "2@h", "old")
    assert store.metrics("run-a") == [metric("e1", "a")]  # old results, no partial new ones
    # The store is still usable after the rollback.
    store.finish_cell("e1", artifact="new", finished_at="2", duration_s=2, metrics=duplicate[:2])
    assert [m.metric for m in store.metrics("run-a")] == ["b", "c"]


def test_finish_cell_crash_before_commit_leaves_cell_not_done(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    planned(store)
    store.mark_running("t1", "1@h", "s")
    real_many = _store._Sql.many

    def crash_on_curve(self: _store._Sql, sql: str, rows: object) -> None:
        if "INSERT INTO curves" in sql:
            raise KeyboardInterrupt  # the process being interrupted mid-transaction
        real_many(self, sql, rows)  # type: ignore[arg-type]

    monkeypatch.setattr(_store._Sql, "many", crash_on_curve)
    with pytest.raises(KeyboardInterrupt):
        store.finish_cell(
            "t1",
            artifact="adapters/t1",
            finished_at="f",
            duration_s=1,
            metrics=[metric("t1", "m")],
            curve=[CurvePoint(cell_key="t1", step=1, loss=1.0)],
        )
    monkeypatch.undo()
    after = store.get_cell("t1")
    assert after is not None and after.state == "running" and after.artifact is None
    assert store.metrics("run-a") == [] and store.curves("run-a") == []


def test_finish_cell_rejects_results_of_other_cells(store: Store) -> None:
    planned(store)
    with pytest.raises(ValueError, match="e1"):
        store.finish_cell(
            "t1", artifact=None, finished_at="f", duration_s=1, metrics=[metric("e1", "m")]
        )


def test_unknown_cell_is_an_error(store: Store) -> None:
    planned(store)
    with pytest.raises(AlignlabError, match="nope"):
        store.mark_running("nope", "1@h", "s")
    with pytest.raises(AlignlabError, match="nope"):
        store.finish_cell("nope", artifact=None, finished_at="f", duration_s=1)
    with pytest.raises(AlignlabError, match="nope"):
        store.fail_cell("nope", "boom", "f")
    assert store.get_cell("nope") is None


def test_fail_cell_then_retry(store: Store) -> None:
    planned(store)
    store.mark_running("e1", "1@h", "s")
    store.fail_cell("e1", "CUDA out of memory", "f")
    failed = store.get_cell("e1")
    assert failed is not None
    assert (failed.state, failed.error, failed.finished_at) == ("failed", "CUDA out of memory", "f")
    store.mark_running("e1", "2@h", "s2")
    retried = store.get_cell("e1")
    assert retried is not None
    assert (retried.state, retried.error, retried.finished_at, retried.owner) == (
        "running",
        None,
        None,
        "2@h",
    )


def test_reset_stale(store: Store) -> None:
    planned(store, keys=("t1", "e1", "e2", "e3"))
    store.mark_running("t1", "100@here", "s")
    store.mark_running("e1", "200@here", "s")
    store.mark_running("e2", "300@there", "s")
    store.finish_cell("e3", artifact=None, finished_at="f", duration_s=1)
    asked: list[str] = []

    def is_alive(owner: str) -> bool:
        asked.append(owner)
        return owner != "200@here"

    assert store.reset_stale(is_alive) == ["e1"]
    assert sorted(asked) == ["100@here", "200@here", "300@there"]  # only running cells
    states = {c.key: (c.state, c.owner) for c in store.cells("run-a")}
    assert states == {
        "t1": ("running", "100@here"),
        "e1": ("queued", None),
        "e2": ("running", "300@there"),
        "e3": ("done", None),
    }
    assert store.reset_stale(lambda owner: False) == ["e2", "t1"]
    assert store.reset_stale(lambda owner: False) == []


# -- comparisons ----------------------------------------------------------------


def test_replace_comparisons(store: Store) -> None:
    planned(store)
    first = [comparison("run-a", "m1"), comparison("run-a", "m2", mcnemar_p=0.03)]
    store.replace_comparisons("run-a", first)
    assert store.comparisons("run-a") == first

    second = [
        comparison("run-a", "z", p=NAN, difference=NAN, ci_low=NAN, ci_high=NAN),
        comparison("run-a", "a", correction="holm"),
    ]
    store.replace_comparisons("run-a", second)
    got = store.comparisons("run-a")
    assert [c.label for c in got] == ["z", "a"]  # replaced, in the order given
    assert all(math.isnan(getattr(got[0], f)) for f in ("difference", "ci_low", "p_value"))
    assert got[0].mcnemar_p is None
    assert got[1] == second[1]

    store.add_run(run_record("run-b"))
    store.replace_comparisons("run-b", [comparison("run-b", "other")])
    assert [c.label for c in store.comparisons("run-a")] == ["z", "a"]
    store.replace_comparisons("run-a", [])
    assert store.comparisons("run-a") == []
    assert len(store.comparisons("run-b")) == 1
    with pytest.raises(ValueError, match="run-b"):
        store.replace_comparisons("run-a", [comparison("run-b", "x")])


# -- export ---------------------------------------------------------------------


def test_export_csv_and_parquet(store: Store, tmp_path: Path) -> None:
    planned(store, keys=("t1", "e1", "e2"))
    store.finish_cell(
        "t1",
        artifact="adapters/t1",
        finished_at="f",
        duration_s=1.5,
        curve=[CurvePoint(cell_key="t1", step=s, loss=1.0 / s) for s in (1, 2, 3)],
    )
    store.finish_cell(
        "e1",
        artifact="logs/e1.eval",
        finished_at="g",
        duration_s=2.0,
        metrics=[metric("e1", "acc", 0.75), metric("e1", "undefined", NAN)],
    )
    store.replace_comparisons("run-a", [comparison("run-a", "m1", mcnemar_p=0.5)])

    out = tmp_path / "export" / "nested"
    written = export(store, "run-a", out)
    names = sorted(p.name for p in written)
    assert names == sorted(
        f"{t}.{f}"
        for t in ("cells", "metrics", "curves", "comparisons")
        for f in ("csv", "parquet")
    )
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary left

    for fmt, read in (("csv", pd.read_csv), ("parquet", pd.read_parquet)):
        cells = read(out / f"cells.{fmt}")
        assert list(cells["key"]) == ["t1", "e1", "e2"]
        assert list(cells["state"]) == ["done", "done", "queued"]
        assert list(cells.columns) == list(CellRecord.model_fields)
        assert cells["inputs"][0] == '{"key": "t1", "params": {"p": 0.5}, "seed": 0}'
        metrics = read(out / f"metrics.{fmt}")
        assert list(metrics["metric"]) == ["acc", "undefined"]
        assert metrics["value"][0] == 0.75 and math.isnan(metrics["value"][1])
        curves = read(out / f"curves.{fmt}")
        assert list(curves["step"]) == [1, 2, 3]
        assert list(curves["loss"]) == pytest.approx([1.0, 0.5, 1 / 3])
        comparisons = read(out / f"comparisons.{fmt}")
        assert len(comparisons) == 1 and comparisons["mcnemar_p"][0] == 0.5

    parquet = pd.read_parquet(out / "metrics.parquet")
    expected = pd.DataFrame([m.model_dump() for m in store.metrics("run-a")])
    pd.testing.assert_frame_equal(parquet, expected)

    only_csv = export(store, "run-a", tmp_path / "csv-only", formats=["csv"])
    assert [p.suffix for p in only_csv] == [".csv"] * 4
    with pytest.raises(AlignlabError, match="xlsx"):
        export(store, "run-a", tmp_path / "x", formats=["xlsx"])
    with pytest.raises(AlignlabError, match="missing"):
        export(store, "missing", tmp_path / "x")


def test_export_empty_run(store: Store, tmp_path: Path) -> None:
    store.add_run(run_record())
    export(store, "run-a", tmp_path)
    assert list(pd.read_parquet(tmp_path / "metrics.parquet").columns) == list(
        MetricRecord.model_fields
    )
    assert len(pd.read_csv(tmp_path / "comparisons.csv")) == 0


# -- opening --------------------------------------------------------------------


def test_newer_schema_is_refused(location: str) -> None:
    open_store(location).close()
    raw_execute(location, f"UPDATE schema_version SET version = {SCHEMA_VERSION + 1}")
    with pytest.raises(AlignlabError, match="schema version") as caught:
        open_store(location)
    assert "\n" not in str(caught.value)
    assert "upgrade alignlab" in str(caught.value)


def test_unreachable_postgres_fails_fast_on_one_line() -> None:
    started = time.monotonic()
    with pytest.raises(AlignlabError) as caught:
        open_store("postgresql://alice:s3cret@127.0.0.1:1/db?connect_timeout=3")
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert "\n" not in message and "cannot connect" in message
    assert "s3cret" not in message and "alice:***@127.0.0.1:1" in message


def test_bad_postgres_url() -> None:
    with pytest.raises(AlignlabError, match="bad PostgreSQL URL") as caught:
        open_store("postgresql://127.0.0.1/db?bogus=1")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("url", ["mysql://u@h/db", "http://example.com/x", "sqlite://relative"])
def test_unsupported_scheme(url: str) -> None:
    with pytest.raises(AlignlabError) as caught:
        open_store(url)
    assert "\n" not in str(caught.value)


def test_sqlite_under_a_file_is_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    with pytest.raises(AlignlabError, match="cannot create results store") as caught:
        open_store(blocker / "run" / "results.sqlite")
    assert "\n" not in str(caught.value)


def test_sqlite_on_a_directory_or_non_database_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(AlignlabError, match="directory"):
        open_store(tmp_path)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database, just some bytes" * 100)
    with pytest.raises(AlignlabError, match="cannot open results store") as caught:
        open_store(junk)
    assert "\n" not in str(caught.value)


def test_sqlite_settings_and_url(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "results.sqlite"
    with open_store(str(path)) as store:
        assert store.url == f"sqlite://{path}"
        connection = store._conn
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert connection.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert connection.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    with open_store(f"sqlite://{path}") as again:
        assert again.url == f"sqlite://{path}"


def test_postgres_url_is_masked(pg_url: str) -> None:
    with open_store(pg_url) as store:
        assert store.url == pg_url  # no password: shown as given
    assert _store._mask_url("postgresql://u:pw@h:5/d?password=pw2&sslmode=require") == (
        "postgresql://u:***@h:5/d?password=***&sslmode=require"
    )


# -- concurrency ----------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from alignlab.experiment._records import CellRecord, CurvePoint, MetricRecord, RunRecord
    from alignlab.experiment._store import open_store

    path, me, go, count = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    Path(f"{go}.ready-{me}").touch()
    while not go.exists():
        time.sleep(0.01)
    with open_store(path) as store:
        store.add_run(RunRecord(run_id="shared", name="x", spec_yaml="", spec_json={},
                                created_at="t", alignlab_version="0"))
        for i in range(count):
            key = f"{me}-{i:03d}"
            store.plan_cells("shared", [CellRecord(key=key, run_id="shared", kind="train",
                                                   label="l", inputs={"i": i})])
            store.mark_running(key, me, "s")
            store.finish_cell(
                key, artifact=key, finished_at="f", duration_s=0.0,
                metrics=[MetricRecord(cell_key=key, metric=f"m{j}", value=j, ci_low=0,
                                      ci_high=1, n=i) for j in range(3)],
                curve=[CurvePoint(cell_key=key, step=s, loss=1.0) for s in range(1, 6)],
            )
            assert store.get_cell(key).state == "done"
            store.cells("shared")
    """
)


def test_sqlite_two_writer_processes_do_not_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    go = tmp_path / "go"
    count = 100
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), name, str(go), str(count)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("p1", "p2")
    ]
    deadline = time.monotonic() + 60
    while not all(Path(f"{go}.ready-{n}").exists() for n in ("p1", "p2")):
        assert time.monotonic() < deadline, "writers did not start"
        time.sleep(0.01)
    go.touch()  # both open the fresh store and write at the same moment
    for writer in writers:
        _, stderr = writer.communicate(timeout=240)
        assert writer.returncode == 0, stderr

    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert raw.execute("SELECT COUNT(*) FROM schema_version").fetchone() == (1,)
    raw.close()
    with open_store(path) as store:
        cells = store.cells("shared")
        assert len(cells) == 2 * count and {c.state for c in cells} == {"done"}
        positions = [c.key for c in cells]
        assert len(set(positions)) == 2 * count
        assert len(store.metrics("shared")) == 3 * 2 * count
        assert len(store.curves("shared")) == 5 * 2 * count
        assert len(store.runs()) == 1


CRASHER = textwrap.dedent(
    """
    import os, sys
    from alignlab.experiment import _store
    from alignlab.experiment._records import CurvePoint, MetricRecord

    real_many = _store._Sql.many

    def die_on_curve(self, sql, rows):
        real_many(self, sql, rows)
        if "INSERT INTO curves" in sql:
            os._exit(9)  # killed after writing everything but the state, before the commit

    _store._Sql.many = die_on_curve
    store = _store.open_store(sys.argv[1])
    store.finish_cell(
        "t1", artifact="adapters/t1", finished_at="f", duration_s=1.0,
        metrics=[MetricRecord(cell_key="t1", metric="m", value=1, ci_low=0, ci_high=1, n=1)],
        curve=[CurvePoint(cell_key="t1", step=1, loss=1.0)],
    )
    """
)


def test_process_killed_inside_finish_cell_leaves_cell_not_done(location: str) -> None:
    with open_store(location) as store:
        planned(store)
        store.mark_running("t1", "1@h", "s")
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHER, location], capture_output=True, text=True, timeout=120
    )
    assert crashed.returncode == 9, crashed.stderr
    with open_store(location) as store:
        after = store.get_cell("t1")
        assert after is not None and (after.state, after.artifact) == ("running", None)
        assert store.metrics("run-a") == [] and store.curves("run-a") == []
        assert store.reset_stale(lambda owner: False) == ["t1"]
