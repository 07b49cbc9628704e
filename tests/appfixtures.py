"""Fixtures for the bot side: App credentials and a running Patchwell web process."""

from __future__ import annotations

import contextlib

import pytest

from tests.fakegithub.control_auth import generate_private_key_pem

WEBHOOK_SECRET = "whsec-fixture-8d1f0c2b7a"  # patchwell:allow


@pytest.fixture(scope="session")
def rsa_private_key_pem() -> str:
    return generate_private_key_pem()


@pytest.fixture
def patchwell_env(tmp_path, rsa_private_key_pem) -> dict[str, str]:
    """A complete, valid environment on a fresh SQLite file (no GitHub reachable)."""
    return {
        "PATCHWELL_APP_ID": "4242",
        "PATCHWELL_PRIVATE_KEY": rsa_private_key_pem,
        "PATCHWELL_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'patchwell.db'}",
        # Nothing listens here: tests without the fake GitHub must not reach GitHub at all.
        "PATCHWELL_GITHUB_API_URL": "http://127.0.0.1:9",
        "PATCHWELL_JOB_LEASE_SECONDS": "2",
        # Writes are paced through the budget, but not slowed: tests that are about GitHub's
        # limits set their own (and turn the fake GitHub's on).
        "PATCHWELL_WRITE_INTERVAL": "0",
        "PATCHWELL_WRITE_LIMITS": "100000/1m",
        # Package index and advisories: nothing listens here either (tests that need
        # them start the fake index from tests/fakeindex).
        "PATCHWELL_INDEX_URL": "http://127.0.0.1:9/pypi",
        "PATCHWELL_OSV_URL": "http://127.0.0.1:9/v1/query",
    }


@pytest.fixture
async def web(patchwell_env, request):
    """The real web process (no inline worker) behind a real localhost port.

    Yields ``(client, app)``: an aiohttp ``TestClient`` speaking HTTP to it.
    """
    from aiohttp.test_utils import TestClient, TestServer

    from bot.service import build_app

    env = getattr(request, "param", None) or patchwell_env
    app = await build_app(env, inline_worker=False)
    async with TestClient(TestServer(app)) as client:
        yield client, app


@pytest.fixture
def live_env(patchwell_env, fake_github) -> dict[str, str]:
    """``patchwell_env`` pointed at the fake GitHub, with the App credentials it checks."""
    return {
        **patchwell_env,
        "PATCHWELL_APP_ID": str(fake_github.app_id),
        "PATCHWELL_PRIVATE_KEY": fake_github.private_key_pem,
        "PATCHWELL_GITHUB_API_URL": fake_github.url,
    }


@pytest.fixture
async def live_web(live_env):
    """The real web process with its inline worker, talking to the fake GitHub."""
    from aiohttp.test_utils import TestClient, TestServer

    from bot.service import build_app

    app = await build_app(live_env, inline_worker=True)
    async with TestClient(TestServer(app)) as client:
        yield client, app


@contextlib.asynccontextmanager
async def engine_on_fake(fake, database_url: str, installation_id: int, **engine_kwargs):
    """The real scan engine for one installation of the fake GitHub, on a migrated database.

    Yields ``(engine, db)``; ``engine_kwargs`` go to :class:`bot.scan.engine.ScanEngine`
    (``fixers=``, ``services=``, ...).
    """
    from bot.db import Database
    from bot.github import AppAuth, GitHubClients, new_session
    from bot.migrate import migrate
    from bot.queue import JobQueue
    from bot.scan.engine import ScanEngine
    from bot.scan.state import ScanStore

    db = await Database.connect(database_url)
    try:
        await migrate(db)
        async with new_session() as session:
            clients = GitHubClients(session, AppAuth(fake.app_id, fake.private_key_pem), fake.url)
            gh = await clients.installation_client(installation_id)
            engine = ScanEngine(
                gh,
                clients,
                ScanStore(db),
                queue=JobQueue(db),
                bot_login=fake.bot_login,
                **engine_kwargs,
            )
            yield engine, db
    finally:
        await db.close()
