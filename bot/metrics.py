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

        self.oldest_queued_seconds = Gauge(
            "patchwell_queue_oldest_queued_seconds",
            "Age of the oldest job that is due and still waiting to run (read at scrape time).",
            registry=self.registry,
        )
        self.write_wait_seconds = Histogram(
            "patchwell_github_write_wait_seconds",
            "Time a write waited for its installation's write budget (this process).",
            buckets=(0.01, 0.1, 0.5, 1, 2, 5, 10, 20, 30, 60),
            registry=self.registry,
        )
        self.write_pauses = Counter(
            "patchwell_github_write_pauses",
            "Installations paused after GitHub refused a write as too fast, by reason"
            " (this process).",
            ["reason"],
            registry=self.registry,
        )
        self.budget_remaining = Gauge(
            "patchwell_write_budget_remaining",
            "Writes left right now in the tightest window of the busiest installation.",
            registry=self.registry,
        )
        self.budget_paused = Gauge(
            "patchwell_write_budget_paused_installations",
            "Installations whose writes are paused now (all processes, from the database).",
            registry=self.registry,
        )
        self.budget_pauses = Gauge(
            "patchwell_write_budget_pauses",
            "Pauses recorded in the database since it was created (all processes).",
            registry=self.registry,
        )
        self.budget_waiting = Gauge(
            "patchwell_write_budget_waiting",
            "Writes waiting for their installation's turn now (all processes).",
            registry=self.registry,
        )
        self.purged = Counter(
            "patchwell_housekeeping_purged",
            "Rows the scheduled purge deleted (this process), by what: jobs (done, with their"
            " payloads), deliveries (ids), event_log.",
            ["what"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
