"""The heal loop: a failed check in, the tiny fix (or one comment) out, then watched.

``workflow_run.completed`` is the trigger (it names the workflow file, the head branch and
``pull_requests[]``); ``check_run.completed`` from another CI is read the same way
without a log. What counts:

* **the default branch** -- a heal PR per failure cause, branched from the failing commit,
  made by the owning fixer (:mod:`fixers.heal.remedies`); when that fixer already has a
  PR for the same change, that PR is updated and gains the heal section instead;
* **a person's PR** -- never a push: one comment (:mod:`bot.heal.people`);
* **Patchwell's own PR** -- a heal PR's run passing marks it verified, failing the same way
  is said once and stops the case for good; any other Patchwell PR that fails gets one
  comment with the failing step's excerpt, and a grouped dependency PR has its culprit
  split out (:mod:`bot.heal.own`).

A run that passes where one failed (a re-run, a new push) cancels: the heal PR closes,
the comment is marked resolved. Unknown failures do nothing on GitHub.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import gidgethub

from bot.github import GitHubClients
from bot.heal.jobs import JobStash
from bot.heal.people import PersonCause, on_person_failure
from bot.heal.reader import (
    MAX_FAILED_JOBS,
    FailedJob,
    JobDiagnosis,
    JobReader,
    failed_job,
    payload_int,
)
from bot.heal.store import FINAL, HealCase, HealStore
from bot.heal.text import (
    Failure,
    heal_block,
    replace_status,
    report_text,
    status_line,
    strip_heal_block,
)
from bot.scan import snapshot as snapshots
from bot.scan.pulls import Base, PullRequestEngine
from bot.scan.state import ScanStore
from fixers.contract import MemorySnapshot, Patch, Services
from fixers.heal.remedies import HealInput, Remedy
from fixers.heal.signatures import Diagnosis, SignatureTable
from fixers.isolation import ScanBudget, remedy_budgeted
from fixers.registry import fixer_names
from fixers.repo_config import CONFIG_PATH, RepoConfig, load_repo_config

log = logging.getLogger("patchwell.heal")

HEAL_CHECK = "patchwell/heal"
_DEFAULT_EVENTS = frozenset({"push", "schedule", "workflow_dispatch", "merge_group", "release"})


@dataclass(frozen=True)
class Target:
    kind: str  # default | pull | own
    branch: str
    pr_number: int | None = None


@dataclass
class HealReport:
    """What one delivery led to (for the event log, the tests and the benchmark)."""

    target: str = "ignored"
    diagnosed: list[str] = field(default_factory=list)
    opened: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    comments: list[int] = field(default_factory=list)
    verified: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    calls_to_diagnose: int = 0

    def summary(self) -> str:
        parts = [self.target]
        for name in ("diagnosed", "opened", "updated", "comments", "verified", "cancelled"):
            value = getattr(self, name)
            if value:
                parts.append(f"{name} {','.join(map(str, value))}")
        if self.stopped:
            parts.append(f"stopped {','.join(self.stopped)}")
        if self.skipped:
            parts.append(f"skipped: {'; '.join(self.skipped)[:300]}")
        parts.append(f"{self.calls_to_diagnose} calls to diagnose")
        return ", ".join(parts)


def case_key(target: Target, workflow_path: str, cause: str) -> str:
    where = "default" if target.kind == "default" else f"pr{target.pr_number or 0}"
    return f"{where}:{workflow_path}:{cause}"[:500]


class HealEngine:
    def __init__(
        self,
        gh,
        clients: GitHubClients,
        db,
        *,
        services: Services | None = None,
        bot_login: str = "patchwell[bot]",
        bot_name: str = "patchwell",
        queue=None,
        table: SignatureTable | None = None,
        budget: ScanBudget | None = None,
    ) -> None:
        self.gh = gh
        self.budget = budget or ScanBudget()
        self.clients = clients
        self.db = db
        self.store = HealStore(db)
        self.stash = JobStash(db)
        self.scans = ScanStore(db)
        self.services = services or Services()
        self.bot_login = bot_login
        self.bot_name = bot_name
        self.queue = queue
        self.table = table

    # ------------------------------------------------------------------ entry points

    async def on_workflow_job(self, data: dict) -> HealReport:
        """``workflow_job.completed``: the cheapest signal. The payload names the job, its
        conclusion and its failing step, so a failed job is recorded without an API call and
        read when its run completes (:meth:`on_workflow_run`). A job delivered after its run
        was read is diagnosed alone (one call for the run, to know whom it is for)."""
        raw, repo = _dict(data.get("workflow_job")), _dict(data.get("repository"))
        owner, name = _split(str(repo.get("full_name") or ""))
        report = HealReport(target="recorded")
        job = failed_job(raw) if raw.get("status") == "completed" else None
        if not owner or job is None or not job.run_id:
            report.target = "ignored"
            return report
        full = f"{owner}/{name}"
        await self.stash.add(full, job)
        if not await self.stash.claim_late(full, job):
            return report
        report.target = "ignored"
        try:
            run = await self.gh.getitem(
                "/repos/{owner}/{repo}/actions/runs/{run_id}",
                {"owner": owner, "repo": name, "run_id": job.run_id},
            )
        except gidgethub.BadRequest as exc:
            if int(exc.status_code) in (403, 404, 410):
                return report  # the run was deleted (or is out of reach): nothing to heal
            raise
        await self._read_run(owner, name, repo, run, report, late=job, spent=1)
        return report

    async def on_workflow_run(self, data: dict) -> HealReport:
        run, repo = _dict(data.get("workflow_run")), _dict(data.get("repository"))
        owner, name = _split(str(repo.get("full_name") or ""))
        report = HealReport()
        if not owner or run.get("status") != "completed" or not isinstance(run.get("id"), int):
            return report
        await self._read_run(owner, name, repo, run, report)
        return report

    async def _read_run(
        self,
        owner: str,
        name: str,
        repo: dict,
        run: dict,
        report: HealReport,
        *,
        late: FailedJob | None = None,
        spent: int = 0,
    ) -> None:
        target = await self._target(owner, name, repo, run)
        if target is None:
            return
        report.target = target.kind
        path = str(run.get("path") or "")[:300]
        failure = Failure(
            workflow=str(run.get("name") or path)[:100],
            workflow_path=path,
            run_url=str(run.get("html_url") or ""),
            job_name="",
            job_url="",
            head_sha=str(run.get("head_sha") or ""),
            branch=target.branch,
        )
        conclusion = run.get("conclusion")
        if conclusion == "success" and late is None:
            await self._on_pass(owner, name, target, failure, report)
            return
        if conclusion not in ("failure", "cancelled") and late is None:
            return
        reader = JobReader(self.gh, self.clients, owner, name, table=self.table)
        reader.calls = spent
        jobs = [late] if late is not None else await self._failed_jobs(owner, name, run, reader)
        results = [await reader.diagnose(j, excerpt=target.kind == "own") for j in jobs]
        report.calls_to_diagnose = reader.calls
        if any(j.cancelled for j in jobs):
            # a cancelled job says something only when a signature explains it (a retired
            # runner image); someone pressing "Cancel" gets no comment
            results = [r for r in results if r.diagnoses]
            if not results:
                return
        found = _causes(results)
        if target.kind == "own":
            from bot.heal.own import on_own_failure

            report.diagnosed = [d.id for _j, d in found]
            await on_own_failure(self, owner, name, target, failure, results, report)
            return
        await self._on_failure(owner, name, target, failure, found, int(run["id"]), report)

    async def _failed_jobs(
        self, owner: str, name: str, run: dict, reader: JobReader
    ) -> list[FailedJob]:
        """The run's failed jobs: as ``workflow_job`` deliveries recorded them (no call), else
        the jobs list (one call). The run is marked read first, so a job recorded from now on
        is diagnosed alone (:meth:`on_workflow_job`) instead of being missed."""
        full = f"{owner}/{name}"
        run_id, attempt = int(run["id"]), payload_int(run.get("run_attempt"), 1)
        await self.stash.mark_run(full, run_id, attempt)
        jobs = await self.stash.for_run(full, run_id, attempt)
        if not jobs:
            jobs = await reader.failed_jobs(run_id)
            for job in jobs:
                await self.stash.take(full, job)
        failed = [j for j in jobs if not j.cancelled]
        return (failed or jobs)[:MAX_FAILED_JOBS]

    async def on_check_run(self, data: dict) -> HealReport:
        """A check run from another CI (not GitHub Actions, not Patchwell): its output and
        annotations are all there is to read (no log)."""
        check = data.get("check_run") or {}
        repo = data.get("repository") or {}
        owner, name = _split(repo.get("full_name", ""))
        report = HealReport()
        slug = (check.get("app") or {}).get("slug")
        if (
            not owner
            or check.get("status") != "completed"
            or slug
            in (
                None,
                "github-actions",
                self.bot_name,
            )
        ):
            return report
        suite = check.get("check_suite") or {}
        run = {
            "head_branch": suite.get("head_branch"),
            "head_sha": check.get("head_sha"),
            "pull_requests": check.get("pull_requests") or [],
            "event": "push",
        }
        target = await self._target(owner, name, repo, run)
        if target is None:
            return report
        report.target = target.kind
        check_name = str(check.get("name") or slug)[:100]
        url = str(check.get("details_url") or check.get("html_url") or "")
        failure = Failure(
            check_name,
            f"check:{slug}/{check_name}",
            url,
            check_name,
            url,
            str(check.get("head_sha") or ""),
            target.branch,
        )
        if check.get("conclusion") == "success":
            await self._on_pass(owner, name, target, failure, report)
            return report
        if check.get("conclusion") != "failure":
            return report
        reader = JobReader(self.gh, self.clients, owner, name, table=self.table)
        notes = await reader.annotations(int(check["id"]))
        output = check.get("output") or {}
        text = "\n".join(str(output.get(k) or "") for k in ("title", "summary", "text"))
        from fixers.heal.signatures import Annotation, diagnose

        notes.append(Annotation("failure", text[:20000]))
        job = FailedJob(int(check["id"]), check_name, url, ())
        found = [(job, d) for d in diagnose(None, notes, (), self.table)]
        report.calls_to_diagnose = reader.calls
        if target.kind == "own":
            return report  # our own PRs are judged by their workflow runs
        await self._on_failure(owner, name, target, failure, found, int(check["id"]), report)
        return report

    # ------------------------------------------------------------------ who is it for

    async def _target(self, owner: str, name: str, repo: dict, run: dict) -> Target | None:
        full = f"{owner}/{name}"
        branch = str(run.get("head_branch") or "")
        head_repo = ((run.get("head_repository") or {}).get("full_name") or full).lower()
        same = head_repo == full.lower()
        pulls = [
            int(p["number"])
            for p in run.get("pull_requests") or []
            if isinstance(p, dict) and isinstance(p.get("number"), int)
        ]
        if same and branch.startswith("patchwell/"):
            record = (await self.scans.branches(full)).get(branch)
            if record is None:
                return None  # not a branch Patchwell wrote
            return Target("own", branch, pulls[0] if pulls else record.pr_number)
        if pulls:
            return Target("pull", branch, pulls[0])
        if not same and run.get("event") in ("pull_request", "pull_request_target"):
            # GitHub leaves pull_requests[] empty for forks: find the PR by its head
            fork_owner = head_repo.split("/", 1)[0]
            async for pull in self.gh.getiter(
                "/repos/{owner}/{repo}/pulls{?state,head}",
                {"owner": owner, "repo": name, "state": "open", "head": f"{fork_owner}:{branch}"},
            ):
                return Target("pull", branch, int(pull["number"]))
            return None
        if same and branch == repo.get("default_branch") and run.get("event") in _DEFAULT_EVENTS:
            return Target("default", branch)
        return None

    # ------------------------------------------------------------------ diagnosis

    async def _snapshot(self, owner: str, name: str, sha: str) -> MemorySnapshot:
        return await snapshots.tarball_snapshot(self.gh, self.clients, owner, name, sha)

    def _config(self, snap: MemorySnapshot) -> RepoConfig:
        raw = snap.read(CONFIG_PATH)
        text = raw.decode("utf-8", "replace") if raw is not None else None
        config, _problems = load_repo_config(text, known_fixers=fixer_names())
        return config

    async def _remedy(
        self,
        snap: MemorySnapshot,
        config: RepoConfig,
        failure: Failure,
        job: FailedJob,
        d: Diagnosis,
    ) -> Remedy:
        from bot.scan.actions import GitHubActionsCatalog

        services = replace(
            self.services, actions=GitHubActionsCatalog(self.gh, asyncio.get_running_loop())
        )
        inp = HealInput(snap, config, services, failure.workflow_path, job.name)
        cancel = threading.Event()
        try:
            # In a child process under the scan budget, like a scan: the fix is worked out
            # by the fixers' own code over the failing commit, a stranger's files.
            return await asyncio.to_thread(
                remedy_budgeted, d, inp, budget=self.budget, cancel=cancel
            )
        except asyncio.CancelledError:
            cancel.set()
            raise

    # ------------------------------------------------------------------ failure

    async def _on_failure(
        self,
        owner: str,
        name: str,
        target: Target,
        failure: Failure,
        found: list[tuple[FailedJob, Diagnosis]],
        run_id: int,
        report: HealReport,
    ) -> None:
        full = f"{owner}/{name}"
        report.diagnosed = [d.id for _j, d in found]
        if not found:
            log.info("failure not recognised", extra={"repository": full, "run": run_id})
            return
        snap: MemorySnapshot | None = None
        people: list[PersonCause] = []  # a person's PR: every cause in one comment
        for job, d in found:
            key = case_key(target, failure.workflow_path, d.cause_key)
            case = await self.store.get(full, key)
            if case is not None and case.state in FINAL:
                report.stopped.append(d.cause_key)
                continue
            here = replace(failure, job_name=job.name, job_url=job.html_url)
            if snap is None:
                snap = await self._snapshot(owner, name, failure.head_sha)
                config = self._config(snap)
            result = await self._remedy(snap, config, here, job, d)
            case = case or HealCase(
                full,
                key,
                target.kind,
                target.pr_number,
                failure.workflow_path,
                d.id,
                d.cause_key,
                failure.head_sha,
            )
            case = case.but(head_sha=failure.head_sha, run_id=run_id, job_id=job.id)
            if target.kind == "pull":
                people.append(PersonCause(here, d, result, case))
                continue
            if result.report is not None:
                await self._report(owner, name, here, d, result.report, case, report)
            elif result.patches:
                await self._open_heal_prs(
                    owner, name, here, d, result.patches, case, report, config
                )
            else:
                report.skipped.append(f"{d.id}: {result.reason}")
                await self.store.save(case.but(state="nofix", summary=result.reason or ""))
        if people and snap is not None:
            await on_person_failure(self, owner, name, target, people, snap, report)

    async def _open_heal_prs(
        self,
        owner: str,
        name: str,
        failure: Failure,
        d: Diagnosis,
        patches: Sequence[Patch],
        case: HealCase,
        report: HealReport,
        config: RepoConfig,
    ) -> None:
        commit = await self.gh.getitem(
            "/repos/{owner}/{repo}/git/commits/{sha}",
            {"owner": owner, "repo": name, "sha": failure.head_sha},
        )
        engine = PullRequestEngine(
            self.gh,
            self.scans,
            owner=owner,
            repo=name,
            base=Base(failure.branch, failure.head_sha, commit["tree"]["sha"]),
            config=config,
            bot_login=self.bot_login,
            bot_name=self.bot_name,
        )
        block = heal_block(failure, d)
        for patch in patches:
            preface = block + (
                "\n\n" + patch.explanation.preface if patch.explanation.preface else ""
            )
            healed = replace(
                patch, explanation=replace(patch.explanation, preface=preface), bypass_limit=True
            )
            number, sync = await engine.sync_single(healed)
            if number is None:
                report.skipped.append(f"{d.id}: {patch.branch} is ignored in this repository")
                continue
            (report.opened if number in sync.opened else report.updated).append(number)
            await self.store.save(
                case.but(branch=patch.branch, heal_pr=number, state="open", summary=d.title)
            )

    async def _report(
        self,
        owner: str,
        name: str,
        failure: Failure,
        d: Diagnosis,
        text: str,
        case: HealCase,
        report: HealReport,
    ) -> None:
        if case.state == "reported" and case.head_sha == failure.head_sha:
            return  # told once for this commit
        await self.gh.post(
            "/repos/{owner}/{repo}/check-runs",
            {"owner": owner, "repo": name},
            data={
                "name": HEAL_CHECK,
                "head_sha": failure.head_sha,
                "status": "completed",
                "conclusion": "neutral",
                "output": {
                    "title": d.title[:200],
                    "summary": report_text(failure, d, text)[:60000],
                },
            },
        )
        report.comments.append(0)
        await self.store.save(case.but(state="reported", summary=d.title))

    # ------------------------------------------------------------------ passing runs

    async def _on_pass(
        self, owner: str, name: str, target: Target, failure: Failure, report: HealReport
    ) -> None:
        full = f"{owner}/{name}"
        if target.kind == "own":
            from bot.heal.own import on_own_pass

            await on_own_pass(self, owner, name, target, failure, report)
            return
        if target.kind == "pull":
            from bot.heal.people import on_person_pass

            await on_person_pass(self, owner, name, target, failure, report)
            return
        for case in await self.store.for_target(full, "default", None, failure.workflow_path):
            if case.state != "open" or case.heal_pr is None:
                continue
            await self._cancel(owner, name, case, failure, report)

    async def _cancel(
        self, owner: str, name: str, case: HealCase, failure: Failure, report: HealReport
    ) -> None:
        """The workflow passed on the default branch without (or with) the heal PR."""
        v = {"owner": owner, "repo": name, "number": case.heal_pr}
        pull = await self.gh.getitem("/repos/{owner}/{repo}/pulls/{number}", v)
        if pull.get("merged") or pull.get("merged_at"):
            await self.store.save(case.but(state="verified"))
            return
        if pull.get("state") != "open":
            await self.store.save(case.but(state="cancelled"))
            return
        why = (
            f"`{failure.workflow}` passed again on `{failure.branch}` at "
            f"`{failure.head_sha[:12]}` ([run]({failure.run_url})) without this change, so the "
            "failure it answered is gone (a flaky run, or fixed another way)."
        )
        if (case.branch or "").startswith("patchwell/heal/"):
            await self.gh.post(
                "/repos/{owner}/{repo}/issues/{number}/comments",
                v,
                data={"body": f"Closing: {why} Patchwell deleted its branch."},
            )
            await self.gh.patch("/repos/{owner}/{repo}/pulls/{number}", v, data={"state": "closed"})
            try:
                await self.gh.delete(
                    "/repos/{owner}/{repo}/git/refs/{+ref}",
                    {"owner": owner, "repo": name, "ref": f"heads/{case.branch}"},
                )
            except gidgethub.BadRequest as exc:
                if int(exc.status_code) not in (404, 422):
                    raise
        else:
            # The owning fixer's own PR stays (its finding stands); only the heal note goes.
            await self.gh.patch(
                "/repos/{owner}/{repo}/pulls/{number}",
                v,
                data={"body": strip_heal_block(pull.get("body") or "")},
            )
        report.cancelled.append(int(case.heal_pr or 0))
        await self.store.save(case.but(state="cancelled"))

    async def set_status(self, owner: str, name: str, number: int, text: str) -> None:
        v = {"owner": owner, "repo": name, "number": number}
        pull = await self.gh.getitem("/repos/{owner}/{repo}/pulls/{number}", v)
        body = pull.get("body") or ""
        new = replace_status(body, status_line(text))
        if new != body:
            await self.gh.patch("/repos/{owner}/{repo}/pulls/{number}", v, data={"body": new})


def _causes(results: Sequence[JobDiagnosis]) -> list[tuple[FailedJob, Diagnosis]]:
    """Each cause once (a matrix fails the same way in every job): (first job, diagnosis)."""
    found: dict[str, tuple[FailedJob, Diagnosis]] = {}
    for result in results:
        for d in result.diagnoses:
            found.setdefault(d.cause_key, (result.job, d))
    return list(found.values())


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _split(full_name: str) -> tuple[str, str]:
    owner, _, repo = full_name.partition("/")
    return owner, repo


def now() -> float:
    return time.time()
