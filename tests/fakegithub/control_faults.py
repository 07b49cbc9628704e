"""FakeGitHub helpers for limits and faults: rate limits, content-creation limits, latency,
chaos, injected answers, and the logs of calls and writes tests assert on."""

from __future__ import annotations

import random
import re
from typing import Any

from tests.fakegithub.chaos import Chaos
from tests.fakegithub.control import Controls
from tests.fakegithub.httpkit import SECONDARY_LIMIT_DOCS, SECONDARY_LIMIT_MESSAGE
from tests.fakegithub.limits import ContentLimits, Write
from tests.fakegithub.state import Call, Injection, now


class FaultControls(Controls):
    """What makes the fake slow, limited or failing, and what it saw."""

    @property
    def rate_limit(self) -> int:
        return self.state.rate_limit

    @rate_limit.setter
    def rate_limit(self, limit: int) -> None:
        with self.state.lock:
            self.state.rate_limit = limit
            self.state.buckets.clear()

    def set_content_limits(
        self,
        per_minute: int = 80,
        per_hour: int = 500,
        *,
        minute: float = 60.0,
        hour: float = 3600.0,
    ) -> None:
        """Enforce GitHub's content-creation limits per installation (see ``limits.py``).

        ``minute``/``hour`` shorten the windows to run GitHub's ratios faster in a test.
        """
        with self.state.lock:
            self.state.ledger.limits = ContentLimits(per_minute, per_hour, minute, hour)
            self.state.ledger.recent.clear()

    def set_latency(self, low: float, high: float) -> None:
        """Every answer takes between ``low`` and ``high`` seconds, like GitHub's do."""
        with self.state.lock:
            self.state.latency = (low, high)

    def set_chaos(self, rate: float, *, seed: int = 0, timeout_delay: float = 3.0) -> None:
        """Make ``rate`` of all answers fail at random (see ``chaos.py``); ``rate=0`` stops it
        (the counts of what was injected stay readable)."""
        with self.state.lock:
            if rate <= 0:
                if self.state.chaos is not None:
                    self.state.chaos.rate = 0.0
                return
            self.state.chaos = Chaos(rate, random.Random(seed), timeout_delay)

    def chaos_faults(self) -> dict[str, int]:
        """How many faults of each kind chaos injected so far (since the last set_chaos)."""
        with self.state.lock:
            return dict(self.state.chaos.faults) if self.state.chaos is not None else {}

    def writes(self, installation_id: int | None = None) -> list[Write]:
        """Every content write the fake saw (admitted and refused), oldest first."""
        with self.state.lock:
            return [
                w
                for w in self.state.ledger.writes
                if installation_id is None or w.installation_id == installation_id
            ]

    def refused_writes(self, installation_id: int | None = None) -> int:
        return sum(1 for w in self.writes(installation_id) if w.refused)

    def max_writes_in_flight(self, installation_id: int) -> int:
        """The most writes of one installation the fake was serving at the same moment."""
        with self.state.lock:
            return self.state.ledger.max_in_flight.get(installation_id, 0)

    @property
    def internal_errors(self) -> list[str]:
        """Tracebacks of requests the fake itself failed on (a bug in the fake, not GitHub)."""
        with self.state.lock:
            return list(self.state.internal_errors)

    @property
    def calls(self) -> list[Call]:
        with self.state.lock:
            return list(self.state.calls)

    def clear_calls(self) -> None:
        with self.state.lock:
            self.state.calls.clear()

    def count_calls(
        self, method: str | None = None, path_regex: str | None = None, status: int | None = None
    ) -> int:
        pattern = re.compile(path_regex) if path_regex else None
        return sum(
            1
            for c in self.calls
            if (method is None or c.method == method.upper())
            and (pattern is None or pattern.search(c.path))
            and (status is None or c.status == status)
        )

    def inject(
        self,
        method: str,
        path_regex: str,
        *,
        status: int | None = 500,
        times: int | None = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
        delay: float = 0.0,
        after: bool = False,
        content_type: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests (None: all) with ``status`` after ``delay``.

        ``status=None`` means "answer normally, only late" (a slow response). ``after=True``
        carries the request out first and then answers ``status`` (the write is done, its
        answer lost). ``content_type`` sends ``body`` raw with that type (a body not JSON).
        """
        with self.state.lock:
            self.state.injections.append(
                Injection(
                    method=method.upper(),
                    path_regex=re.compile(path_regex),
                    status=status,
                    times=times,
                    headers=dict(headers or {}),
                    body=body,
                    delay=delay,
                    after=after,
                    content_type=content_type,
                )
            )

    def inject_secondary_rate_limit(
        self, method: str, path_regex: str, retry_after: int = 1, status: int = 403, times: int = 1
    ) -> None:
        body = {
            "message": SECONDARY_LIMIT_MESSAGE.format(request_id="0000:FAKE:0000"),
            "documentation_url": SECONDARY_LIMIT_DOCS,
        }
        self.inject(
            method,
            path_regex,
            status=status,
            times=times,
            headers={"Retry-After": str(retry_after)},
            body=body,
        )

    def inject_429(
        self, method: str, path_regex: str, retry_after: int = 1, times: int = 1
    ) -> None:
        self.inject_secondary_rate_limit(
            method, path_regex, retry_after=retry_after, status=429, times=times
        )

    def inject_rate_limit_exhausted(
        self, method: str, path_regex: str, reset_in: int = 60, times: int = 1
    ) -> None:
        """A primary rate limit: 403, ``x-ratelimit-remaining: 0`` and the reset epoch."""
        with self.state.lock:
            limit = self.state.rate_limit
        headers = {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": "0",
            "x-ratelimit-used": str(limit),
            "x-ratelimit-reset": str(int(now()) + reset_in),
            "x-ratelimit-resource": "core",
        }
        body = {
            "message": "API rate limit exceeded for installation.",
            "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
        }
        self.inject(method, path_regex, status=403, times=times, headers=headers, body=body)

    def inject_slow(self, method: str, path_regex: str, delay: float, times: int = 1) -> None:
        self.inject(method, path_regex, status=None, times=times, delay=delay)
