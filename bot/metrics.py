"""Prometheus metrics, one registry per process (never the library's global one).

Labels are bounded sets (event names, outcomes, HTTP status codes, job kinds):
no repository names or installation ids, so cardinality stays small and nothing
identifying or secret reaches ``/metrics``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.deliveries = Counter(
            "patchwell_webhook_deliveries",
            "Webhook deliveries received, by event and outcome.",
            ["event", "outcome"],
            registry=self.registry,
        )
        self.ack_seconds = Histogram(
            "patchwell_webhook_ack_seconds",
            "Time from request to acknowledgement.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "patchwell_queue_jobs",
            "Jobs in the queue, by state (read at scrape time).",
            ["state"],
            registry=self.registry,
        )
        self.job_seconds = Histogram(
            "patchwell_job_duration_seconds",
            "Job run time, by kind and outcome.",
            ["kind", "outcome"],
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=self.registry,
        )
        self.github_calls = Counter(
            "patchwell_github_requests",
            "GitHub API requests, by method and response status.",
            ["method", "status"],
            registry=self.registry,
        )
        self.rate_limit_remaining = Gauge(
            "patchwell_github_ratelimit_remaining",
            "The lowest x-ratelimit-remaining seen in the last response, by resource.",
            ["resource"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
