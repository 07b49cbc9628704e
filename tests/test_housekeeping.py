"""Housekeeping on real databases: the scheduled purge, ``patchwell jobs purge``, and the queue
and budget gauges ``/metrics`` reads from the database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.budget import DEFAULT
from bot.db import Database
from bot.housekeeping import Housekeeper, PurgeReport, purge
from bot.migrate import migrate
from bot.queue import JobQueue
from bot.service import PARTS

pytestmark = pytest.mark.asyncio
ROOT = Path(__file__).resolve().parents[1]
DAY = 86400.0
SECONDARY = b'{"message": "You have exceeded a secondary rate limit."}'


async def finished(queue: JobQueue, delivery_id: str, *, dead: bool = False) -> int:
    assert await queue.enqueue_delivery(delivery_id, "push", None, 1, f"o/{delivery_id}", b"{}")
    job = await queue.claim("w", 30)
    assert job is not None
    if dead:
        await queue.bury(job.id, "w", "boom")
    else:
        await queue.complete(job.id, "w")
    return job.id


async def log_row(db: Database, job_id: int, recorded_at: float) -> None:
    await db.execute(
        "INSERT INTO event_log (job_id, handler, summary, recorded_at) VALUES (?, 'push', '', ?)",
        (job_id, recorded_at),
    )


async def test_purge_takes_old_done_jobs_their_deliveries_and_event_log(migrated_db) -> None:
    start = time.time() - 20 * DAY
    clock = [start]
    queue = JobQueue(migrated_db, now=lambda: clock[0])
    old = await finished(queue, "old")
    dead = await finished(queue, "dead", dead=True)
    await log_row(migrated_db, old, start)
    await log_row(migrated_db, dead, start)
    clock[0] = time.time()
    recent = await finished(queue, "recent")
    await log_row(migrated_db, recent, clock[0])

    report = await purge(migrated_db, queue, 14 * DAY)

    assert report == PurgeReport(jobs=1, deliveries=1, event_log=1)
    assert await queue.get(old) is None
    assert (await queue.get(dead)).state == "dead"  # an operator's to-do, never purged
    assert (await queue.get(recent)).state == "done"
    ids = await migrated_db.fetchall("SELECT delivery_id FROM deliveries ORDER BY delivery_id")
    assert ids == [("dead",), ("recent",)]
    logged = await migrated_db.fetchall("SELECT job_id FROM event_log ORDER BY job_id")
    assert logged == [(dead,), (recent,)]


async def test_housekeeper_purges_on_its_own_schedule(migrated_db) -> None:
    clock = [time.time() - 20 * DAY]
    queue = JobQueue(migrated_db, now=lambda: clock[0])
    await finished(queue, "a")
    clock[0] = time.time()
    reports: list[PurgeReport] = []
    keeper = Housekeeper(
        migrated_db, queue, 14 * DAY, every=0.05, first_within=0.0, on_purge=reports.append
    )
    stop = asyncio.Event()
    task = asyncio.create_task(keeper.run(stop))
    try:
        deadline = time.monotonic() + 10
        while len(reports) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        # The first turn purged the old job; later turns found nothing and kept running.
        clock[0] -= 20 * DAY
        await finished(queue, "b")
        clock[0] = time.time()
        while not any(r.jobs for r in reports[3:]) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert reports[0].jobs == 1 and reports[1].jobs == 0
    assert sum(r.jobs for r in reports) == 2
    assert await queue.list_jobs(states=("done",)) == []


async def test_housekeeper_stops_at_once_even_before_its_first_turn(migrated_db) -> None:
    keeper = Housekeeper(migrated_db, JobQueue(migrated_db), DAY, first_within=3600.0)
    stop = asyncio.Event()
    task = asyncio.create_task(keeper.run(stop))
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 2)


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_jobs_purge_command(sqlite_url: str) -> None:
    db = await Database.connect(sqlite_url)
    try:
        await migrate(db)
        clock = [time.time() - 10 * DAY]
        queue = JobQueue(db, now=lambda: clock[0])
        ten_days = await finished(queue, "ten-days")
        clock[0] = time.time()
        today = await finished(queue, "today")
        env = {"DATABASE_URL": sqlite_url}

        kept = run_cli(env, "jobs", "purge")  # the default, 14 days
        assert kept.returncode == 0, kept.stderr
        assert "purged 0 done jobs, 0 delivery ids, 0 event log rows older than 14d" in kept.stdout
        refused = run_cli(env | {"PATCHWELL_RETENTION": "1d"}, "jobs", "purge")
        assert refused.returncode == 2 and "PATCHWELL_RETENTION is malformed" in refused.stderr
        assert "at least 3d" in run_cli(env, "jobs", "purge", "--older-than", "2d").stderr

        weekly = run_cli(env | {"PATCHWELL_RETENTION": "7d"}, "jobs", "purge")
        assert weekly.returncode == 0, weekly.stderr
        assert "purged 1 done jobs, 1 delivery ids" in weekly.stdout and "7d" in weekly.stdout
        assert await queue.get(ten_days) is None and await queue.get(today) is not None
    finally:
        await db.close()


def gauge(text: str, name: str) -> float:
    (line,) = [x for x in text.splitlines() if x.startswith(name + " ")]
    return float(line.split()[1])


async def test_metrics_show_oldest_job_budget_left_and_pauses(web) -> None:
    client, app = web
    parts = app[PARTS]
    await parts.queue.enqueue(
        "scan", {}, repository="o/a", installation_id=7, run_at=time.time() - 90
    )
    text = await (await client.get("/metrics")).text()
    assert gauge(text, "patchwell_queue_oldest_queued_seconds") >= 90
    assert 'patchwell_queue_jobs{state="queued"} 1.0' in text
    assert gauge(text, "patchwell_write_budget_pauses") == 0

    slot = await parts.budget.acquire(7, DEFAULT, None)
    await parts.budget.release(slot, status=201)
    slot = await parts.budget.acquire(7, DEFAULT, None)
    await parts.budget.release(slot, status=403, headers={"Retry-After": "60"}, body=SECONDARY)
    text = await (await client.get("/metrics")).text()
    # The test environment allows 100000 writes a minute; two were taken.
    assert gauge(text, "patchwell_write_budget_remaining") == 100000 - 2
    assert gauge(text, "patchwell_write_budget_paused_installations") == 1
    assert gauge(text, "patchwell_write_budget_pauses") == 1
    # Labels stay bounded: no installation or repository appears in a metric.
    assert "o/a" not in text and 'installation="' not in text
