"""Wiring the processes together: ``serve``, ``worker``, ``migrate`` and ``jobs``.

Each process validates its whole configuration first and stops with one
message naming every bad variable. On SQLite ``serve`` applies migrations
itself and runs the worker in-process (one process, zero set-up); on
PostgreSQL migrations are the release step's job (``patchwell migrate``) and
``serve`` refuses to start on an outdated schema rather than guess.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web

from bot.budget import BudgetLimits, Window, WriteBudget
from bot.config import (
    Settings,
    format_duration,
    load_database_url,
    load_retention,
    load_settings,
    mask_url,
)
from bot.db import Database
from bot.dispatch import JobRunner
from bot.errors import ConfigError
from bot.github import GITHUB_REQUEST_CEILING, AppAuth, GitHubClients, new_session
from bot.housekeeping import Housekeeper, PurgeReport, purge
from bot.logs import configure_logging
from bot.metrics import Metrics
from bot.migrate import current_version, load_migrations, migrate
from bot.queue import JobQueue
from bot.scan.services import services_from_env
from bot.server import create_app
from bot.worker import Worker
from fixers.isolation import start_scan_server

log = logging.getLogger("patchwell")

#: Seconds ``serve`` waits for webhook requests in flight when it stops (SIGTERM).
WEB_DRAIN_SECONDS = 5.0


@dataclass
class Parts:
    settings: Settings
    db: Database
    queue: JobQueue
    metrics: Metrics
    budget: WriteBudget


def write_budget(settings: Settings, db: Database, metrics: Metrics) -> WriteBudget:
    limits = BudgetLimits(
        windows=tuple(Window(n, seconds) for n, seconds in settings.write_windows),
        interval=settings.write_interval,
    )
    return WriteBudget(
        db, limits, on_pause=lambda reason: metrics.write_pauses.labels(reason).inc()
    )


#: The process's parts, reachable from the app (for operators' tooling and tests).
PARTS: web.AppKey[Parts] = web.AppKey("patchwell_parts", Parts)


async def open_database(url: str, *, auto_migrate: bool) -> Database:
    try:
        db = await Database.connect(url)
    except Exception as exc:
        raise ConfigError(
            f"DATABASE_URL: cannot connect to {mask_url(url)} ({type(exc).__name__})"
        ) from None
    latest = max((m.version for m in load_migrations()), default=0)
    version = await current_version(db)
    if version < latest:
        if auto_migrate:
            applied = await migrate(db)
            log.info("applied migrations", extra={"migrations": ",".join(applied)})
        else:
            await db.close()
            raise ConfigError(
                f"the database schema is at version {version}, this release needs {latest}: "
                "run `patchwell migrate` (the Procfile's release step) first"
            )
    return db


@asynccontextmanager
async def open_parts(environ: Mapping[str, str]) -> AsyncIterator[Parts]:
    settings = load_settings(environ)
    configure_logging(
        settings.log_format,
        settings.log_level,
        secrets=[settings.webhook_secret.reveal(), settings.private_key.reveal()],
    )
    db = await open_database(
        settings.database_url, auto_migrate=settings.database.dialect == "sqlite"
    )
    queue = JobQueue(db)
    metrics = Metrics()
    try:
        yield Parts(settings, db, queue, metrics, write_budget(settings, db, metrics))
    finally:
        await queue.close()  # answers every delivery still waiting for its commit
        await db.close()


@dataclass
class RunningWorker:
    """A worker started by :func:`running_worker`; ``stop()`` begins its graceful stop."""

    worker: Worker
    stopping: asyncio.Event

    def stop(self) -> None:
        """Stop claiming; running jobs get the grace (``PATCHWELL_SHUTDOWN_GRACE``)."""
        self.stopping.set()

    def wake(self) -> None:
        self.worker.wake()


@asynccontextmanager
async def running_worker(parts: Parts, concurrency: int) -> AsyncIterator[RunningWorker]:
    """A worker with its own GitHub session, stopped (gracefully) on exit."""
    async with new_session(parts.settings.github_timeout) as session:
        auth = AppAuth(parts.settings.app_id, parts.settings.private_key.reveal())
        clients = GitHubClients(
            session, auth, parts.settings.github_api_url, parts.metrics, budget=parts.budget
        )
        runner = JobRunner(
            db=parts.db,
            clients=clients,
            settings=parts.settings,
            queue=parts.queue,
            services=services_from_env(parts.settings.env),
        )
        worker = Worker(
            parts.queue,
            runner,
            concurrency=concurrency,
            lease_seconds=parts.settings.job_lease_seconds,
            rng=random.Random(),
            on_job_done=lambda job, outcome, seconds: parts.metrics.job_seconds.labels(
                job.kind, outcome
            ).observe(seconds),
            shutdown_grace=parts.settings.shutdown_grace,
            base_backoff=parts.settings.retry_backoff,
            # A job handed back mid-write is redone only once GitHub is done with the write.
            handback_delay=GITHUB_REQUEST_CEILING,
        )
        housekeeper = Housekeeper(
            parts.db,
            parts.queue,
            parts.settings.retention.total_seconds(),
            on_purge=lambda report: count_purge(parts.metrics, report),
        )
        # The scan forkserver warms up beside the first claims, not inside the first scan.
        warming = asyncio.create_task(asyncio.to_thread(start_scan_server), name="scan-warmup")
        warming.add_done_callback(_warm_up_done)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop), name="patchwell-worker")
        chores = asyncio.create_task(housekeeper.run(stop), name="patchwell-housekeeping")
        try:
            yield RunningWorker(worker, stop)
        finally:
            stop.set()
            await asyncio.gather(task, chores)
            with contextlib.suppress(Exception):
                await warming  # its failure was logged when it happened


def _warm_up_done(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        # Not fatal: the first scan starts the forkserver itself (and reports its failure).
        log.warning("scan forkserver warm-up failed: %s", type(task.exception()).__name__)


def count_purge(metrics: Metrics, report: PurgeReport) -> None:
    metrics.purged.labels("jobs").inc(report.jobs)
    metrics.purged.labels("deliveries").inc(report.deliveries)
    metrics.purged.labels("event_log").inc(report.event_log)


def serve(
    environ: Mapping[str, str], *, port: int | None, host: str, inline_worker: bool | None
) -> int:
    settings = load_settings(environ)  # refuse a bad configuration before anything starts
    web.run_app(
        build_app(environ, inline_worker=inline_worker),
        host=host,
        port=port if port is not None else settings.port,
        print=None,
        access_log=None,
        # Webhook requests only verify and store: a few seconds drain them. The inline
        # worker's grace runs at the same time (it is told to stop in on_shutdown).
        shutdown_timeout=WEB_DRAIN_SECONDS,
    )
    return 0


async def build_app(
    environ: Mapping[str, str], *, inline_worker: bool | None = None
) -> web.Application:
    """The whole web process on the running loop: database, queue, metrics, inline worker."""
    stack = AsyncExitStack()
    parts = await stack.enter_async_context(open_parts(environ))
    wants_worker = inline_worker if inline_worker is not None else parts.settings.runs_inline_worker
    workers: list[RunningWorker] = []

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        async with stack:
            if wants_worker:
                workers.append(
                    await stack.enter_async_context(
                        running_worker(parts, parts.settings.worker_concurrency)
                    )
                )
            yield

    app = create_app(
        parts.settings,
        db=parts.db,
        queue=parts.queue,
        metrics=parts.metrics,
        budget=parts.budget,
        # An in-process worker starts on a stored delivery at once instead of at its next poll.
        on_stored=lambda: [w.wake() for w in workers] and None,
        background=[lifetime],
    )
    app[PARTS] = parts

    async def stop_claiming(app: web.Application) -> None:
        # SIGTERM: the listener is closed; stop claiming now so the worker's grace runs while
        # in-flight webhooks drain, not after.
        for running in workers:
            running.stop()

    app.on_shutdown.append(stop_claiming)
    log.info(
        "patchwell serving",
        extra={"database": mask_url(parts.settings.database_url), "inline_worker": wants_worker},
    )
    return app


def run_worker_process(environ: Mapping[str, str], *, concurrency: int | None) -> int:
    """``patchwell worker``: SIGTERM/SIGINT stop it gracefully, a second one hurries it."""

    async def main() -> None:
        async with open_parts(environ) as parts:
            stop = asyncio.Event()
            signals = StopSignals(stop)
            signals.install(asyncio.get_running_loop())
            async with running_worker(
                parts, concurrency or parts.settings.worker_concurrency
            ) as running:
                signals.worker = running.worker
                log.info("patchwell worker started")
                await stop.wait()
                log.info(
                    "patchwell worker stopping",
                    extra={
                        "running_jobs": running.worker.running,
                        "grace_seconds": parts.settings.shutdown_grace,
                    },
                )
            log.info("patchwell worker stopped")

    asyncio.run(main())
    return 0


@dataclass
class StopSignals:
    """The first SIGTERM/SIGINT stops gracefully; the next ones hand running jobs back now."""

    stop: asyncio.Event
    worker: Worker | None = None

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, self.received)

    def received(self) -> None:
        if self.stop.is_set() and self.worker is not None:
            self.worker.hurry()
        self.stop.set()


async def run_migrate(environ: Mapping[str, str], target: int | None) -> int:
    url = load_database_url(environ)
    db = await Database.connect(url)
    try:
        before = await current_version(db)
        applied = await migrate(db, target)
        after = await current_version(db)
    finally:
        await db.close()
    if applied:
        verb = "applied" if after >= before else "reverted"
        print(f"{verb}: {', '.join(applied)} (schema version {before} -> {after})")
    else:
        print(f"nothing to do (schema version {after})")
    return 0


async def jobs_list(environ: Mapping[str, str], states: tuple[str, ...], limit: int) -> int:
    db = await open_database(load_database_url(environ), auto_migrate=False)
    try:
        jobs = await JobQueue(db).list_jobs(states=states, limit=limit)
    finally:
        await db.close()
    if not jobs:
        print(f"no {'/'.join(states)} jobs")
        return 0
    print(f"{'ID':>6}  {'STATE':<8} {'ATTEMPTS':>8}  {'RUN AT (UTC)':<19}  {'JOB':<40}  LAST ERROR")
    for job in jobs:
        what = job.event or job.kind
        if job.action:
            what += f".{job.action}"
        if job.repository:
            what += f" {job.repository}"
        run_at = datetime.fromtimestamp(job.run_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        error = (job.last_error or "").replace("\n", " ")[:80]
        print(
            f"{job.id:>6}  {job.state:<8} {job.attempts:>8}  {run_at:<19}  {what:<40.40}  {error}"
        )
    return 0


async def jobs_purge(environ: Mapping[str, str], older_than: timedelta | None) -> int:
    retention = older_than or load_retention(environ)
    db = await open_database(load_database_url(environ), auto_migrate=False)
    try:
        report = await purge(db, JobQueue(db), retention.total_seconds())
    finally:
        await db.close()
    print(f"purged {report} older than {format_duration(retention)}")
    return 0


async def jobs_retry(environ: Mapping[str, str], job_id: int) -> int:
    db = await open_database(load_database_url(environ), auto_migrate=False)
    try:
        ok = await JobQueue(db).retry(job_id)
    finally:
        await db.close()
    if not ok:
        print(f"job {job_id} not found, or it is running or done", file=sys.stderr)
        return 1
    print(f"job {job_id} requeued")
    return 0
