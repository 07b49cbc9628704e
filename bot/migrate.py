"""Apply the versioned migrations in :mod:`bot.migrations` (see its docstring to add one).

API::

    applied = await migrate(db)             # up to the latest; -> ["0001_core", ...] applied
    applied = await migrate(db, target=0)   # down to empty; -> ["0001_core"] reverted
    version = await current_version(db)     # 0 when nothing is applied
    shape = await describe_schema(db)       # comparable schema description (for tests)

Each migration step runs in its own transaction together with its ``schema_migrations`` row,
so a failed step leaves the database at the previous version. Concurrency: on PostgreSQL each
step's transaction first takes ``pg_advisory_xact_lock`` on a key derived from the current
schema, then re-reads the version, so two processes running ``migrate`` at once apply each
step exactly once (the loser waits and then finds nothing to do). On SQLite ``BEGIN IMMEDIATE``
already serialises writers across processes. DDL is transactional on both.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import time
from dataclasses import dataclass
from types import ModuleType

from bot import migrations as migrations_package
from bot.db import Database, Transaction

__all__ = ["Migration", "current_version", "describe_schema", "load_migrations", "migrate"]

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+$")

_CREATE_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at {ts} NOT NULL
)"""


class MigrationError(Exception):
    """The migrations package is malformed, or the target version does not exist."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    upgrade: dict[str, list[str]]
    downgrade: dict[str, list[str]]


def _from_module(version: int, name: str, module: ModuleType) -> Migration:
    up = getattr(module, "UPGRADE", None)
    down = getattr(module, "DOWNGRADE", None)
    for label, steps in (("UPGRADE", up), ("DOWNGRADE", down)):
        if not isinstance(steps, dict) or set(steps) != {"sqlite", "postgresql"}:
            raise MigrationError(f"{name}: {label} must be a dict with 'sqlite' and 'postgresql'")
    return Migration(version, name, up, down)  # type: ignore[arg-type]


def load_migrations() -> list[Migration]:
    """All migrations, ordered; numbering must run 1, 2, 3, ... without gaps."""
    found: list[Migration] = []
    for info in pkgutil.iter_modules(migrations_package.__path__):
        match = _NAME.match(info.name)
        if not match:
            continue
        module = importlib.import_module(f"{migrations_package.__name__}.{info.name}")
        found.append(_from_module(int(match.group(1)), info.name, module))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(f"migration numbering has a gap or duplicate at {migration.name}")
    return found


async def _lock_and_prepare(db: Database, tx: Transaction) -> int:
    """Serialise migrators, make sure the bookkeeping table exists, return the version."""
    if db.dialect == "postgresql":
        # Keyed by schema so tests (one schema each) and tenants don't block each other.
        await tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('patchwell.migrate:' || current_schema()))"
        )
        ts = "DOUBLE PRECISION"
    else:
        ts = "REAL"
    await tx.execute(_CREATE_TABLE.format(ts=ts))
    row = await tx.fetchone("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
    return int(row[0]) if row else 0


async def current_version(db: Database) -> int:
    """The highest applied migration, 0 for a fresh database."""
    async with db.transaction() as tx:
        return await _lock_and_prepare(db, tx)


async def migrate(db: Database, target: int | None = None) -> list[str]:
    """Upgrade to ``target`` (default: latest) or downgrade to it; returns the steps applied."""
    available = load_migrations()
    latest = available[-1].version if available else 0
    goal = latest if target is None else target
    if not 0 <= goal <= latest:
        raise MigrationError(f"target version {goal} does not exist (latest is {latest})")
    by_version = {m.version: m for m in available}
    done: list[str] = []
    while True:
        async with db.transaction() as tx:
            version = await _lock_and_prepare(db, tx)
            if version == goal:
                return done
            if version > latest:
                raise MigrationError(
                    f"database is at version {version}, newer than this code ({latest})"
                )
            if version < goal:
                step = by_version[version + 1]
                for sql in step.upgrade[db.dialect]:
                    await tx.execute(sql)
                await tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (step.version, step.name, time.time()),
                )
            else:
                step = by_version[version]
                for sql in step.downgrade[db.dialect]:
                    await tx.execute(sql)
                await tx.execute("DELETE FROM schema_migrations WHERE version = ?", (step.version,))
        done.append(step.name)


async def describe_schema(db: Database) -> list[tuple[str, ...]]:
    """A sorted, comparable description of our tables, columns and indexes.

    ``schema_migrations`` and engine-internal tables are left out: they are bookkeeping, not
    the schema the migrations are responsible for.
    """
    if db.dialect == "sqlite":
        rows = await db.fetchall(
            "SELECT type, name, tbl_name, COALESCE(sql, '') FROM sqlite_master"
            " WHERE name NOT LIKE 'sqlite_%' AND tbl_name <> 'schema_migrations'"
        )
    else:
        columns = await db.fetchall(
            "SELECT 'column', table_name, column_name, data_type, is_nullable,"
            " COALESCE(column_default, ''), is_identity"
            " FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name <> 'schema_migrations'"
        )
        indexes = await db.fetchall(
            "SELECT 'index', tablename, indexname, indexdef FROM pg_indexes"
            " WHERE schemaname = current_schema() AND tablename <> 'schema_migrations'"
        )
        checks = await db.fetchall(
            "SELECT 'constraint', c.conrelid::regclass::text, c.conname,"
            " pg_get_constraintdef(c.oid)"
            " FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
            " WHERE n.nspname = current_schema()"
            " AND c.conrelid::regclass::text <> 'schema_migrations'"
        )
        rows = [*columns, *indexes, *checks]
    return sorted(tuple(str(v) for v in row) for row in rows)
