"""Load: a realistic delivery mix at rising rates, 2 web + 4 worker processes on PostgreSQL.

    .venv/bin/python benchmarks/load.py                       # --scale 0.02: 20 installations
    .venv/bin/python benchmarks/load.py --scale 1 --rates 5,20,50 --phase-seconds 300   # 1,000

The organisation at full scale is 1,000 installations x 5 repositories (``--scale`` runs a
fraction of the installations, each still with ``--repos`` repositories). Everything is real
except GitHub: ``patchwell serve --no-worker`` x ``--webs`` and ``patchwell worker`` x
``--workers`` on a fresh PostgreSQL schema (PATCHWELL_TEST_POSTGRES_URL), signed deliveries over
HTTP, against the test suite's fake GitHub with GitHub's own content limits on (80 writes/min,
500/h per installation) and 50-150 ms per answer. The mix, after the installations (spread
over the first phase): pushes of real commits (30 %), ``check_suite`` completed (25 %),
``workflow_job`` queued/in_progress/completed (35 %) and ``issue_comment`` (10 %), at each rate
of ``--rates`` (deliveries per second) for ``--phase-seconds``, then a drain.

Reported (printed as Markdown, written to ``--json``, drawn to ``--png``): acknowledgement
p50/p99 per phase, jobs/s, queue depth and oldest queued age over time, GitHub API calls and
writes per job, refused writes (target 0), time from an installation's delivery to each of its
repositories' first check run, CPU seconds per job and RSS per process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # benchmarks/secrets.py must not shadow the stdlib module

import aiohttp  # noqa: E402

from bot.db import Database  # noqa: E402
from bot.migrate import migrate  # noqa: E402
from bot.queue import JobQueue  # noqa: E402
from tests import fleet, payloads  # noqa: E402
from tests.dbfixtures import fresh_pg_schema, postgres_admin_url  # noqa: E402
from tests.fakegithub.server import FakeGitHub  # noqa: E402
from tests.processes import Process, stop_all, wait_ready, web, worker  # noqa: E402
from tests.webhooks import delivery  # noqa: E402

SECRET = "load-webhook-secret"  # patchwell:allow
FULL_INSTALLATIONS = 1000
PAGE = 4096  # /proc/<pid>/statm counts pages
CLOCK_TICKS = 100  # /proc/<pid>/stat times are in USER_HZ (100 on Linux)


@dataclass
class Sample:
    t: float
    queued: int  # due now (not the rescans scheduled for tomorrow)
    running: int
    done: int
    dead: int
    oldest_queued: float
    sent: int
    writes: int
    calls: int


@dataclass
class Phase:
    rate: float
    started: float
    ended: float = 0.0
    acks: list[float] = field(default_factory=list)
    sent: int = 0
    kinds: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def proc_stats(pid: int) -> tuple[float, float]:
    """(RSS MiB, CPU seconds) of a live process, from /proc."""
    try:
        rss_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return 0.0, 0.0
    return rss_pages * PAGE / 2**20, cpu


class Load:
    def __init__(self, args: argparse.Namespace, fake: FakeGitHub, orgs: list[fleet.Org]) -> None:
        self.args = args
        self.fake = fake
        self.orgs = orgs
        self.rng = random.Random(args.seed)
        self.samples: list[Sample] = []
        self.phases: list[Phase] = []
        self.installed_at: dict[int, float] = {}  # installation -> when its delivery was acked
        self.installed: list[fleet.Org] = []
        self.sent = 0
        self.counter = 0
        self.rss: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = {}
        self.start = time.monotonic()
        self.epoch0 = time.time()

    # ---------------------------------------------------------------- sending

    async def send(self, session, webs: list[Process], phase: Phase, event: str, body) -> None:
        d = delivery(event, body, SECRET)
        self.counter += 1
        target = webs[self.counter % len(webs)]
        started = time.perf_counter()
        status = await fleet.post(session, target.url, d.body, d.headers)
        if status is not None and status < 300:
            phase.acks.append(time.perf_counter() - started)
        phase.sent += 1
        phase.kinds[event] += 1
        self.sent += 1

    def mixed(self) -> tuple[str, dict]:
        org = self.rng.choice(self.installed)
        repo = self.rng.choice(org.repos)
        roll = self.rng.random()
        self.counter += 1
        n = self.counter
        if roll < 0.30:
            return "push", fleet.push_payload(self.fake, org, repo, n)
        head = self.fake.branches(org.owner, repo)["main"]
        common = {"owner": org.owner, "repo": repo, "installation_id": org.installation_id}
        if roll < 0.55:
            return "check_suite", payloads.check_suite(
                "completed", head_sha=head, suite_id=n, **common
            )
        if roll < 0.90:
            action = self.rng.choice(("queued", "in_progress", "completed"))
            return "workflow_job", payloads.workflow_job(
                action,
                head_sha=head,
                job_id=9_000_000 + n,
                conclusion="success" if action == "completed" else None,
                **common,
            )
        return "issue_comment", payloads.issue_comment(
            body="Looks good to me, thanks!", number=1, comment_id=3_000_000 + n, **common
        )

    async def run_phase(self, session, webs, rate: float, installs: list[fleet.Org]) -> None:
        phase = Phase(rate, time.monotonic() - self.start)
        self.phases.append(phase)
        seconds = self.args.phase_seconds
        install_times = sorted(self.rng.uniform(0, seconds * 0.8) for _ in installs)
        pending: set[asyncio.Task] = set()
        t0 = time.monotonic()
        next_mixed = 0.0
        queue = list(zip(install_times, installs, strict=True))
        while (now := time.monotonic() - t0) < seconds:
            while queue and queue[0][0] <= now:
                _, org = queue.pop(0)
                pending.add(asyncio.create_task(self.install(session, webs, phase, org)))
            if self.installed and now >= next_mixed:
                event, body = self.mixed()
                pending.add(asyncio.create_task(self.send(session, webs, phase, event, body)))
                next_mixed = now + self.rng.expovariate(rate)
            pending = {t for t in pending if not t.done()}
            await asyncio.sleep(0.005)
        for _, org in queue:
            pending.add(asyncio.create_task(self.install(session, webs, phase, org)))
        await asyncio.gather(*pending)
        phase.ended = time.monotonic() - self.start

    async def install(self, session, webs, phase: Phase, org: fleet.Org) -> None:
        await self.send(session, webs, phase, "installation", fleet.install_payload(org))
        self.installed_at[org.installation_id] = time.time()
        self.installed.append(org)

    # ---------------------------------------------------------------- watching

    async def sample_forever(self, db: Database, processes: list[Process]) -> None:
        queue = JobQueue(db)
        while True:
            try:
                depth = await queue.depth()
                oldest = await queue.oldest_queued_age()
                due = await db.fetchone(
                    "SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND run_at <= ?",
                    (time.time(),),
                )
            except Exception:  # the database is busy: skip a sample rather than stop
                await asyncio.sleep(1)
                continue
            self.samples.append(
                Sample(
                    t=time.monotonic() - self.start,
                    queued=int(due[0]) if due else 0,
                    running=depth["running"],
                    done=depth["done"],
                    dead=depth["dead"],
                    oldest_queued=oldest,
                    sent=self.sent,
                    writes=len(self.fake.writes()),
                    calls=len(self.fake.calls),
                )
            )
            for p in processes:
                if p.alive:
                    rss, cpu = proc_stats(p.pid)
                    self.rss[p.name] = max(self.rss[p.name], rss)
                    self.cpu[p.name] = cpu
            await asyncio.sleep(1.0)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def first_check_runs(fake: FakeGitHub, load: Load) -> list[float]:
    """Seconds from each installation's acknowledged delivery to each repository's first
    Patchwell check run (as GitHub saw the write)."""
    first: dict[str, float] = {}
    for w in fake.writes():
        if w.method == "POST" and w.path.endswith("/check-runs") and not w.refused:
            first.setdefault(w.path, w.at)
    delays = []
    for org in load.installed:
        acked = load.installed_at[org.installation_id]
        for repo in org.repos:
            at = first.get(f"/repos/{org.owner}/{repo}/check-runs")
            if at is not None:
                delays.append(at - acked)
    return delays


def draw(load: Load, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = load.samples
    t = [x.t for x in s]

    def rate(values: list[int]) -> list[float]:
        out = [0.0]
        for a, b, ta, tb in zip(values, values[1:], t, t[1:], strict=False):
            out.append((b - a) / max(tb - ta, 1e-6))
        return out

    fig, axes = plt.subplots(4, 1, figsize=(10, 11), sharex=True)
    axes[0].plot(t, rate([x.sent for x in s]), label="deliveries sent /s")
    axes[0].plot(t, rate([x.done for x in s]), label="jobs done /s")
    axes[0].set_ylabel("per second")
    axes[1].plot(t, [x.queued for x in s], label="queued and due")
    axes[1].plot(t, [x.running for x in s], label="running")
    axes[1].set_ylabel("jobs")
    axes[2].plot(t, [x.oldest_queued for x in s], label="oldest due job waiting")
    axes[2].set_ylabel("seconds")
    axes[3].plot(t, rate([x.writes for x in s]), label="writes /s (all installations)")
    axes[3].plot(t, rate([x.calls for x in s]), label="API calls /s")
    axes[3].set_ylabel("per second")
    axes[3].set_xlabel("seconds since start")
    for phase in load.phases:
        for ax in axes:
            ax.axvspan(phase.started, phase.ended, alpha=0.06, color="C2")
        axes[0].annotate(f"{phase.rate:g}/s", (phase.started + 1, 0), fontsize=8)
    for ax in axes:
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


async def main(args: argparse.Namespace) -> dict:
    installations = max(1, round(FULL_INSTALLATIONS * args.scale))
    fake = FakeGitHub().start()
    fake.set_content_limits()  # GitHub's own: 80 writes a minute, 500 an hour
    low, high = (float(x) for x in args.latency.split(","))
    fake.set_latency(low, high)
    orgs = fleet.create_orgs(fake, installations, args.repos)
    rates = [float(r) for r in args.rates.split(",")]
    with fresh_pg_schema(postgres_admin_url()) as url, tempfile.TemporaryDirectory() as tmp:
        if args.logs:
            tmp = args.logs
        db = await Database.connect(url)
        await migrate(db)
        env = {
            "PATCHWELL_APP_ID": str(fake.app_id),
            "PATCHWELL_PRIVATE_KEY": fake.private_key_pem,
            "PATCHWELL_WEBHOOK_SECRET": SECRET,
            "PATCHWELL_GITHUB_API_URL": fake.url,
            "DATABASE_URL": url,
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "info",  # one line per job: durations by kind
            "PATCHWELL_WORKER_CONCURRENCY": str(args.concurrency),
            "PATCHWELL_INDEX_URL": "http://127.0.0.1:9/pypi",
            "PATCHWELL_OSV_URL": "http://127.0.0.1:9/v1/query",
        }
        logs = Path(tmp)
        webs = [web(f"web{n}", env, logs) for n in range(args.webs)]
        workers = [
            worker(f"worker{n}", env, logs, concurrency=args.concurrency)
            for n in range(args.workers)
        ]
        processes = [p.start() for p in webs + workers]
        load = Load(args, fake, orgs)
        try:
            for p in webs:
                wait_ready(p)
            load.start = time.monotonic()
            sampler = asyncio.create_task(load.sample_forever(db, processes))
            per_phase = [orgs[i :: len(rates)] for i in range(len(rates))] if args.spread else []
            async with aiohttp.ClientSession() as session:
                for n, rate in enumerate(rates):
                    installs = per_phase[n] if per_phase else (orgs if n == 0 else [])
                    await load.run_phase(session, webs, rate, installs)
            drain_until = time.monotonic() + args.drain_seconds
            while time.monotonic() < drain_until and not await fleet.settled(db, 60.0):
                await asyncio.sleep(1)
            drained = await fleet.settled(db, 60.0)
            await asyncio.sleep(1.2)  # one more sample
            sampler.cancel()
            depth = await JobQueue(db).depth()
            spans = fleet.job_spans(workers)
        finally:
            stop_all(processes)
            await db.close()
    by_kind: dict[str, list[float]] = defaultdict(list)
    for span in spans:
        if span.outcome == "done":
            by_kind[span.what].append(span.seconds)
    acks = [a for p in load.phases for a in p.acks]
    done = max(1, depth["done"])
    delays = first_check_runs(fake, load)
    calls, writes = len(fake.calls), len(fake.writes())
    worker_cpu = sum(v for k, v in load.cpu.items() if k.startswith("worker"))
    busy = [s for s in load.samples if s.running > 0 or s.queued > 0]
    span = (busy[-1].t - busy[0].t) if len(busy) > 1 else 1.0
    result = {
        "ran": {
            "installations": installations,
            "repositories": installations * args.repos,
            "scale": args.scale,
            "rates": rates,
            "phase_seconds": args.phase_seconds,
            "webs": args.webs,
            "workers": args.workers,
            "concurrency": args.concurrency,
            "latency": args.latency,
            "drained": drained,
        },
        "deliveries": load.sent,
        "ack_ms": {
            "p50": round(percentile(acks, 0.5) * 1000, 1),
            "p99": round(percentile(acks, 0.99) * 1000, 1),
            "per_phase": [
                {
                    "rate": p.rate,
                    "sent": p.sent,
                    "p50": round(percentile(p.acks, 0.5) * 1000, 1),
                    "p99": round(percentile(p.acks, 0.99) * 1000, 1),
                    "mix": dict(p.kinds),
                }
                for p in load.phases
            ],
        },
        "jobs": depth,
        "jobs_per_second": round(depth["done"] / max(span, 1.0), 2),
        "max_queued": max((s.queued for s in load.samples), default=0),
        "max_oldest_queued_s": round(max((s.oldest_queued for s in load.samples), default=0), 1),
        "api_calls_per_job": round(calls / done, 1),
        "writes_per_job": round(writes / done, 2),
        "refused_writes": fake.refused_writes(),
        "first_check_run_s": {
            "repositories": len(delays),
            "p50": round(statistics.median(delays), 1) if delays else None,
            "p90": round(percentile(delays, 0.9), 1) if delays else None,
            "max": round(max(delays), 1) if delays else None,
        },
        "worker_cpu_s_per_job": round(worker_cpu / done, 3),
        "job_seconds": {
            kind: {
                "jobs": len(v),
                "p50": round(statistics.median(v), 2),
                "p90": round(percentile(v, 0.9), 2),
                "mean": round(statistics.fmean(v), 2),
            }
            for kind, v in sorted(by_kind.items())
        },
        "job_seconds_mean": round(statistics.fmean([x for v in by_kind.values() for x in v]), 2)
        if by_kind
        else None,
        "deferred_or_retried": sum(1 for x in spans if x.outcome in ("deferred", "retry")),
        "cpu_s": {k: round(v, 1) for k, v in sorted(load.cpu.items())},
        "rss_mib_max": {k: round(v, 1) for k, v in sorted(load.rss.items())},
        "series": [asdict(s) for s in load.samples],
    }
    fake.stop()
    title = (
        f"benchmarks/load.py --scale {args.scale} ({installations} installations x {args.repos}"
        f" repositories), rates {args.rates}/s x {args.phase_seconds:g}s, {args.webs} web +"
        f" {args.workers} workers (x{args.concurrency}) on PostgreSQL, GitHub 50-150 ms"
    )
    draw(load, Path(args.png), title)
    return result


def report(result: dict) -> str:
    r = result["ran"]
    lines = [
        f"ran: {r['installations']} installations x {r['repositories'] // r['installations']}"
        f" repositories (scale {r['scale']}), rates {r['rates']}/s x {r['phase_seconds']}s,"
        f" {r['webs']} web + {r['workers']} workers x{r['concurrency']}, drained: {r['drained']}",
        "",
        "| phase (deliveries/s) | sent | ack p50 ms | ack p99 ms |",
        "|---|---|---|---|",
    ]
    for p in result["ack_ms"]["per_phase"]:
        lines.append(f"| {p['rate']:g} | {p['sent']} | {p['p50']} | {p['p99']} |")
    f = result["first_check_run_s"]
    lines += [
        "",
        f"- jobs: {result['jobs']} -> {result['jobs_per_second']} jobs/s while busy",
        f"- queue: at most {result['max_queued']} due jobs waiting, the oldest at most"
        f" {result['max_oldest_queued_s']} s",
        f"- GitHub: {result['api_calls_per_job']} API calls and {result['writes_per_job']}"
        f" writes per job; refused writes: {result['refused_writes']}",
        f"- first check run after the install delivery: p50 {f['p50']} s, p90 {f['p90']} s,"
        f" max {f['max']} s ({f['repositories']} repositories)",
        f"- job wall time by kind (done): {result['job_seconds']};"
        f" {result['deferred_or_retried']} runs handed back (write budget) or retried;"
        f" mean job {result['job_seconds_mean']} s",
        f"- worker CPU per job: {result['worker_cpu_s_per_job']} s; CPU s per process:"
        f" {result['cpu_s']}",
        f"- RSS MiB (max) per process: {result['rss_mib_max']}",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.02, help="share of 1,000 installations")
    parser.add_argument("--repos", type=int, default=5, help="repositories per installation")
    parser.add_argument("--rates", default="2,5,10", help="deliveries/s of each phase")
    parser.add_argument("--phase-seconds", type=float, default=40.0)
    parser.add_argument("--drain-seconds", type=float, default=240.0)
    parser.add_argument("--webs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=4, help="jobs at once per worker")
    parser.add_argument("--latency", default="0.05,0.15", help="GitHub's answer time, s (low,high)")
    parser.add_argument(
        "--spread", action="store_true", help="spread the installations over every phase"
    )
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--logs", help="keep the processes' logs in this directory")
    parser.add_argument("--png", default=str(ROOT / "benchmarks" / "load.png"))
    parser.add_argument("--json", help="also write every figure and the time series here")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    outcome = asyncio.run(main(arguments))
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(outcome, indent=1) + "\n")
    print(report(outcome))
