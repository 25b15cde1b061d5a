"""Files that are either complete or absent: run locks, scratch directories, atomic writes, hashes.

The primitives every writer in alignlab uses (training runs, weight
conversion, and the experiment runner that runs hundreds of cells unattended):

- :class:`RunLock`: an exclusive ``flock`` on a sibling lock file, held for a
  whole run and released by the OS when the process dies (SIGKILL included);
  a second writer gets a one-line error naming the holder's PID and command.
- :func:`scratch_dir`: a private working directory ``.NAME.partial-PID`` next
  to the target; :func:`remove_stale_scratch` deletes those whose owner process
  is gone, so a killed run leaves nothing that blocks or wastes space for long.
- :func:`atomic_write_text`: write to a temporary file in the same directory,
  fsync, rename over the target, fsync the directory: readers see the old
  content or the new, never half of it.
- :func:`file_hashes` / :func:`verify_hashes`: the SHA-256 of every file a
  manifest vouches for, checked on load.
- :func:`fsync_tree` and :func:`sigterm_raises`: what a writer that publishes
  a scratch directory by renaming it needs (the files on disk before the
  rename; cleanup that runs on SIGTERM too).
- :func:`build_run_dir`: all of the above for a directory a run builds
  (a trained adapter, a reward model): lock, stale scratch removed, an
  existing finished run reused, built in scratch, published whole.

See ``docs/reliability.md`` for what alignlab promises on top of these.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Final, TypeVar

from alignlab._errors import AlignlabError

HASH_CHUNK_BYTES: Final = 1 << 20
"""Read size when hashing files."""
SCRATCH_MARKER: Final = ".partial-"
"""Scratch directories are named ``.<target>.partial-<pid>``."""


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def file_hashes(directory: Path, exclude: frozenset[str] = frozenset()) -> dict[str, str]:
    """SHA-256 of every regular file below ``directory``, by relative POSIX path.

    Args:
        directory: The directory.
        exclude: Relative paths to leave out (e.g. the manifest that records the hashes).

    Returns:
        ``{relative_path: sha256}``, sorted by path.
    """
    hashes: dict[str, str] = {}
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if path.is_file() and relative not in exclude:
            hashes[relative] = sha256_file(path)
    return hashes


def verify_hashes(directory: Path, expected: Mapping[str, str]) -> None:
    """Check that every file a manifest vouches for is present and unchanged.

    Args:
        directory: The run directory.
        expected: ``{relative_path: sha256}`` as recorded.

    Raises:
        AlignlabError: Naming the first missing or changed file.
    """
    for relative, digest in sorted(expected.items()):
        path = directory / relative
        if not path.is_file():
            raise AlignlabError(
                f"{path} is missing (the manifest in {directory} lists it); "
                "delete the directory and rerun"
            )
        if sha256_file(path) != digest:
            raise AlignlabError(
                f"{path} was changed or truncated after the run finished "
                "(its SHA-256 differs from the manifest); delete the directory and rerun"
            )


def fsync_path(path: Path) -> None:
    """Flush a file's content (or a directory's entries) to disk.

    Args:
        path: The file or directory.

    Raises:
        OSError: If it cannot be opened or flushed.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: Path) -> None:
    """Flush a directory entry (a rename into it) to disk, where the file system allows."""
    with contextlib.suppress(OSError):  # some file systems cannot fsync a directory
        fsync_path(directory)


def fsync_tree(directory: Path) -> None:
    """Flush every regular file below ``directory`` to disk (before renaming it into place)."""
    for path in directory.rglob("*"):
        if path.is_file():
            fsync_path(path)


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into ``SystemExit(143)`` so that cleanup runs (unless already handled).

    Only in the main thread and only while nobody else handles SIGTERM: by
    default it kills Python without running ``finally`` blocks.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that readers never see a partial file.

    Args:
        path: The target file (its directory must exist).
        text: The new content.

    Raises:
        OSError: If the write fails (the target is then untouched and no
            temporary file is left behind).
    """
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with temporary.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that readers never see a partial file (e.g. a PNG).

    Raises:
        OSError: If the write fails (the target is then untouched).
    """
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def scratch_dir(target: Path) -> Path:
    """A fresh private working directory next to ``target``: ``.NAME.partial-PID``.

    Stale scratch of the same target (owner process gone) is removed first.

    Args:
        target: The directory the work will end up in.

    Returns:
        The new, empty scratch directory.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_scratch(target)
    scratch = target.parent / f".{target.name}{SCRATCH_MARKER}{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    return scratch


def remove_stale_scratch(target: Path) -> list[Path]:
    """Delete scratch directories of ``target`` whose owner process no longer exists.

    Args:
        target: The directory whose ``.NAME.partial-PID`` siblings to check.

    Returns:
        The directories removed.
    """
    removed: list[Path] = []
    prefix = f".{target.name}{SCRATCH_MARKER}"
    if not target.parent.is_dir():
        return removed
    for candidate in target.parent.iterdir():
        if not candidate.name.startswith(prefix):
            continue
        owner = candidate.name[len(prefix) :]
        if owner.isdigit() and not pid_alive(int(owner)) and candidate.is_dir():
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
    return removed


def lock_path(target: Path) -> Path:
    """The lock file that guards ``target``: a sibling, so it can exist before the target."""
    return target.parent / f".{target.name}.lock"


class RunLock:
    """An exclusive lock on a run directory for the whole run.

    ``flock`` on a sibling lock file: released by the kernel when the process
    exits for any reason, so a killed run never leaves a stale lock behind.
    The holder writes its PID, host and command line into the lock file, which
    a refused second writer quotes.

    Use as a context manager::

        with RunLock(out):
            ...  # only this process writes to ``out``
    """

    def __init__(self, target: Path) -> None:
        """Prepare (not take) the lock on ``target``."""
        self.target = target
        self.path = lock_path(target)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock without waiting.

        Raises:
            AlignlabError: If another process holds it (naming that process).
        """
        self.target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            holder = self.path.read_text(encoding="utf-8", errors="replace").strip()
            raise AlignlabError(
                f"{self.target} is in use by another alignlab process ({holder or 'unknown'}); "
                "wait for it to finish or choose another output directory"
            ) from None
        command = " ".join(sys.argv)[:200]
        info = f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')}"
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{info}: {command}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Release the lock (the lock file stays; an unlocked file means nothing)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


RunResult = TypeVar("RunResult")


def build_run_dir(
    out: Path,
    finished: Callable[[], RunResult | None],
    build: Callable[[Path], RunResult],
    publish: Callable[[Path, Path], None],
) -> RunResult:
    """Build a run directory at ``out`` that appears complete at once, or not at all.

    Holds :class:`RunLock` on ``out`` for the whole run (SIGTERM raises, so
    cleanup runs), removes scratch left by dead processes, and returns what
    ``finished()`` returns when ``out`` already holds the same finished run;
    otherwise ``build(scratch)`` writes everything into a fresh scratch
    directory and ``publish(scratch, out)`` moves it into place.  Scratch is
    removed whatever happens.

    Args:
        out: The run directory.
        finished: The finished run already at ``out`` (verified), None for a free
            ``out``; raises for an ``out`` that holds something else.
        build: Writes the run into the scratch directory it is given; returns its result.
        publish: Moves the scratch directory to ``out`` (fsynced, atomically).

    Returns:
        The existing run's result, or the new one's.

    Raises:
        AlignlabError: On a full disk (nothing is written), another writer, or
            whatever ``finished`` and ``build`` raise.
    """
    with RunLock(out), sigterm_raises():
        remove_stale_scratch(out)
        done = finished()
        if done is not None:
            return done
        scratch = scratch_dir(out)
        try:
            result = build(scratch)
            publish(scratch, out)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise AlignlabError(
                    f"cannot write {out}: {exc.strerror or exc}; nothing was written "
                    "(free some space and rerun)"
                ) from None
            raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)  # gone already if published
    return result


__all__ = [
    "RunLock",
    "atomic_write_text",
    "build_run_dir",
    "file_hashes",
    "fsync_dir",
    "fsync_path",
    "lock_path",
    "pid_alive",
    "remove_stale_scratch",
    "scratch_dir",
    "sha256_file",
    "verify_hashes",
]
