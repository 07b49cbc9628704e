"""The write budget shared by every process (see :mod:`bot.budget`), and job deferrals.

* ``write_budgets``: one row per installation: when its next write may start, the one write in
  flight (``writing`` until ``writing_until``: a dead process's slot frees itself), a pause
  after GitHub refused us (``paused_until``, ``strikes`` in a row), the primary limit when it
  ran low, and counters for metrics.
* ``write_log``: when each recent write started (pruned past the longest window), so "at most N
  per window" holds exactly over a sliding window.
* ``write_waiters``: writes waiting for their installation's slot, by priority, from every
  process; a row not renewed by ``expires_at`` belongs to a process that died and is ignored.
* ``jobs.deferrals``: how many times a job handed its slot back (a deferral is not an attempt).
"""

_BUDGETS = """
CREATE TABLE write_budgets (
    installation_id BIGINT PRIMARY KEY,
    next_write_at {ts} NOT NULL DEFAULT 0,
    writing TEXT,
    writing_until {ts},
    paused_until {ts} NOT NULL DEFAULT 0,
    pause_reason TEXT,
    pauses INTEGER NOT NULL DEFAULT 0,
    strikes INTEGER NOT NULL DEFAULT 0,
    primary_remaining INTEGER,
    primary_reset {ts},
    writes BIGINT NOT NULL DEFAULT 0,
    updated_at {ts} NOT NULL
)"""

_LOG = "CREATE TABLE write_log (installation_id BIGINT NOT NULL, at {ts} NOT NULL)"

_WAITERS = """
CREATE TABLE write_waiters (
    installation_id BIGINT NOT NULL,
    waiter TEXT NOT NULL,
    priority INTEGER NOT NULL,
    since {ts} NOT NULL,
    expires_at {ts} NOT NULL,
    PRIMARY KEY (installation_id, waiter)
)"""

_STATEMENTS = (
    _BUDGETS,
    _LOG,
    "CREATE INDEX write_log_installation ON write_log (installation_id, at)",
    "CREATE INDEX write_log_at ON write_log (at)",
    _WAITERS,
    "ALTER TABLE jobs ADD COLUMN deferrals INTEGER NOT NULL DEFAULT 0",
)

UPGRADE = {
    dialect: [statement.format(ts=ts) for statement in _STATEMENTS]
    for dialect, ts in (("sqlite", "REAL"), ("postgresql", "DOUBLE PRECISION"))
}

DOWNGRADE = {
    dialect: [
        "ALTER TABLE jobs DROP COLUMN deferrals",
        "DROP TABLE write_waiters",
        "DROP TABLE write_log",
        "DROP TABLE write_budgets",
    ]
    for dialect in ("sqlite", "postgresql")
}
