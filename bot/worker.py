"""Runs queued jobs: bounded concurrency, leases kept alive, retries with backoff.

Usage::

    worker = Worker(queue, run_job, concurrency=4, lease_seconds=60, poll_interval=1.0,
                    max_backoff=3600, rng=random.Random(), on_job_done=observer)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    worker.wake()        # after an in-process enqueue: claim now instead of at the next poll
    stop.set(); await task

``run_job(job)`` is the integrator's dispatcher. Its outcome decides the job's fate:

* returns -> ``done``;
* raises :class:`bot.errors.TransientError` -> retried after a full-jitter exponential backoff
  (``rng.uniform(0, min(max_backoff, base_backoff * 2 ** (attempt - 1)))``), and never sooner
  than the error's ``retry_after``; after ``job.max_attempts`` attempts -> ``dead``;
* raises :class:`bot.errors.Deferred` -> queued again in its ``retry_after`` seconds, the
  attempt not counted (it only had to wait for GitHub's limits); past ``MAX_DEFERRALS`` a
  deferral counts as a transient failure, so a job cannot wait forever unseen;
* raises anything else -> ``dead`` at once with ``"<ExceptionType>: <message>"``.

Error text is scrubbed of anything token-shaped (:func:`scrub_secrets`) and bounded before
it is stored or logged -- a handler's exception message may quote a URL or header.

While a job runs, a heartbeat renews its lease every ``lease_seconds / 3``; if the lease is
lost (the job was taken over after a stall) the job is cancelled and left to its new owner.

Stopping (SIGTERM; see PROD.md "Stopping"): once ``stop`` is set no new job is claimed; running
jobs get ``shutdown_grace`` seconds to finish (their leases kept alive), or less if
:meth:`Worker.hurry` is called (a second signal); the rest are cancelled and released back to
the queue at once (the attempt does not count), so another worker redoes them from the start --
every write a job makes is idempotent (a branch, commit or PR found on GitHub is adopted, never
made twice). A handed-back job waits ``handback_delay`` seconds before anyone claims it: a write
it had sent may still be carried out (GitHub keeps working on a request the client gave up
on), and a redo that looked before it landed would make a second check run. Handing back
takes at most ``handback_seconds``; a job whose release could not be
recorded in time (database away) is retaken when its lease expires. So ``run`` returns within
``shutdown_grace + handback_seconds`` of ``stop``.

Each finished job logs one line on logger ``patchwell.worker`` with ``extra`` fields job_id,
kind, event, action, installation, repository, outcome, duration_ms, attempt, started_at and
ended_at (epoch seconds: after the claim committed, before the outcome is recorded -- so two
jobs of one repository, in any processes, never show overlapping spans), and calls
``on_job_done(job, outcome, duration_s)`` (outcome: done | retry | deferred | dead | lost |
released).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import re
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.errors import Deferred, TransientError
from bot.queue import MAX_ERROR_CHARS, Job, JobQueue, bound_error
from fixers.token_shapes import replace_jwts

__all__ = ["Worker", "backoff_delay", "scrub_secrets"]

log = logging.getLogger("patchwell.worker")

JobObserver = Callable[[Job, str, float], None]
#: Deferrals of one job before further ones count as attempts.
MAX_DEFERRALS = 200
#: Seconds a stopping worker gives cancelled jobs to record their release.
HANDBACK_SECONDS = 5.0

# Token shapes our own errors could quote (GitHub tokens, JWTs, auth headers, URL passwords).
_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(gh[pousr]_)[A-Za-z0-9]{16,}"), r"\1****"),
    (re.compile(r"\b(github_pat_)[A-Za-z0-9_]{16,}"), r"\1****"),
    (re.compile(r"(?i)\b(bearer|token|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 ****"),
    (re.compile(r"(://[^/\s:@]+:)[^@\s/]+@"), r"\1****@"),
    (re.compile(r"(?i)\b(password|secret|token|api[_-]?key)=[^&\s]+"), r"\1=****"),
)


def scrub_secrets(text: str) -> str:
    """Mask token-shaped substrings so an exception message can be stored and logged."""
    text = replace_jwts(text, lambda _token: "<jwt ****>")
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def backoff_delay(
    attempt: int,
    rng: random.Random,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
) -> float:
    """Full-jitter exponential backoff for the ``attempt``-th failure (1-based).

    Full jitter spreads retries of many jobs that failed together (a GitHub outage) instead
    of making them hammer the API in lockstep.
    """
    ceiling = min(cap, base * 2 ** min(max(attempt - 1, 0), 62))
    delay = rng.uniform(0, ceiling)
    if retry_after is not None:
        delay = max(delay, float(retry_after))  # GitHub said how long: never sooner
    return delay


def _describe(exc: BaseException) -> str:
    message = str(exc)
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return bound_error(scrub_secrets(text), MAX_ERROR_CHARS)


@dataclass(slots=True)
class _Span:
    started_at: float
    ended_at: float | None = None


class Worker:
    """Claims and runs jobs from a :class:`~bot.queue.JobQueue` (see module docstring)."""

    def __init__(
        self,
        queue: JobQueue,
        run_job: Callable[[Job], Awaitable[None]],
        *,
        concurrency: int = 4,
        lease_seconds: float = 60,
        poll_interval: float = 1.0,
        max_backoff: float = 3600,
        base_backoff: float = 5.0,
        rng: random.Random | None = None,
        on_job_done: JobObserver | None = None,
        shutdown_grace: float = 20.0,
        handback_seconds: float = HANDBACK_SECONDS,
        handback_delay: float = 0.0,
        worker_id: str | None = None,
    ) -> None:
        if concurrency < 1 or lease_seconds <= 0 or poll_interval <= 0:
            raise ValueError("concurrency, lease_seconds and poll_interval must be positive")
        self.queue = queue
        self.run_job = run_job
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.base_backoff = base_backoff
        self.rng = rng if rng is not None else random.Random()
        self.on_job_done = on_job_done
        self.shutdown_grace = shutdown_grace
        self.handback_seconds = handback_seconds
        self.handback_delay = handback_delay
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._hurry = asyncio.Event()
        self._running: dict[asyncio.Task[None], int] = {}  # task -> its slot number

    def wake(self) -> None:
        """Claim now rather than at the next poll (call after an in-process enqueue)."""
        self._wake.set()

    def hurry(self) -> None:
        """Stop waiting for running jobs: hand them back now (a second stop signal)."""
        self._hurry.set()

    @property
    def running(self) -> int:
        """Jobs running now."""
        return sum(1 for t in self._running if not t.done())

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and run jobs until ``stop`` is set, then finish or release running ones."""
        free_slots = list(range(self.concurrency))
        try:
            while not stop.is_set():
                self._reap(free_slots)
                job = None
                if free_slots:
                    owner = f"{self.worker_id}/{free_slots[-1]}"
                    try:
                        job = await self.queue.claim(owner, self.lease_seconds)
                    except Exception as exc:  # database hiccup: log, back off, keep going
                        log.warning("claim failed: %s", _describe(exc))
                    if job is not None:
                        slot = free_slots.pop()
                        self._running[asyncio.create_task(self._run_one(job, owner))] = slot
                        continue  # there may be more work: claim again at once
                await self._idle(stop)
        finally:
            await self._shutdown()

    def _reap(self, free_slots: list[int]) -> None:
        for task in [t for t in self._running if t.done()]:
            free_slots.append(self._running.pop(task))

    async def _idle(self, stop: asyncio.Event) -> None:
        """Wait for a wake-up, a finished job, stop, or the poll interval."""
        waiters = {
            asyncio.create_task(self._wake.wait()),
            asyncio.create_task(stop.wait()),
        }
        if self._running:
            waiters.add(asyncio.create_task(asyncio.wait(set(self._running))))
        try:
            await asyncio.wait(waiters, timeout=self.poll_interval, return_when="FIRST_COMPLETED")
        finally:
            for waiter in waiters:
                waiter.cancel()
            self._wake.clear()

    async def _shutdown(self) -> None:
        if not self._running:
            return
        log.info("stopping: %d running jobs get %.0fs to finish", self.running, self.shutdown_grace)
        hurry = asyncio.create_task(self._hurry.wait())
        try:
            await self._wait_or_hurry(hurry)
        finally:
            hurry.cancel()
        pending = {t for t in self._running if not t.done()}
        for task in pending:
            task.cancel()  # each hands its job back (``released``)
        if pending:
            _, stuck = await asyncio.wait(pending, timeout=self.handback_seconds)
            if stuck:
                log.warning(
                    "%d jobs could not be handed back in time; their leases will expire",
                    len(stuck),
                )
        self._running.clear()

    async def _wait_or_hurry(self, hurry: asyncio.Task[bool]) -> None:
        """Until every running job finished, the grace is over, or :meth:`hurry`."""
        deadline = asyncio.get_running_loop().time() + self.shutdown_grace
        while not hurry.done():
            pending = {t for t in self._running if not t.done()}
            left = deadline - asyncio.get_running_loop().time()
            if not pending or left <= 0:
                return
            await asyncio.wait({*pending, hurry}, timeout=left, return_when="FIRST_COMPLETED")

    async def _run_one(self, job: Job, owner: str) -> None:
        started = time.monotonic()
        span = _Span(time.time())
        lost = asyncio.Event()
        work = asyncio.create_task(self.run_job(job))
        beat = asyncio.create_task(self._heartbeat(job, owner, work, lost))
        outcome = "done"
        error: str | None = None
        try:
            try:
                await asyncio.shield(work)  # shield: our own cancellation is handled below
            finally:
                span.ended_at = time.time()
                beat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beat
        except asyncio.CancelledError:
            if lost.is_set():
                outcome = "lost"
            else:  # shutdown: stop the handler, hand the job back
                work.cancel()
                with contextlib.suppress(BaseException):
                    await work
                outcome = "released"
                await self._settle(self.queue.release(job.id, owner, self.handback_delay))
        except Deferred as exc:
            if job.deferrals >= MAX_DEFERRALS:
                outcome, error = await self._transient(job, owner, exc)
            else:
                outcome, error = "deferred", _describe(exc)
                await self._settle(
                    self.queue.defer(job.id, owner, exc.reason, exc.retry_after or 1.0)
                )
        except TransientError as exc:
            outcome, error = await self._transient(job, owner, exc)
        except Exception as exc:
            outcome = "dead"
            error = _describe(exc)
            await self._settle(self.queue.bury(job.id, owner, error))
        else:
            if not await self._settle(self.queue.complete(job.id, owner)):
                outcome = "lost"
        self._report(job, outcome, time.monotonic() - started, error, span)

    async def _transient(self, job: Job, owner: str, exc: TransientError) -> tuple[str, str]:
        """Retry later with backoff, or bury after the last attempt; (outcome, error)."""
        error = _describe(exc)
        if job.attempts >= job.max_attempts:
            error = f"gave up after {job.attempts} attempts; last: {error}"
            await self._settle(self.queue.bury(job.id, owner, error))
            return "dead", error
        delay = backoff_delay(
            job.attempts,
            self.rng,
            base=self.base_backoff,
            cap=self.max_backoff,
            retry_after=exc.retry_after,
        )
        await self._settle(self.queue.retry_later(job.id, owner, error, delay))
        return "retry", error

    async def _settle(self, update: Awaitable[bool]) -> bool:
        """Record a job's outcome; a failure here leaves the lease to expire and retry."""
        try:
            return await update
        except Exception as exc:
            log.warning("could not record job outcome: %s", _describe(exc))
            return False

    async def _heartbeat(
        self, job: Job, owner: str, work: asyncio.Task[None], lost: asyncio.Event
    ) -> None:
        interval = self.lease_seconds / 3
        while not work.done():
            await asyncio.sleep(interval)
            try:
                held = await self.queue.heartbeat(job.id, owner, self.lease_seconds)
            except Exception as exc:  # transient DB trouble: the lease still has 2/3 left
                log.warning("heartbeat failed for job %s: %s", job.id, _describe(exc))
                continue
            if not held:
                lost.set()
                work.cancel()  # someone else owns the job now; stop duplicating its effects
                return

    def _report(
        self, job: Job, outcome: str, duration_s: float, error: str | None, span: _Span
    ) -> None:
        extra = {
            "job_id": job.id,
            "kind": job.kind,
            "event": job.event,
            "action": job.action,
            "installation": job.installation_id,
            "repository": job.repository,
            "outcome": outcome,
            "duration_ms": round(duration_s * 1000, 1),
            "attempt": job.attempts,
            "started_at": round(span.started_at, 6),
            "ended_at": round(span.ended_at or time.time(), 6),
        }
        if error:
            extra["error"] = error
        level = logging.WARNING if outcome in ("dead", "lost") else logging.INFO
        log.log(level, "job %s %s", job.id, outcome, extra=extra)
        if self.on_job_done is not None:
            try:
                self.on_job_done(job, outcome, duration_s)
            except Exception as exc:  # a metrics bug must not kill the worker
                log.warning("on_job_done observer failed: %s", _describe(exc))
