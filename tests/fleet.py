"""A fleet of real ``patchwell`` processes on one PostgreSQL database, driven over HTTP.

Shared by the many-process test, the chaos test and ``benchmarks/load.py``: the organisations
and their repositories on the fake GitHub, signed deliveries sent to the web processes (each
one redelivered to another web process, as GitHub's "Redeliver" and at-least-once delivery do),
and the checks made afterwards at the fake GitHub and in the database.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bot.db import Database
from tests import payloads
from tests.fakegithub.server import FakeGitHub
from tests.processes import Process
from tests.webhooks import delivery

# One hygiene PR (requests without a timeout) and one check run per commit scanned.
FILES = {"client.py": "import requests\n\n\ndef get(url):\n    return requests.get(url)\n"}
SETTLED_STATES = ("done", "dead")


@dataclass(frozen=True)
class Org:
    owner: str
    installation_id: int
    repos: tuple[str, ...]

    @property
    def full_names(self) -> list[str]:
        return [f"{self.owner}/{r}" for r in self.repos]


def create_orgs(
    fake: FakeGitHub, count: int, repos_each: int, *, first_id: int = 9000
) -> list[Org]:
    orgs = []
    for n in range(count):
        org = Org(f"org{n}", first_id + n, tuple(f"svc{r}" for r in range(repos_each)))
        for repo in org.repos:
            fake.create_repo(org.owner, repo, FILES)
        fake.add_installation(org.installation_id, org.owner, org.repos)
        orgs.append(org)
    return orgs


@dataclass
class Sent:
    """Deliveries sent, and what the web processes answered."""

    ids: list[str] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)  # status -> count
    ack_seconds: list[float] = field(default_factory=list)
    failed: int = 0  # connection refused/reset (a web process was down): GitHub would retry


def install_payload(org: Org) -> dict:
    return payloads.installation_event(
        installation_id=org.installation_id,
        owner=org.owner,
        repos=list(org.repos),
        owner_type="Organization",
    )


def push_payload(fake: FakeGitHub, org: Org, repo: str, n: int) -> dict:
    """A person pushes a commit to the default branch (the scan of the push follows)."""
    before = fake.branches(org.owner, repo)["main"]
    after = fake.push(org.owner, repo, "main", {f"notes/{n}.md": f"note {n}\n"}, f"note {n}")
    return payloads.push(
        owner=org.owner,
        repo=repo,
        installation_id=org.installation_id,
        before=before,
        after=after,
        added=[f"notes/{n}.md"],
    )


async def post(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> int | None:
    try:
        async with session.post(url + "/webhook", data=body, headers=headers) as response:
            await response.read()
            return response.status
    except (aiohttp.ClientError, TimeoutError):
        return None


async def deliver(
    session: aiohttp.ClientSession,
    webs: Sequence[Process],
    event: str,
    body: dict,
    secret: str,
    sent: Sent,
    *,
    index: int,
    redeliver: bool = True,
    attempts: int = 20,
) -> None:
    """Send one delivery to a web process (and, at once, again to the next one).

    Like GitHub, a delivery that got no answer is sent again (to whichever web process is up)
    until one answers 2xx.
    """
    d = delivery(event, body, secret)
    sent.ids.append(d.delivery_id)
    targets = [webs[index % len(webs)]]
    if redeliver and len(webs) > 1:
        targets.append(webs[(index + 1) % len(webs)])

    async def one(first: int) -> None:
        for attempt in range(attempts):
            target = webs[(first + attempt) % len(webs)]
            started = time.perf_counter()
            status = await post(session, target.url, d.body, d.headers)
            if status is not None and status < 500:
                sent.ack_seconds.append(time.perf_counter() - started)
                sent.statuses[status] += 1
                return
            sent.failed += 1
            await asyncio.sleep(0.2 * (attempt + 1))
        raise AssertionError(f"delivery {d.delivery_id} never acknowledged")

    await asyncio.gather(*(one(webs.index(t)) for t in targets))


async def settled(db: Database, horizon: float = 60.0) -> bool:
    """No job running, and none due before ``horizon`` seconds from now (rescans are days off)."""
    row = await db.fetchone(
        "SELECT COUNT(*) FROM jobs WHERE state = 'running' OR (state = 'queued' AND run_at <= ?)",
        (time.time() + horizon,),
    )
    return row is not None and int(row[0]) == 0


async def wait_settled(
    db: Database, timeout: float, *, alive: Iterable[Process] = (), horizon: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout
    while not await settled(db, horizon):
        for process in alive:
            if not process.alive:
                raise AssertionError(f"{process.name} died:\n{process.log()[-3000:]}")
        if time.monotonic() > deadline:
            rows = await db.fetchall(
                "SELECT id, kind, event, repository, state, attempts, last_error FROM jobs"
                " WHERE state IN ('queued', 'running') ORDER BY run_at LIMIT 20"
            )
            raise AssertionError(f"jobs never settled: {rows}")
        await asyncio.sleep(0.2)


# --------------------------------------------------------------------------- checks


async def deliveries_processed_once(db: Database, ids: Sequence[str]) -> list[str]:
    """Problems: a delivery with no job, two jobs, a job not done, or handled by two jobs."""
    problems = []
    jobs = defaultdict(list)
    for delivery_id, job_id, state, error in await db.fetchall(
        "SELECT delivery_id, id, state, last_error FROM jobs WHERE delivery_id IS NOT NULL"
    ):
        jobs[delivery_id].append((job_id, state, error))
    handled = defaultdict(set)
    for delivery_id, job_id in await db.fetchall(
        "SELECT delivery_id, job_id FROM event_log WHERE delivery_id IS NOT NULL"
    ):
        handled[delivery_id].add(job_id)
    for delivery_id in set(ids):
        found = jobs.get(delivery_id, [])
        if len(found) != 1:
            problems.append(f"{delivery_id}: {len(found)} jobs")
            continue
        job_id, state, error = found[0]
        if state != "done":
            problems.append(f"{delivery_id}: job {job_id} {state} ({error})")
        if handled.get(delivery_id, set()) != {job_id}:
            problems.append(f"{delivery_id}: handled by jobs {sorted(handled[delivery_id])}")
    return problems


def github_duplicates(fake: FakeGitHub, orgs: Sequence[Org]) -> list[str]:
    """Problems at the fake GitHub: a repository without exactly one Patchwell PR per branch,
    or with two ``patchwell`` check runs on one commit, or a scanned head without one."""
    problems = []
    for org in orgs:
        for repo in org.repos:
            pulls = fake.pulls(org.owner, repo)
            heads = Counter(p["head"]["ref"] for p in pulls)
            if len(pulls) != 1 or any(n > 1 for n in heads.values()):
                problems.append(f"{org.owner}/{repo}: PRs {dict(heads)}")
            ours = [r for r in fake.check_runs(org.owner, repo) if r["name"] == "patchwell"]
            runs = Counter(r["head_sha"] for r in ours)
            for sha, n in runs.items():
                if n > 1:
                    twins = [
                        (r["id"], r["status"], r["conclusion"], r["external_id"])
                        for r in ours
                        if r["head_sha"] == sha
                    ]
                    problems.append(f"{org.owner}/{repo}: {n} check runs on {sha[:8]}: {twins}")
            head = fake.branches(org.owner, repo)["main"]
            if runs.get(head) != 1:
                problems.append(f"{org.owner}/{repo}: head {head[:8]} has {runs.get(head)} runs")
    return problems


@dataclass(frozen=True)
class Span:
    job_id: int
    repository: str | None
    installation: int | None
    process: str
    outcome: str
    started_at: float
    ended_at: float
    what: str = ""  # the event (webhook jobs) or the job kind

    @property
    def seconds(self) -> float:
        return self.ended_at - self.started_at


def job_spans(processes: Iterable[Process]) -> list[Span]:
    """Every job run the worker processes logged (``LOG_FORMAT=json``)."""
    spans = []
    for process in processes:
        for line in process.log().splitlines():
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("logger") != "patchwell.worker" or "started_at" not in entry:
                continue
            spans.append(
                Span(
                    int(entry["job_id"]),
                    entry.get("repository"),
                    entry.get("installation"),
                    process.name,
                    str(entry["outcome"]),
                    float(entry["started_at"]),
                    float(entry["ended_at"]),
                    str(entry.get("event") or entry.get("kind") or ""),
                )
            )
    return spans


def overlapping_runs(spans: Iterable[Span]) -> list[tuple[Span, Span]]:
    """Pairs of job runs of one repository whose spans overlap (in any processes)."""
    by_repo = defaultdict(list)
    for span in spans:
        if span.repository:
            by_repo[span.repository].append(span)
    overlaps = []
    for runs in by_repo.values():
        runs.sort(key=lambda s: s.started_at)
        for earlier, later in itertools.pairwise(runs):
            if later.started_at < earlier.ended_at:
                overlaps.append((earlier, later))
    return overlaps


def write_pacing(fake: FakeGitHub, orgs: Sequence[Org]) -> dict[str, int]:
    """At the fake: writes refused, the most in flight for one installation, the most writes
    one installation made in total."""
    return {
        "refused": sum(fake.refused_writes(o.installation_id) for o in orgs),
        "max_in_flight": max(fake.max_writes_in_flight(o.installation_id) for o in orgs),
        "max_writes": max(len(fake.writes(o.installation_id)) for o in orgs),
    }


def log_tail(processes: Iterable[Process], chars: int = 1500) -> str:
    return "\n".join(f"--- {p.name}\n{p.log()[-chars:]}" for p in processes)


def logs_dir(tmp: Path) -> Path:
    path = tmp / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path
