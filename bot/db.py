"""One small async database abstraction for all of Patchwell's stores (SQLite and PostgreSQL).

Usage::

    db = await Database.connect("sqlite:///patchwell.db")     # or postgresql://user:pw@host/db
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO t (a, b) VALUES (?, ?)", (1, "x"))   # -> rowcount
        row = await tx.fetchone("SELECT a, b FROM t WHERE a = ?", (1,))     # -> tuple | None
        rows = await tx.fetchall("SELECT a FROM t")                         # -> list[tuple]
        await tx.executemany("INSERT INTO t (a) VALUES (?)", [(2,), (3,)])
    await db.fetchone("SELECT 1")      # shortcuts: one statement in its own transaction
                                       # (fetchone/fetchall shortcuts are read-only: put
                                       # INSERT ... RETURNING in db.transaction())
    db.dialect                         # "sqlite" | "postgresql"
    await db.ping()                    # for /readyz; raises DatabaseError when unusable
    await db.close()

SQL is written once with ``?`` placeholders; for PostgreSQL they become ``%s`` (and a
literal ``%`` becomes ``%%``) outside quoted strings. Write portable SQL (``ON CONFLICT``,
``RETURNING``, ``COALESCE`` work on both); where the dialects truly differ (DDL, locking
clauses), branch on ``db.dialect``.

Errors: every driver error surfaces as :class:`DatabaseError`, constraint violations as its
subclass :class:`IntegrityError`, so callers never import a driver. Messages never contain a
DATABASE_URL password (see :func:`mask_url`).

SQLite: stdlib ``sqlite3`` on one dedicated thread per :class:`Database` (a connection must not
be shared across threads concurrently), WAL journal, ``synchronous=FULL`` (a commit survives
power loss, which is what lets the webhook answer 202 after commit), ``busy_timeout`` so
several processes can share the file, and every write transaction opened with
``BEGIN IMMEDIATE``: SQLite then takes the write lock up front, so writers queue on
``busy_timeout`` instead of failing with SQLITE_BUSY when a read turns into a write.
Transactions on one ``Database`` run one at a time (an ``asyncio.Lock``).

PostgreSQL: psycopg 3 async with a ``psycopg_pool.AsyncConnectionPool``; each transaction
holds one pooled connection. ``options=-csearch_path%3Dschema`` in the URL selects a schema.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from bot.errors import ConfigError

__all__ = [
    "Database",
    "DatabaseError",
    "Dialect",
    "IntegrityError",
    "Transaction",
    "mask_url",
    "translate_placeholders",
]

Dialect = Literal["sqlite", "postgresql"]
Params = Sequence[Any]

DEFAULT_URL = "sqlite:///patchwell.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000


class DatabaseError(Exception):
    """A database operation failed (message is safe to log: no password)."""


class IntegrityError(DatabaseError):
    """A constraint (unique, not-null, check) was violated."""


def mask_url(url: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:****@host/db``.

    Also masks ``password=`` query parameters. Masks up to the LAST ``@`` so an unencoded
    ``@`` inside a password does not leak its tail (over-masking is the safe mistake).
    """
    # Textual rather than parse-and-rebuild: rebuilding normalises URLs (sqlite:/// loses
    # slashes) and a parser can reject odd input that still holds a password.
    masked = re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/@:?#]*:).*@", r"\1****@", url)
    return re.sub(r"(?i)([?&]password=)[^&#]*", r"\1****", masked)


def _password_of(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def _scrub(message: str, url: str) -> str:
    """Remove the URL's password from a driver message, whatever the driver put in it."""
    password = _password_of(url)
    if password:
        message = message.replace(password, "****")
    return message.replace(url, mask_url(url))


@functools.lru_cache(maxsize=512)
def translate_placeholders(sql: str) -> str:
    """Turn ``?`` placeholders into psycopg's ``%s``, escaping literal ``%``.

    Quoted strings ('...') and identifiers ("...") are copied unchanged apart from ``%``
    doubling, so a ``?`` inside a string literal stays a question mark. Cached because
    the same few statements are translated over and over.
    """
    out: list[str] = []
    quote: str | None = None
    for ch in sql:
        if quote:
            if ch == quote:
                quote = None
            out.append("%%" if ch == "%" else ch)
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


class Transaction(Protocol):
    """What a ``db.transaction()`` block hands out."""

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None: ...

    async def fetchone(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None: ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]: ...


class Database:
    """Base class and factory; use :meth:`connect`."""

    dialect: Dialect
    url: str

    @staticmethod
    async def connect(url: str = DEFAULT_URL, *, pool_size: int = 5) -> Database:
        """Open a database from a DATABASE_URL (``sqlite:///path`` or ``postgresql://...``).

        ``sqlite:///rel.db`` is relative to the working directory, ``sqlite:////abs.db``
        absolute. ``pool_size`` is the PostgreSQL pool's maximum size.
        Raises :class:`ConfigError` for an unsupported URL, :class:`DatabaseError` when the
        database cannot be opened.
        """
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme == "sqlite":
            return await SqliteDatabase.open(url)
        if scheme in ("postgresql", "postgres"):
            return await PostgresDatabase.open(url, pool_size=pool_size)
        raise ConfigError(
            f"DATABASE_URL must start with sqlite:/// or postgresql:// (got {mask_url(url)!r})"
        )

    def transaction(self, *, readonly: bool = False) -> contextlib.AbstractAsyncContextManager[Any]:
        """``async with db.transaction() as tx``: commit on success, roll back on exception."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def ping(self) -> None:
        """Raise :class:`DatabaseError` unless a trivial query round-trips."""
        async with self.transaction(readonly=True) as tx:
            await tx.fetchone("SELECT 1")

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self.transaction() as tx:
            return await tx.execute(sql, params)

    async def fetchone(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        async with self.transaction(readonly=True) as tx:
            return await tx.fetchone(sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        async with self.transaction(readonly=True) as tx:
            return await tx.fetchall(sql, params)

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# --------------------------------------------------------------------------- SQLite


def _sqlite_path(url: str) -> str:
    prefix = "sqlite:///"
    if not url.lower().startswith(prefix) or len(url) == len(prefix):
        raise ConfigError(
            "a SQLite DATABASE_URL looks like sqlite:///relative.db or sqlite:////abs/path.db"
        )
    path = url[len(prefix) :].split("?", 1)[0]
    if path == ":memory:":
        # Each connection would see its own empty database: useless for a shared queue.
        raise ConfigError("sqlite:///:memory: is not supported; use a file")
    return path


class _SqliteTx:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def execute(self, sql: str, params: Params = ()) -> int:
        return await self._db._call(lambda c: c.execute(sql, tuple(params)).rowcount)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        batch = [tuple(r) for r in rows]
        await self._db._call(lambda c: c.executemany(sql, batch))

    async def fetchone(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        return await self._db._call(lambda c: c.execute(sql, tuple(params)).fetchone())

    async def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        return await self._db._call(lambda c: c.execute(sql, tuple(params)).fetchall())


class SqliteDatabase(Database):
    dialect: Dialect = "sqlite"

    def __init__(self, url: str, conn: sqlite3.Connection, executor: ThreadPoolExecutor) -> None:
        self.url = url
        self._conn = conn
        self._executor = executor
        self._lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def open(cls, url: str) -> SqliteDatabase:
        path = _sqlite_path(url)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="patchwell-sqlite")
        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(executor, _sqlite_open, path)
        except (sqlite3.Error, OSError) as exc:
            executor.shutdown(wait=False)
            raise DatabaseError(f"cannot open SQLite database {path!r}: {exc}") from exc
        return cls(url, conn, executor)

    async def _call(self, fn: Any) -> Any:
        if self._closed:
            raise DatabaseError("database is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, self._conn)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc
        except sqlite3.Error as exc:
            raise DatabaseError(f"sqlite: {exc}") from exc

    @contextlib.asynccontextmanager
    async def transaction(self, *, readonly: bool = False) -> AsyncIterator[_SqliteTx]:
        async with self._lock:
            try:
                # BEGIN inside the try: a task cancelled while BEGIN runs on the thread would
                # otherwise leave the transaction open for the next caller.
                await self._call(lambda c: c.execute("BEGIN" if readonly else "BEGIN IMMEDIATE"))
                yield _SqliteTx(self)
            except BaseException:
                # Runs even on cancellation; the executor is FIFO so this follows any
                # statement still in flight (and fails harmlessly if BEGIN never ran).
                with contextlib.suppress(DatabaseError):
                    await self._call(lambda c: c.execute("ROLLBACK"))
                raise
            else:
                await self._call(lambda c: c.execute("COMMIT"))

    async def close(self) -> None:
        if self._closed:
            return
        async with self._lock:
            with contextlib.suppress(DatabaseError):
                await self._call(lambda c: c.close())
            self._closed = True
        self._executor.shutdown(wait=True)


def _sqlite_open(path: str) -> sqlite3.Connection:
    if path not in ("",) and Path(path).parent != Path():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: we issue BEGIN/COMMIT ourselves (BEGIN IMMEDIATE for writes).
    conn = sqlite3.connect(
        path,
        isolation_level=None,
        check_same_thread=False,
        timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
    )
    conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


# --------------------------------------------------------------------------- PostgreSQL


class _PgTx:
    def __init__(self, conn: Any, url: str) -> None:
        self._conn = conn
        self._url = url

    @contextlib.asynccontextmanager
    async def _errors(self) -> AsyncIterator[None]:
        import psycopg

        try:
            yield
        except psycopg.IntegrityError as exc:
            raise IntegrityError(_scrub(str(exc), self._url)) from exc
        except psycopg.Error as exc:
            raise DatabaseError(f"postgresql: {_scrub(str(exc), self._url)}") from exc

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self._errors():
            cur = await self._conn.execute(translate_placeholders(sql), tuple(params))
            return cur.rowcount

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self._errors(), self._conn.cursor() as cur:
            await cur.executemany(translate_placeholders(sql), [tuple(r) for r in rows])

    async def fetchone(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        async with self._errors():
            cur = await self._conn.execute(translate_placeholders(sql), tuple(params))
            return await cur.fetchone()

    async def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        async with self._errors():
            cur = await self._conn.execute(translate_placeholders(sql), tuple(params))
            return await cur.fetchall()


class PostgresDatabase(Database):
    dialect: Dialect = "postgresql"

    def __init__(self, url: str, pool: Any) -> None:
        self.url = url
        self._pool = pool

    @classmethod
    async def open(cls, url: str, *, pool_size: int = 5) -> PostgresDatabase:
        import psycopg
        from psycopg_pool import AsyncConnectionPool, PoolTimeout

        conninfo = "postgresql://" + url.split("://", 1)[1]
        pool = AsyncConnectionPool(
            conninfo,
            min_size=1,
            max_size=max(1, pool_size),
            open=False,
            kwargs={"autocommit": True},  # conn.transaction() issues BEGIN/COMMIT itself
            timeout=30,
            # After PostgreSQL restarted every pooled connection is dead: check each one as it
            # is handed out (one round trip) so a request gets a fresh one, not the error --
            # a webhook answered 503 is only redelivered if an operator asks GitHub to.
            check=AsyncConnectionPool.check_connection,
        )
        try:
            # One direct attempt first: the pool would keep retrying a refused connection
            # until its timeout, whereas this fails at once with libpq's reason.
            probe = await psycopg.AsyncConnection.connect(conninfo, connect_timeout=10)
            await probe.close()
            await pool.open(wait=True, timeout=10)
        except (PoolTimeout, psycopg.Error) as exc:
            await pool.close()
            raise DatabaseError(
                f"cannot connect to {mask_url(url)}: {_scrub(str(exc), url)}"
            ) from None
        return cls(url, pool)

    @contextlib.asynccontextmanager
    async def transaction(self, *, readonly: bool = False) -> AsyncIterator[_PgTx]:
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            async with self._pool.connection() as conn, conn.transaction():
                yield _PgTx(conn, self.url)
        except PoolTimeout as exc:
            raise DatabaseError(f"no database connection available: {exc}") from None
        except psycopg.Error as exc:  # commit/begin failures, lost connections
            raise DatabaseError(f"postgresql: {_scrub(str(exc), self.url)}") from exc

    async def close(self) -> None:
        await self._pool.close()
