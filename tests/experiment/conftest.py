"""A throwaway PostgreSQL server for the results-store tests.

``pg_server_url`` (session) is, in order of preference:

1. ``$ALIGNLAB_TEST_PG_URL`` (a server you run; the role must be allowed to
   ``CREATE DATABASE``: every test gets a fresh database, dropped afterwards);
2. a server started here: ``initdb`` + ``pg_ctl`` found on ``PATH`` or in
   ``/usr/lib/postgresql/*/bin`` (Debian's layout), run as the ``postgres`` OS
   user when we are root (PostgreSQL refuses to run as root), listening on a
   free port of 127.0.0.1 with its socket in a private temporary directory,
   ``fsync=off``, stopped and deleted at the end of the session;
3. otherwise the PostgreSQL tests are skipped -- except under CI (``CI=true``),
   where a missing server fails them (``.ci/run`` installs one).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

PG_URL_ENV = "ALIGNLAB_TEST_PG_URL"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"PostgreSQL tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(f"no PostgreSQL: {reason}")


def _pg_bin_dir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, newest version first."""
    found = shutil.which("pg_ctl")
    candidates = [Path(found).parent] if found else []
    candidates += sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in p.parent.name.split(".")],
        reverse=True,
    )
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_server_user(argv: list[str]) -> list[str]:
    """``argv`` run as the ``postgres`` OS user when we are root, else as ourselves."""
    if os.geteuid() != 0:
        return argv
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", "postgres", "--", *argv]
    return ["su", "-s", "/bin/sh", "postgres", "-c", shlex.join(argv)]


@contextlib.contextmanager
def _local_server(bin_dir: Path) -> Iterator[str]:
    root = Path(tempfile.mkdtemp(prefix="alignlab-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    data, sockets, log = root / "data", root / "sock", root / "server.log"

    def run(*argv: str) -> None:
        subprocess.run(
            _as_server_user([str(bin_dir / argv[0]), *argv[1:]]),
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=root,
        )

    started = False
    try:
        run("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--no-locale", "--no-sync")  # fmt: skip
        os.makedirs(sockets, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(sockets, user.pw_uid, user.pw_gid)
        for attempt in range(3):
            port = _free_port()
            options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
            try:
                run("pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", "60",
                    "-o", options, "start")  # fmt: skip
            except subprocess.CalledProcessError:
                if attempt == 2:
                    raise
                continue
            started = True
            break
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            with contextlib.suppress(subprocess.SubprocessError):
                run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of a PostgreSQL server whose role may create databases (see the module docstring)."""
    url = os.environ.get(PG_URL_ENV)
    if url:
        yield url
        return
    bin_dir = _pg_bin_dir()
    if bin_dir is None:
        _unavailable(
            f"initdb/pg_ctl not found (on PATH or /usr/lib/postgresql/*/bin) and {PG_URL_ENV} "
            "unset; install postgresql or set it"
        )
        return
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root and there is no 'postgres' OS user to run the server")
            return
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(_local_server(bin_dir))
        except (OSError, subprocess.SubprocessError) as error:
            detail = getattr(error, "stderr", "") or ""
            _unavailable(f"could not start a throwaway server with {bin_dir}: {error} {detail}")
            return
        yield url


@pytest.fixture()
def pg_url(pg_server_url: str) -> Iterator[str]:
    """A fresh, empty database on the test server, dropped after the test."""
    import psycopg

    name = f"alignlab_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True, connect_timeout=10) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(urlsplit(pg_server_url)._replace(path=f"/{name}"))
    with psycopg.connect(pg_server_url, autocommit=True, connect_timeout=10) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
