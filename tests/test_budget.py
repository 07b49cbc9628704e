"""The write budget (bot/budget.py) on real databases, and the GitHub client on the fake GitHub.

"Two processes" here are two :class:`WriteBudget` objects on two separate database connections:
everything they share goes through the database, exactly as between two worker processes (the
multi-process test in test_scale_processes.py does it with real processes). Timing checks are
lower bounds only (a loaded machine only makes gaps longer), never speed thresholds.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.budget import (
    CHECK,
    DEFAULT,
    FAILING_CHECK,
    PULL_REQUEST,
    REPLY,
    BudgetLimits,
    Window,
    WriteBudget,
    write_priority,
    writes_for,
)
from bot.db import Database
from bot.errors import Deferred
from bot.github import AppAuth, GitHubClients
from bot.migrate import migrate

INSTALLATION = 7
SECONDARY = b'{"message": "You have exceeded a secondary rate limit."}'


@contextlib.asynccontextmanager
async def processes(url: str, n: int, limits: BudgetLimits) -> AsyncIterator[list[WriteBudget]]:
    """``n`` budgets, each on its own connection to the same database."""
    dbs = [await Database.connect(url) for _ in range(n)]
    try:
        await migrate(dbs[0])
        yield [WriteBudget(db, limits) for db in dbs]
    finally:
        for db in dbs:
            await db.close()


FAST = BudgetLimits(windows=(Window(4, 0.5),), interval=0.05, max_wait=10)


async def test_writes_are_one_at_a_time_spaced_and_windowed_across_processes(db_url) -> None:
    starts: list[float] = []
    spans: list[tuple[float, float]] = []

    async def writer(budget: WriteBudget, count: int) -> None:
        for _ in range(count):
            slot = await budget.acquire(INSTALLATION, DEFAULT, None)
            began = time.time()
            starts.append(slot.at)  # the time the windows count (the fake GitHub test below
            # checks the same thing at arrival, where GitHub counts)
            await asyncio.sleep(0.02)  # the request
            spans.append((began, time.time()))
            await budget.release(slot, status=201, headers={}, body=b"{}")

    async with processes(db_url, 2, FAST) as (one, two):
        await asyncio.gather(*(writer(b, 2) for b in (one, two, one, two, one, two)))
    assert len(starts) == 12
    starts.sort()
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.05  # the interval between two writes' starts
    spans.sort()
    for (_, end), (begin, _) in itertools.pairwise(spans):
        assert begin >= end - 0.005  # never two writes of one installation in flight
    for i, start in enumerate(starts):
        assert sum(1 for t in starts[i:] if t < start + 0.5) <= 4  # 4 per 0.5 s


async def test_a_check_run_overtakes_waiting_pr_writes_of_another_process(db_url) -> None:
    async with processes(db_url, 2, FAST) as (one, two):
        holder = await one.acquire(INSTALLATION, DEFAULT, None)
        order: list[str] = []

        async def wait_then_write(budget: WriteBudget, priority: int, name: str) -> None:
            slot = await budget.acquire(INSTALLATION, priority, None)
            order.append(name)
            await budget.release(slot, status=200)

        low = [
            asyncio.create_task(wait_then_write(one, PULL_REQUEST + 1, "hygiene PR")),
            asyncio.create_task(wait_then_write(two, PULL_REQUEST + 5, "secret PR")),
        ]
        await asyncio.sleep(0.3)  # both are waiting now
        high = asyncio.create_task(wait_then_write(two, FAILING_CHECK, "failing check"))
        await asyncio.sleep(0.3)
        await one.release(holder, status=200)
        await asyncio.gather(*low, high)
    assert order == ["failing check", "secret PR", "hygiene PR"]


async def test_a_limit_hit_pauses_every_process_until_retry_after(db_url) -> None:
    async with processes(db_url, 2, FAST) as (one, two):
        slot = await one.acquire(INSTALLATION, CHECK, None)
        pause = await one.release(slot, status=403, headers={"Retry-After": "1"}, body=SECONDARY)
        assert pause == 1.0
        began = time.time()
        again = await two.acquire(INSTALLATION, FAILING_CHECK, None)  # even the most urgent
        assert time.time() - began >= 0.9
        await two.release(again, status=201)
        overview = await two.overview()
    assert overview.pauses == 1 and overview.writes == 2


async def test_limits_without_retry_after_pause_longer_each_time(migrated_db) -> None:
    budget = WriteBudget(
        migrated_db, BudgetLimits(interval=0, default_pause=0.1, max_pause=10, max_wait=10)
    )
    pauses = []
    for _ in range(3):
        slot = await budget.acquire(INSTALLATION, DEFAULT, None)
        pauses.append(await budget.release(slot, status=429))
    slot = await budget.acquire(INSTALLATION, DEFAULT, None)
    assert await budget.release(slot, status=201) is None
    slot = await budget.acquire(INSTALLATION, DEFAULT, None)
    pauses.append(await budget.release(slot, status=429))  # a good write reset the strikes
    assert pauses == [0.1, 0.2, 0.4, 0.1]


async def test_a_long_pause_hands_the_job_back_instead_of_waiting(migrated_db) -> None:
    budget = WriteBudget(migrated_db, FAST)
    slot = await budget.acquire(INSTALLATION, DEFAULT, None)
    await budget.release(slot, status=403, headers={"Retry-After": "120"}, body=SECONDARY)
    with pytest.raises(Deferred) as deferred:
        await budget.acquire(INSTALLATION, FAILING_CHECK, None)
    assert 110 <= deferred.value.retry_after <= 120
    with pytest.raises(Deferred):
        await budget.before_read(INSTALLATION)  # reads wait out the pause too
    assert (await budget.overview()).paused == 1
    # another installation is not affected
    other = await budget.acquire(INSTALLATION + 1, DEFAULT, None)
    await budget.release(other, status=201)


async def test_a_dead_writers_slot_frees_itself(db_url) -> None:
    limits = BudgetLimits(interval=0, slot_seconds=0.4, max_wait=10)
    async with processes(db_url, 2, limits) as (dead, alive):
        await dead.acquire(INSTALLATION, DEFAULT, None)  # its process dies: never released
        began = time.time()
        slot = await alive.acquire(INSTALLATION, DEFAULT, None)
        assert time.time() - began >= 0.35
        await alive.release(slot, status=201)


async def test_primary_limit_running_low_holds_writes_until_reset(migrated_db) -> None:
    budget = WriteBudget(migrated_db, FAST)
    reset = int(time.time()) + 2
    await budget.observe(
        INSTALLATION, {"x-ratelimit-remaining": "12", "x-ratelimit-reset": str(reset)}
    )
    slot = await budget.acquire(INSTALLATION, DEFAULT, None)
    assert time.time() >= reset - 0.01
    await budget.release(slot, status=201)


def test_priorities_from_the_request() -> None:
    assert write_priority("POST", "/repos/a/b/check-runs", {"conclusion": "failure"}) == 100
    assert write_priority("PATCH", "/repos/a/b/check-runs/9", {"output": {}}) == CHECK
    assert write_priority("POST", "/repos/a/b/issues/3/comments") == REPLY
    assert write_priority("POST", "/repos/a/b/git/trees") == DEFAULT
    with writes_for(5):
        assert write_priority("POST", "/repos/a/b/git/trees") == PULL_REQUEST + 5
        assert write_priority("POST", "/repos/a/b/issues/3/comments") == PULL_REQUEST + 5
        assert write_priority("POST", "/repos/a/b/check-runs", {}) == CHECK
    assert write_priority("POST", "/repos/a/b/git/trees") == DEFAULT


# --- the client against the fake GitHub, which enforces GitHub's limits ----------------------


async def _burst(clients_list: list[GitHubClients], writes_each: int) -> list[Exception]:
    """Every client writes ``writes_each`` issues at once; returns the failures."""
    failures: list[Exception] = []

    async def one(clients: GitHubClients, n: int) -> None:
        gh = await clients.installation_client(INSTALLATION)
        for i in range(writes_each):
            try:
                await gh.post(
                    "/repos/{owner}/{repo}/issues",
                    {"owner": "acme", "repo": "shop"},
                    data={"title": f"from {n}.{i}"},
                )
            except Exception as exc:
                failures.append(exc)

    await asyncio.gather(*(one(c, n) for n, c in enumerate(clients_list)))
    return failures


async def test_unpaced_bursts_are_refused_and_paced_ones_never(fake_github, db_url) -> None:
    """The issue's failure, reproduced and fixed: same burst, without and with the budget."""
    fake_github.create_repo("acme", "shop", {"README.md": "hi\n"})
    fake_github.add_installation(INSTALLATION, "acme", ["shop"])
    # GitHub's 80/min and 500/h at 30 times the speed; Patchwell keeps its default headroom
    fake_github.set_content_limits(per_minute=8, per_hour=50, minute=2, hour=120)
    fake_github.set_latency(0.02, 0.05)
    auth = AppAuth(fake_github.app_id, fake_github.private_key_pem)
    async with aiohttp.ClientSession() as session:
        failures = await _burst([GitHubClients(session, auth, fake_github.url)] * 3, 4)
    assert len(failures) >= 4
    assert fake_github.refused_writes(INSTALLATION) >= 4  # 12 at once against 8 per "minute"
    assert fake_github.max_writes_in_flight(INSTALLATION) > 1

    fake_github.reset()
    fake_github.create_repo("acme", "shop", {"README.md": "hi\n"})
    fake_github.add_installation(INSTALLATION, "acme", ["shop"])
    fake_github.set_content_limits(per_minute=8, per_hour=50, minute=2, hour=120)
    fake_github.set_latency(0.02, 0.05)
    limits = BudgetLimits(windows=(Window(6, 2.0), Window(45, 120.0)), interval=0.05)
    auth = AppAuth(fake_github.app_id, fake_github.private_key_pem)  # the old tokens are gone
    async with processes(db_url, 2, limits) as budgets, aiohttp.ClientSession() as session:
        clients = [GitHubClients(session, auth, fake_github.url, budget=b) for b in budgets]
        assert await _burst([*clients, clients[0]], 4) == []
    assert fake_github.refused_writes(INSTALLATION) == 0
    assert fake_github.max_writes_in_flight(INSTALLATION) == 1
    assert len(fake_github.issues("acme", "shop")) == 12


async def test_a_refused_write_is_sent_again_after_the_pause(fake_github, migrated_db) -> None:
    fake_github.create_repo("acme", "shop", {"README.md": "hi\n"})
    fake_github.add_installation(INSTALLATION, "acme", ["shop"])
    fake_github.inject_secondary_rate_limit("POST", r"/issues$", retry_after=1)
    budget = WriteBudget(migrated_db, FAST)
    auth = AppAuth(fake_github.app_id, fake_github.private_key_pem)
    async with aiohttp.ClientSession() as session:
        gh = await GitHubClients(session, auth, fake_github.url, budget=budget).installation_client(
            INSTALLATION
        )
        began = time.time()
        made = await gh.post(
            "/repos/{owner}/{repo}/issues", {"owner": "acme", "repo": "shop"}, data={"title": "x"}
        )
    assert made["number"] == 1 and time.time() - began >= 0.9
    assert fake_github.count_calls("POST", r"/issues$", status=403) == 1
    assert fake_github.count_calls("POST", r"/issues$", status=201) == 1
    assert (await budget.overview()).pauses == 1
