"""GitHub's content-creation limits, per installation, when a test turns them on.

GitHub documents ("Rate limits for the REST API", secondary rate limits): in general no more
than 80 content-generating requests per minute and no more than 500 per hour; beyond that a
403 (or 429) whose message says "secondary rate limit", with ``Retry-After``. Content-generating
means the mutative methods (POST, PATCH, PUT, DELETE) made with the installation's token; the
App's own JWT calls (minting tokens) are not content.

Off by default, so a test that is not about limits is not slowed or refused by them. Turn them on
with ``fake.set_content_limits()`` (GitHub's numbers) or with a shorter ``minute``/``hour`` to run
GitHub's ratios faster (``minute=6, hour=360`` is GitHub at ten times the speed).

Whether limits are on or not, every write is recorded (``writes``) with the installation it
counted against, and the most writes one installation had in flight at once, so a test can
check a client's pacing at the fake, where GitHub would see it.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


@dataclass(frozen=True)
class ContentLimits:
    per_minute: int = 80
    per_hour: int = 500
    minute: float = 60.0  # seconds a "minute" lasts (shorter: GitHub's ratios, faster)
    hour: float = 3600.0


@dataclass(frozen=True)
class Write:
    installation_id: int
    at: float
    method: str
    path: str
    refused: bool


@dataclass
class WriteLedger:
    """What the fake counts per installation (mutate only under the state lock)."""

    limits: ContentLimits | None = None
    recent: dict[int, deque[float]] = field(default_factory=dict)  # accepted write times
    writes: list[Write] = field(default_factory=list)
    in_flight: dict[int, int] = field(default_factory=dict)
    max_in_flight: dict[int, int] = field(default_factory=dict)

    def clear(self) -> None:
        self.limits = None
        self.recent.clear()
        self.writes.clear()
        self.in_flight.clear()
        self.max_in_flight.clear()

    def admit(self, installation_id: int, method: str, path: str, at: float) -> float | None:
        """Count a write; None when admitted, else the seconds to wait (``Retry-After``)."""
        wait = self._wait(installation_id, at)
        self.writes.append(Write(installation_id, at, method, path, refused=wait is not None))
        if wait is None:
            self.recent.setdefault(installation_id, deque()).append(at)
        return wait

    def _wait(self, installation_id: int, at: float) -> float | None:
        limits = self.limits
        if limits is None:
            return None
        times = self.recent.setdefault(installation_id, deque())
        while times and times[0] <= at - limits.hour:
            times.popleft()
        waits = []
        for limit, window in ((limits.per_minute, limits.minute), (limits.per_hour, limits.hour)):
            inside = [t for t in times if t > at - window]
            if len(inside) >= limit:
                # free again when the oldest write that fills the window leaves it
                waits.append(inside[len(inside) - limit] + window - at)
        return max(waits) if waits else None

    def started(self, installation_id: int) -> None:
        now_in_flight = self.in_flight.get(installation_id, 0) + 1
        self.in_flight[installation_id] = now_in_flight
        self.max_in_flight[installation_id] = max(
            now_in_flight, self.max_in_flight.get(installation_id, 0)
        )

    def finished(self, installation_id: int) -> None:
        self.in_flight[installation_id] = max(self.in_flight.get(installation_id, 1) - 1, 0)


def retry_after_header(wait: float) -> str:
    """Whole seconds, never 0 (GitHub sends an integer; 0 would invite an instant retry)."""
    return str(max(1, math.ceil(wait)))
