"""Core tables: webhook deliveries (redelivery dedupe) and the durable job queue.

``jobs_running_repository`` is what enforces "never two running jobs for one repository":
a unique partial index, so the rule holds even against racing claimers on PostgreSQL.
``jobs_active_dedupe_key`` makes a dedupe key unique among queued/running jobs only, so the
same periodic job can be enqueued again once the previous one finished.
"""

_JOBS_COLUMNS = """
    kind TEXT NOT NULL,
    delivery_id TEXT,
    event TEXT,
    action TEXT,
    installation_id BIGINT,
    repository TEXT,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'running', 'done', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 8,
    run_at {ts} NOT NULL,
    lease_owner TEXT,
    lease_expires_at {ts},
    last_error TEXT,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL,
    finished_at {ts},
    dedupe_key TEXT
"""

_DELIVERIES = """
CREATE TABLE deliveries (
    delivery_id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    action TEXT,
    installation_id BIGINT,
    repository TEXT,
    received_at {ts} NOT NULL
)"""

_INDEXES = [
    "CREATE INDEX jobs_runnable ON jobs (state, run_at, id)",
    "CREATE UNIQUE INDEX jobs_running_repository ON jobs (repository)"
    " WHERE state = 'running' AND repository IS NOT NULL",
    "CREATE UNIQUE INDEX jobs_active_dedupe_key ON jobs (dedupe_key)"
    " WHERE dedupe_key IS NOT NULL AND state IN ('queued', 'running')",
    "CREATE INDEX jobs_finished ON jobs (state, finished_at)",
    "CREATE INDEX deliveries_received ON deliveries (received_at)",
]

UPGRADE = {
    "sqlite": [
        _DELIVERIES.format(ts="REAL"),
        "CREATE TABLE jobs (\n    id INTEGER PRIMARY KEY AUTOINCREMENT,"
        + _JOBS_COLUMNS.format(ts="REAL")
        + ")",
        *_INDEXES,
    ],
    "postgresql": [
        _DELIVERIES.format(ts="DOUBLE PRECISION"),
        "CREATE TABLE jobs (\n    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        + _JOBS_COLUMNS.format(ts="DOUBLE PRECISION")
        + ")",
        *_INDEXES,
    ],
}

DOWNGRADE = {
    "sqlite": ["DROP TABLE jobs", "DROP TABLE deliveries"],
    "postgresql": ["DROP TABLE jobs", "DROP TABLE deliveries"],
}
