"""An experiment killed with SIGKILL mid-training and mid-eval resumes to the same results.

The run happens in a child process; the test watches the SQLite store until a
train cell (then, in a second run, an eval cell) is ``running`` and kills the
child outright.  A rerun must finish, find nothing half-written that looks
finished, and produce exactly the metrics and adapter bytes of an
uninterrupted run in another directory (cell keys do not depend on the run
directory, so the two runs' cells match one to one).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alignlab.experiment import open_session, open_store, run_session

SPEC = """\
version: 1
name: kill
base: {base}
methods:
  - none
  - name: sft_control
    params: {{token_budget: 900, batch_size: 2}}
evals:
  - name: sycophancy
    splits: [test, heldout]
    args: {{n_claims: 12}}
"""
CHILD = """
import sys
from pathlib import Path
from alignlab.experiment import open_session, run_session
run_session(open_session(Path(sys.argv[1]), out=Path(sys.argv[2])), write_report=False)
"""
POLL_SECONDS = 0.05
WAIT_LIMIT_SECONDS = 240


def _results(run_dir: Path) -> dict[str, object]:
    with open_store(run_dir / "results.sqlite") as store:
        run_id = (run_dir / "run_id").read_text().strip()
        metrics = {
            (m.cell_key, m.metric): (m.value, m.ci_low, m.ci_high) for m in store.metrics(run_id)
        }
        states = {c.key: c.state for c in store.cells(run_id)}
    adapters = {
        path.parent.name: path.read_bytes()
        for path in sorted((run_dir / "adapters").glob("*/adapter_model.safetensors"))
    }
    return {"metrics": metrics, "states": states, "adapters": adapters}


def _running_kind(db: Path) -> str | None:
    if not db.is_file():
        return None
    try:
        with sqlite3.connect(db, timeout=1) as connection:
            row = connection.execute(
                "SELECT kind FROM cells WHERE state = 'running' LIMIT 1"
            ).fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else str(row[0])


def _kill_when_running(spec: Path, run_dir: Path, kind: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(spec), str(run_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    try:
        while _running_kind(run_dir / "results.sqlite") != kind:
            assert child.poll() is None, f"the run ended before a {kind} cell was running"
            assert time.monotonic() < deadline, f"no {kind} cell started running in time"
            time.sleep(POLL_SECONDS)
        time.sleep(0.5)  # inside the cell's work, not at its first instruction
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()


@pytest.fixture(scope="module")
def spec_file(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "kill.yaml"
    path.write_text(SPEC.format(base=tiny_model_dir))
    return path


@pytest.fixture(scope="module")
def uninterrupted(spec_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    run_dir = tmp_path_factory.mktemp("clean") / "run"
    summary = run_session(open_session(spec_file, out=run_dir), write_report=False)
    assert not summary.failed
    return _results(run_dir)


@pytest.mark.parametrize("kind", ["train", "eval"])
def test_sigkill_then_rerun_gives_the_uninterrupted_results(
    kind: str, spec_file: Path, uninterrupted: dict[str, object], tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    _kill_when_running(spec_file, run_dir, kind)
    killed = _results(run_dir)
    assert "running" in killed["states"].values()  # type: ignore[union-attr]
    adapters = [p for p in (run_dir / "adapters").glob("[!.]*") if p.is_dir()]
    assert all((p / "manifest.json").is_file() for p in adapters)  # none half-written
    summary = run_session(open_session(spec_file, out=run_dir), write_report=False)
    assert not summary.failed
    assert not list(run_dir.rglob("*.partial-*"))
    assert _results(run_dir) == uninterrupted
