"""Maintainers' steering: ignore rules, refusals already given, the dashboard issue, the
subjects (package and versions) of dependency patches, and branches a maintainer asked to
open now.

* ``ignore_rules``: what maintainers told Patchwell to stop proposing (a command, or closing a
  PR unmerged). ``kind`` is ``patch`` (one branch, ``name`` is the branch), ``dependency`` (a
  package), or ``versions`` (a package at the versions in ``versions``, a PEP 440 range).
* ``command_refusals``: one row per (repository, issue or PR, login) refused, so a person
  without write access is told once per PR, not once per comment.
* ``dashboards``: the one dashboard issue per repository; the row is claimed before the issue
  is created, so two scans never create two issues. ``body`` is what Patchwell last rendered:
  an edit is compared with it, and a stranger's edit is reverted to it.
* ``patch_subjects``: for dependency patches, which packages move from which version to which.
* ``dashboard_requests``: branches a writer ticked on the dashboard ("open it now").
"""

_IGNORES = """
CREATE TABLE ignore_rules (
    repository TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('patch', 'dependency', 'versions')),
    name TEXT NOT NULL,
    versions TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL,
    created_at {ts} NOT NULL,
    PRIMARY KEY (repository, kind, name, versions)
)"""

_REFUSALS = """
CREATE TABLE command_refusals (
    repository TEXT NOT NULL,
    number INTEGER NOT NULL,
    login TEXT NOT NULL,
    created_at {ts} NOT NULL,
    PRIMARY KEY (repository, number, login)
)"""

_DASHBOARDS = """
CREATE TABLE dashboards (
    repository TEXT PRIMARY KEY,
    issue_number INTEGER,
    claimed_by TEXT NOT NULL,
    claimed_at {ts} NOT NULL,
    body TEXT,
    updated_at {ts}
)"""

_SUBJECTS = """
CREATE TABLE patch_subjects (
    repository TEXT NOT NULL,
    branch TEXT NOT NULL,
    subjects TEXT NOT NULL,
    PRIMARY KEY (repository, branch)
)"""

_REQUESTS = """
CREATE TABLE dashboard_requests (
    repository TEXT NOT NULL,
    branch TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    created_at {ts} NOT NULL,
    PRIMARY KEY (repository, branch)
)"""

UPGRADE = {
    dialect: [
        statement.format(ts=ts)
        for statement in (_IGNORES, _REFUSALS, _DASHBOARDS, _SUBJECTS, _REQUESTS)
    ]
    for dialect, ts in (("sqlite", "REAL"), ("postgresql", "DOUBLE PRECISION"))
}

DOWNGRADE = {
    dialect: [
        "DROP TABLE dashboard_requests",
        "DROP TABLE patch_subjects",
        "DROP TABLE dashboards",
        "DROP TABLE command_refusals",
        "DROP TABLE ignore_rules",
    ]
    for dialect in ("sqlite", "postgresql")
}
