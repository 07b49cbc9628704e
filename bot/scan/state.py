"""What Patchwell remembers between scans (tables from migration 0003).

GitHub is the source of truth for branches and PRs; this store remembers what
Patchwell itself last wrote, so it can tell its own branch head from a human's
commit, which findings are current (a push scan reads a few files and keeps
the rest), and which patches wait behind the open-PR limit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from fixers.contract import Finding, Severity


@dataclass(frozen=True)
class StoredFinding:
    fixer: str
    fingerprint: str
    rule: str
    severity: Severity
    path: str | None
    line: int | None
    title: str | None
    message: str
    has_patch: bool

    @classmethod
    def of(cls, finding: Finding, has_patch: bool) -> StoredFinding:
        return cls(
            finding.fixer,
            finding.fingerprint,
            finding.rule,
            finding.severity,
            finding.path,
            finding.line,
            finding.title,
            finding.message,
            has_patch,
        )


@dataclass(frozen=True)
class BranchRecord:
    repository: str
    branch: str
    fixer: str
    patch_key: str
    title: str
    severity: Severity
    fingerprints: tuple[str, ...]
    state: str  # open | waiting | closed | human | ignored
    pr_number: int | None
    base_sha: str | None
    head_sha: str | None
    tree_sha: str | None
    human_noticed: bool


@dataclass(frozen=True)
class RepositoryRecord:
    full_name: str
    installation_id: int | None
    default_branch: str | None
    last_scanned_sha: str | None
    last_scan_at: float | None
    active: bool


_FINDING_COLUMNS = "fixer, fingerprint, rule, severity, path, line, title, message, has_patch"
_BRANCH_COLUMNS = (
    "repository, branch, fixer, patch_key, title, severity, fingerprints, state,"
    " pr_number, base_sha, head_sha, tree_sha, human_noticed"
)


class ScanStore:
    def __init__(self, db, *, now: Callable[[], float] = time.time) -> None:
        self.db = db
        self.now = now

    # ---------------------------------------------------------------- repositories

    async def upsert_repository(
        self,
        full_name: str,
        installation_id: int | None,
        default_branch: str | None = None,
        *,
        active: bool = True,
    ) -> None:
        await self.db.execute(
            "INSERT INTO repositories (full_name, installation_id, default_branch, active)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (full_name) DO UPDATE SET"
            " installation_id = excluded.installation_id,"
            " default_branch = COALESCE(excluded.default_branch, repositories.default_branch),"
            " active = excluded.active",
            (full_name, installation_id, default_branch, int(active)),
        )

    async def deactivate_installation(self, installation_id: int) -> None:
        await self.db.execute(
            "UPDATE repositories SET active = 0 WHERE installation_id = ?", (installation_id,)
        )

    async def repository(self, full_name: str) -> RepositoryRecord | None:
        row = await self.db.fetchone(
            "SELECT full_name, installation_id, default_branch, last_scanned_sha, last_scan_at,"
            " active FROM repositories WHERE full_name = ?",
            (full_name,),
        )
        if row is None:
            return None
        return RepositoryRecord(row[0], row[1], row[2], row[3], row[4], bool(row[5]))

    async def mark_scanned(self, full_name: str, sha: str) -> None:
        await self.db.execute(
            "UPDATE repositories SET last_scanned_sha = ?, last_scan_at = ? WHERE full_name = ?",
            (sha, self.now(), full_name),
        )

    # ---------------------------------------------------------------- findings

    async def replace_findings(
        self,
        repository: str,
        findings: Sequence[StoredFinding],
        *,
        fixers: Iterable[str],
        paths: Iterable[str] | None,
    ) -> None:
        """Make ``findings`` the current ones for ``fixers`` -- over the whole repository
        when ``paths`` is None (a full scan), else only for those paths (a push scan)."""
        now = self.now()
        fixers = list(fixers)
        async with self.db.transaction() as tx:
            for fixer in fixers:
                if paths is None:
                    await tx.execute(
                        "DELETE FROM findings WHERE repository = ? AND fixer = ?",
                        (repository, fixer),
                    )
                else:
                    for path in paths:
                        await tx.execute(
                            "DELETE FROM findings WHERE repository = ? AND fixer = ? AND path = ?",
                            (repository, fixer, path),
                        )
            for f in findings:
                await tx.execute(
                    f"INSERT INTO findings (repository, {_FINDING_COLUMNS}, first_seen, last_seen)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT"
                    " (repository, fixer, fingerprint) DO UPDATE SET rule = excluded.rule,"
                    " severity = excluded.severity, path = excluded.path, line = excluded.line,"
                    " title = excluded.title, message = excluded.message,"
                    " has_patch = excluded.has_patch, last_seen = excluded.last_seen",
                    (
                        repository,
                        f.fixer,
                        f.fingerprint,
                        f.rule,
                        int(f.severity),
                        f.path,
                        f.line,
                        f.title,
                        f.message,
                        int(f.has_patch),
                        now,
                        now,
                    ),
                )

    async def findings(self, repository: str) -> list[StoredFinding]:
        rows = await self.db.fetchall(
            f"SELECT {_FINDING_COLUMNS} FROM findings WHERE repository = ?"
            " ORDER BY severity DESC, path, line, fingerprint",
            (repository,),
        )
        return [
            StoredFinding(r[0], r[1], r[2], Severity(r[3]), r[4], r[5], r[6], r[7], bool(r[8]))
            for r in rows
        ]

    # ---------------------------------------------------------------- patch branches

    async def branches(self, repository: str) -> dict[str, BranchRecord]:
        rows = await self.db.fetchall(
            f"SELECT {_BRANCH_COLUMNS} FROM patch_branches WHERE repository = ?", (repository,)
        )
        return {r[1]: _branch(r) for r in rows}

    async def save_branch(self, record: BranchRecord) -> None:
        await self.db.execute(
            f"INSERT INTO patch_branches ({_BRANCH_COLUMNS}, updated_at) VALUES"
            " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (repository, branch) DO UPDATE"
            " SET fixer = excluded.fixer, patch_key = excluded.patch_key,"
            " title = excluded.title, severity = excluded.severity,"
            " fingerprints = excluded.fingerprints, state = excluded.state,"
            " pr_number = excluded.pr_number, base_sha = excluded.base_sha,"
            " head_sha = excluded.head_sha, tree_sha = excluded.tree_sha,"
            " human_noticed = excluded.human_noticed, updated_at = excluded.updated_at",
            (
                record.repository,
                record.branch,
                record.fixer,
                record.patch_key,
                record.title,
                int(record.severity),
                json.dumps(list(record.fingerprints)),
                record.state,
                record.pr_number,
                record.base_sha,
                record.head_sha,
                record.tree_sha,
                int(record.human_noticed),
                self.now(),
            ),
        )


def _branch(row: Sequence) -> BranchRecord:
    return BranchRecord(
        repository=row[0],
        branch=row[1],
        fixer=row[2],
        patch_key=row[3],
        title=row[4],
        severity=Severity(row[5]),
        fingerprints=tuple(json.loads(row[6])),
        state=row[7],
        pr_number=row[8],
        base_sha=row[9],
        head_sha=row[10],
        tree_sha=row[11],
        human_noticed=bool(row[12]),
    )
