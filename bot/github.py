"""GitHub App authentication and the one REST client every handler uses.

* App JWTs are RS256, ``iat`` 60 s in the past (clock drift), ``exp`` 9 minutes
  after ``iat`` -- inside GitHub's 10-minute ceiling (gidgethub's ``get_jwt``).
* Installation tokens are cached per installation until five minutes before
  ``expires_at``; concurrent jobs of one installation share one token request.
  Tokens are opaque: nothing here assumes their length or shape.
* Every REST call goes through gidgethub's aiohttp client with our base URL
  (``PATCHWELL_GITHUB_API_URL``; GitHub Enterprise Server works by setting it).
  Request paths are always built from owner/repo, never from absolute URLs in
  payloads, which would bypass the base URL.
* GETs that repeat are conditional: an ETag cache per installation turns a
  repeated read into a 304, which GitHub does not count against the rate limit.
* Content-creating requests (POST/PATCH/PUT/DELETE) of an installation client go through the
  installation's write budget (:mod:`bot.budget`, shared by every process through the
  database): one at a time, paced under GitHub's secondary limits, by priority. A write GitHub
  still refuses for going too fast pauses the whole installation and is sent again after the
  pause (nothing was written); reads wait out a pause too.
* Reads (and downloads) answered 5xx or not at all are tried again twice within a few seconds
  (``READ_RETRIES``); writes never are here (a 5xx write may have happened: the job is redone,
  and its engine finds what it already wrote).
* Failures are classified once, here: :func:`as_transient` tells the job queue
  which ones to retry (5xx, timeouts) and which only mean "wait" (429, secondary rate limits --
  which gidgethub 6 raises as a plain ``BadRequest`` -- and exhausted primary limits: the job
  is handed back until GitHub's time, :class:`~bot.errors.Deferred`, no attempt spent).
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import gidgethub
import gidgethub.aiohttp
import gidgethub.apps
from cachetools import LRUCache

from bot.budget import WRITE_METHODS, PacedWrites, WriteBudget, Writer
from bot.db import DatabaseError, IntegrityError
from bot.errors import Deferred, TransientError
from bot.metrics import Metrics

log = logging.getLogger(__name__)

USER_AGENT = "patchwell"
#: Refresh a token this long before GitHub says it expires.
TOKEN_REFRESH_MARGIN = 5 * 60
#: Give up on a single GitHub request after this long; the job is retried later.
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)
#: GitHub ends a request it has worked on this long (its REST API troubleshooting guide):
#: a write we stopped waiting for is done, or never will be, by then.
GITHUB_REQUEST_CEILING = 10.0
#: Entries kept per installation in the conditional-request cache.
ETAG_CACHE_SIZE = 500
#: A write refused for going too fast is sent again (after the pause) at most this many times.
MAX_LIMITED_RESENDS = 3
#: A read answered 5xx, or not at all, is tried again this many times (after 0.2-1 s, 0.4-2 s).
READ_RETRIES = 2
#: Seconds to wait out a limit GitHub gave no Retry-After for (its docs: at least a minute).
LIMIT_WAIT = 60.0
RETRIED_READ_STATUSES = frozenset({500, 502, 503, 504})


def read_retry_delay(attempt: int) -> float:
    """Seconds before trying a failed read again: short, jittered, growing."""
    return random.uniform(0.2, 1.0) * (attempt + 1)


class PatchwellGitHubAPI(gidgethub.aiohttp.GitHubAPI):
    """gidgethub's client, counting calls and rate limits into our metrics."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *args: Any,
        metrics: Metrics | None = None,
        pacer: PacedWrites | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(session, *args, **kwargs)
        self._metrics = metrics
        self._pacer = pacer

    async def _make_request(
        self, method: str, url: str, url_vars: Any, data: Any, accept: str, **kw: Any
    ) -> Any:
        """gidgethub's request, with a 2xx body that cannot be read made retryable."""
        try:
            body, more, *rest = await super()._make_request(
                method, url, url_vars, data, accept, **kw
            )
        except (json.JSONDecodeError, UnicodeDecodeError):
            # A 2xx whose JSON is cut short or is a proxy's HTML page: nothing we can read,
            # and nothing permanent either -- ask again later.
            raise TransientError(f"GitHub answered {method} with a body that is not JSON") from None
        if isinstance(body, str) and "json" in accept:
            raise TransientError(f"GitHub answered {method} with a body that is not JSON")
        return (body, more, *rest)

    async def before_read(self) -> None:
        """Wait out a pause of this installation (for downloads made outside gidgethub)."""
        if self._pacer is not None:
            await self._pacer.budget.before_read(self._pacer.installation_id)

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        try:
            return await self._dispatch(method, url, headers, body)
        except UnsettledWrite as unsettled:
            # The job keeps its repository until GitHub is done with the write (its write
            # slot is already given back): then its retry, or any other job for the same
            # repository, finds the check run or PR it made instead of making a second one.
            await asyncio.sleep(max(0.0, unsettled.settled_at - time.monotonic()))
            raise TransientError(unsettled.reason) from None

    async def _dispatch(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Mapping[str, str], bytes]:
        pacer = self._pacer
        if pacer is None and method.upper() in WRITE_METHODS:
            return await self._send(method, url, headers, body)
        if method.upper() not in WRITE_METHODS:
            return await self._read(method, url, headers, body)
        return await self._paced_write(pacer, method, url, headers, body)

    async def _read(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Mapping[str, str], bytes]:
        """A read, tried again on a 5xx or a timeout: reads are idempotent, and a scan makes
        dozens, so without this one GitHub hiccup in ten would cost the whole job an attempt."""
        pacer = self._pacer
        for attempt in range(READ_RETRIES + 1):
            if pacer is not None:
                await pacer.budget.before_read(pacer.installation_id)
            last = attempt == READ_RETRIES
            try:
                response = await self._send(method, url, headers, body)
            except TransientError:
                if last:
                    raise
            else:
                if response[0] not in RETRIED_READ_STATUSES or last:
                    if pacer is not None:
                        with contextlib.suppress(Exception):  # bookkeeping must not fail a read
                            await pacer.budget.observe(pacer.installation_id, response[1])
                    return response
            await asyncio.sleep(read_retry_delay(attempt))
        raise AssertionError("unreachable")

    async def _paced_write(
        self,
        pacer: PacedWrites,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> tuple[int, Mapping[str, str], bytes]:
        path = urlsplit(url).path
        data = _json_object(body) if "/check-runs" in path else None
        for attempt in range(MAX_LIMITED_RESENDS + 1):
            slot = await pacer.acquire(method.upper(), path, data)
            if self._metrics is not None:
                self._metrics.write_wait_seconds.observe(slot.waited)
            try:
                response = await self._send(method, url, headers, body)
            except BaseException:
                await self._release(pacer, slot)  # the write may have reached GitHub: counted
                raise
            status, response_headers, data_out = response
            pause = await self._release(
                pacer, slot, status=status, headers=response_headers, body=data_out
            )
            if pause is None or attempt == MAX_LIMITED_RESENDS:
                return response
            # GitHub refused it for going too fast, so nothing was written: send it again
            # once the installation's pause is over (acquire waits, or hands the job back).
        raise AssertionError("unreachable")

    async def _release(self, pacer: PacedWrites, slot: Any, **outcome: Any) -> float | None:
        try:
            return await pacer.budget.release(slot, **outcome)
        except Exception as exc:  # the database is away: the slot frees itself in seconds
            log.warning("could not release the write slot: %s", type(exc).__name__)
            return None

    async def _send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        sent = time.monotonic()
        try:
            status, response_headers, data = await super()._request(method, url, headers, body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._count(method, "error")
            # The exception text names the host only; our URL holds no credentials.
            reason = f"GitHub request failed: {type(exc).__name__}"
            if maybe_carried_out(method, exc):
                raise UnsettledWrite(reason, sent + GITHUB_REQUEST_CEILING) from None
            raise TransientError(reason) from None
        self._count(method, str(status))
        remaining = response_headers.get("x-ratelimit-remaining")
        if self._metrics is not None and remaining is not None and remaining.isdigit():
            resource = response_headers.get("x-ratelimit-resource", "core")
            self._metrics.rate_limit_remaining.labels(resource).set(int(remaining))
        return status, response_headers, data

    def _count(self, method: str, status: str) -> None:
        if self._metrics is not None:
            self._metrics.github_calls.labels(method, status).inc()


class UnsettledWrite(TransientError):
    """A write that was sent and never answered: GitHub may still carry it out until
    ``settled_at`` (``time.monotonic()``), :data:`GITHUB_REQUEST_CEILING` after it was sent."""

    def __init__(self, reason: str, settled_at: float) -> None:
        super().__init__(reason)
        self.settled_at = settled_at


def maybe_carried_out(method: str, exc: BaseException) -> bool:
    """Whether a request that failed this way may still be carried out by GitHub.

    A write that timed out or lost its connection after being sent may: GitHub keeps working
    on a request for up to :data:`GITHUB_REQUEST_CEILING` seconds. A read changes nothing,
    and a write that never connected was never sent."""
    return method.upper() in WRITE_METHODS and not isinstance(exc, aiohttp.ClientConnectorError)


def _json_object(body: bytes) -> Mapping[str, Any] | None:
    try:
        data = json.loads(body) if body else None
    except ValueError:
        return None
    return data if isinstance(data, Mapping) else None


def as_transient(exc: BaseException, *, now: float | None = None) -> TransientError | None:
    """The retryable form of a failure (GitHub's, or the database going away), or ``None``
    when retrying cannot help."""
    if isinstance(exc, TransientError):
        return exc
    if isinstance(exc, DatabaseError) and not isinstance(exc, IntegrityError):
        # The database went away mid-job (a restart, a failover): the job's work is
        # idempotent, so it is run again rather than buried.
        return TransientError("the database was unavailable")
    if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError)):
        return TransientError(f"GitHub unreachable: {type(exc).__name__}")
    if not isinstance(exc, gidgethub.HTTPException):
        return None
    status = int(exc.status_code)
    headers = exc.headers or {}
    retry_after = _retry_after(headers, now=now)
    # GitHub's limits are waits, not failures: the job is handed back (Deferred) until GitHub
    # said to come back, without spending an attempt -- a long limit must not bury it.
    if isinstance(exc, gidgethub.RateLimitExceeded):
        return Deferred("GitHub rate limit exhausted", retry_after=retry_after or LIMIT_WAIT)
    if isinstance(exc, gidgethub.GitHubBroken):
        return TransientError(f"GitHub answered {status}", retry_after=retry_after)
    if status == 429:
        return Deferred("GitHub answered 429 (too many requests)", retry_after=retry_after or 60.0)
    if status == 403 and (
        "retry-after" in headers
        or "secondary rate limit" in str(exc).lower()
        or headers.get("x-ratelimit-remaining") == "0"
    ):
        return Deferred("GitHub secondary rate limit", retry_after=retry_after or LIMIT_WAIT)
    return None


def _retry_after(headers: Mapping[str, str], *, now: float | None) -> float | None:
    """``Retry-After`` seconds, else -- when the limit is spent -- the wait until reset.

    GitHub sends ``x-ratelimit-reset`` on every response; it only says when to come
    back when ``x-ratelimit-remaining`` is 0 (a 5xx with quota left retries sooner).
    """
    value = headers.get("retry-after")
    if value is not None and value.strip().isdigit():
        return float(value.strip())
    reset = headers.get("x-ratelimit-reset")
    spent = headers.get("x-ratelimit-remaining", "").strip() == "0"
    if spent and reset is not None and reset.strip().isdigit():
        return max(0.0, float(reset) - (now if now is not None else time.time()))
    return None


@dataclass
class _CachedToken:
    token: str
    refresh_at: float  # monotonic seconds


class AppAuth:
    """Mints App JWTs and caches installation tokens (in memory only, never stored)."""

    def __init__(
        self, app_id: int, private_key: str, *, clock=time.monotonic, wall_clock=time.time
    ) -> None:
        self._app_id = str(app_id)
        self._key = private_key
        self._clock = clock
        self._wall = wall_clock
        self._tokens: dict[int, _CachedToken] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"AppAuth(app_id={self._app_id}, tokens cached={len(self._tokens)})"

    def jwt(self) -> str:
        return gidgethub.apps.get_jwt(app_id=self._app_id, private_key=self._key, expiration=9 * 60)

    async def installation_token(
        self, gh: gidgethub.aiohttp.GitHubAPI, installation_id: int
    ) -> str:
        cached = self._tokens.get(installation_id)
        if cached and self._clock() < cached.refresh_at:
            return cached.token
        lock = self._locks.setdefault(installation_id, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(installation_id)
            if cached and self._clock() < cached.refresh_at:
                return cached.token
            response = await gh.post(
                f"/app/installations/{installation_id}/access_tokens", data=b"", jwt=self.jwt()
            )
            token = response["token"]
            lifetime = _seconds_until(response.get("expires_at"), self._wall())
            self._tokens[installation_id] = _CachedToken(
                token, self._clock() + max(0.0, lifetime - TOKEN_REFRESH_MARGIN)
            )
            return token

    def forget(self, installation_id: int) -> None:
        """Drop a token GitHub refused (revoked, installation suspended)."""
        self._tokens.pop(installation_id, None)


def _seconds_until(expires_at: str | None, now: float) -> float:
    if not expires_at:
        return 0.0
    try:
        when = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return when.timestamp() - now


class GitHubClients:
    """Hands out authenticated clients; handlers never see tokens."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        auth: AppAuth,
        base_url: str,
        metrics: Metrics | None = None,
        budget: WriteBudget | None = None,
    ) -> None:
        self._session = session
        self._auth = auth
        self._base_url = base_url
        self._metrics = metrics
        self._budget = budget
        self._etags: dict[int, LRUCache] = {}
        self._bot_login: str | None = None

    @property
    def base_url(self) -> str:
        return self._base_url

    async def bot_login(self) -> str:
        """The login GitHub gives the App's commits and comments (``<slug>[bot]``), cached."""
        if self._bot_login is None:
            app = await self.app_client().getitem("/app", jwt=self._auth.jwt())
            self._bot_login = f"{app['slug']}[bot]"
        return self._bot_login

    def forget_token(self, installation_id: int) -> None:
        self._auth.forget(installation_id)

    def app_client(self) -> PatchwellGitHubAPI:
        """A client authenticating as the App itself (JWT), for /app endpoints."""
        return PatchwellGitHubAPI(
            self._session, USER_AGENT, base_url=self._base_url, metrics=self._metrics
        )

    async def installation_client(
        self, installation_id: int, *, writer: Writer | None = None
    ) -> PatchwellGitHubAPI:
        """A client for one installation; with a budget, its writes are paced (``writer``
        names the job and says when it should hand its slot back)."""
        token = await self._auth.installation_token(self.app_client(), installation_id)
        cache = self._etags.setdefault(installation_id, LRUCache(maxsize=ETAG_CACHE_SIZE))
        pacer = (
            PacedWrites(self._budget, installation_id, writer) if self._budget is not None else None
        )
        return PatchwellGitHubAPI(
            self._session,
            USER_AGENT,
            oauth_token=token,
            cache=cache,
            base_url=self._base_url,
            metrics=self._metrics,
            pacer=pacer,
        )

    async def download(self, gh: PatchwellGitHubAPI, path: str, *, max_bytes: int) -> bytes:
        """A binary download (tarball, logs): gidgethub only decodes JSON and text.

        GitHub answers with a redirect to a short-lived signed URL; aiohttp
        follows it and drops our Authorization header if the host changes. A 5xx or a
        timeout is tried again, like every read.
        """
        for attempt in range(READ_RETRIES + 1):
            try:
                return await self._download_once(gh, path, max_bytes=max_bytes)
            except (gidgethub.GitHubBroken, TransientError):
                if attempt == READ_RETRIES:
                    raise
            await asyncio.sleep(read_retry_delay(attempt))
        raise AssertionError("unreachable")

    async def _download_once(self, gh: PatchwellGitHubAPI, path: str, *, max_bytes: int) -> bytes:
        await gh.before_read()
        url = gidgethub.sansio.format_url(path, {}, base_url=self._base_url)
        headers = {
            "authorization": f"token {gh.oauth_token}",
            "user-agent": USER_AGENT,
            "accept": "application/vnd.github+json",
        }
        try:
            async with self._session.get(url, headers=headers) as resp:
                if self._metrics is not None:
                    self._metrics.github_calls.labels("GET", str(resp.status)).inc()
                if resp.status >= 400:
                    body = await resp.read()
                    gidgethub.sansio.decipher_response(resp.status, resp.headers, body)
                chunks: list[bytes] = []
                total = 0
                async for chunk in resp.content.iter_chunked(1 << 16):
                    total += len(chunk)
                    if total > max_bytes:
                        raise DownloadTooLarge(max_bytes)
                    chunks.append(chunk)
                return b"".join(chunks)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientError(f"GitHub download failed: {type(exc).__name__}") from None

    async def redirect_location(self, gh: PatchwellGitHubAPI, path: str) -> str:
        """Where an API redirect (``302``: job logs, artifacts) points, without following it.

        The target is a short-lived signed URL on another host: it is fetched with
        :meth:`fetch_capped`, which sends it no token. Errors raise like gidgethub's
        (``BadRequest`` with the status: 404 not there yet, 410 gone).
        """
        url = gidgethub.sansio.format_url(path, {}, base_url=self._base_url)
        headers = {
            "authorization": f"token {gh.oauth_token}",
            "user-agent": USER_AGENT,
            "accept": "application/vnd.github+json",
        }
        try:
            async with self._session.get(url, headers=headers, allow_redirects=False) as resp:
                if self._metrics is not None:
                    self._metrics.github_calls.labels("GET", str(resp.status)).inc()
                location = resp.headers.get("Location")
                if resp.status in (301, 302, 303, 307, 308) and location:
                    return location
                body = await resp.read()
                gidgethub.sansio.decipher_response(resp.status, resp.headers, body)
                raise gidgethub.BadRequest(http.HTTPStatus(resp.status))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientError(f"GitHub request failed: {type(exc).__name__}") from None

    async def fetch_capped(self, url: str, *, head: int, tail: int, max_bytes: int) -> CappedBody:
        """GET a signed URL (no token) reading at most ``max_bytes``; keep the first ``head``
        and the last ``tail`` bytes read. A body that is cut says so (``complete``)."""
        try:
            async with self._session.get(url, headers={"user-agent": USER_AGENT}) as resp:
                if resp.status >= 400:
                    return CappedBody(b"", b"", 0, False, resp.status)
                first = bytearray()
                last = bytearray()
                total = 0
                async for chunk in resp.content.iter_chunked(1 << 16):
                    take = chunk[: max(0, max_bytes - total)]
                    total += len(take)
                    if len(first) < head:
                        room = head - len(first)
                        first += take[:room]
                        take = take[room:]
                    if take:
                        last += take
                        if len(last) > tail:
                            del last[: len(last) - tail]
                    if total >= max_bytes:
                        return CappedBody(bytes(first), bytes(last), total, False, resp.status)
                return CappedBody(bytes(first), bytes(last), total, True, resp.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientError(f"download failed: {type(exc).__name__}") from None


@dataclass(frozen=True)
class CappedBody:
    """The start and end of a download cut at a byte cap (the middle may be missing)."""

    head: bytes
    tail: bytes
    read: int
    complete: bool
    status: int

    @property
    def whole(self) -> bool:
        """Nothing is missing: the download ended within the cap and head + tail hold it."""
        return self.complete and self.read == len(self.head) + len(self.tail)


class DownloadTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"download larger than {limit} bytes")
        self.limit = limit


def new_session(timeout: float | None = None) -> aiohttp.ClientSession:
    """The HTTP session of one process; every GitHub request gives up after ``timeout`` s."""
    if timeout is None:
        return aiohttp.ClientSession(timeout=REQUEST_TIMEOUT)
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout, connect=min(10.0, timeout))
    )
