"""PostgreSQL restarting under a running Patchwell (on a cluster of the test's own): pooled
connections are replaced, and a job whose database went away mid-run is retried, not buried."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from gidgethub.routing import Router

from bot.db import Database, DatabaseError, IntegrityError
from bot.dispatch import JobRunner
from bot.errors import TransientError

pytestmark = pytest.mark.asyncio


async def test_pooled_connections_survive_a_database_restart(own_cluster) -> None:
    """Found by benchmarks/chaos.py: after a crash every pooled connection was dead, so the
    next request of each failed (a webhook 503, a job buried) before the pool noticed."""
    db = await Database.connect(own_cluster.url, pool_size=3)
    try:
        await db.execute("CREATE TABLE t (n INT)")
        await db.execute("INSERT INTO t VALUES (1)")
        own_cluster.restart()  # an immediate stop: every connection is cut
        for _ in range(5):  # more than the pool holds: each dead one is replaced
            assert await db.fetchone("SELECT n FROM t") == (1,)
    finally:
        await db.close()


def job(event: str = "push") -> SimpleNamespace:
    return SimpleNamespace(
        id=1,
        kind="webhook",
        event=event,
        delivery_id="d-1",
        payload=json.dumps({}),
        installation_id=None,
        repository=None,
    )


@pytest.mark.parametrize(
    ("raised", "transient"),
    [
        (DatabaseError("postgresql: server closed the connection unexpectedly"), True),
        (IntegrityError("duplicate key value violates unique constraint"), False),
    ],
    ids=["connection-lost", "constraint"],
)
async def test_a_lost_database_is_transient_a_constraint_is_not(raised, transient) -> None:
    router = Router()

    @router.register("push")
    async def handler(event, gh, ctx) -> None:
        raise raised

    runner = JobRunner(db=None, clients=None, settings=None, router=router)
    with pytest.raises(Exception) as failure:
        await runner(job())
    assert isinstance(failure.value, TransientError) == transient
