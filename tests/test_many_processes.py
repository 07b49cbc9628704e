"""Two web and four worker processes on one PostgreSQL database, against the fake GitHub.

Every delivery is sent to one web process and redelivered at once to the other; installs and
pushes of three organisations come in together. Checked afterwards, at the fake GitHub and in
the database: every delivery processed exactly once, one PR per repository and one check run
per commit, no two jobs of a repository running at the same moment in any processes (from the
workers' own job logs), and the write budget held across processes (GitHub's content limits
on, at ten times GitHub's speed: nothing refused, one write at a time per installation).
Without PostgreSQL this skips (CI sets PATCHWELL_REQUIRE_POSTGRES=1, where it fails instead).
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from bot.db import Database
from bot.migrate import migrate
from tests import fleet
from tests.appfixtures import WEBHOOK_SECRET
from tests.processes import stop_all, wait_ready, web, worker

pytestmark = pytest.mark.asyncio

WEBS, WORKERS = 2, 4


def fleet_env(live_env: dict[str, str], database_url: str) -> dict[str, str]:
    return live_env | {
        "DATABASE_URL": database_url,
        "LOG_FORMAT": "json",
        "PATCHWELL_JOB_LEASE_SECONDS": "20",
        # GitHub's 80/min and 500/h at ten times the speed, with Patchwell's headroom.
        "PATCHWELL_WRITE_LIMITS": "60/6s,450/360s",
        "PATCHWELL_WRITE_INTERVAL": "0.1",
    }


async def test_two_web_and_four_worker_processes_process_every_delivery_once(
    live_env, fake_github, pg_url, tmp_path
) -> None:
    fake_github.set_content_limits(per_minute=80, per_hour=500, minute=6, hour=360)
    orgs = fleet.create_orgs(fake_github, count=2, repos_each=3)
    env = fleet_env(live_env, pg_url)
    db = await Database.connect(pg_url)
    await migrate(db)  # the release step
    logs = fleet.logs_dir(tmp_path)
    webs = [web(f"web{n}", env, logs) for n in range(WEBS)]
    workers = [worker(f"worker{n}", env, logs, concurrency=2) for n in range(WORKERS)]
    processes = [p.start() for p in webs + workers]
    sent = fleet.Sent()
    try:
        for process in webs:
            wait_ready(process)
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(
                *(
                    fleet.deliver(
                        session,
                        webs,
                        "installation",
                        fleet.install_payload(o),
                        WEBHOOK_SECRET,
                        sent,
                        index=n,
                    )
                    for n, o in enumerate(orgs)
                )
            )
            await fleet.wait_settled(db, timeout=120, alive=processes)
            # Then a person pushes to every repository at once (one scan per pushed commit).
            pushes = [
                fleet.deliver(
                    session,
                    webs,
                    "push",
                    fleet.push_payload(fake_github, org, repo, n),
                    WEBHOOK_SECRET,
                    sent,
                    index=n,
                )
                for n, (org, repo) in enumerate((o, r) for o in orgs for r in o.repos)
            ]
            await asyncio.gather(*pushes)
        await fleet.wait_settled(db, timeout=120, alive=processes)
        problems = await fleet.deliveries_processed_once(db, sent.ids)
    finally:
        codes = stop_all(processes)
        await db.close()

    assert codes == {p.name: 0 for p in processes}, fleet.log_tail(processes)  # clean stops
    # Each delivery reached both web processes: one stored it (202), the other saw a duplicate.
    assert sent.statuses == {202: len(sent.ids), 200: len(sent.ids)}, sent.statuses
    assert problems == []
    assert fleet.github_duplicates(fake_github, orgs) == []
    spans = fleet.job_spans(workers)
    assert fleet.overlapping_runs(spans) == []
    assert len({s.process for s in spans}) >= 3  # the work really was spread out
    pacing = fleet.write_pacing(fake_github, orgs)
    assert pacing["refused"] == 0 and pacing["max_in_flight"] == 1, pacing
    # An installation's writes came from several processes, paced as one.
    writers = [{s.process for s in spans if s.installation == o.installation_id} for o in orgs]
    assert max(len(w) for w in writers) >= 2, writers
