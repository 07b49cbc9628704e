"""Reading a failed workflow run, cheapest first.

1. the run's jobs (one call: ``GET .../actions/runs/{id}/jobs?filter=latest``) -- which jobs
   failed and at which step (a ``workflow_job`` payload carries the same, so a caller that
   has one passes it and skips the call);
2. the failing job's check-run annotations (one call): a job that failed in "Set up job"
   (a turned-off action, a retired runner) says everything there, so the log is not read;
3. only then the job log: ``GET .../actions/jobs/{id}/logs`` answers ``302`` to a signed URL
   that works for about a minute; it is fetched without a token, at most
   :data:`LOG_MAX_BYTES` read, the first :data:`LOG_HEAD_BYTES` and last
   :data:`LOG_TAIL_BYTES` kept (the failing step is near the end; "Set up job" at the
   start). A URL that expired before the download is asked for once more; a log that is
   gone (``410``) or not there (``404``) leaves the annotations to speak alone.

So a diagnosis costs at most 4 calls (2 for set-up failures).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import gidgethub

from bot.github import GitHubClients
from fixers.heal.joblog import JobLog, StepInfo, failing_section, parse_log
from fixers.heal.mask import mask_lines
from fixers.heal.signatures import Annotation, Diagnosis, SignatureTable, diagnose, excerpt_of

log = logging.getLogger("patchwell.heal")

MAX_FAILED_JOBS = 3
LOG_MAX_BYTES = 16 * 1024 * 1024
LOG_HEAD_BYTES = 256 * 1024
LOG_TAIL_BYTES = 1024 * 1024
#: remedies that read the failing step's lines (pip-audit's table, pip's conflict list)
NEEDS_LOG = frozenset({"security-bump", "report"})


@dataclass(frozen=True)
class FailedJob:
    id: int
    name: str
    html_url: str
    steps: tuple[StepInfo, ...]
    run_attempt: int = 1
    run_id: int = 0
    #: GitHub cancelled it (a retired runner image never starts the job): only its
    #: annotations are read, and only signatures that explain a cancelled job count
    cancelled: bool = False

    @property
    def failing_step(self) -> str:
        return next((s.name for s in self.steps if s.conclusion == "failure"), "")


@dataclass
class JobDiagnosis:
    job: FailedJob
    diagnoses: list[Diagnosis] = field(default_factory=list)
    #: read | not-needed | gone | missing | expired | truncated
    log_state: str = "not-needed"
    calls: int = 0
    #: the failing step's last lines (masked) and its title, diagnosed or not
    excerpt: tuple[str, ...] = ()
    step: str = ""


def payload_int(value, default: int) -> int:
    """An id or count from a payload; anything that is not a whole number is ``default``."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return default
    try:
        return int(value)
    except ValueError:
        return default


def steps_of(job: dict) -> tuple[StepInfo, ...]:
    steps = job.get("steps")
    out = []
    for s in steps[:200] if isinstance(steps, list) else []:
        if isinstance(s, dict) and isinstance(s.get("name"), str):
            conclusion = s.get("conclusion")
            out.append(
                StepInfo(
                    payload_int(s.get("number"), 0),
                    s["name"][:300],
                    conclusion if isinstance(conclusion, str) else None,
                )
            )
    return tuple(out)


def failed_job(job: dict) -> FailedJob | None:
    """A job that failed or was cancelled, from the jobs list or a ``workflow_job`` payload."""
    if not isinstance(job, dict) or job.get("conclusion") not in ("failure", "cancelled"):
        return None
    job_id = payload_int(job.get("id"), 0)
    if job_id <= 0:
        return None
    return FailedJob(
        job_id,
        str(job.get("name") or "")[:300],
        str(job.get("html_url") or "")[:500],
        steps_of(job),
        payload_int(job.get("run_attempt"), 1),
        payload_int(job.get("run_id"), 0),
        job.get("conclusion") == "cancelled",
    )


class JobReader:
    """Reads one repository's failed jobs and counts the calls it spends."""

    def __init__(
        self,
        gh,
        clients: GitHubClients,
        owner: str,
        repo: str,
        *,
        table: SignatureTable | None = None,
        max_bytes: int = LOG_MAX_BYTES,
        head_bytes: int = LOG_HEAD_BYTES,
        tail_bytes: int = LOG_TAIL_BYTES,
    ) -> None:
        self.max_bytes, self.head_bytes, self.tail_bytes = max_bytes, head_bytes, tail_bytes
        #: bytes of job logs downloaded (never more than ``max_bytes`` per log)
        self.bytes_read = 0
        self.gh = gh
        self.clients = clients
        self.owner = owner
        self.repo = repo
        self.table = table
        self.calls = 0
        self._v = {"owner": owner, "repo": repo}

    async def failed_jobs(self, run_id: int) -> list[FailedJob]:
        self.calls += 1
        page = await self.gh.getitem(
            "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs{?filter,per_page}",
            {**self._v, "run_id": run_id, "filter": "latest", "per_page": 100},
        )
        jobs = page.get("jobs") if isinstance(page, dict) else None
        found = [j for j in (failed_job(x) for x in jobs or []) if j is not None]
        # failed jobs first: a matrix's fail-fast cancels the siblings of the one that failed
        return sorted(found, key=lambda j: j.cancelled)[:MAX_FAILED_JOBS]

    async def annotations(self, check_run_id: int) -> list[Annotation]:
        self.calls += 1
        try:
            items = await self.gh.getitem(
                "/repos/{owner}/{repo}/check-runs/{id}/annotations{?per_page}",
                {**self._v, "id": check_run_id, "per_page": 50},
            )
        except gidgethub.BadRequest as exc:
            if int(exc.status_code) in (403, 404):
                return []
            raise
        out = []
        for a in items if isinstance(items, list) else []:
            if isinstance(a, dict) and isinstance(a.get("message"), str):
                out.append(
                    Annotation(
                        str(a.get("annotation_level") or ""),
                        a["message"][:4000],
                        str(a.get("path") or ""),
                        str(a.get("title") or "")[:300],
                    )
                )
        return out

    async def job_log(self, job_id: int) -> tuple[JobLog | None, str]:
        path = f"/repos/{self.owner}/{self.repo}/actions/jobs/{job_id}/logs"
        for attempt in range(2):
            self.calls += 1
            try:
                location = await self.clients.redirect_location(self.gh, path)
            except gidgethub.BadRequest as exc:
                status = int(exc.status_code)
                if status == 410:
                    return None, "gone"
                if status in (403, 404):
                    return None, "missing"
                raise
            self.calls += 1
            body = await self.clients.fetch_capped(
                location, head=self.head_bytes, tail=self.tail_bytes, max_bytes=self.max_bytes
            )
            self.bytes_read += body.read
            if body.status in (401, 403, 404) and attempt == 0:
                continue  # the signed URL expired before we used it: ask for a new one
            if body.status >= 400:
                return None, "expired" if body.status in (401, 403) else "missing"
            if body.whole:
                return parse_log(body.head.decode("utf-8", "replace")), "read"
            tail = body.tail.split(b"\n", 1)[1] if b"\n" in body.tail else b""
            text = body.head.decode("utf-8", "replace") + "\n" + tail.decode("utf-8", "replace")
            return parse_log(text, truncated=True), "truncated"
        return None, "expired"

    async def diagnose(self, job: FailedJob, *, excerpt: bool = False) -> JobDiagnosis:
        """``excerpt``: read the log even when the annotations explain the failure (a
        comment quoting the failing step needs it)."""
        before = self.calls
        result = JobDiagnosis(job)
        notes = await self.annotations(job.id)
        if job.cancelled:
            result.diagnoses = diagnose(None, notes, job.steps, self.table, cancelled=True)
            result.step = job.failing_step
            result.calls = self.calls - before
            return result
        from_notes = diagnose(None, notes, job.steps, self.table)
        errors = [d for d in from_notes if d.signature.level == "error"]
        failures = [a.message for a in notes if a.level == "failure"]
        result.excerpt = mask_lines(failures[:10])
        result.step = job.failing_step
        if errors and not excerpt and not any(d.signature.remedy in NEEDS_LOG for d in errors):
            result.diagnoses = errors
        else:
            parsed, result.log_state = await self.job_log(job.id)
            result.diagnoses = diagnose(parsed, notes, job.steps, self.table) if parsed else errors
            section = failing_section(parsed, job.steps) if parsed else None
            if section is not None:
                result.excerpt = excerpt_of(section) or result.excerpt
                result.step = section.title
        result.calls = self.calls - before
        log.info(
            "job diagnosed",
            extra={
                "repository": f"{self.owner}/{self.repo}",
                "job": job.id,
                "signatures": ",".join(d.id for d in result.diagnoses) or "none",
                "log": result.log_state,
                "calls": result.calls,
            },
        )
        return result
