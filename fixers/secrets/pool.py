"""Per-file work on every usable core: a small fork pool with work stealing.

Why ``os.fork`` and not :mod:`multiprocessing`:

* the work is a function over a snapshot already in memory; a forked child sees it
  copy-on-write, so nothing of the tree is pickled, copied or re-read (``spawn`` or
  ``forkserver`` would ship every file through a pipe);
* a scan may itself run in a :class:`multiprocessing.Process` with ``daemon=True`` (the
  worker's sandboxed scan child), and multiprocessing refuses to start children there;
* only results travel back: one pickled list per child.

Work stealing without shared memory: the parent writes every chunk number (4 bytes each)
into a pipe before forking and closes its write end; every process, the parent included,
reads 4 bytes at a time until the pipe is empty. The kernel hands each 4-byte record to
exactly one reader, so chunks are taken once whatever the file sizes.

Nothing is lost when a child fails: whatever it did not report (it crashed, ran out of its
share of the budget, was killed, or its result would not unpickle) the parent computes
itself afterwards, so the pool's results always equal ``[fn(i) for i in range(n)]``.

Bounded by the caller's budget:

* children die with their parent (``PR_SET_PDEATHSIG`` on Linux) and share its process
  group, so killing a scan kills its pool;
* a finite ``RLIMIT_CPU`` or ``RLIMIT_AS`` of the parent is split: each child may use its
  share of what the parent has left (a child has its own counters, so an inherited limit
  alone would let ``n`` children use ``n`` times the budget);
* the number of processes is the CPUs this process may run on (affinity / cpuset), never
  more, and a failed ``fork`` (``RLIMIT_NPROC``) just means fewer helpers.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import resource
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

R = TypeVar("R")

_RECORD = 4  # bytes per chunk number in the work pipe
_PIPE_RECORDS = 8192  # 32 KiB of chunk numbers: well under a pipe's 64 KiB buffer
_CHUNKS_PER_WORKER = 16  # small enough to balance, large enough to amortise a read()


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which a cpuset narrows)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def can_fork() -> bool:
    return hasattr(os, "fork") and sys.platform != "win32"


@dataclass(frozen=True, slots=True)
class PoolStats:
    """What a run did (for tests and the benchmark): processes used, items the parent
    redid because the child that took them did not report."""

    processes: int
    chunks: int
    redone: int


@dataclass(slots=True)
class PoolResult(Generic[R]):
    results: list[R]
    stats: PoolStats


def run(fn: Callable[[int], R], n: int, workers: int) -> PoolResult[R]:
    """``[fn(i) for i in range(n)]``, computed by up to ``workers`` processes.

    ``fn`` must not rely on side effects: in a child they happen in the child only.
    """
    helpers = min(workers, n) - 1
    if helpers < 1 or not can_fork():
        return PoolResult([fn(i) for i in range(n)], PoolStats(1, 1, 0))
    chunks = _chunks(n, helpers + 1)
    done: dict[int, R] = {}
    read_fd, write_fd = os.pipe()
    try:
        for c in range(len(chunks)):
            os.write(write_fd, c.to_bytes(_RECORD, "little"))
    finally:
        os.close(write_fd)
    children: list[tuple[int, int]] = []  # (pid, result pipe)
    processes = 1
    try:
        shares = _budget_shares(helpers + 1)
        for _ in range(helpers):
            child = _spawn(fn, chunks, read_fd, shares)
            if child is None:
                break
            children.append(child)
        processes += len(children)
        for i, result in _take(fn, chunks, read_fd):
            done[i] = result
        while children:
            pid, fd = children.pop()
            done.update(_collect(pid, fd))
    finally:
        os.close(read_fd)
        for pid, fd in children:  # only after an exception in this process
            _kill(pid, fd)
    missing = [i for i in range(n) if i not in done]
    for i in missing:
        done[i] = fn(i)
    return PoolResult([done[i] for i in range(n)], PoolStats(processes, len(chunks), len(missing)))


def _chunks(n: int, processes: int) -> list[range]:
    count = min(n, processes * _CHUNKS_PER_WORKER, _PIPE_RECORDS)
    size = -(-n // count)
    return [range(lo, min(n, lo + size)) for lo in range(0, n, size)]


def _take(fn: Callable[[int], R], chunks: list[range], read_fd: int) -> Iterator[tuple[int, R]]:
    """Chunks from the work pipe until it is empty; ``fn`` over each index of each."""
    while True:
        record = os.read(read_fd, _RECORD)
        if len(record) < _RECORD:
            return
        for i in chunks[int.from_bytes(record, "little")]:
            yield i, fn(i)


@dataclass(frozen=True, slots=True)
class _Shares:
    cpu_seconds: int | None
    address_space: int | None


def _budget_shares(processes: int) -> _Shares:
    """Each process's share of what is left of a finite CPU and address-space limit."""
    cpu = address = None
    soft, _hard = resource.getrlimit(resource.RLIMIT_CPU)
    if soft != resource.RLIM_INFINITY:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        left = max(1.0, soft - usage.ru_utime - usage.ru_stime)
        cpu = max(1, int(left / processes))
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        size = _address_space()
        if size is not None:
            address = size + max(0, soft - size) // processes
    return _Shares(cpu, address)


def _address_space() -> int | None:
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _spawn(
    fn: Callable[[int], R], chunks: list[range], read_fd: int, shares: _Shares
) -> tuple[int, int] | None:
    parent = os.getpid()
    out_r, out_w = os.pipe()
    try:
        pid = os.fork()
    except OSError:  # RLIMIT_NPROC, no memory for page tables: fewer helpers
        os.close(out_r)
        os.close(out_w)
        return None
    if pid == 0:  # the child: never returns into the caller's code
        code = 1
        try:
            os.close(out_r)
            _child_setup(parent, shares)
            payload = pickle.dumps(list(_take(fn, chunks, read_fd)), pickle.HIGHEST_PROTOCOL)
            _write_all(out_w, payload)
            code = 0
        finally:
            os._exit(code)
    os.close(out_w)
    return pid, out_r


def _child_setup(parent: int, shares: _Shares) -> None:
    # The parent's handlers (an event loop's SIGTERM) are not the child's to run, and a
    # signal here must not wake the parent's event loop through its inherited wakeup fd.
    with contextlib.suppress(ValueError, OSError):
        signal.set_wakeup_fd(-1)
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, OSError):
            signal.signal(sig, signal.SIG_DFL)
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)
    if shares.cpu_seconds is not None:
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        resource.setrlimit(resource.RLIMIT_CPU, (shares.cpu_seconds, hard))
    if shares.address_space is not None:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (shares.address_space, hard))


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _collect(pid: int, fd: int) -> dict[int, Any]:
    """A child's results, or nothing when it did not finish cleanly."""
    parts = []
    try:
        while True:
            block = os.read(fd, 1 << 20)
            if not block:
                break
            parts.append(block)
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        return {}
    try:
        return dict(pickle.loads(b"".join(parts)))
    except Exception:  # a truncated payload: the parent redoes that child's chunks
        return {}


def _kill(pid: int, fd: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.close(fd)
    with contextlib.suppress(OSError):
        os.waitpid(pid, 0)
