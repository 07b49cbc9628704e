"""``event_log``: what each handler saw and did, one row per handler run.

The durable trace of handled deliveries: operators read it to answer "did
Patchwell see that push?", tests read it to prove a job ran exactly once.
Summaries are written by our handlers and never hold secrets or comment bodies.
"""

_COLUMNS = """
    job_id BIGINT NOT NULL,
    delivery_id TEXT,
    event TEXT,
    action TEXT,
    repository TEXT,
    handler TEXT NOT NULL,
    summary TEXT NOT NULL,
    recorded_at {ts} NOT NULL DEFAULT {now}
"""

UPGRADE = {
    "sqlite": [
        "CREATE TABLE event_log (\n    id INTEGER PRIMARY KEY AUTOINCREMENT,"
        + _COLUMNS.format(ts="REAL", now="((julianday('now') - 2440587.5) * 86400.0)")
        + ")",
        "CREATE INDEX event_log_job ON event_log (job_id)",
    ],
    "postgresql": [
        "CREATE TABLE event_log (\n    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        + _COLUMNS.format(ts="DOUBLE PRECISION", now="extract(epoch from now())")
        + ")",
        "CREATE INDEX event_log_job ON event_log (job_id)",
    ],
}

DOWNGRADE = {
    "sqlite": ["DROP TABLE event_log"],
    "postgresql": ["DROP TABLE event_log"],
}
