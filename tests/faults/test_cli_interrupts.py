"""Ctrl-C and SIGTERM during `alignlab eval` and `alignlab train` (issue: reliability).

A hostile-user pass found interrupts reported as success: exit 0 with no
message, an eval exiting only after 105-183 s, a log left ``started``.  Each
test signals a real ``alignlab`` process group, as a terminal or a scheduler
does, and checks: exit 130 (SIGINT) or 143 (SIGTERM) within seconds, one line
of our own on stderr and no traceback, the eval log marked ``cancelled``, and
no training scratch directory left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from alignlab._errors import EXIT_INTERRUPTED, EXIT_TERMINATED

ALIGNLAB = str(Path(sys.executable).parent / "alignlab")
EXPECTED = {
    signal.SIGINT: (EXIT_INTERRUPTED, "interrupted"),
    signal.SIGTERM: (EXIT_TERMINATED, "terminated"),
}
PROMPT_S = 60.0
"""A liveness bound, not a speed target: an interrupted run must end well before the
105-183 s the old CLI took (it takes about 3 s; 17 s was seen with the machine saturated
by a parallel test run, so the bound is generous to keep CI deterministic)."""


def _default_sigint() -> None:
    # a child inherits an *ignored* SIGINT (and Python then never installs its handler)
    # if this process ignores it at spawn time.  In one full-suite run (2026-11-29) the
    # CLI ran to completion with exit 0 after SIGINT, and not when this file ran alone
    # or after the experiment tests; which earlier test left SIGINT ignored was not
    # found, so the child starts from the default a terminal gives it
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [ALIGNLAB, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, signalled like a terminal does
        preexec_fn=_default_sigint,
    )


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 300
    while not condition():
        if process.poll() is not None:
            _, stderr = process.communicate()
            pytest.fail(f"exited ({process.returncode}) before the signal: {stderr[-2000:]}")
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail("timed out waiting for the run to start")
        time.sleep(0.05)


def _signal_and_finish(
    process: subprocess.Popen[str], signals: list[int], gap: float = 0.4
) -> tuple[int, str, float]:
    started = time.monotonic()
    for i, signum in enumerate(signals):
        if i:
            time.sleep(gap)
        os.killpg(process.pid, signum)
    try:
        _, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate()
        pytest.fail(f"still running 120 s after the signal: {stderr[-2000:]}")
    return process.returncode, stderr, time.monotonic() - started


def _own_lines(stderr: str) -> list[str]:
    """Our lines on stderr: not the libraries' warnings and progress bars."""
    noise = ("warning:", "Building labels", "Tokenizing", "Map", "Loading")
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith(noise)]


def _check_reported(code: int, stderr: str, elapsed: float, signum: int) -> None:
    expected_code, expected_line = EXPECTED[signal.Signals(signum)]
    assert code == expected_code, stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-2000:]
    assert _own_lines(stderr)[-1] == expected_line, stderr[-2000:]
    assert elapsed < PROMPT_S, f"took {elapsed:.1f} s to stop"


def _eval(tiny: Path, log_dir: Path) -> subprocess.Popen[str]:
    args = ["eval", "sycophancy", "--model", str(tiny), "-T", "n_claims=400"]
    return _start([*args, "--log-dir", str(log_dir), "--display", "none"])


def _log_status(log_dir: Path) -> str:
    from inspect_ai.log import read_eval_log

    [log_path] = log_dir.glob("*.eval")
    return read_eval_log(str(log_path), header_only=True).status


@pytest.mark.parametrize(
    "signals",
    [[signal.SIGINT], [signal.SIGTERM], [signal.SIGINT, signal.SIGINT]],
    ids=["sigint", "sigterm", "sigint-twice"],
)
def test_interrupted_eval_exits_promptly_with_a_cancelled_log(
    signals: list[int], tiny_model_dir: Path, tmp_path: Path
) -> None:
    process = _eval(tiny_model_dir, tmp_path)
    _wait_for(lambda: any(tmp_path.glob("*.eval")), process)
    time.sleep(2)  # samples in flight: the provider is inside a batch
    code, stderr, elapsed = _signal_and_finish(process, signals)
    _check_reported(code, stderr, elapsed, signals[0])
    assert _log_status(tmp_path) == "cancelled"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_interrupted_train_exits_promptly_without_scratch(
    signum: int, tiny_model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = ["train", "sft_control", "--base", str(tiny_model_dir), "--out", str(out)]
    process = _start([*args, "-p", "epochs=5"])
    _wait_for(lambda: any(tmp_path.glob(".out.partial-*")), process)
    time.sleep(3)  # inside the training loop
    code, stderr, elapsed = _signal_and_finish(process, [signum])
    _check_reported(code, stderr, elapsed, signum)
    assert not list(tmp_path.glob(".out.partial-*"))
    assert not (out / "manifest.json").exists()
