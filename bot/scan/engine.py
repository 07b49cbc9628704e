"""One scan of one repository on GitHub: snapshot, fixers, findings, check run, PRs.

Triggers (see ``bot.handlers``): a full scan when the App is installed or a
repository is added, and on the periodic rescan; a push scan for pushes to the
default branch, which reads only what changed when the fixers allow it:

* the compare API (one call) lists the changed paths and their diffs, so
  per-file fixers (``scope == "file"``) see only the added lines;
* fixers none of whose patterns match a changed path are not run at all --
  their findings and PRs from the last scan stand;
* a few changed files are read through the contents API; otherwise, or when a
  repository-wide fixer is affected, the tarball (one call) is read.

Fixers are pure and synchronous: they run in a child process under the scan budget
(:mod:`fixers.isolation`), so whatever a repository makes them do, the worker's event loop
keeps answering webhooks and heart-beating its leases.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import gidgethub

from bot.errors import Deferred
from bot.github import GitHubClients, as_transient
from bot.scan import checks, dashboard, snapshot
from bot.scan.actions import GitHubActionsCatalog
from bot.scan.ignores import IgnoreStore, subjects_of, with_ignores
from bot.scan.pulls import Base, PullRequestEngine, SyncReport
from bot.scan.state import BranchRecord, ScanStore, StoredFinding
from fixers.contract import Fixer, MemorySnapshot, Services, matches_any
from fixers.isolation import ChildUsage, ScanBudget, run_budgeted
from fixers.registry import all_fixers
from fixers.repo_config import CONFIG_PATH, RepoConfig, load_repo_config
from fixers.runner import ScanResult

log = logging.getLogger("patchwell.scan")

SCAN_JOB = "patchwell_scan"
#: Scan reasons Patchwell starts on its own (see ScanEngine._check_run_key).
AUTOMATIC_SCANS = frozenset({"install", "added", "push", "closed"})
NULL_SHA = "0" * 40
#: The compare API lists at most 300 files; a push that big gets a full scan.
COMPARE_FILE_LIMIT = 300
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")


@dataclass(frozen=True)
class ScanRequest:
    owner: str
    repo: str
    installation_id: int
    reason: str  # install | added | rescan | push | rerequested
    head_sha: str | None = None
    default_branch: str | None = None
    before_sha: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"


@dataclass(frozen=True)
class PushDiff:
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    added_lines: dict[str, set[int]] | None


@dataclass
class _Progress:
    """How far one scan got (what a failure still has to do)."""

    head: str | None = None
    rescan_scheduled: bool = False
    check_run_id: int | None = None


@dataclass
class ScanOutcome:
    head_sha: str
    mode: str  # full | incremental | skipped
    findings: int
    check_run_id: int | None
    pulls: SyncReport | None


def added_lines_from_patch(patch: str) -> set[int]:
    """The new-side line numbers a unified diff adds."""
    lines: set[int] = set()
    number = 0
    for text in patch.splitlines():
        hunk = _HUNK.match(text)
        if hunk:
            number = int(hunk.group(1))
            continue
        if text.startswith("+"):
            lines.add(number)
            number += 1
        elif text.startswith("-") or text.startswith("\\"):
            continue
        else:
            number += 1
    return lines


class ScanEngine:
    def __init__(
        self,
        gh,
        clients: GitHubClients,
        store: ScanStore,
        *,
        queue=None,
        services: Services | None = None,
        fixers: Sequence[Fixer] | None = None,
        rescan_interval: float = 24 * 3600,
        bot_login: str = "patchwell[bot]",
        bot_name: str = "patchwell",
        run_key: str | None = None,
        last_attempt: bool = True,
        budget: ScanBudget | None = None,
    ) -> None:
        self.gh = gh
        self.clients = clients
        self.store = store
        self.queue = queue
        self.services = services or Services()
        self.fixers = list(fixers) if fixers is not None else all_fixers()
        # Registry fixers go to the scan process by name; others (tests') are pickled.
        self._registry = fixers is None
        self.budget = budget or ScanBudget()
        self.rescan_interval = rescan_interval
        self.bot_login = bot_login
        self.bot_name = bot_name
        self.run_key = run_key  # the job's identity: its check run is published once
        # The queue will not run this job again: a failure must still leave a check run.
        self.last_attempt = last_attempt

    # ------------------------------------------------------------------ entry point

    async def scan(self, request: ScanRequest) -> ScanOutcome:
        progress = _Progress(head=request.head_sha)
        try:
            return await self._scan(request, progress)
        except Exception as exc:
            await self._after_failure(request, progress, exc)
            raise

    async def _after_failure(
        self, request: ScanRequest, progress: _Progress, exc: Exception
    ) -> None:
        """A scan that will not be retried still reschedules the periodic rescan and leaves a
        check run saying it did not finish -- never a dead job and silence."""
        transient = as_transient(exc)
        if isinstance(transient, Deferred) or (transient is not None and not self.last_attempt):
            return  # it runs again (a wait for GitHub's limits spends no attempt at all)
        reason = transient.reason if transient is not None else f"{type(exc).__name__}"
        log.warning(
            "scan failed for good",
            extra={"repository": request.full_name, "reason": reason},
        )
        if not progress.rescan_scheduled:
            with contextlib.suppress(Exception):  # the database may be what failed
                await self._schedule_rescan(request, self.rescan_interval)
        if progress.head is None or progress.check_run_id is not None:
            return
        report = checks.CheckReport(findings=(), scan_failure=f"The scan stopped: {reason}")
        try:
            await checks.publish(
                self.gh,
                request.owner,
                request.repo,
                progress.head,
                report,
                run_key=self._check_run_key(request),
                app_slug=self.bot_name,
            )
        except Exception as publish_exc:  # GitHub itself is away: the log is all we have
            log.warning(
                "could not publish the failed scan's check run",
                extra={"repository": request.full_name, "error": type(publish_exc).__name__},
            )

    async def _scan(self, request: ScanRequest, progress: _Progress) -> ScanOutcome:
        v = {"owner": request.owner, "repo": request.repo}
        default_branch, head = await self._resolve_head(request, v)
        progress.head = head
        await self.store.upsert_repository(
            request.full_name, request.installation_id, default_branch
        )
        diff = await self._push_diff(request, head, v)
        file_fixers, repo_fixers = self._plan(diff)
        if not file_fixers and not repo_fixers:
            log.info(
                "push touches nothing a fixer reads",
                extra={"repository": request.full_name, "head": head[:12]},
            )
            return ScanOutcome(head, "skipped", 0, None, None)
        full, changed_only, config_text = await self._snapshots(
            request, head, diff, bool(repo_fixers)
        )
        config, problems = load_repo_config(config_text, known_fixers=[f.name for f in self.fixers])
        ignores = IgnoreStore(self.store.db)
        config = with_ignores(config, await ignores.rules(request.full_name))
        # Before anything below can fail: the periodic rescan must never be lost.
        await self._schedule_rescan(request, config.rescan_interval.total_seconds())
        progress.rescan_scheduled = True
        results = []
        # Per-file fixers on a push see the changed files only, and their findings replace
        # the stored ones for exactly those paths; everything else is replaced wholesale.
        for group, snap, paths in (
            (file_fixers, changed_only, diff.changed + diff.removed if diff else None),
            (repo_fixers, full, None),
        ):
            if not group or snap is None:
                continue
            services = replace(
                self.services,
                actions=GitHubActionsCatalog(self.gh, asyncio.get_running_loop()),
            )
            result = await self._run_fixers(
                request, snap, config, services, [f.name for f in group]
            )
            patched = result.patched_fingerprints
            # A fixer that could not check everything (its service was down) only adds:
            # what it did not see is unknown, not fixed.
            partial = {f.fixer for f in result.findings if f.incomplete}
            complete = [n for n in result.fixers_run + result.fixers_off if n not in partial]
            for names, scope in ((complete, paths), (sorted(partial), ())):
                await self.store.replace_findings(
                    request.full_name,
                    [
                        StoredFinding.of(f, f.fingerprint in patched)
                        for f in result.findings
                        if f.fixer in names
                    ],
                    fixers=names,
                    paths=scope,
                )
            results.append(result)
        await ignores.save_subjects(request.full_name, subjects_of(results))
        current = await self.store.findings(request.full_name)
        skipped = (full or changed_only).skipped
        waiting, open_prs = _pull_lists(await self.store.branches(request.full_name))
        report = checks.CheckReport(
            findings=current,
            config_problems=problems,
            waiting=waiting,
            skipped=skipped,
            errors=[f"{e.fixer}: {e.message}" for r in results for e in r.errors],
            open_prs=open_prs,
        )
        # The check run goes first: it is what people wait for (a failing one most of all),
        # and PR writes are paced behind it by the installation's write budget.
        run_id = await checks.publish(
            self.gh,
            request.owner,
            request.repo,
            head,
            report,
            run_key=self._check_run_key(request),
            app_slug=self.bot_name,
        )
        progress.check_run_id = run_id
        pulls = await self._sync_pulls(
            request,
            default_branch,
            head,
            config,
            await dashboard.with_requests(
                self.store.db,
                request.full_name,
                [p.patch for r in results for p in r.patches if p.should_open],
            ),
            {f.fingerprint for f in current},
            {fp for r in results for fp in r.withdrawn_fingerprints},
        )
        if pulls is not None:
            synced = replace(
                report,
                waiting=pulls.waiting,
                open_prs=pulls.open_prs,
                failed_patches=pulls.failed,
            )
            if checks.render_summary(synced) != checks.render_summary(report):
                await checks.update_summary(self.gh, request.owner, request.repo, run_id, synced)
        await self.store.mark_scanned(request.full_name, head)
        await dashboard.after_scan(
            self.gh,
            self.store.db,
            owner=request.owner,
            repo=request.repo,
            bot_login=self.bot_login,
            config=config,
            head=head,
            check_run_id=run_id,
            waiting=pulls.waiting if pulls else (),
            findings=current,
        )
        mode = "full" if diff is None else ("incremental" if full is None else "push")
        log.info(
            "scan done",
            extra={
                "repository": request.full_name,
                "head": head[:12],
                "reason": request.reason,
                "mode": mode,
                "findings": len(current),
                "opened": len(pulls.opened) if pulls else 0,
                "closed": len(pulls.closed) if pulls else 0,
            },
        )
        return ScanOutcome(head, mode, len(current), run_id, pulls)

    async def _run_fixers(
        self,
        request: ScanRequest,
        snap: MemorySnapshot,
        config: RepoConfig,
        services: Services,
        names: list[str],
    ) -> ScanResult:
        """The fixers in a child process under the scan budget: a hostile file can stall or
        bloat only that process, never this event loop (see fixers.isolation)."""
        registry = {f.name: f for f in self.fixers}

        def used(usage: ChildUsage) -> None:
            log.info(
                "scan process finished",
                extra={
                    "repository": request.full_name,
                    "cpu_seconds": round(usage.cpu_seconds, 2),
                    "peak_rss_mb": usage.peak_rss_bytes // 2**20,
                },
            )

        cancel = threading.Event()
        try:
            return await asyncio.to_thread(
                run_budgeted,
                snap,
                config,
                services,
                fixers=None if self._registry else [registry[n] for n in names],
                only=names,
                budget=self.budget,
                on_usage=used,
                cancel=cancel,
            )
        except asyncio.CancelledError:
            cancel.set()  # the job was handed back or lost: stop its scan process now
            raise

    def _check_run_key(self, request: ScanRequest) -> str | None:
        """Which earlier check run on the same head this scan may reuse instead of posting.

        Scans Patchwell starts itself (install, push, ...) share one key: the same findings on
        the same commit are one check run, whichever of them ran first (a push scan and the
        install scan it overtook). A scan someone asked for (a rescan command, the dashboard's
        box, GitHub's re-run button, the periodic rescan) posts its own, once per job.
        """
        if self.run_key is None:
            return None
        return "auto" if request.reason in AUTOMATIC_SCANS else self.run_key

    # ------------------------------------------------------------------ steps

    async def _resolve_head(self, request: ScanRequest, v: dict) -> tuple[str, str]:
        branch = request.default_branch
        if branch is None:
            repo = await self.gh.getitem("/repos/{owner}/{repo}", v)
            branch = repo["default_branch"]
        if request.head_sha:
            return branch, request.head_sha
        ref = await self.gh.getitem(
            "/repos/{owner}/{repo}/git/ref/{+ref}", {**v, "ref": f"heads/{branch}"}
        )
        return branch, ref["object"]["sha"]

    async def _push_diff(self, request: ScanRequest, head: str, v: dict) -> PushDiff | None:
        """What changed since the stored findings' commit, or None for a full scan.

        A push scan keeps the stored findings of the files it did not read, so it may only add
        to a scan of an ancestor: it compares from the last commit scanned, not from the push's
        ``before`` (which may never have been scanned: a push that overtook the install scan,
        or the scan of an earlier push still queued). Never scanned: scan everything.
        """
        if request.reason != "push" or not request.before_sha or request.before_sha == NULL_SHA:
            return None
        record = await self.store.repository(request.full_name)
        before = record.last_scanned_sha if record is not None else None
        if not before:
            return None
        try:
            compare = await self.gh.getitem(
                "/repos/{owner}/{repo}/compare/{basehead}", {**v, "basehead": f"{before}...{head}"}
            )
        except gidgethub.BadRequest as exc:
            if int(exc.status_code) in (404, 422):  # force-pushed away: scan it all
                return None
            raise
        files = compare.get("files") or []
        if len(files) >= COMPARE_FILE_LIMIT or compare.get("status") not in ("ahead",):
            return None
        changed, removed = [], []
        added: dict[str, set[int]] | None = {}
        for f in files:
            name = f.get("filename")
            if not isinstance(name, str):
                continue
            if f.get("status") == "removed":
                removed.append(name)
                continue
            changed.append(name)
            if f.get("previous_filename"):
                removed.append(f["previous_filename"])
            if "patch" in f and added is not None:
                added[name] = added_lines_from_patch(f["patch"])
            elif f.get("status") != "renamed":
                added = None  # GitHub left a diff out (too large): read whole files
        return PushDiff(tuple(changed), tuple(removed), added)

    def _plan(self, diff: PushDiff | None) -> tuple[list[Fixer], list[Fixer]]:
        """(per-file fixers to run on the changed files, fixers to run on the whole tree)."""
        if diff is None:
            return [], list(self.fixers)
        touched = diff.changed + diff.removed
        if CONFIG_PATH in touched:
            return [], list(self.fixers)  # a new config may change every fixer's answer
        affected = [f for f in self.fixers if any(matches_any(p, f.patterns) for p in touched)]
        return (
            [f for f in affected if f.scope == "file"],
            [f for f in affected if f.scope != "file"],
        )

    async def _snapshots(
        self, request: ScanRequest, head: str, diff: PushDiff | None, need_full: bool
    ) -> tuple[MemorySnapshot | None, MemorySnapshot | None, str | None]:
        """(the whole tree or None, the changed files or None, the config text).

        Per-file fixers read the changed files whole, not only their added lines: their
        findings replace the stored ones for those paths, so a finding on an untouched
        line of a touched file must be found again, or it would vanish (and its PR close).

        The contents API costs a call per file, the tarball one call for all: a push
        that changes at most MAX_CONTENT_CALLS files and needs no repository-wide fixer
        reads just those; anything else reads the tarball.
        """
        o, r = request.owner, request.repo
        if diff is not None and not need_full and len(diff.changed) <= snapshot.MAX_CONTENT_CALLS:
            changed = await snapshot.contents_snapshot(
                self.gh, o, r, head, diff.changed, changed=diff.changed
            )
            try:
                config = await snapshot.read_file(self.gh, o, r, CONFIG_PATH, head)
            except snapshot.FileTooLarge:
                config = None  # as the tarball path sees it: a skipped file (over 1 MiB)
            return None, changed, _text(config)
        full = await snapshot.tarball_snapshot(self.gh, self.clients, o, r, head)
        changed_only = None
        if diff is not None:
            wanted = set(diff.changed)
            changed_only = MemorySnapshot(
                {p: full.read(p) for p in full.paths() if p in wanted},
                commit=head,
                all_paths=full.all_paths,
                skipped=[s for s in full.skipped if s.path in wanted],
                changed=diff.changed,
            )
        return (
            (full if need_full or diff is None else None),
            changed_only,
            _text(full.read(CONFIG_PATH)),
        )

    async def _sync_pulls(
        self,
        request: ScanRequest,
        branch: str,
        head: str,
        config,
        patches,
        current: set[str],
        withdrawn: set[str],
    ) -> SyncReport | None:
        records = await self.store.branches(request.full_name)
        if not patches and not any(
            r.state in ("open", "waiting", "human") for r in records.values()
        ):
            return None  # nothing to open and nothing of ours to close: no API calls
        commit = await self.gh.getitem(
            "/repos/{owner}/{repo}/git/commits/{sha}",
            {"owner": request.owner, "repo": request.repo, "sha": head},
        )
        engine = PullRequestEngine(
            self.gh,
            self.store,
            owner=request.owner,
            repo=request.repo,
            base=Base(branch, head, commit["tree"]["sha"]),
            config=config,
            bot_login=self.bot_login,
            bot_name=self.bot_name,
        )
        return await engine.sync(patches, current, withdrawn)

    async def _schedule_rescan(self, request: ScanRequest, interval: float) -> None:
        if self.queue is None:
            return
        run_at = time.time() + interval
        await self.queue.enqueue(
            SCAN_JOB,
            scan_payload(request.owner, request.repo, request.installation_id, "rescan"),
            repository=request.full_name,
            installation_id=request.installation_id,
            run_at=run_at,
            # One pending rescan per repository and period (the running one has its own key).
            dedupe_key=f"rescan:{request.full_name}:{int(run_at // max(interval, 1))}",
        )


def _pull_lists(
    records: dict[str, BranchRecord],
) -> tuple[list[checks.WaitingPatch], list[tuple[int, str]]]:
    """The check run's PR lists as the last sync left them (before this scan's PR writes)."""
    waiting = sorted(
        (r for r in records.values() if r.state == "waiting"),
        key=lambda r: (-int(r.severity), r.branch),
    )
    open_prs = sorted(
        (r.pr_number, r.title)
        for r in records.values()
        if r.state in ("open", "human") and r.pr_number is not None
    )
    return [checks.WaitingPatch(r.branch, r.title, r.severity) for r in waiting], open_prs


def _text(data: bytes | None) -> str | None:
    return data.decode("utf-8", "replace") if data is not None else None


def scan_payload(owner: str, repo: str, installation_id: int, reason: str) -> dict:
    """The payload of a scan job: shaped like a webhook so handlers read it the same way."""
    return {
        "action": reason,
        "repository": {"full_name": f"{owner}/{repo}", "name": repo, "owner": {"login": owner}},
        "installation": {"id": installation_id},
    }


def split_full_name(full_name: str) -> tuple[str, str]:
    owner, _, repo = full_name.partition("/")
    return owner, repo


def repositories_of(items: Iterable[dict]) -> list[str]:
    return [
        r["full_name"] for r in items if isinstance(r, dict) and isinstance(r.get("full_name"), str)
    ]
