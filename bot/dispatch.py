"""Running one job: rebuild the webhook event, authenticate, route to the handlers.

This is the only place that turns GitHub failures into queue decisions: a
failure :func:`bot.github.as_transient` calls retryable is raised as
``TransientError`` (the queue backs off and retries), and so is a lost database
connection; anything else propagates and the job is parked as dead with its reason.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import gidgethub
import gidgethub.sansio

from bot.budget import Writer
from bot.db import DatabaseError, IntegrityError
from bot.errors import TransientError
from bot.github import GitHubClients, as_transient
from bot.handlers import router as default_router
from bot.handlers.context import JobContext

log = logging.getLogger("patchwell.jobs")

# Installation events after which the installation can no longer get a token.
_NO_TOKEN_ACTIONS = {("installation", "deleted"), ("installation", "suspend")}


class JobRunner:
    """The ``run_job`` callable the worker calls for each claimed job."""

    def __init__(
        self,
        *,
        db: Any,
        clients: GitHubClients | None,
        settings: Any,
        router=default_router,
        queue: Any = None,
        services: Any = None,
    ) -> None:
        self.db = db
        self.clients = clients
        self.settings = settings
        self.router = router
        self.queue = queue
        self.services = services

    async def __call__(self, job: Any) -> None:
        payload = json.loads(job.payload)
        event = gidgethub.sansio.Event(
            payload, event=job.event or job.kind, delivery_id=job.delivery_id or f"job-{job.id}"
        )
        handlers = self.router.fetch(event)
        if not handlers:
            return
        context = JobContext(
            job=job,
            db=self.db,
            clients=self.clients,
            settings=self.settings,
            log=logging.LoggerAdapter(log, {"job_id": job.id, "delivery_id": job.delivery_id}),
            queue=self.queue,
            services=self.services,
        )
        try:
            gh = await self._client_for(job)
            for handler in handlers:
                await handler(event, gh, context)
        except Exception as exc:
            raise self._for_queue(exc, job) from None

    def _for_queue(self, exc: Exception, job: Any) -> Exception:
        """The exception the worker should see: retryable failures as TransientError."""
        if (
            isinstance(exc, gidgethub.BadRequest)
            and int(exc.status_code) == 401
            and self.clients is not None
            and job.installation_id
        ):
            # A revoked or expired token: mint a new one on the retry.
            self.clients.forget_token(job.installation_id)
            return TransientError("GitHub refused the installation token")
        if isinstance(exc, DatabaseError) and not isinstance(exc, IntegrityError):
            # The database restarted or the network blipped mid-job: its work is idempotent,
            # so run it again rather than bury it (a constraint violation is a bug: buried).
            return TransientError(f"database unavailable: {exc}")
        return as_transient(exc) or exc

    async def _client_for(self, job: Any):
        if self.clients is None or not job.installation_id:
            return None
        if (job.event, job.action) in _NO_TOKEN_ACTIONS:
            return None
        should_yield = None
        if self.queue is not None:

            async def should_yield() -> bool:
                return await self.queue.fresh_job_waiting(job)

        return await self.clients.installation_client(
            job.installation_id, writer=Writer(f"job-{job.id}", should_yield)
        )
