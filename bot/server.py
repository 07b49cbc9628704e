"""The webhook server: verify, store, answer. Everything else is a job.

``create_app`` builds the aiohttp application from already-opened parts and has
no side effects at import time, so tests build one per test.

``POST /webhook``
    * over 25 MB (by ``Content-Length``) -> 413 before the body is read; a
      chunked body is cut off at the same size while reading;
    * more body bytes being received at once, over all requests, than
      ``PATCHWELL_WEBHOOK_INFLIGHT_BYTES`` -> 503 with ``Retry-After`` (bodies are
      unsigned until read whole, so a stranger must not be able to fill memory);
      a body not received within 30 s -> 408;
    * missing or wrong ``X-Hub-Signature-256`` (``sha256=`` only) -> 401, nothing stored;
    * missing ``X-GitHub-Event`` / ``X-GitHub-Delivery`` or a body that is not
      a JSON object (nested too deep to parse included) -> 400;
    * ``ping`` -> 200 and dropped; an event Patchwell does not route -> 202 and
      dropped (counted as ``ignored``);
    * otherwise the delivery is stored durably as a job -> 202; a delivery id
      seen before (GitHub keeps the id on redelivery) -> 200, not processed again.
    No GitHub call happens before the answer (GitHub gives up after 10 s).

``GET /healthz`` -- the process is alive.
``GET /readyz`` -- the database answers and credentials are loaded.
``GET /metrics`` -- Prometheus text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import gidgethub
import gidgethub.sansio
from aiohttp import web

from bot.config import MAX_WEBHOOK_BYTES, Settings
from bot.handlers import ROUTED_EVENTS
from bot.metrics import CONTENT_TYPE, Metrics

log = logging.getLogger("patchwell.webhook")

_REPO_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")
_DELIVERY_ID = re.compile(r"^[A-Za-z0-9-]{1,100}$")
_EVENT_NAME = re.compile(r"^[a-z_]{1,64}$")
#: Events that get their own metric label; any other (unverified) header value is "other",
#: so strangers cannot grow the label set.
_LABELLED_EVENTS = ROUTED_EVENTS | {"ping"}
#: How long one request may take to send its body (GitHub sends within its 10 s deadline).
BODY_READ_SECONDS = 30
_READ_CHUNK = 64 * 1024
_BUSY_RETRY_AFTER = "5"


class InFlightBytes:
    """Webhook body bytes being received or handled at once, over all requests of one app.

    A request reserves its declared ``Content-Length`` before reading anything, and a chunked
    one reserves as bytes arrive; the reservation is held until the request is answered."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0

    def take(self, size: int) -> bool:
        if self.used + size > self.capacity:
            return False
        self.used += size
        return True

    def give_back(self, size: int) -> None:
        self.used -= size


class _BodyRefused(Exception):
    def __init__(self, outcome: str, status: int, message: str) -> None:
        super().__init__(message)
        self.outcome, self.status, self.message = outcome, status, message


@dataclass(frozen=True)
class DeliveryFacts:
    """What the queue stores about a delivery besides its body."""

    delivery_id: str
    event: str
    action: str | None
    installation_id: int | None
    repository: str | None


def delivery_facts(event: gidgethub.sansio.Event) -> DeliveryFacts:
    data = event.data if isinstance(event.data, dict) else {}
    action = data.get("action") if isinstance(data.get("action"), str) else None
    installation = data.get("installation")
    installation_id = installation.get("id") if isinstance(installation, dict) else None
    if not isinstance(installation_id, int):
        installation_id = None
    repo = data.get("repository")
    full_name = repo.get("full_name") if isinstance(repo, dict) else None
    if not (isinstance(full_name, str) and _REPO_NAME.match(full_name)):
        full_name = None
    return DeliveryFacts(event.delivery_id, event.event, action, installation_id, full_name)


class WebhookApp:
    """The request handlers, holding the parts they need."""

    def __init__(
        self,
        settings: Settings,
        db: Any,
        queue: Any,
        metrics: Metrics,
        on_stored: Callable[[], None] | None = None,
        budget: Any = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.queue = queue
        self.metrics = metrics
        self.on_stored = on_stored
        self.budget = budget
        self.in_flight = InFlightBytes(settings.webhook_inflight_bytes)

    async def webhook(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        outcome, status, body, facts = await self._receive(request)
        elapsed = time.perf_counter() - started
        event = facts.event if facts else _safe_event(request.headers.get("X-GitHub-Event"))
        self.metrics.deliveries.labels(_metric_event(event), outcome).inc()
        self.metrics.ack_seconds.observe(elapsed)
        log.info(
            "delivery %s",
            outcome,
            extra={
                "delivery_id": facts.delivery_id
                if facts
                else _safe_delivery(request.headers.get("X-GitHub-Delivery")),
                "event": event,
                "action": facts.action if facts else None,
                "installation": facts.installation_id if facts else None,
                "repository": facts.repository if facts else None,
                "outcome": outcome,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
            },
        )
        extra = {"Retry-After": _BUSY_RETRY_AFTER} if status == 503 else None
        return web.json_response(body, status=status, headers=extra)

    async def _receive(self, request: web.Request) -> tuple[str, int, dict, DeliveryFacts | None]:
        if request.content_length is not None and request.content_length > MAX_WEBHOOK_BYTES:
            return "too_large", 413, {"error": "payload larger than 25 MB"}, None
        reserved = [0]
        try:
            try:
                raw = await self._read_body(request, reserved)
            except _BodyRefused as refused:
                return refused.outcome, refused.status, {"error": refused.message}, None
            return await self._handle(request, raw)
        finally:
            self.in_flight.give_back(reserved[0])

    async def _read_body(self, request: web.Request, reserved: list[int]) -> bytes:
        """The body, read under the in-flight budget; ``reserved[0]`` is what this request holds."""
        busy = _BodyRefused("busy", 503, "too many webhook bytes in flight; retry later")
        declared = request.content_length
        if declared is not None:
            if not self.in_flight.take(declared):
                raise busy
            reserved[0] = declared
        chunks: list[bytes] = []
        total = 0
        try:
            async with asyncio.timeout(BODY_READ_SECONDS):
                while chunk := await request.content.read(_READ_CHUNK):
                    total += len(chunk)
                    if total > MAX_WEBHOOK_BYTES:
                        raise _BodyRefused("too_large", 413, "payload larger than 25 MB")
                    if total > reserved[0]:
                        if not self.in_flight.take(total - reserved[0]):
                            raise busy
                        reserved[0] = total
                    chunks.append(chunk)
        except TimeoutError:
            raise _BodyRefused("body_timeout", 408, "body not received in time") from None
        return b"".join(chunks)

    async def _handle(
        self, request: web.Request, raw: bytes
    ) -> tuple[str, int, dict, DeliveryFacts | None]:
        headers = {k.lower(): v for k, v in request.headers.items()}
        if not headers.get("x-hub-signature-256", "").startswith("sha256="):
            # gidgethub would fall back to the weaker SHA-1 header, and would accept a
            # ``sha1=`` digest in this one: we require SHA-256.
            return "bad_signature", 401, {"error": "X-Hub-Signature-256 must be sha256=..."}, None
        headers.pop("x-hub-signature", None)
        try:
            gidgethub.sansio.validate_event(
                raw,
                signature=headers["x-hub-signature-256"],
                secret=self.settings.webhook_secret.reveal(),
            )
        except gidgethub.ValidationFailure:
            return "bad_signature", 401, {"error": "signature does not match"}, None
        event_name = headers.get("x-github-event", "")
        delivery_id = headers.get("x-github-delivery", "")
        if not _EVENT_NAME.match(event_name) or not _DELIVERY_ID.match(delivery_id):
            return (
                "bad_request",
                400,
                {"error": "missing or malformed X-GitHub-Event / X-GitHub-Delivery"},
                None,
            )
        try:
            event = gidgethub.sansio.Event.from_http(
                headers, raw, secret=self.settings.webhook_secret.reveal()
            )
        except gidgethub.BadRequest:
            return "bad_request", 400, {"error": "unsupported content type"}, None
        except (ValueError, UnicodeDecodeError, RecursionError):
            return "bad_request", 400, {"error": "body is not valid JSON"}, None
        if not isinstance(event.data, dict):
            return "bad_request", 400, {"error": "body is not a JSON object"}, None
        facts = delivery_facts(event)
        if event.event == "ping":
            return "ping", 200, {"status": "pong"}, facts
        if event.event not in ROUTED_EVENTS:
            return "ignored", 202, {"status": "ignored", "event": event.event}, facts
        # Store the JSON itself, whatever encoding it arrived in (form-encoded payloads too).
        payload = (
            raw
            if headers.get("content-type", "").startswith("application/json")
            else json.dumps(event.data).encode()
        )
        try:
            stored = await self.queue.enqueue_delivery(
                facts.delivery_id,
                facts.event,
                facts.action,
                facts.installation_id,
                facts.repository,
                payload,
            )
        except Exception:
            # Nothing was stored: a 503 shows the delivery as failed on GitHub, where it
            # can be redelivered. The exception goes to the log, not to the caller.
            log.exception("could not store delivery", extra={"delivery_id": delivery_id})
            return "store_failed", 503, {"error": "could not store the delivery"}, facts
        if not stored:
            return "duplicate", 200, {"status": "duplicate"}, facts
        if self.on_stored is not None:
            self.on_stored()
        return "accepted", 202, {"status": "accepted"}, facts

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        problems = []
        try:
            await asyncio.wait_for(self.db.ping(), timeout=5)
        except Exception as exc:
            problems.append(f"database unreachable: {type(exc).__name__}")
        if not self.settings.private_key.reveal() or not self.settings.webhook_secret.reveal():
            problems.append("credentials not loaded")
        if problems:
            return web.json_response({"status": "unavailable", "problems": problems}, status=503)
        return web.json_response({"status": "ready"})

    async def metrics_endpoint(self, request: web.Request) -> web.Response:
        try:
            depth = await self.queue.depth()
        except Exception:
            depth = {}
        for state in ("queued", "running", "done", "dead"):
            self.metrics.queue_depth.labels(state).set(depth.get(state, 0))
        await self._queue_and_budget_gauges()
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    async def _queue_and_budget_gauges(self) -> None:
        """Read at scrape time from the database, so they hold for every process."""
        with contextlib.suppress(Exception):  # a scrape during a database outage still answers
            self.metrics.oldest_queued_seconds.set(await self.queue.oldest_queued_age())
        if self.budget is None:
            return
        with contextlib.suppress(Exception):
            overview = await self.budget.overview()
            if overview.lowest_remaining is not None:
                self.metrics.budget_remaining.set(overview.lowest_remaining)
            self.metrics.budget_paused.set(overview.paused)
            self.metrics.budget_pauses.set(overview.pauses)
            self.metrics.budget_waiting.set(overview.waiting)


def _safe_event(value: str | None) -> str:
    return value if value and _EVENT_NAME.match(value) else "unknown"


def _metric_event(name: str) -> str:
    return name if name in _LABELLED_EVENTS else "other"


def _safe_delivery(value: str | None) -> str | None:
    return value if value and _DELIVERY_ID.match(value) else None


def create_app(
    settings: Settings,
    *,
    db: Any,
    queue: Any,
    metrics: Metrics,
    on_stored: Callable[[], None] | None = None,
    background: list[Callable[[web.Application], Awaitable[None]]] | None = None,
    budget: Any = None,
) -> web.Application:
    """The aiohttp application. ``background`` holds cleanup-context style tasks
    (the inline worker) that start and stop with the app."""
    handlers = WebhookApp(settings, db, queue, metrics, on_stored, budget)
    # aiohttp enforces client_max_size while reading bodies without Content-Length.
    app = web.Application(client_max_size=MAX_WEBHOOK_BYTES)
    app.router.add_post("/webhook", handlers.webhook)
    app.router.add_get("/healthz", handlers.healthz)
    app.router.add_get("/readyz", handlers.readyz)
    app.router.add_get("/metrics", handlers.metrics_endpoint)
    for ctx in background or ():
        app.cleanup_ctx.append(ctx)
    return app
