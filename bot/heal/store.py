"""The ``heal_cases`` table (migration 0007): what Patchwell did about each failure cause."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

__all__ = ["HealCase", "HealStore"]

_COLUMNS = (
    "repository, case_key, target, pr_number, workflow_path, signature, cause, head_sha,"
    " run_id, job_id, branch, heal_pr, comment_id, comment_kind, state, summary"
)
#: states after which a case is never acted on again (no loop, no second comment)
FINAL = frozenset({"failed-again"})


@dataclass(frozen=True)
class HealCase:
    repository: str
    case_key: str
    target: str  # default | pull | own
    pr_number: int | None
    workflow_path: str
    signature: str
    cause: str
    head_sha: str
    run_id: int | None = None
    job_id: int | None = None
    branch: str | None = None
    heal_pr: int | None = None
    comment_id: int | None = None
    comment_kind: str | None = None
    state: str = "open"
    summary: str = ""

    def but(self, **changes) -> HealCase:
        return replace(self, **changes)


def _case(row: Sequence) -> HealCase:
    return HealCase(*row)


class HealStore:
    def __init__(self, db, *, now: Callable[[], float] = time.time) -> None:
        self.db = db
        self.now = now

    async def get(self, repository: str, case_key: str) -> HealCase | None:
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM heal_cases WHERE repository = ? AND case_key = ?",
            (repository, case_key),
        )
        return _case(row) if row else None

    async def for_target(
        self, repository: str, target: str, pr_number: int | None, workflow_path: str
    ) -> list[HealCase]:
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM heal_cases WHERE repository = ? AND target = ?"
            " AND workflow_path = ? AND COALESCE(pr_number, 0) = ? ORDER BY case_key",
            (repository, target, workflow_path, pr_number or 0),
        )
        return [_case(r) for r in rows]

    async def for_branch(self, repository: str, branch: str) -> list[HealCase]:
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM heal_cases WHERE repository = ? AND branch = ?"
            " ORDER BY case_key",
            (repository, branch),
        )
        return [_case(r) for r in rows]

    async def save(self, case: HealCase) -> None:
        now = self.now()
        values = (
            case.repository,
            case.case_key,
            case.target,
            case.pr_number,
            case.workflow_path,
            case.signature,
            case.cause,
            case.head_sha,
            case.run_id,
            case.job_id,
            case.branch,
            case.heal_pr,
            case.comment_id,
            case.comment_kind,
            case.state,
            case.summary[:2000],
        )
        updates = ", ".join(f"{c.strip()} = excluded.{c.strip()}" for c in _COLUMNS.split(",")[2:])
        await self.db.execute(
            f"INSERT INTO heal_cases ({_COLUMNS}, created_at, updated_at) VALUES"
            f" ({', '.join('?' * (len(values) + 2))}) ON CONFLICT (repository, case_key)"
            f" DO UPDATE SET {updates}, updated_at = excluded.updated_at",
            (*values, now, now),
        )
