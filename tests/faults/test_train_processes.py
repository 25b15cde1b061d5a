"""`alignlab train` processes that collide, get killed or get signalled (issue: reliability).

Every test runs real ``alignlab train`` processes on the tiny model and checks
what the experiment runner relies on when it runs hundreds of cells unattended:
a second writer is refused in one line naming the holder; whatever happens to
a run, its output directory is either absent or a complete, verified run, no
scratch directory outlives the next run, and a rerun gives the same adapter
bytes as an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from alignlab.files import file_hashes

PARAMS = ("-p", "token_budget=300", "-p", "batch_size=4")
CLI = "from alignlab.cli import main; main()"

KILL_ITSELF_AT = """
import os, signal, sys
import alignlab.methods._train as train_module
from alignlab.cli import main

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

setattr(train_module, sys.argv.pop(1), die)
main()
"""
"""Runs the CLI with one function of ``alignlab.methods._train`` replaced by a SIGKILL."""

WAIT_THEN_TRAIN = """
import sys, time
from pathlib import Path
import alignlab.methods, alignlab.models, transformers  # imported before the gate opens
from alignlab.cli import main

gate = Path(sys.argv.pop(1))
deadline = time.monotonic() + 300
while not gate.exists() and time.monotonic() < deadline:
    time.sleep(0.02)
main()
"""
"""Runs the CLI once ``gate`` exists, with the slow imports already done."""


def _train_args(tiny: Path, out: Path) -> list[str]:
    return ["train", "sft_control", "--out", str(out), "--base", str(tiny), *PARAMS]


def _default_sigint() -> None:
    # a shell starts background jobs with SIGINT ignored, and children inherit that;
    # give the run the disposition an interactive terminal gives it
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(script: str, args: list[str], *, new_session: bool = False) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=new_session,
        preexec_fn=_default_sigint,
    )


def _finish(process: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=timeout)
    return process.returncode, stdout, stderr


def _wait_until(
    condition: Callable[[], bool], process: subprocess.Popen[str], timeout: float = 300
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            _, stderr = process.communicate()
            pytest.fail(f"process exited ({process.returncode}) too early: {stderr[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("timed out waiting for the run to get there")
        time.sleep(0.01)


def _scratch(out: Path, pid: int) -> Path:
    return out.parent / f".{out.name}.partial-{pid}"


def _leftovers(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}.partial-*"))


def _assert_finished_and_verified(out: Path) -> dict[str, object]:
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["version"] == 2
    assert file_hashes(out, exclude=frozenset({"manifest.json"})) == manifest["files"]
    return manifest  # type: ignore[no-any-return]


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def reference(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The adapter bytes of an uninterrupted ``alignlab train`` run."""
    out = tmp_path_factory.mktemp("reference") / "out"
    code, _, stderr = _finish(_start(CLI, _train_args(tiny_model_dir, out)))
    assert code == 0, stderr[-2000:]
    _assert_finished_and_verified(out)
    return (out / "adapter_model.safetensors").read_bytes()


def test_second_writer_is_refused_naming_the_holder(
    reference: bytes, tiny_model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = _start(CLI, _train_args(tiny_model_dir, out))
    second = _start(
        WAIT_THEN_TRAIN, [str(_scratch(out, first.pid)), *_train_args(tiny_model_dir, out)]
    )
    code, _, stderr = _finish(second)
    assert code == 2, stderr[-2000:]
    errors = _error_lines(stderr)
    assert len(errors) == 1 and f"in use by another alignlab process (pid {first.pid}" in errors[0]
    code, _, stderr = _finish(first)
    assert code == 0, stderr[-2000:]
    _assert_finished_and_verified(out)
    assert (out / "adapter_model.safetensors").read_bytes() == reference
    assert not _leftovers(out)


def test_sigkill_at_any_point_then_rerun_gives_the_same_adapter(
    reference: bytes, tiny_model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = _train_args(tiny_model_dir, out)
    killed: list[int] = []

    def check_after_kill() -> None:
        # nothing that looks finished; earlier kills' scratch removed by the next run
        assert not out.exists() or not (out / "manifest.json").exists()
        assert _leftovers(out) == [_scratch(out, killed[-1])]

    # killed from outside: while loading the base / building data, then while training
    for stage in ("", ".trainer"):
        process = _start(CLI, args)
        killed.append(process.pid)
        scratch = _scratch(out, process.pid) / stage
        _wait_until(scratch.exists, process)
        process.send_signal(signal.SIGKILL)
        assert _finish(process)[0] == -signal.SIGKILL
        check_after_kill()
    # killed by itself: adapter saved but no manifest yet, then manifest written but not renamed
    for point in ("atomic_write_text", "_publish"):
        process = _start(KILL_ITSELF_AT, [point, *args])
        killed.append(process.pid)
        code, _, stderr = _finish(process)
        assert code == -signal.SIGKILL, stderr[-2000:]
        check_after_kill()
        assert (_scratch(out, process.pid) / "adapter_model.safetensors").is_file()
    code, _, stderr = _finish(_start(CLI, args))
    assert code == 0, stderr[-2000:]
    _assert_finished_and_verified(out)
    assert (out / "adapter_model.safetensors").read_bytes() == reference
    assert not _leftovers(out)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_leave_no_half_written_output(
    signum: int, tiny_model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    process = _start(CLI, _train_args(tiny_model_dir, out), new_session=True)
    _wait_until((_scratch(out, process.pid) / ".trainer").exists, process)
    os.killpg(process.pid, signum)
    code, _, stderr = _finish(process, timeout=120)
    # the exit code is the CLI's business (cli.main); report it for the record
    print(f"{signal.Signals(signum).name}: exit code {code}")
    assert not out.exists(), f"exit code {code}: {stderr[-2000:]}"
    assert not _leftovers(out), stderr[-2000:]
