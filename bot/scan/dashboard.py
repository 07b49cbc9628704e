"""The "Patchwell dashboard" issue: one per repository, edited in place after every scan.

Like Renovate's Dependency Dashboard, it is the one place on GitHub that shows what Patchwell
knows: open PRs by severity, what waits behind ``open-pull-requests-limit`` (each with a box
that opens its PR now), report-only findings with links, what is ignored and how to undo it,
and the last scan with a "rescan now" box. ``dashboard: false`` in ``.github/patchwell.yml``
turns it off.

Exactly one issue, also across restarts and concurrent scans: the ``dashboards`` row is
claimed (an INSERT that only one scan wins) before the issue is created, and the winner first
looks for an issue of ours on GitHub (a crash between creating the issue and recording its
number leaves one there) before creating a new one. A scan that loses the claim leaves the
rendering to the winner. A claim older than CLAIM_SECONDS belongs to a scan that died and may
be taken over.

Boxes are recognised by a hidden marker on their line (``<!-- patchwell:open:BRANCH -->``)
and only on lines Patchwell itself rendered: the handler compares an edit with the stored
body, so an edit cannot invent a branch to open.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import gidgethub

from bot.scan.checks import WaitingPatch
from bot.scan.ignores import IgnoreRule, IgnoreStore
from bot.scan.state import BranchRecord, ScanStore, StoredFinding
from fixers.contract import Patch
from fixers.repo_config import RepoConfig

log = logging.getLogger("patchwell.dashboard")

TITLE = "Patchwell dashboard"
MARKER = "<!-- patchwell:dashboard -->"
RESCAN = "rescan"
#: A creation claim older than this was left by a scan that died.
CLAIM_SECONDS = 120.0
MAX_ROWS = 100
#: GitHub caps an issue body at 65,536 characters.
MAX_BODY = 60_000
_BOX = re.compile(r"^- \[( |x|X)\] .*<!-- patchwell:([a-z]+)(?::([^ ]{1,255}))? -->\s*$")


@dataclass(frozen=True)
class DashboardRow:
    repository: str
    issue_number: int | None
    claimed_by: str
    claimed_at: float
    body: str | None


@dataclass(frozen=True)
class LastScan:
    sha: str
    at: float
    check_run_id: int | None


@dataclass(frozen=True)
class DashboardView:
    """Everything one rendering shows."""

    repo_url: str  # https://github.com/owner/repo
    bot: str  # the App's slug, for commands
    open_prs: Sequence[BranchRecord]
    waiting: Sequence[WaitingPatch]
    report_only: Sequence[StoredFinding]
    ignores: Sequence[IgnoreRule]
    last_scan: LastScan


# ------------------------------------------------------------------ rendering


def _more(total: int, where: str) -> list[str]:
    """The line that says a section was cut at MAX_ROWS, so nothing is silently missing."""
    return [f"- … and {total - MAX_ROWS} more ({where})"] if total > MAX_ROWS else []


def render(view: DashboardView) -> str:
    """The issue body (markdown); deterministic, so an unchanged state writes nothing."""
    url, bot = view.repo_url, view.bot
    out = [
        MARKER,
        f"This issue lists what Patchwell found and proposes here. Patchwell edits it after "
        f"every scan; tick a box to act. Comment `@{bot} help` for commands; "
        "`dashboard: false` in `.github/patchwell.yml` turns it off.",
        "",
        "## Open pull requests",
        "",
    ]
    prs = sorted(view.open_prs, key=lambda r: (-int(r.severity), r.pr_number or 0))
    out += [f"- **{r.severity.label}** #{r.pr_number} {_text(r.title)}" for r in prs[:MAX_ROWS]]
    out += _more(len(prs), f"[all pull requests]({url}/pulls)")
    out += [] if prs else ["None."]
    out += ["", "## Waiting", ""]
    if view.waiting:
        out.append(
            "These wait behind `open-pull-requests-limit`. Tick one to open its pull request now:"
        )
        out.append("")
        out += [
            f"- [ ] **{w.severity.label}** {_text(w.title)} <!-- patchwell:open:{w.branch} -->"
            for w in sorted(view.waiting, key=lambda w: (-int(w.severity), w.branch))[:MAX_ROWS]
        ]
        out += _more(len(view.waiting), "they get a box here as the ones above open")
    else:
        out.append("Nothing waits.")
    out += ["", "## Found, no pull request", ""]
    if view.report_only:
        out += [_finding_line(url, view.last_scan.sha, f) for f in view.report_only[:MAX_ROWS]]
        out += _more(len(view.report_only), "see the check run")
    else:
        out.append("None.")
    out += ["", "## Ignored", ""]
    if view.ignores:
        out += [
            f"- {r.describe()} ({_text(r.reason)}); undo: `@{bot} unignore {r.name}`"
            for r in view.ignores[:MAX_ROWS]
        ]
        out += _more(len(view.ignores), f"`@{bot} show ignore conditions` lists them all")
    else:
        out.append("Nothing is ignored.")
    scan = view.last_scan
    when = datetime.fromtimestamp(scan.at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    check = f", [check run]({url}/runs/{scan.check_run_id})" if scan.check_run_id else ""
    out += [
        "",
        "## Last scan",
        "",
        f"Commit [`{scan.sha[:12]}`]({url}/commit/{scan.sha}) at {when}{check}.",
        "",
        f"- [ ] Rescan now <!-- patchwell:{RESCAN} -->",
        "",
    ]
    body = "\n".join(out)
    return body if len(body) <= MAX_BODY else body[:MAX_BODY] + "\n\n(cut: too long)\n"


def _finding_line(url: str, sha: str, f: StoredFinding) -> str:
    where = ""
    if f.path:
        anchor = f"#L{f.line}" if f.line else ""
        label = f"{f.path}:{f.line}" if f.line else f.path
        where = f" at [`{_text(label)}`]({url}/blob/{sha}/{_path(f.path)}{anchor})"
    return f"- **{f.severity.label}** `{f.fixer}/{f.rule}`{where}: {_text(f.message)}"


def _text(text: str | None) -> str:
    """One line of repository-derived text, unable to open markup of its own."""
    clean = " ".join((text or "").split())[:200]
    return clean.replace("<", "&lt;").replace(">", "&gt;")


def _path(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


# ------------------------------------------------------------------ reading edits


def boxes(body: str | None) -> dict[tuple[str, str | None], bool]:
    """(action, argument) -> ticked, for every box line in ``body``."""
    found: dict[tuple[str, str | None], bool] = {}
    for line in (body or "").splitlines()[:2000]:
        match = _BOX.match(line.strip())
        if match:
            found[(match.group(2), match.group(3))] = match.group(1) != " "
    return found


def newly_ticked(rendered: str | None, edited: str | None) -> list[tuple[str, str | None]]:
    """Boxes Patchwell rendered unticked that ``edited`` has ticked (nothing else counts)."""
    ours = boxes(rendered)
    theirs = boxes(edited)
    return [key for key, ticked in ours.items() if not ticked and theirs.get(key)]


# ------------------------------------------------------------------ storage


class DashboardStore:
    def __init__(self, db, *, now=time.time) -> None:
        self.db = db
        self.now = now

    async def row(self, repository: str) -> DashboardRow | None:
        row = await self.db.fetchone(
            "SELECT repository, issue_number, claimed_by, claimed_at, body FROM dashboards"
            " WHERE repository = ?",
            (repository,),
        )
        return DashboardRow(*row) if row else None

    async def claim(self, repository: str) -> DashboardRow | None:
        """None when this scan may create the issue, else the row someone else made."""
        token = uuid.uuid4().hex
        won = await self.db.execute(
            "INSERT INTO dashboards (repository, claimed_by, claimed_at) VALUES (?, ?, ?)"
            " ON CONFLICT (repository) DO NOTHING",
            (repository, token, self.now()),
        )
        if won:
            return None
        row = await self.row(repository)
        if row is None or row.issue_number is not None:
            return row
        if self.now() - row.claimed_at < CLAIM_SECONDS:
            return row  # another scan is creating it right now
        taken = await self.db.execute(
            "UPDATE dashboards SET claimed_by = ?, claimed_at = ? WHERE repository = ?"
            " AND claimed_by = ? AND issue_number IS NULL",
            (token, self.now(), repository, row.claimed_by),
        )
        return None if taken else row

    async def record(self, repository: str, number: int, body: str) -> None:
        await self.db.execute(
            "UPDATE dashboards SET issue_number = ?, body = ?, updated_at = ? WHERE repository = ?",
            (number, body, self.now(), repository),
        )

    async def forget(self, repository: str) -> None:
        await self.db.execute("DELETE FROM dashboards WHERE repository = ?", (repository,))

    # ---------------------------------------------------------------- "open it now"

    async def request(self, repository: str, branch: str, login: str) -> None:
        await self.db.execute(
            "INSERT INTO dashboard_requests (repository, branch, requested_by, created_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (repository, branch) DO NOTHING",
            (repository, branch, login, self.now()),
        )

    async def requested(self, repository: str) -> set[str]:
        rows = await self.db.fetchall(
            "SELECT branch FROM dashboard_requests WHERE repository = ?", (repository,)
        )
        return {r[0] for r in rows}

    async def done(self, repository: str, branches: Iterable[str]) -> None:
        async with self.db.transaction() as tx:
            for branch in branches:
                await tx.execute(
                    "DELETE FROM dashboard_requests WHERE repository = ? AND branch = ?",
                    (repository, branch),
                )


# ------------------------------------------------------------------ publishing


class Dashboard:
    """Creates the repository's dashboard issue once and edits it in place."""

    def __init__(self, gh, db, *, owner: str, repo: str, bot_login: str) -> None:
        self.gh = gh
        self.store = DashboardStore(db)
        self.owner, self.repo = owner, repo
        self.full_name = f"{owner}/{repo}"
        self.bot_login = bot_login
        self._v = {"owner": owner, "repo": repo}

    async def publish(self, body: str) -> int | None:
        """Show ``body``; returns the issue number, or None when another scan is creating it."""
        held = await self.store.claim(self.full_name)
        if held is not None and held.issue_number is None:
            return None
        if held is not None:
            assert held.issue_number is not None
            if held.body == body:
                return held.issue_number
            try:
                await self._edit(held.issue_number, body)
            except gidgethub.BadRequest as exc:
                if int(exc.status_code) not in (404, 410):
                    raise
                # The issue was deleted (or transferred): start over with a new one.
                await self.store.forget(self.full_name)
                return await self.publish(body)
            await self.store.record(self.full_name, held.issue_number, body)
            return held.issue_number
        number = await self._find_ours()
        if number is None:
            created = await self.gh.post(
                "/repos/{owner}/{repo}/issues", self._v, data={"title": TITLE, "body": body}
            )
            number = int(created["number"])
        else:
            await self._edit(number, body)
        await self.store.record(self.full_name, number, body)
        log.info("dashboard", extra={"repository": self.full_name, "issue": number})
        return number

    async def show(self, number: int, body: str) -> None:
        """Put ``body`` back (a stranger's edit reverted, a ticked box re-rendered)."""
        await self._edit(number, body)
        await self.store.record(self.full_name, number, body)

    async def _edit(self, number: int, body: str) -> None:
        await self.gh.patch(
            "/repos/{owner}/{repo}/issues/{number}",
            {**self._v, "number": number},
            data={"body": body},
        )

    async def _find_ours(self) -> int | None:
        """A dashboard issue of ours already on GitHub (open ones first, then closed)."""
        for state in ("open", "closed"):
            async for issue in self.gh.getiter(
                "/repos/{owner}/{repo}/issues{?state,creator,per_page}",
                {**self._v, "state": state, "creator": self.bot_login, "per_page": 100},
            ):
                if (
                    "pull_request" not in issue
                    and (issue.get("user") or {}).get("login") == self.bot_login
                    and TITLE in (issue.get("title") or "")
                    and MARKER in (issue.get("body") or "")
                ):
                    return int(issue["number"])
        return None


def open_records(records: Iterable[BranchRecord]) -> list[BranchRecord]:
    return [r for r in records if r.state in ("open", "human") and r.pr_number is not None]


def report_only(findings: Iterable[StoredFinding], covered: set[str]) -> list[StoredFinding]:
    """Findings no Patchwell PR (open or waiting) addresses."""
    return [f for f in findings if f.fingerprint not in covered]


OFF_BODY = (
    MARKER + "\nThe dashboard is turned off (`dashboard: false` in `.github/patchwell.yml`). "
    "Patchwell no longer updates this issue.\n"
)


async def with_requests(db, repository: str, patches: Sequence[Patch]) -> list[Patch]:
    """Patches a writer ticked on the dashboard open now, past the open-PR limit."""
    wanted = await DashboardStore(db).requested(repository)
    return [replace(p, bypass_limit=True) if p.branch in wanted else p for p in patches]


async def after_scan(
    gh,
    db,
    *,
    owner: str,
    repo: str,
    bot_login: str,
    config: RepoConfig,
    head: str,
    check_run_id: int | None,
    waiting: Sequence[WaitingPatch],
    findings: Sequence[StoredFinding],
) -> int | None:
    """Render and publish the dashboard after a scan (or retire it when turned off).

    Never fails the scan: GitHub refusing an issue write is logged and left to the next scan.
    """
    full_name = f"{owner}/{repo}"
    board = Dashboard(gh, db, owner=owner, repo=repo, bot_login=bot_login)
    try:
        store = DashboardStore(db)
        records = await ScanStore(db).branches(full_name)
        await store.done(
            full_name,
            [
                b
                for b in await store.requested(full_name)
                if b not in records or records[b].state in ("open", "human", "closed", "ignored")
            ],
        )
        if not config.dashboard:
            row = await store.row(full_name)
            if row is not None and row.issue_number is not None and row.body != OFF_BODY:
                await gh.patch(
                    "/repos/{owner}/{repo}/issues/{number}",
                    {"owner": owner, "repo": repo, "number": row.issue_number},
                    data={"body": OFF_BODY, "state": "closed"},
                )
                await store.record(full_name, row.issue_number, OFF_BODY)
            return None
        info = await gh.getitem("/repos/{owner}/{repo}", {"owner": owner, "repo": repo})
        if not info.get("has_issues", True):
            return None
        covered = {
            fp
            for r in records.values()
            if r.state in ("open", "waiting", "human")
            for fp in r.fingerprints
        }
        view = DashboardView(
            repo_url=str(info.get("html_url") or f"https://github.com/{full_name}"),
            bot=bot_login.removesuffix("[bot]"),
            open_prs=open_records(records.values()),
            waiting=waiting,
            report_only=report_only(findings, covered),
            ignores=await IgnoreStore(db).rules(full_name),
            last_scan=LastScan(head, time.time(), check_run_id),
        )
        return await board.publish(render(view))
    except gidgethub.HTTPException as exc:
        log.warning(
            "dashboard not updated",
            extra={"repository": full_name, "status": int(exc.status_code)},
        )
        return None
