"""Measure webhook-delivery enqueue speed: throughput and ack latency (call -> committed).

    .venv/bin/python benchmarks/bench_queue.py                      # SQLite temp file
    .venv/bin/python benchmarks/bench_queue.py --url postgresql://postgres@127.0.0.1/test

Three runs, each on a fresh database:

* ``serial``  -- one caller at a time: the cost of one durable commit (the no-batching rate);
* ``open-loop`` -- deliveries arrive at ``--rate`` per second regardless of how fast we answer
  (how GitHub behaves); reports achieved rate and latency percentiles: the target is
  >= 500/s with p99 <= 50 ms on SQLite;
* ``burst``   -- ``--burst`` deliveries at once: the most the group-commit writer can absorb.

Durability is real: SQLite runs in WAL with synchronous=FULL, so every batch is fsynced before
any caller in it gets its answer. The HTTP layer is not included (see the server's benchmark).
For PostgreSQL a throwaway schema is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.db import Database, mask_url
from bot.migrate import migrate
from bot.queue import JobQueue

PAYLOAD = json.dumps(
    {"ref": "refs/heads/main", "commits": [{"id": "a" * 40, "message": "x" * 200}] * 3}
).encode()


@contextlib.asynccontextmanager
async def fresh_database(url: str | None) -> AsyncIterator[Database]:
    if url is None or url.startswith("sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            db = await Database.connect(url or f"sqlite:///{tmp}/bench.db")
            try:
                await migrate(db)
                yield db
            finally:
                await db.close()
        return
    import psycopg

    schema = f"pw_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in url else "?"
    db = await Database.connect(f"{url}{sep}options=-csearch_path%3D{schema}")
    try:
        await migrate(db)
        yield db
    finally:
        await db.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


async def timed_enqueue(queue: JobQueue, n: int, latencies: list[float]) -> None:
    start = time.perf_counter()
    stored = await queue.enqueue_delivery(f"bench-{n}", "push", None, 1, f"o/r{n % 50}", PAYLOAD)
    latencies.append(time.perf_counter() - start)
    if not stored:
        raise AssertionError("fresh delivery reported as duplicate")


def summary(name: str, count: int, seconds: float, latencies: list[float], batches: int) -> str:
    ms = sorted(x * 1000 for x in latencies)
    p = statistics.quantiles(ms, n=100) if len(ms) > 1 else ms * 99
    return (
        f"{name:10s} n={count:5d} rate={count / seconds:7.0f}/s  p50={p[49]:6.1f} ms"
        f"  p99={p[98]:6.1f} ms  max={ms[-1]:6.1f} ms  batches={batches} "
        f"(avg {count / max(batches, 1):.1f}/commit)"
    )


async def serial(url: str | None, count: int) -> str:
    async with fresh_database(url) as db:
        queue, latencies = JobQueue(db), []
        start = time.perf_counter()
        for n in range(count):
            await timed_enqueue(queue, n, latencies)
        return summary(
            "serial", count, time.perf_counter() - start, latencies, queue.batches_written
        )


async def open_loop(url: str | None, rate: float, seconds: float) -> str:
    async with fresh_database(url) as db:
        queue, latencies = JobQueue(db), []
        count = int(rate * seconds)
        tasks = []
        start = time.perf_counter()
        for n in range(count):
            # Arrivals on a fixed schedule; sleeping until each one's due time.
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(timed_enqueue(queue, n, latencies)))
        await asyncio.gather(*tasks)
        return summary(
            "open-loop", count, time.perf_counter() - start, latencies, queue.batches_written
        )


async def burst(url: str | None, count: int) -> str:
    async with fresh_database(url) as db:
        queue, latencies = JobQueue(db), []
        start = time.perf_counter()
        await asyncio.gather(*(timed_enqueue(queue, n, latencies) for n in range(count)))
        return summary(
            "burst", count, time.perf_counter() - start, latencies, queue.batches_written
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="DATABASE_URL (default: a temporary SQLite file)")
    parser.add_argument("--rate", type=float, default=1000, help="open-loop arrivals per second")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--serial", type=int, default=300)
    parser.add_argument("--burst", type=int, default=5000)
    args = parser.parse_args()
    print(f"database: {mask_url(args.url) if args.url else 'sqlite (temporary file)'}")
    print(await serial(args.url, args.serial))
    print(await open_loop(args.url, args.rate, args.seconds))
    print(await burst(args.url, args.burst))


if __name__ == "__main__":
    asyncio.run(main())
