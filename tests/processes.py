"""Real ``patchwell`` processes for tests and benchmarks: start, signal, wait, read their logs.

Each process gets its own session (so a signal reaches only it and its children) and writes
stdout and stderr to a log file (a pipe nobody reads would fill and block it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Process:
    """One ``patchwell`` process."""

    name: str
    args: tuple[str, ...]
    env: dict[str, str]
    log_path: Path
    port: int | None = None
    popen: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> Process:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", *self.args],
                env={**os.environ, **self.env, "PYTHONPATH": str(ROOT)},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.log_path.parent,  # no stray .env is read from the developer's tree
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)

    def wait(self, timeout: float) -> int:
        assert self.popen is not None
        return self.popen.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL and reap (a crash, as far as the rest of the system can tell)."""
        self.signal(signal.SIGKILL)
        if self.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def url(self) -> str:
        assert self.port is not None
        return f"http://127.0.0.1:{self.port}"


def worker(name: str, env: Mapping[str, str], logs: Path, *, concurrency: int = 2) -> Process:
    return Process(name, ("worker", "--concurrency", str(concurrency)), dict(env), logs / name)


def web(name: str, env: Mapping[str, str], logs: Path, *, port: int | None = None) -> Process:
    port = port or free_port()
    args = ("serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port))
    return Process(name, args, dict(env), logs / name, port=port)


def wait_ready(process: Process, timeout: float = 60) -> None:
    """Until the web process answers ``/healthz`` (or died: then raise with its log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive:
            raise RuntimeError(f"{process.name} exited:\n{process.log()[-3000:]}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(process.url + "/healthz", timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{process.name} never became ready:\n{process.log()[-3000:]}")


def stop_all(processes: Sequence[Process], timeout: float = 30) -> dict[str, int | None]:
    """SIGTERM every live process, wait, SIGKILL what is left; name -> exit code."""
    for process in processes:
        process.signal(signal.SIGTERM)
    codes: dict[str, int | None] = {}
    deadline = time.monotonic() + timeout
    for process in processes:
        if process.popen is None:
            continue
        try:
            codes[process.name] = process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            codes[process.name] = None
    return codes
