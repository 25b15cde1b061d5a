"""Locks, scratch directories, atomic writes and hashes (alignlab.files)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alignlab import AlignlabError
from alignlab.files import (
    RunLock,
    atomic_write_text,
    file_hashes,
    lock_path,
    remove_stale_scratch,
    scratch_dir,
    verify_hashes,
)

HOLD_LOCK = """
import sys, time
from pathlib import Path
from alignlab.files import RunLock
lock = RunLock(Path(sys.argv[1]))
lock.acquire()
print("locked", flush=True)
time.sleep(60)
"""


def _holder(target: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(target)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "locked"
    return process


def test_second_writer_is_refused_naming_the_holder(tmp_path: Path) -> None:
    target = tmp_path / "run"
    holder = _holder(target)
    try:
        with pytest.raises(
            AlignlabError, match=rf"in use by another alignlab process \(pid {holder.pid}"
        ):
            RunLock(target).acquire()
    finally:
        holder.kill()
        holder.wait()


def test_lock_is_released_when_the_holder_is_killed(tmp_path: Path) -> None:
    target = tmp_path / "run"
    holder = _holder(target)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with RunLock(target):
        assert lock_path(target).read_text().startswith(f"pid {os.getpid()}")
    with RunLock(target):  # released on exit, can be taken again
        pass


def test_stale_scratch_is_removed_live_scratch_kept(tmp_path: Path) -> None:
    target = tmp_path / "run"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = tmp_path / f".run.partial-{dead.stdout.strip()}"
    stale.mkdir()
    (stale / "big.bin").write_bytes(b"x" * 100)
    live_owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    live = tmp_path / f".run.partial-{live_owner.pid}"
    live.mkdir()
    try:
        ours = scratch_dir(target)
        assert ours.name == f".run.partial-{os.getpid()}" and ours.is_dir()
        assert not stale.exists()
        assert live.exists()
        assert remove_stale_scratch(target) == []
    finally:
        live_owner.kill()
        live_owner.wait()
    time.sleep(0.1)
    assert remove_stale_scratch(target) == [live]


def test_atomic_write_leaves_old_content_when_the_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "manifest.json"
    atomic_write_text(target, "old")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_verify_hashes_catches_truncated_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"\x00" * 64)
    (tmp_path / "config.json").write_text("{}")
    hashes = file_hashes(tmp_path, exclude=frozenset({"manifest.json"}))
    assert set(hashes) == {"weights.bin", "config.json"}
    verify_hashes(tmp_path, hashes)
    (tmp_path / "weights.bin").write_bytes(b"\x00" * 10)
    with pytest.raises(AlignlabError, match=r"weights\.bin was changed or truncated"):
        verify_hashes(tmp_path, hashes)
    (tmp_path / "weights.bin").unlink()
    with pytest.raises(AlignlabError, match=r"weights\.bin is missing"):
        verify_hashes(tmp_path, hashes)
