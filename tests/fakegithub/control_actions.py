"""FakeGitHub helpers for GitHub Actions: workflow runs and their jobs (with logs and
annotations), re-runs, log URLs, and the check runs in a repository."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tests.fakegithub import routes_actions, shapes
from tests.fakegithub.control import Controls
from tests.fakegithub.state import CheckRun, WorkflowJob, WorkflowRun, now


@dataclass(frozen=True)
class FakeJob:
    """A job to add to a workflow run: its steps (name, conclusion), log and annotations.

    ``log=None`` with ``conclusion=None`` is a job still running (no log yet);
    ``log_gone`` makes the logs endpoint answer 410 Gone.
    """

    name: str
    conclusion: str | None = "failure"
    steps: tuple[tuple[str, str | None], ...] = (("Set up job", "success"),)
    log: str | bytes | None = None
    annotations: tuple[dict[str, Any], ...] = ()
    log_gone: bool = False
    labels: tuple[str, ...] = ("ubuntu-latest",)


@dataclass(frozen=True)
class RunInfo:
    id: int
    job_ids: tuple[int, ...]
    head_sha: str
    head_branch: str
    run_attempt: int


class ActionsControls(Controls):
    """Workflow runs and jobs as GitHub Actions would leave them, and the check runs."""

    def add_workflow_run(
        self,
        owner: str,
        name: str,
        jobs: Iterable[FakeJob],
        *,
        head_branch: str | None = None,
        head_sha: str | None = None,
        path: str = ".github/workflows/ci.yml",
        workflow_name: str = "CI",
        event: str = "push",
        pull_numbers: Iterable[int] = (),
        head_repo: str | None = None,
    ) -> RunInfo:
        """A completed workflow run (on ``head_branch``'s head by default) with ``jobs``."""
        with self.state.lock:
            repo = self._repo(owner, name)
            branch = head_branch or repo.default_branch
            sha = head_sha or repo.branch_sha(branch) or repo.resolve(branch)
            if sha is None:
                raise ValueError(f"no commit for {branch!r}")
            run = WorkflowRun(
                id=self.state.new_id(),
                repo=repo.key,
                name=workflow_name,
                path=path,
                workflow_id=8000 + sum(map(ord, path)) % 1000,
                head_sha=sha,
                head_branch=branch,
                event=event,
                status="completed",
                conclusion=None,
                run_attempt=0,
                pull_numbers=list(pull_numbers),
                created_at=now(),
                head_repo=head_repo,
            )
            self.state.workflow_runs[run.id] = run
        return self.rerun(owner, name, run.id, jobs)

    def rerun(self, owner: str, name: str, run_id: int, jobs: Iterable[FakeJob]) -> RunInfo:
        """A new attempt of a run: fresh job ids (like GitHub), the run's conclusion updated."""
        with self.state.lock:
            repo = self._repo(owner, name)
            run = self.state.workflow_runs[run_id]
            run.run_attempt += 1
            ids = []
            conclusions = []
            for spec in jobs:
                job_id = self.state.new_id()
                steps = [
                    {
                        "name": step_name,
                        "status": "completed" if conclusion else "in_progress",
                        "conclusion": conclusion,
                        "number": number,
                        "started_at": shapes.iso(now()),
                        "completed_at": shapes.iso(now()) if conclusion else None,
                    }
                    for number, (step_name, conclusion) in enumerate(spec.steps, start=1)
                ]
                done = spec.conclusion is not None
                log = spec.log.encode() if isinstance(spec.log, str) else spec.log
                self.state.workflow_jobs[job_id] = WorkflowJob(
                    id=job_id,
                    run_id=run.id,
                    repo=repo.key,
                    name=spec.name,
                    head_sha=run.head_sha,
                    head_branch=run.head_branch,
                    status="completed" if done else "in_progress",
                    conclusion=spec.conclusion,
                    steps=steps,
                    labels=list(spec.labels),
                    run_attempt=run.run_attempt,
                    workflow_name=run.name,
                    started_at=now(),
                    completed_at=now() if done else None,
                    log=log if done else None,
                    log_gone=spec.log_gone,
                )
                check = CheckRun(
                    id=job_id,
                    repo=repo.key,
                    name=spec.name,
                    head_sha=run.head_sha,
                    status="completed" if done else "in_progress",
                    conclusion=spec.conclusion,
                    started_at=now(),
                    completed_at=now() if done else None,
                    details_url=None,
                    external_id=None,
                    output={},
                    annotations=[
                        {
                            "path": ".github",
                            "start_line": 1,
                            "end_line": 1,
                            "annotation_level": "failure",
                            "title": "",
                            "raw_details": None,
                        }
                        | a
                        for a in spec.annotations
                    ],
                    app_slug="github-actions",
                )
                self.state.check_runs[job_id] = check
                ids.append(job_id)
                conclusions.append(spec.conclusion)
            run.conclusion = next(
                (c for c in ("failure", "cancelled") if c in conclusions),
                "success" if conclusions else None,
            )
            run.status = "completed" if all(c is not None for c in conclusions) else "in_progress"
            return RunInfo(run.id, tuple(ids), run.head_sha, run.head_branch, run.run_attempt)

    def workflow_run_json(self, owner: str, name: str, run_id: int) -> dict[str, Any]:
        """The run as the API renders it (for a ``workflow_run`` webhook that agrees)."""
        with self.state.lock:
            repo = self._repo(owner, name)
            return routes_actions.run_json(self.state, repo, self.state.workflow_runs[run_id])

    def workflow_job_json(self, owner: str, name: str, job_id: int) -> dict[str, Any]:
        with self.state.lock:
            repo = self._repo(owner, name)
            return routes_actions.job_json(self.state, repo, self.state.workflow_jobs[job_id])

    def expire_log_urls(self) -> None:
        """Every job-log download URL handed out so far stops working (403)."""
        with self.state.lock:
            for ticket in self.state.log_tickets.values():
                ticket.expires_at = now() - 1

    def set_log_url_lifetime(self, seconds: float) -> None:
        with self.state.lock:
            self.state.log_url_lifetime = seconds

    def check_runs(self, owner: str, name: str) -> list[dict[str, Any]]:
        """Every check run in the repo, each with its full ``annotations`` list."""
        with self.state.lock:
            repo = self._repo(owner, name)
            runs = sorted(
                (r for r in self.state.check_runs.values() if r.repo == repo.key),
                key=lambda r: r.id,
            )
            return [
                shapes.check_run(self.state, repo, r) | {"annotations": list(r.annotations)}
                for r in runs
            ]
