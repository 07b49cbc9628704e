"""Fixers in a child process under a budget: what ``patchwell scan`` and the worker both run.

A repository is hostile input. One crafted file can make a fixer's regular expression
backtrack for minutes or a parser allocate gigabytes; inside the worker that would freeze
the webhook server, the lease heartbeats and SIGTERM with it (one regex holds the GIL). So
the fixers run in a child process:

* forked from a **forkserver** that imported and warmed every fixer once (no fork of the
  worker itself: its event loop, sockets and threads stay behind), so a scan starts in
  milliseconds; or, for a caller that asks for it (``direct=True``: ``patchwell scan``) and
  has no thread but its main one at that moment, forked from the caller itself, which
  already imported the fixers it runs and holds the snapshot: no server to start (about a
  second in a fresh process), nothing pickled, and the child closes every socket it
  inherited but its pipe;
* under ``RLIMIT_AS`` (memory) and ``RLIMIT_CPU`` (CPU seconds) set in the child, plus a
  wall-clock deadline after which the parent kills it;
* reporting each fixer's outcome as it finishes, so a fixer that runs out is the only
  one lost: it gets a ``scan-budget-exceeded`` finding naming the budget, and the fixers
  after it go on in a fresh process with a fresh budget (at most one process per fixer);
* using the parent's services (package index, advisories, GitHub's action tags, the
  resolver, the clock) through the pipe: the child holds no credentials and no sockets
  (``patchwell serve``/``worker`` take the credential variables out of their environment
  before the forkserver starts: ``bot.config.withhold_credentials``).

Everything crossing the pipe is plain data (the snapshot, the repository config, the
fixers' dataclasses), pickled by :func:`_dumps`; a directly forked child has its job
already (copy-on-write) and only sends outcomes back.
"""

from __future__ import annotations

import collections
import contextlib
import copyreg
import dataclasses
import io
import itertools
import multiprocessing
import os
import pickle
import signal
import stat
import sys
import threading
import time
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, ClassVar

from fixers.contract import Finding, Fixer, Services, Severity, Snapshot, fingerprint
from fixers.repo_config import RepoConfig
from fixers.runner import (
    FixerOutcome,
    ScanError,
    ScanResult,
    assemble,
    plan_scan,
    run_one,
)

__all__ = [
    "BUDGET_RULE",
    "ChildUsage",
    "ScanBudget",
    "ScanCancelled",
    "budget_outcome",
    "remedy_budgeted",
    "run_budgeted",
    "start_scan_server",
]

BUDGET_RULE = "scan-budget-exceeded"
#: Service fields forwarded to the parent (``clock`` is called, the others have methods).
_SERVICE_FIELDS = ("index", "advisories", "actions", "resolver")
#: Parent-side threads answering the child's service calls (the dependency fixer asks the
#: index on a few threads at once).
_CALL_THREADS = 8
#: How long the parent waits for a killed child to be reaped.
_REAP_SECONDS = 10.0
#: How often the parent looks at its clock and ``cancel`` while the child is quiet.
_POLL_SECONDS = 0.25
_PRELOAD = "fixers.isolation_preload"


class ScanCancelled(Exception):
    """The caller gave the scan up (see ``cancel``); its process is gone."""


@dataclass(frozen=True, slots=True)
class ScanBudget:
    """What one scan process may use. The defaults hold a 20,000-file repository with a
    wide margin (README "Scan budgets" has the measurements)."""

    cpu_seconds: int = 120
    memory_bytes: int = 2 * 1024**3
    wall_seconds: int = 600

    def describe(self, what: str) -> str:
        """Why a fixer was stopped, for its finding (``what``: cpu | memory | wall | other)."""
        if what == "cpu":
            return f"it ran out of CPU time ({self.cpu_seconds} s, PATCHWELL_SCAN_CPU_SECONDS)"
        if what == "memory":
            mib = self.memory_bytes // (1024 * 1024)
            return f"it ran out of memory ({mib} MiB, PATCHWELL_SCAN_MEMORY_MB)"
        if what == "wall":
            return f"it ran out of time ({self.wall_seconds} s, PATCHWELL_SCAN_WALL_SECONDS)"
        return what


# ---------------------------------------------------------------------------- pickling


def _read_only(items: dict[Any, Any]) -> types.MappingProxyType:
    return types.MappingProxyType(items)


def _mapping_proxy(proxy: types.MappingProxyType) -> tuple[Any, ...]:
    return (_read_only, (dict(proxy),))


class _Pickler(pickle.Pickler):
    # The repository config holds read-only mappings, which pickle cannot copy by itself.
    # copyreg's table stays in force (compiled patterns pickle through it).
    dispatch_table: ClassVar[Mapping[type, Callable[..., Any]]] = collections.ChainMap(
        {types.MappingProxyType: _mapping_proxy}, copyreg.dispatch_table
    )


def _dumps(value: Any) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buffer.getvalue()


# ---------------------------------------------------------------------------- the child


@dataclass(frozen=True, slots=True)
class _Job:
    """What the child is sent: everything to run ``names`` (registry fixers by name)."""

    snapshot: Snapshot
    config: RepoConfig
    names: tuple[str, ...]
    fixers: tuple[Fixer, ...] | None  # None: the registry's
    services: dict[str, tuple[str, ...]]  # field -> its public methods
    budget: ScanBudget
    #: A heal's remedy to make instead of running fixers: (diagnosis, input without services).
    remedy: tuple[Any, Any] | None = None


class _Remote:
    """A service living in the parent: each method call is a round trip over the pipe."""

    def __init__(self, channel: _ChildChannel, name: str, methods: Iterable[str]) -> None:
        self._channel = channel
        self._name = name
        self._methods = frozenset(methods)

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_") or method not in self._methods:
            raise AttributeError(method)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._channel.call(self._name, method, args, kwargs)

        return call

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._channel.call(self._name, "__call__", args, kwargs)


class _ChildChannel:
    """The child's side of the pipe: sends are serialised, replies matched to their call."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._send_lock = threading.Lock()
        self._waiting: dict[int, Future[Any]] = {}
        self._ids = itertools.count(1)
        self._reader = threading.Thread(target=self._read, daemon=True)

    def start(self, job: _Job | None) -> _Job:
        """The job (read from the pipe unless it was inherited), then the reply reader."""
        if job is None:
            job = pickle.loads(self._conn.recv_bytes())  # under the budget already
        self._reader.start()
        return job

    def send(self, message: tuple[Any, ...]) -> None:
        data = _dumps(message)
        with self._send_lock:
            self._conn.send_bytes(data)

    def call(self, service: str, method: str, args: tuple, kwargs: dict) -> Any:
        future: Future[Any] = Future()
        call_id = next(self._ids)
        self._waiting[call_id] = future
        self.send(("call", call_id, service, method, args, kwargs))
        return future.result()

    def _read(self) -> None:
        while True:
            try:
                _, call_id, ok, value = pickle.loads(self._conn.recv_bytes())
            except (EOFError, OSError):
                os._exit(0)  # the parent is gone: nobody wants the rest
            future = self._waiting.pop(call_id)
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)


def _limit(budget: ScanBudget) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (budget.memory_bytes, budget.memory_bytes))
    # SIGXCPU at the soft limit ends the process (nothing in Python can catch it while a
    # regex runs in C); the hard limit (SIGKILL) is the backstop.
    resource.setrlimit(resource.RLIMIT_CPU, (budget.cpu_seconds, budget.cpu_seconds + 5))


def _child_services(channel: _ChildChannel, offered: dict[str, tuple[str, ...]]) -> Services:
    fields: dict[str, Any] = {
        name: _Remote(channel, name, methods) for name, methods in offered.items()
    }
    clock = fields.pop("clock")
    return Services(clock=clock, **fields)


def _drop_inherited_sockets(keep: int) -> None:
    """Point every inherited socket but ``keep`` and the standard streams (a journal's
    socket, say) at ``/dev/null`` (a directly forked child).

    The caller's sockets are not the child's: it reaches services through its pipe only,
    and the caller's end of that pipe, held here too, would keep the child from seeing
    the caller go away. ``dup2`` rather than ``close``: a Python object still owning one of
    these numbers may close it later, and must not close a file opened since."""
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd in (0, 1, 2, keep, null):
                continue
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(os.fstat(fd).st_mode):
                    os.dup2(null, fd)
    finally:
        os.close(null)


def _child_main(conn: Connection, budget: ScanBudget, job: _Job | None = None) -> None:
    """Entry point of the scan process (see the module docstring). ``job`` is given to a
    directly forked child (it has it in memory already); otherwise it comes over ``conn``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _limit(budget)  # first: the snapshot it is sent counts against its memory
    if job is not None:
        _drop_inherited_sockets(conn.fileno())
    channel = _ChildChannel(conn)
    job = channel.start(job)
    services = _child_services(channel, job.services)
    if job.remedy is not None:
        _make_remedy(channel, job, services)
        return
    plan = plan_scan(job.snapshot, job.config, job.fixers, job.names)
    for fixer in plan.run:
        channel.send(("start", fixer.name))
        try:
            outcome = run_one(fixer, plan, job.config, services, reraise=(MemoryError,))
        except MemoryError:
            outcome = budget_outcome(fixer.name, job.budget, "memory")
        channel.send(("outcome", outcome))
    channel.send(("done", _own_usage()))
    conn.close()


def _make_remedy(channel: _ChildChannel, job: _Job, services: Services) -> None:
    from fixers.heal.remedies import remedy

    diagnosis, heal_input = job.remedy  # type: ignore[misc]
    outcome: Any
    try:
        outcome = remedy(diagnosis, dataclasses.replace(heal_input, services=services))
    except MemoryError:
        outcome = job.budget.describe("memory")
    except Exception as exc:  # a bug in one remedy costs its fix, not the diagnosis
        outcome = f"the fix code failed ({type(exc).__name__})"
    channel.send(("remedy", outcome))
    channel.send(("done", _own_usage()))


# ---------------------------------------------------------------------------- the parent


def budget_outcome(name: str, budget: ScanBudget, what: str) -> FixerOutcome:
    """The outcome of a fixer that was stopped: a finding naming what ran out."""
    why = budget.describe(what)
    finding = Finding(
        fixer=name,
        rule=BUDGET_RULE,
        severity=Severity.HYGIENE,
        message=(
            f"The {name} fixer was stopped on this repository: {why}. "
            "Its results are missing; the other fixers' results stand."
        ),
        fingerprint=fingerprint(name, BUDGET_RULE),
        title=f"{name} fixer ran out of its budget",
        # What it did not finish is unknown, not fixed: keep what the last scan knew.
        incomplete=True,
    )
    return FixerOutcome(name, (finding,), (), (ScanError(name, f"stopped: {why}"),))


@dataclass(frozen=True, slots=True)
class ChildUsage:
    """What one scan process used, as it measured itself when done (for logs and tuning)."""

    cpu_seconds: float
    peak_rss_bytes: int
    peak_address_space_bytes: int


def _own_usage() -> ChildUsage:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_vm = 0
    with (
        contextlib.suppress(OSError, ValueError),
        open("/proc/self/status", encoding="ascii") as status,
    ):
        for line in status:
            if line.startswith("VmPeak:"):
                peak_vm = int(line.split()[1]) * 1024
    return ChildUsage(usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, peak_vm)


@dataclass
class _Round:
    """What one child process reported before it ended."""

    outcomes: list[FixerOutcome] = field(default_factory=list)
    running: str | None = None
    done: bool = False
    usage: ChildUsage | None = None
    stopped_by: str | None = None  # cpu | memory | wall | crash
    remedy: Any = None


def _direct_fork_safe() -> bool:
    """Whether this process may fork a scan child of its own: Linux (the child lists its
    inherited sockets in ``/proc``) and no thread but this one, now. A lock another thread
    holds at the moment of a fork (logging, an HTTP client, the fake servers in tests)
    would stay held in the child forever."""
    return (
        sys.platform.startswith("linux")
        and threading.active_count() == 1
        and threading.current_thread() is threading.main_thread()
    )


def _context(direct: bool = False) -> Any:
    """A plain ``fork`` of this process when ``direct`` and that is safe now (see
    :func:`_direct_fork_safe`), else the forkserver."""
    if direct and _direct_fork_safe():
        return multiprocessing.get_context("fork")
    # Otherwise never a plain fork of the caller (see _direct_fork_safe).
    ctx = multiprocessing.get_context("forkserver")
    # The forkserver imports and warms every fixer once; each scan forks from it. The main
    # module is imported there too, once: otherwise every scan process would import it again
    # (multiprocessing's "safe importing of the main module" applies to callers' scripts).
    ctx.set_forkserver_preload(["__main__", _PRELOAD])
    return ctx


def start_scan_server() -> None:
    """Start the forkserver now, so the first scan does not wait for it (importing and
    warming every fixer takes a few seconds). A worker calls this as it starts; without it
    the first scan starts the server itself."""
    from multiprocessing import forkserver

    _context()  # sets the preload the server is started with
    forkserver.ensure_running()


def _offered(services: Services) -> dict[str, tuple[str, ...]]:
    offered = {"clock": ("__call__",)}
    for name in _SERVICE_FIELDS:
        value = getattr(services, name)
        if value is not None:
            offered[name] = tuple(
                m for m in dir(value) if not m.startswith("_") and callable(getattr(value, m))
            )
    return offered


class _Parent:
    """Drives one child: answers its service calls, collects outcomes, enforces the clock."""

    def __init__(self, conn: Connection, services: Services, pool: ThreadPoolExecutor) -> None:
        self._conn = conn
        self._services = services
        self._pool = pool
        self._send_lock = threading.Lock()

    def drive(self, deadline: float, cancel: threading.Event | None) -> _Round:
        found = _Round()
        while not found.done:
            if cancel is not None and cancel.is_set():
                raise ScanCancelled("the scan was cancelled")
            left = deadline - time.monotonic()
            if left <= 0:
                found.stopped_by = "wall"
                break
            try:
                if not self._conn.poll(min(left, _POLL_SECONDS)):
                    continue
                message = pickle.loads(self._conn.recv_bytes())
            except (EOFError, OSError):
                found.stopped_by = "crash"  # decided from the exit status below
                break
            self._handle(message, found)
        return found

    def _handle(self, message: tuple[Any, ...], found: _Round) -> None:
        kind = message[0]
        if kind == "start":
            found.running = message[1]
        elif kind == "outcome":
            found.outcomes.append(message[1])
            found.running = None
        elif kind == "call":
            self._pool.submit(self._answer, *message[1:])
        elif kind == "remedy":
            found.remedy = message[1]
        elif kind == "done":
            found.done = True
            found.usage = message[1]

    def _answer(self, call_id: int, service: str, method: str, args: tuple, kwargs: dict) -> None:
        target = self._services.clock if service == "clock" else getattr(self._services, service)
        try:
            function = target if method == "__call__" else getattr(target, method)
            reply: tuple[Any, ...] = ("reply", call_id, True, function(*args, **kwargs))
        except Exception as exc:
            reply = ("reply", call_id, False, exc)
        try:
            data = _dumps(reply)
            pickle.loads(data)  # the child must be able to rebuild it
        except Exception as exc:
            data = _dumps(("reply", call_id, False, RuntimeError(type(exc).__name__)))
        # OSError: the child is gone and its round has ended; nobody waits for this answer.
        with self._send_lock, contextlib.suppress(OSError):
            self._conn.send_bytes(data)


def _stopped_by(process: Any, found: _Round) -> str:
    """What ended a child that did not finish: its exit status says."""
    if found.stopped_by == "wall":
        return "wall"
    code = process.exitcode
    if code == -signal.SIGXCPU:
        return "cpu"
    if code == -signal.SIGKILL:
        return "it was killed (the hard CPU limit, or the system ran out of memory)"
    # malloc failing outside Python's reach ends the process with SIGABRT or SIGSEGV.
    if code in (-signal.SIGABRT, -signal.SIGSEGV, -signal.SIGBUS):
        return "memory"
    return f"the scan process ended unexpectedly (exit status {code})"


def _round(
    ctx: Any, job: _Job, services: Services, cancel: threading.Event | None
) -> tuple[_Round, str | None]:
    """Run ``job`` in one child: (what it reported, what stopped it or None)."""
    inherit = ctx.get_start_method() == "fork"  # the child has the job in memory already
    parent_end, child_end = ctx.Pipe(duplex=True)
    args = (child_end, job.budget, job) if inherit else (child_end, job.budget)
    process = ctx.Process(target=_child_main, args=args, daemon=True)
    process.start()
    child_end.close()
    found: _Round | None = None
    # Threads only once the child exists: a fork never copies a half-held lock of theirs.
    pool = ThreadPoolExecutor(_CALL_THREADS, thread_name_prefix="patchwell-scan-calls")
    try:
        if not inherit:
            parent_end.send_bytes(_dumps(job))
        found = _Parent(parent_end, services, pool).drive(
            time.monotonic() + job.budget.wall_seconds, cancel
        )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        parent_end.close()
        if found is None or not found.done:
            process.kill()  # over budget, or we are being interrupted: never leave it running
            process.join(_REAP_SECONDS)
        # A child that said "done" exits by itself and its server reaps it: waiting for the
        # kernel to tear its address space down would only delay the scan.
    if found.done:
        return found, None
    return found, _stopped_by(process, found)


def run_budgeted(
    snapshot: Snapshot,
    config: RepoConfig,
    services: Services,
    *,
    fixers: Sequence[Fixer] | None = None,
    only: str | Iterable[str] | None = None,
    budget: ScanBudget = ScanBudget(),
    on_usage: Callable[[ChildUsage], None] | None = None,
    cancel: threading.Event | None = None,
    direct: bool = False,
) -> ScanResult:
    """:func:`fixers.runner.run_fixers` in child processes under ``budget`` (see the module
    docstring). ``fixers`` defaults to the registry (sent by name, never pickled); given
    fixers must be picklable (module-level classes).
    ``direct``: fork each scan process from this one while it has no other thread (a
    command-line scan: no event loop, nothing another thread could hold), else from the
    forkserver. The budget is the same either way; it is set in the child.
    ``on_usage`` hears what each process that finished its fixers used. Setting ``cancel``
    kills the scan process within a fraction of a second and raises :class:`ScanCancelled`
    (a worker handing its job back on SIGTERM must not wait for a scan it gave up)."""
    plan = plan_scan(snapshot, config, fixers, only)
    offered = _offered(services)
    registry = fixers is None
    outcomes: dict[str, FixerOutcome] = {}
    pending = list(plan.run)
    while pending:
        job = _Job(
            snapshot,
            config,
            tuple(f.name for f in pending),
            None if registry else tuple(pending),
            offered,
            budget,
        )
        # Chosen per process: a direct fork only while this process is single-threaded.
        found, stopped = _round(_context(direct), job, services, cancel)
        outcomes.update((o.fixer, o) for o in found.outcomes)
        if found.usage is not None and on_usage is not None:
            on_usage(found.usage)
        if stopped is not None:
            # The fixer running when it stopped is the one that ran out. Between two fixers
            # the rest simply go on in a new process; a process that stopped before any
            # fixer reported leaves them all unrun (so this never loops forever).
            culprits = [found.running] if found.running else []
            if not culprits and not found.outcomes:
                culprits = [f.name for f in pending]
            for name in culprits:
                if name not in outcomes:
                    outcomes[name] = budget_outcome(name, budget, stopped)
        pending = [f for f in pending if f.name not in outcomes]
    return assemble(snapshot, plan, [outcomes[f.name] for f in plan.run])


def remedy_budgeted(
    diagnosis: Any,
    heal_input: Any,
    *,
    budget: ScanBudget = ScanBudget(),
    cancel: threading.Event | None = None,
) -> Any:
    """:func:`fixers.heal.remedies.remedy` in a child process under ``budget``.

    A remedy runs the owning fixer's code on the failing commit (parsing its workflows and
    manifests, asking the resolver), so it is as exposed to a hostile file as a scan is. A
    remedy stopped by the budget is a remedy that found nothing to patch, with the reason."""
    from fixers.heal.remedies import Remedy

    services = heal_input.services
    job = _Job(
        heal_input.snapshot,
        heal_input.config,
        (),
        (),
        _offered(services),
        budget,
        # The services stay here; the child reaches them through the pipe.
        remedy=(diagnosis, dataclasses.replace(heal_input, services=Services())),
    )
    found, stopped = _round(_context(), job, services, cancel)
    if stopped is None and isinstance(found.remedy, Remedy):
        return found.remedy
    if stopped is None and isinstance(found.remedy, str):
        why = found.remedy
    else:
        why = budget.describe(stopped or "the fix process ended without an answer")
    return Remedy(diagnosis, reason=f"working out the fix was stopped: {why}")
