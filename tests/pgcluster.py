"""A PostgreSQL cluster of the test's own: initdb in a temporary directory, its own port.

For tests that restart PostgreSQL: never the system cluster (others share it), always this one.
``pg_ctl stop -m immediate`` is a crash as far as clients can tell (connections cut, no
checkpoint); ``start`` then recovers from the WAL. Runs as the ``postgres`` user when the test
runs as root (initdb refuses root).

``unavailable_reason()`` says why a cluster cannot be made here (no binaries, no user to run
them as), so a test can skip with it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.processes import free_port


def bin_dir() -> Path | None:
    """The newest installed PostgreSQL's binaries (Debian's layout), or pg_config's."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _run_as() -> list[str]:
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


def unavailable_reason() -> str | None:
    binaries = bin_dir()
    if binaries is None or not (binaries / "pg_ctl").exists():
        return "no PostgreSQL server binaries (initdb, pg_ctl) on this machine"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run initdb as"
        if shutil.which("runuser") is None:
            return "running as root without runuser to start PostgreSQL as postgres"
    return None


@dataclass
class Cluster:
    root: Path
    port: int
    binaries: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            [*_run_as(), str(self.binaries / "pg_ctl"), "-D", str(self.data), *args],
            check=True,
            capture_output=True,
            timeout=timeout,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root}"
            " -c fsync=off -c full_page_writes=off -c max_connections=200"
        )
        self._ctl("-o", options, "-l", str(self.root / "server.log"), "-w", "start")

    def crash(self) -> None:
        """Stop at once, as a crash would: every connection is cut, WAL recovery at start."""
        self._ctl("-m", "immediate", "-w", "stop")

    def restart(self) -> None:
        self.crash()
        self.start()

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextlib.contextmanager
def temporary_cluster() -> Iterator[Cluster]:
    """A fresh running cluster (trust authentication, loopback only), removed afterwards."""
    binaries = bin_dir()
    assert binaries is not None, unavailable_reason()
    root = Path(tempfile.mkdtemp(prefix="patchwell-pg-"))
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(root, entry.pw_uid, entry.pw_gid)
    cluster = Cluster(root, free_port(), binaries)
    try:
        subprocess.run(
            [
                *_run_as(),
                str(binaries / "initdb"),
                "-D",
                str(cluster.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            cluster.crash()
        shutil.rmtree(root, ignore_errors=True)
