"""Errors that decide what the job queue does with a failed job.

A handler raises :class:`TransientError` for failures that may pass on their own
(GitHub 5xx, timeouts, 429, secondary rate limits): the queue retries the job
with exponential backoff and jitter, waiting at least ``retry_after`` seconds
when GitHub said how long. Any other exception parks the job as dead at once,
with its reason, for an operator to look at and ``patchwell jobs retry``.
"""

from __future__ import annotations


class TransientError(Exception):
    """A failure worth retrying later."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class ConfigError(Exception):
    """Start-up configuration is missing or malformed (message names variables, never values)."""


class Deferred(TransientError):
    """Not a failure: the job gives its worker slot back and runs again in ``retry_after`` s.

    Raised when a job would only wait (its installation's write budget is paused or busy, or a
    job that owes a check run is waiting behind it). The queue requeues it without counting an
    attempt; its work is idempotent, so running it again later finishes what it started.
    """
