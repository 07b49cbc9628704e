"""Database fixtures: real SQLite files and real PostgreSQL schemas, one fresh one per test.

Fixtures (function scope):

* ``sqlite_url`` / ``pg_url`` -- the URL of a fresh, empty database (SQLite temp file;
  PostgreSQL schema selected with ``?options=-csearch_path%3D<schema>``, dropped afterwards).
  Pass the URL to a subprocess (``patchwell worker``) to share the test's database.
* ``sqlite_db`` / ``pg_db`` -- a connected, empty :class:`bot.db.Database` on those URLs.
* ``db_url`` / ``db`` -- parametrized over both dialects (test ids ``[sqlite]``/``[postgresql]``).
* ``migrated_db`` -- ``db`` after ``migrate`` to the latest version.

PostgreSQL comes from ``PATCHWELL_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``). When it is unreachable the PostgreSQL tests
skip with the reason, unless ``PATCHWELL_REQUIRE_POSTGRES=1`` (CI), where they fail.
:func:`fresh_pg_schema` is the same thing as a context manager for use outside fixtures.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from bot.db import Database, mask_url
from bot.migrate import migrate

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_admin_url() -> str:
    return os.environ.get("PATCHWELL_TEST_POSTGRES_URL", DEFAULT_PG_URL)


def with_search_path(url: str, schema: str) -> str:
    """``url`` with libpq ``options`` that select ``schema`` (usable by any process)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query)))


def postgres_unreachable_reason(url: str) -> str | None:
    """None when PostgreSQL answers at ``url``, else why not (password-free)."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        password = urlsplit(url).password
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return reason.replace(password, "****") if password else reason
    return None


@contextlib.contextmanager
def fresh_pg_schema(admin_url: str | None = None) -> Iterator[str]:
    """Create a uniquely named schema, yield a URL selecting it, drop it afterwards."""
    import psycopg

    admin_url = admin_url or postgres_admin_url()
    schema = f"pw_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_search_path(admin_url, schema)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="session")
def _postgres_available() -> str:
    url = postgres_admin_url()
    reason = postgres_unreachable_reason(url)
    if reason is not None:
        message = f"PostgreSQL not reachable at {mask_url(url)}: {reason}"
        if os.environ.get("PATCHWELL_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture
def pg_url(_postgres_available: str) -> Iterator[str]:
    with fresh_pg_schema(_postgres_available) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'patchwell.db'}"


@pytest.fixture
async def sqlite_db(sqlite_url: str) -> AsyncIterator[Database]:
    db = await Database.connect(sqlite_url)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
async def pg_db(pg_url: str) -> AsyncIterator[Database]:
    db = await Database.connect(pg_url)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = await Database.connect(db_url)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def migrated_db(db: Database) -> Database:
    await migrate(db)
    return db
