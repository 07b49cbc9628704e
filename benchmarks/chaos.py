"""The long chaos run: the storm of ``tests/test_chaos.py`` for minutes instead of seconds.

    .venv/bin/python benchmarks/chaos.py                          # 120 s storm
    .venv/bin/python benchmarks/chaos.py --seconds 600 --orgs 6 --repos 5 --workers 4

Starts its own PostgreSQL cluster (initdb + pg_ctl in a temporary directory, its own port:
never the system cluster, which it crashes on purpose), the test suite's fake GitHub on
localhost failing ``--chaos`` of its answers (5xx, timeouts that still write, secondary limits),
and real ``patchwell serve --no-worker`` and ``patchwell worker`` processes that it SIGKILLs at
random and restarts; PostgreSQL is crashed and restarted mid-storm. Then calm until every job
settled, and the count at the fake GitHub: deliveries processed exactly once, one PR per
repository, one check run per commit, no job stuck or dead. Exit code 1 if anything is off.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # benchmarks/secrets.py must not shadow the stdlib module

from tests import pgcluster  # noqa: E402
from tests.fakegithub.server import FakeGitHub  # noqa: E402
from tests.storm import StormPlan, run_storm  # noqa: E402


async def main(args: argparse.Namespace) -> int:
    reason = pgcluster.unavailable_reason()
    if reason is not None:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    plan = StormPlan(
        seconds=args.seconds,
        orgs=args.orgs,
        repos_each=args.repos,
        webs=args.webs,
        workers=args.workers,
        chaos_rate=args.chaos,
        kill_every=args.kill_every,
        pushes=args.pushes,
        seed=args.seed,
        settle_timeout=max(120.0, args.seconds * 2),
    )
    fake = FakeGitHub().start()
    try:
        with pgcluster.temporary_cluster() as cluster, tempfile.TemporaryDirectory() as tmp:
            base = {
                "PATCHWELL_APP_ID": str(fake.app_id),
                "PATCHWELL_PRIVATE_KEY": fake.private_key_pem,
                "PATCHWELL_GITHUB_API_URL": fake.url,
                "PATCHWELL_INDEX_URL": "http://127.0.0.1:9/pypi",
                "PATCHWELL_OSV_URL": "http://127.0.0.1:9/v1/query",
                "LOG_LEVEL": "info",
            }
            report = await run_storm(fake, cluster, base, Path(args.logs or tmp), plan)
    finally:
        fake.stop()
    sent = report.sent
    print(
        f"storm {report.storm_seconds:.0f} s: {len(report.kills)} SIGKILLs"
        f" ({', '.join(report.kills)}), {report.postgres_restarts} PostgreSQL crash+restart,"
        f" GitHub faults {report.faults}"
    )
    print(
        f"deliveries: {len(set(sent.ids))} ({sent.failed} sends refused or cut while a web"
        f" process or the database was down, resent); answers {dict(sent.statuses)}"
    )
    print(f"calm: every job settled {report.calm_seconds:.0f} s after the storm")
    bad = report.problems + report.github + [str(r) for r in report.stuck + report.dead]
    print("problems:", "none" if not bad else "\n  " + "\n  ".join(bad))
    return 1 if bad else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="how long the storm lasts")
    parser.add_argument("--orgs", type=int, default=4)
    parser.add_argument("--repos", type=int, default=4, help="repositories per organisation")
    parser.add_argument("--webs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--chaos", type=float, default=0.10, help="share of answers that fail")
    parser.add_argument("--kill-every", type=float, default=3.0, help="seconds between SIGKILLs")
    parser.add_argument("--pushes", type=int, default=60, help="pushes during the storm")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--logs", help="keep the processes' logs in this directory")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
