"""Scan state: repositories Patchwell watches, current findings, and its patch branches.

GitHub stays the source of truth for branches and pull requests; these tables
remember what Patchwell last wrote (so it can tell its own commits from a
human's), which findings are current (so a push scan that reads a few files
keeps the rest), and what waits behind the open-PR limit.
Finding rows hold masked messages only: fixers never put secret values in them.
"""

_REPOSITORIES = """
CREATE TABLE repositories (
    full_name TEXT PRIMARY KEY,
    installation_id BIGINT,
    default_branch TEXT,
    last_scanned_sha TEXT,
    last_scan_at {ts},
    active INTEGER NOT NULL DEFAULT 1
)"""

_FINDINGS = """
CREATE TABLE findings (
    repository TEXT NOT NULL,
    fixer TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    rule TEXT NOT NULL,
    severity INTEGER NOT NULL,
    path TEXT,
    line INTEGER,
    title TEXT,
    message TEXT NOT NULL,
    has_patch INTEGER NOT NULL DEFAULT 0,
    first_seen {ts} NOT NULL,
    last_seen {ts} NOT NULL,
    PRIMARY KEY (repository, fixer, fingerprint)
)"""

_BRANCHES = """
CREATE TABLE patch_branches (
    repository TEXT NOT NULL,
    branch TEXT NOT NULL,
    fixer TEXT NOT NULL,
    patch_key TEXT NOT NULL,
    title TEXT NOT NULL,
    severity INTEGER NOT NULL,
    fingerprints TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'waiting', 'closed', 'human', 'ignored')),
    pr_number INTEGER,
    base_sha TEXT,
    head_sha TEXT,
    tree_sha TEXT,
    human_noticed INTEGER NOT NULL DEFAULT 0,
    updated_at {ts} NOT NULL,
    PRIMARY KEY (repository, branch)
)"""

UPGRADE = {
    dialect: [
        _REPOSITORIES.format(ts=ts),
        _FINDINGS.format(ts=ts),
        _BRANCHES.format(ts=ts),
        "CREATE INDEX findings_by_path ON findings (repository, path)",
        "CREATE INDEX patch_branches_state ON patch_branches (repository, state)",
    ]
    for dialect, ts in (("sqlite", "REAL"), ("postgresql", "DOUBLE PRECISION"))
}

DOWNGRADE = {
    dialect: ["DROP TABLE patch_branches", "DROP TABLE findings", "DROP TABLE repositories"]
    for dialect in ("sqlite", "postgresql")
}
