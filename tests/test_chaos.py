"""The chaos test, short: real processes SIGKILLed at random, PostgreSQL crashed and restarted
mid-run, the fake GitHub failing 10 % of its answers (5xx, timeouts, secondary limits).

Bounded (a storm of a few seconds, then calm until every job settled), loopback only, on a
PostgreSQL cluster the test starts itself (never the shared one). Counted at the fake GitHub
and in the database afterwards: every delivery processed exactly once, every expected PR exactly
once, no duplicate check runs, no job stuck or dead. ``benchmarks/chaos.py`` runs a long storm.
"""

from __future__ import annotations

import pytest

from tests.storm import StormPlan, run_storm

pytestmark = pytest.mark.asyncio


async def test_storm_of_kills_database_restart_and_github_faults(
    live_env, fake_github, own_cluster, tmp_path
) -> None:
    plan = StormPlan(seconds=8, orgs=2, repos_each=3, webs=2, workers=3, seed=7)
    report = await run_storm(fake_github, own_cluster, live_env, tmp_path, plan)

    # The storm happened: processes killed, the database restarted, GitHub failing.
    assert len(report.kills) >= 2 and report.postgres_restarts == 1, report
    assert sum(report.faults.values()) >= 5, report.faults
    # ...and nothing was lost or done twice.
    assert report.problems == [], report.problems
    assert report.github == [], report.github
    assert report.stuck == [] and report.dead == [], (report.stuck, report.dead)
