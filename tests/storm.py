"""The chaos storm: a fleet of real processes under random SIGKILLs, a PostgreSQL crash and
restart, and a fake GitHub failing a share of its answers -- then calm, and the count.

Used by ``tests/test_chaos.py`` (a short storm) and ``benchmarks/chaos.py`` (a long one). It
stays on the loopback interface, runs against a PostgreSQL cluster the caller started for it
(never the system one: it is crashed on purpose), and stops by itself after ``seconds``.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bot.db import Database
from bot.migrate import migrate
from tests import fleet
from tests.fakegithub.server import FakeGitHub
from tests.pgcluster import Cluster
from tests.processes import Process, stop_all, wait_ready, web, worker

SECRET = "storm-webhook-secret"  # patchwell:allow


@dataclass(frozen=True)
class StormPlan:
    seconds: float = 8.0  # how long the storm lasts
    orgs: int = 2
    repos_each: int = 3
    webs: int = 2
    workers: int = 3
    chaos_rate: float = 0.10  # share of GitHub's answers that fail
    kill_every: float = 1.5  # seconds between two SIGKILLs (of a random worker or web process)
    pushes: int = 6  # pushes sent during the storm (after the installs)
    seed: int = 1
    settle_timeout: float = 120.0


@dataclass
class StormReport:
    plan: StormPlan
    kills: list[str] = field(default_factory=list)
    postgres_restarts: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    sent: fleet.Sent = field(default_factory=fleet.Sent)
    problems: list[str] = field(default_factory=list)  # deliveries not processed exactly once
    github: list[str] = field(default_factory=list)  # duplicates/missing at the fake GitHub
    stuck: list[tuple] = field(default_factory=list)  # jobs not done
    dead: list[tuple] = field(default_factory=list)
    storm_seconds: float = 0.0
    calm_seconds: float = 0.0


def storm_env(base: dict[str, str], database_url: str) -> dict[str, str]:
    return base | {
        "DATABASE_URL": database_url,
        "LOG_FORMAT": "json",
        "PATCHWELL_WEBHOOK_SECRET": SECRET,
        # A SIGKILLed worker's jobs are retaken within seconds; GitHub's slow answers are given
        # up after 2 s (the fake's "timeouts" answer after 2.5 s); retries start within a second.
        "PATCHWELL_JOB_LEASE_SECONDS": "3",
        "PATCHWELL_GITHUB_TIMEOUT": "2",
        "PATCHWELL_RETRY_BACKOFF": "0.5",
        "PATCHWELL_SHUTDOWN_GRACE": "5",
    }


class Fleet:
    """The processes, restartable under the same names."""

    def __init__(self, env: dict[str, str], logs: Path, plan: StormPlan) -> None:
        self.env, self.logs = env, logs
        self.webs = [web(f"web{n}", env, logs) for n in range(plan.webs)]
        self.workers = [worker(f"worker{n}", env, logs, concurrency=2) for n in range(plan.workers)]
        self.generations: dict[str, int] = {}

    @property
    def processes(self) -> list[Process]:
        return self.webs + self.workers

    def start(self) -> None:
        for process in self.processes:
            process.start()
        for process in self.webs:
            wait_ready(process)

    def replace(self, process: Process) -> Process:
        """A new process in the place of a killed one (a web one keeps its port)."""
        base = process.name.split(".")[0]
        generation = self.generations.get(base, 0) + 1
        self.generations[base] = generation
        name = f"{base}.{generation}"
        if process in self.webs:
            fresh = web(name, self.env, self.logs, port=process.port)
            self.webs[self.webs.index(process)] = fresh
        else:
            fresh = worker(name, self.env, self.logs, concurrency=2)
            self.workers[self.workers.index(process)] = fresh
        return fresh.start()

    def revive(self) -> None:
        for process in list(self.processes):
            if not process.alive:
                self.replace(process)
        for process in self.webs:
            wait_ready(process)


async def _kill_loop(fleet_: Fleet, plan: StormPlan, rng: random.Random, until: float, report):
    while time.monotonic() < until:
        await asyncio.sleep(plan.kill_every * rng.uniform(0.5, 1.5))
        if time.monotonic() >= until:
            return
        victim = rng.choice(fleet_.processes)
        victim.kill()
        report.kills.append(victim.name)
        await asyncio.sleep(0.3)
        fresh = fleet_.replace(victim)
        report.kills[-1] += f" -> {fresh.name}"


async def _postgres_restart(cluster: Cluster, at: float, report: StormReport) -> None:
    await asyncio.sleep(max(0.0, at - time.monotonic()))
    await asyncio.to_thread(cluster.crash)
    await asyncio.sleep(0.5)  # connections fail for a moment; webhooks answer 503
    await asyncio.to_thread(cluster.start)
    report.postgres_restarts += 1


async def _deliveries(
    fake: FakeGitHub, fleet_: Fleet, orgs, plan: StormPlan, rng: random.Random, report
) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        await asyncio.gather(
            *(
                fleet.deliver(
                    session,
                    fleet_.webs,
                    "installation",
                    fleet.install_payload(o),
                    SECRET,
                    report.sent,
                    index=n,
                )
                for n, o in enumerate(orgs)
            )
        )
        for n in range(plan.pushes):
            await asyncio.sleep(plan.seconds / max(plan.pushes, 1) * rng.uniform(0.3, 1.0))
            org = rng.choice(orgs)
            repo = rng.choice(org.repos)
            await fleet.deliver(
                session,
                fleet_.webs,
                "push",
                fleet.push_payload(fake, org, repo, n),
                SECRET,
                report.sent,
                index=n,
            )


async def run_storm(
    fake: FakeGitHub, cluster: Cluster, base_env: dict[str, str], tmp: Path, plan: StormPlan
) -> StormReport:
    """The whole storm, then calm until every job settled, then the count (see the module)."""
    report = StormReport(plan)
    rng = random.Random(plan.seed)
    orgs = fleet.create_orgs(fake, plan.orgs, plan.repos_each)
    env = storm_env(base_env, cluster.url)
    db = await Database.connect(cluster.url)
    await migrate(db)
    await db.close()
    fleet_ = Fleet(env, fleet.logs_dir(tmp), plan)
    fleet_.start()
    try:
        fake.set_chaos(plan.chaos_rate, seed=plan.seed, timeout_delay=2.5)
        started = time.monotonic()
        until = started + plan.seconds
        await asyncio.gather(
            _deliveries(fake, fleet_, orgs, plan, rng, report),
            _kill_loop(fleet_, plan, rng, until, report),
            _postgres_restart(cluster, started + plan.seconds / 2, report),
        )
        await asyncio.sleep(max(0.0, until - time.monotonic()))
        fake.set_chaos(0)
        report.faults = fake.chaos_faults()
        report.storm_seconds = time.monotonic() - started
        fleet_.revive()
        db = await Database.connect(cluster.url)
        try:
            calm = time.monotonic()
            await fleet.wait_settled(
                db, plan.settle_timeout, alive=fleet_.processes, horizon=3600.0
            )
            report.calm_seconds = time.monotonic() - calm
            report.problems = await fleet.deliveries_processed_once(db, report.sent.ids)
            # Settled means none is: kept as the record the report prints.
            report.stuck = await db.fetchall(
                "SELECT id, kind, repository, state, attempts, last_error FROM jobs"
                " WHERE state = 'running' OR (state = 'queued' AND run_at < ?)",
                (time.time() + 3600,),
            )
            report.dead = await db.fetchall(
                "SELECT id, kind, repository, attempts, last_error FROM jobs WHERE state = 'dead'"
            )
        finally:
            await db.close()
        report.github = fleet.github_duplicates(fake, orgs)
    finally:
        fake.set_chaos(0)
        stop_all(fleet_.processes)
    return report
