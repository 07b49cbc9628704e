"""What a handler gets besides the event and the client."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bot.github import GitHubClients
from bot.scan.engine import ScanEngine
from bot.scan.state import ScanStore
from fixers.contract import Services


@dataclass
class JobContext:
    """The job being run and the parts a handler may use.

    ``record`` writes what a handler saw and did to the ``event_log`` table: the
    durable trace an operator (and a test) reads to know a delivery was handled.
    """

    job: Any
    db: Any
    clients: GitHubClients | None
    settings: Any
    log: logging.LoggerAdapter
    queue: Any = None
    services: Services | None = None

    @property
    def store(self) -> ScanStore:
        return ScanStore(self.db)

    async def bot_login(self) -> str:
        """The App's bot user (``<slug>[bot]``), from ``GET /app`` (so a renamed App works)."""
        if self.clients is None:
            return f"{self.settings.bot_name}[bot]"
        return await self.clients.bot_login()

    async def app_slug(self) -> str:
        """What people write after ``@`` to command Patchwell."""
        return (await self.bot_login()).removesuffix("[bot]")

    async def scan_engine(self, gh) -> ScanEngine:
        assert self.clients is not None
        return ScanEngine(
            gh,
            self.clients,
            self.store,
            queue=self.queue,
            services=self.services,
            rescan_interval=self.settings.rescan_interval.total_seconds(),
            bot_login=await self.bot_login(),
            bot_name=await self.app_slug(),
            run_key=f"job-{self.job.id}",
            last_attempt=self.job.attempts >= self.job.max_attempts,
            budget=self.settings.scan_budget,
        )

    async def record(self, handler: str, summary: str) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO event_log (job_id, delivery_id, event, action, repository,"
                " handler, summary) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    self.job.id,
                    self.job.delivery_id,
                    self.job.event,
                    self.job.action,
                    self.job.repository,
                    handler,
                    summary[:1000],
                ),
            )
