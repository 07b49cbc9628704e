"""bot.db and bot.migrate against real SQLite files and real PostgreSQL schemas."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from bot.db import Database, DatabaseError, IntegrityError, mask_url, translate_placeholders
from bot.errors import ConfigError
from bot.migrate import (
    MigrationError,
    current_version,
    describe_schema,
    load_migrations,
    migrate,
)
from tests.dbfixtures import postgres_unreachable_reason, with_search_path


def test_mask_url_hides_passwords() -> None:
    assert mask_url("postgresql://bot:s3cr3t@db.example:5432/app") == (  # patchwell:allow
        "postgresql://bot:****@db.example:5432/app"
    )
    assert mask_url("postgres://bot@db/app?password=s3cr3t&sslmode=require") == (
        "postgres://bot@db/app?password=****&sslmode=require"
    )
    assert mask_url("postgresql://bot:p@ss/w:rd@db/app") == "postgresql://bot:****@db/app"
    assert mask_url("sqlite:///patchwell.db") == "sqlite:///patchwell.db"


def test_placeholders_translate_outside_literals_only() -> None:
    sql = "SELECT ? , 'a?b%', \"c?\" FROM t WHERE x LIKE '%' || ? AND y % 2 = ?"
    assert translate_placeholders(sql) == (
        "SELECT %s , 'a?b%%', \"c?\" FROM t WHERE x LIKE '%%' || %s AND y %% 2 = %s"
    )


@pytest.mark.parametrize(
    "url",
    ["mysql://root@localhost/db", "patchwell.db", "sqlite:///", "sqlite:///:memory:", ""],
)
async def test_unsupported_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        await Database.connect(url)
    assert "secret" not in str(info.value)


async def test_unreachable_postgres_error_is_masked() -> None:
    url = (
        "postgresql://bot:hunter2-very-secret@127.0.0.1:1/nowhere"  # patchwell:allow
        "?connect_timeout=2"
    )
    with pytest.raises(DatabaseError) as info:
        await Database.connect(url)
    assert "hunter2-very-secret" not in str(info.value)
    assert "bot:****@127.0.0.1:1" in str(info.value)


async def test_relative_sqlite_path_is_created(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    db = await Database.connect("sqlite:///data/sub/patchwell.db")
    try:
        await db.ping()
        row = await db.fetchone("PRAGMA journal_mode")
        assert row == ("wal",)
    finally:
        await db.close()
    assert (tmp_path / "data/sub/patchwell.db").exists()


async def test_transactions_commit_roll_back_and_translate_errors(db: Database) -> None:
    await db.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT NOT NULL)")
    async with db.transaction() as tx:
        assert await tx.execute("INSERT INTO t (a, b) VALUES (?, ?)", (1, "one")) == 1
        await tx.executemany("INSERT INTO t (a, b) VALUES (?, ?)", [(2, "two"), (3, "3%?")])
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t (a, b) VALUES (?, ?)", (4, "four"))
            raise RuntimeError("abort")
    with pytest.raises(IntegrityError):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t (a, b) VALUES (?, ?)", (5, "five"))
            await tx.execute("INSERT INTO t (a, b) VALUES (?, ?)", (1, "dup"))
    with pytest.raises(DatabaseError):
        await db.fetchall("SELECT nope FROM t")
    assert await db.fetchall("SELECT a, b FROM t ORDER BY a") == [
        (1, "one"),
        (2, "two"),
        (3, "3%?"),
    ]
    assert await db.fetchone("SELECT b FROM t WHERE b LIKE '%\\%%' ESCAPE '\\'") == ("3%?",)
    assert await db.fetchone("SELECT a FROM t WHERE a = ?", (99,)) is None
    await db.ping()


async def test_database_stays_usable_after_a_cancelled_transaction(db: Database) -> None:
    await db.execute("CREATE TABLE t (a INTEGER)")

    async def slow() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t (a) VALUES (?)", (1,))
            await asyncio.sleep(30)

    task = asyncio.create_task(slow())
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await db.fetchall("SELECT a FROM t") == []
    await db.execute("INSERT INTO t (a) VALUES (?)", (2,))
    assert await db.fetchall("SELECT a FROM t") == [(2,)]


def test_migrations_are_numbered_and_have_both_dialects() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].name == "0001_core"
    for m in migrations:
        assert m.upgrade["sqlite"] and m.upgrade["postgresql"]
        assert m.downgrade["sqlite"] and m.downgrade["postgresql"]


async def test_upgrade_downgrade_upgrade_round_trip(db: Database) -> None:
    names = [m.name for m in load_migrations()]
    assert await current_version(db) == 0
    empty = await describe_schema(db)
    assert empty == []

    assert await migrate(db) == names
    assert await current_version(db) == len(names)
    upgraded = await describe_schema(db)
    assert any(
        row[:3] == ("table", "jobs", "jobs") or row[1:3] == ("jobs", "id") for row in upgraded
    )
    assert await migrate(db) == []  # idempotent

    assert await migrate(db, target=0) == list(reversed(names))
    assert await current_version(db) == 0
    assert await describe_schema(db) == empty

    assert await migrate(db) == names
    assert await describe_schema(db) == upgraded


async def test_each_step_down_and_up_restores_the_schema(db: Database) -> None:
    # Every migration's downgrade must undo exactly its own upgrade, not just the last one's.
    latest = len(load_migrations())
    shapes = {}
    for version in range(latest + 1):
        await migrate(db, target=version)
        shapes[version] = await describe_schema(db)
    for version in range(latest - 1, -1, -1):
        await migrate(db, target=version)
        assert await describe_schema(db) == shapes[version]


async def test_migrate_rejects_unknown_targets(db: Database) -> None:
    with pytest.raises(MigrationError):
        await migrate(db, target=len(load_migrations()) + 1)
    with pytest.raises(MigrationError):
        await migrate(db, target=-1)
    assert await current_version(db) == 0


async def test_concurrent_migrations_apply_each_step_once(db_url: str) -> None:
    # Separate connections (separate pools / sqlite connections), racing on purpose.
    dbs = [await Database.connect(db_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(d) for d in dbs))
        applied = sorted(name for result in results for name in result)
        assert applied == sorted(m.name for m in load_migrations())
        rows = await dbs[0].fetchall("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in rows] == [m.version for m in load_migrations()]
    finally:
        for d in dbs:
            await d.close()


async def test_postgres_scheme_alias_is_accepted(pg_url: str) -> None:
    db = await Database.connect("postgres://" + pg_url.split("://", 1)[1])
    try:
        assert db.dialect == "postgresql"
        await db.ping()
    finally:
        await db.close()


def test_unreachable_postgres_reason_is_given_without_password() -> None:
    reason = postgres_unreachable_reason(
        "postgresql://bot:hunter2-very-secret@127.0.0.1:1/x?connect_timeout=2"  # patchwell:allow
    )
    assert reason and "hunter2-very-secret" not in reason


def test_search_path_url_keeps_other_parameters() -> None:
    url = with_search_path("postgresql://u@h:5432/db?sslmode=disable", "pw_x")
    assert url == "postgresql://u@h:5432/db?sslmode=disable&options=-csearch_path%3Dpw_x"


async def test_a_transaction_cancelled_during_begin_leaves_none_open(sqlite_url: str) -> None:
    """A job cancelled (lease lost, shutdown) while its BEGIN IMMEDIATE waits for another
    process's write lock: once BEGIN goes through, it must not stay open for the next caller."""
    holder = await Database.connect(sqlite_url)
    db = await Database.connect(sqlite_url)
    try:
        release = asyncio.Event()

        async def hold_the_write_lock() -> None:
            async with holder.transaction() as tx:
                await tx.execute("CREATE TABLE t (a INTEGER)")
                await release.wait()

        async def transaction() -> None:
            async with db.transaction() as tx:
                await tx.fetchone("SELECT 1")

        holding = asyncio.create_task(hold_the_write_lock())
        await asyncio.sleep(0.1)
        cancelled = asyncio.create_task(transaction())
        await asyncio.sleep(0.2)  # BEGIN IMMEDIATE is running, waiting on busy_timeout
        cancelled.cancel()
        release.set()
        with contextlib.suppress(asyncio.CancelledError):
            await cancelled
        await holding
        async with db.transaction() as tx:  # not "cannot start a transaction within a ..."
            assert await tx.fetchone("SELECT 1") == (1,)
    finally:
        await db.close()
        await holder.close()
