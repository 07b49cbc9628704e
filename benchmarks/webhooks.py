"""Webhook acknowledgement benchmark: N concurrent senders against a real `patchwell serve`.

    .venv/bin/python benchmarks/webhooks.py                     # SQLite and PostgreSQL
    .venv/bin/python benchmarks/webhooks.py --db sqlite --deliveries 5000 --senders 32

Starts `patchwell serve --no-worker` as a subprocess (so only the request path
is measured: verify, store durably, answer), sends signed `push` deliveries built
from the real example payload, and prints throughput, p50/p99/max
acknowledgement latency, and the number of jobs stored against deliveries sent
(every 202 must be a stored job: zero lost). PostgreSQL runs in a fresh schema at
PATCHWELL_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test)
and is skipped with the reason when unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
# Python puts this script's directory first on sys.path, where benchmarks/secrets.py
# would shadow the standard library's secrets module: put the repository root there.
sys.path[0] = str(ROOT)

from tests.dbfixtures import fresh_pg_schema, postgres_admin_url, postgres_unreachable_reason  # noqa: E402
from tests.fakegithub import generate_private_key_pem  # noqa: E402
from tests.webhooks import delivery, example  # noqa: E402

SECRET = "bench-webhook-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_ready(session: aiohttp.ClientSession, url: str, proc: subprocess.Popen) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(f"patchwell serve exited with {proc.returncode}")
        try:
            async with session.get(url + "/readyz") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError("patchwell serve did not become ready")


async def send_all(url: str, bodies: list, senders: int) -> tuple[list[float], dict[int, int]]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue = asyncio.Queue()
    for item in bodies:
        queue.put_nowait(item)
    connector = aiohttp.TCPConnector(limit=senders)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def sender() -> None:
            while True:
                try:
                    d = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                async with session.post(url + "/webhook", data=d.body, headers=d.headers) as r:
                    await r.read()
                    latencies.append(time.perf_counter() - started)
                    statuses[r.status] = statuses.get(r.status, 0) + 1

        await asyncio.gather(*(sender() for _ in range(senders)))
    return latencies, statuses


async def count_jobs(database_url: str) -> int:
    from bot.db import Database

    db = await Database.connect(database_url)
    try:
        row = await db.fetchone("SELECT count(*) FROM jobs")
        return int(row[0])
    finally:
        await db.close()


async def run_one(label: str, database_url: str, deliveries: int, senders: int) -> dict:
    port = free_port()
    env = {
        **os.environ,
        "PATCHWELL_APP_ID": "1",
        "PATCHWELL_PRIVATE_KEY": generate_private_key_pem(),
        "PATCHWELL_WEBHOOK_SECRET": SECRET,
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "LOG_LEVEL": "warning",
        "PYTHONPATH": str(ROOT),
    }
    workdir = tempfile.mkdtemp(prefix="pw-bench-")
    if not database_url.startswith("sqlite"):
        subprocess.run(
            [sys.executable, "-m", "bot.cli", "migrate"],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--no-worker"],
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, url, proc)
        payload = example("push")
        body = json.dumps(payload).encode()
        items = [
            delivery("push", body, SECRET, delivery_id=str(uuid.uuid4())) for _ in range(deliveries)
        ]
        # Warm-up outside the measurement (connection set-up, first queries).
        await send_all(url, [delivery("push", body, SECRET) for _ in range(50)], 8)
        started = time.perf_counter()
        latencies, statuses = await send_all(url, items, senders)
        elapsed = time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    stored = await count_jobs(database_url) - 50
    latencies.sort()
    return {
        "db": label,
        "deliveries": deliveries,
        "senders": senders,
        "seconds": round(elapsed, 3),
        "throughput_per_s": round(deliveries / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2),
        "statuses": statuses,
        "jobs_stored": stored,
        "lost": statuses.get(202, 0) - stored,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--deliveries", type=int, default=3000)
    parser.add_argument("--senders", type=int, default=8)
    args = parser.parse_args()
    results = []
    if args.db in {"sqlite", "both"}:
        path = Path(tempfile.mkdtemp(prefix="pw-bench-")) / "bench.db"
        results.append(
            asyncio.run(run_one("sqlite", f"sqlite:///{path}", args.deliveries, args.senders))
        )
    if args.db in {"postgresql", "both"}:
        admin = postgres_admin_url()
        reason = postgres_unreachable_reason(admin)
        if reason:
            print(f"postgresql: skipped ({reason})")
        else:
            with fresh_pg_schema(admin) as url:
                results.append(
                    asyncio.run(run_one("postgresql", url, args.deliveries, args.senders))
                )
    for r in results:
        print(
            f"{r['db']:<11} {r['deliveries']} deliveries, {r['senders']} senders: "
            f"{r['throughput_per_s']}/s, ack p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, "
            f"max {r['max_ms']} ms; statuses {r['statuses']}; jobs stored {r['jobs_stored']}, "
            f"lost {r['lost']}"
        )
    return 0 if all(r["lost"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
