"""GitHub Actions: workflow runs, their jobs, and job logs behind a short-lived redirect.

Like GitHub:

* ``GET .../actions/runs/{id}/jobs`` lists the latest attempt's jobs (``filter=all``: every
  attempt's), each with its steps; a job's id is also its check run's id, so its
  annotations are at ``.../check-runs/{id}/annotations``;
* ``GET .../actions/jobs/{id}/logs`` answers ``302`` with a ``Location`` that works without a
  token for :attr:`FakeState.log_url_lifetime` seconds (blob storage then answers ``403``);
  a job still running has no log (``404``); a log deleted or past retention is ``410 Gone``.
"""

from __future__ import annotations

import secrets
from typing import Any

from tests.fakegithub import shapes
from tests.fakegithub.httpkit import Reply, Req, Route, needing, paginated
from tests.fakegithub.state import (
    ApiError,
    FakeState,
    LogTicket,
    Repo,
    WorkflowJob,
    WorkflowRun,
    not_found,
    now,
)


def run_json(state: FakeState, repo: Repo, run: WorkflowRun) -> dict[str, Any]:
    api = f"{state.base_url}/repos/{repo.full_name}"
    url = f"{api}/actions/runs/{run.id}"
    head_repo = state.repos.get((run.head_repo or repo.full_name).lower(), repo)
    pulls = [] if run.head_repo else [_pull_ref(state, repo, n) for n in run.pull_numbers]
    return {
        "id": run.id,
        "name": run.name,
        "node_id": f"WFR_{run.id}",
        "head_branch": run.head_branch,
        "head_sha": run.head_sha,
        "path": run.path,
        "display_title": run.name,
        "run_number": run.id % 10_000,
        "run_attempt": run.run_attempt,
        "event": run.event,
        "status": run.status,
        "conclusion": run.conclusion,
        "workflow_id": run.workflow_id,
        "url": url,
        "html_url": f"{shapes.HTML}/{repo.full_name}/actions/runs/{run.id}",
        "jobs_url": f"{url}/jobs",
        "logs_url": f"{url}/logs",
        "check_suite_id": run.id + 1,
        "pull_requests": [p for p in pulls if p is not None],
        "created_at": shapes.iso(run.created_at),
        "updated_at": shapes.iso(run.created_at),
        "run_started_at": shapes.iso(run.created_at),
        "repository": shapes.repo(state, repo),
        "head_repository": shapes.repo(state, head_repo),
    }


def _pull_ref(state: FakeState, repo: Repo, number: int) -> dict[str, Any] | None:
    pull = repo.pulls.get(number)
    if pull is None:
        return None
    api = f"{state.base_url}/repos/{repo.full_name}"
    short = {"id": repo.id, "url": api, "name": repo.name}
    return {
        "url": f"{api}/pulls/{number}",
        "id": pull.id,
        "number": number,
        "head": {"ref": pull.head_ref, "sha": pull.head_sha, "repo": short},
        "base": {"ref": pull.base_ref, "sha": pull.base_sha, "repo": short},
    }


def job_json(state: FakeState, repo: Repo, job: WorkflowJob) -> dict[str, Any]:
    api = f"{state.base_url}/repos/{repo.full_name}"
    done = job.status == "completed"
    return {
        "id": job.id,
        "run_id": job.run_id,
        "run_url": f"{api}/actions/runs/{job.run_id}",
        "run_attempt": job.run_attempt,
        "node_id": f"CR_{job.id}",
        "head_sha": job.head_sha,
        "head_branch": job.head_branch,
        "url": f"{api}/actions/jobs/{job.id}",
        "html_url": f"{shapes.HTML}/{repo.full_name}/actions/runs/{job.run_id}/job/{job.id}",
        "status": job.status,
        "conclusion": job.conclusion,
        "created_at": shapes.iso(job.started_at),
        "started_at": shapes.iso(job.started_at),
        "completed_at": shapes.iso(job.completed_at),
        "name": job.name,
        "steps": [dict(s) for s in job.steps],
        "check_run_url": f"{api}/check-runs/{job.id}",
        "labels": list(job.labels),
        "runner_id": 1 if done else None,
        "runner_name": "GitHub Actions 1" if done else None,
        "runner_group_id": 1 if done else None,
        "runner_group_name": "GitHub Actions" if done else None,
        "workflow_name": job.workflow_name,
    }


def _run(state: FakeState, repo: Repo, req: Req) -> WorkflowRun:
    try:
        run = state.workflow_runs.get(int(req.params["run_id"]))
    except ValueError:
        run = None
    if run is None or run.repo != repo.key:
        raise not_found()
    return run


def _job(state: FakeState, repo: Repo, req: Req) -> WorkflowJob:
    try:
        job = state.workflow_jobs.get(int(req.params["job_id"]))
    except ValueError:
        job = None
    if job is None or job.repo != repo.key:
        raise not_found()
    return job


def get_run(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    return Reply(body=run_json(state, repo, _run(state, repo, req)))


def list_run_jobs(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    run = _run(state, repo, req)
    jobs = [j for j in state.workflow_jobs.values() if j.run_id == run.id]
    if req.query.get("filter", "latest") == "latest":
        jobs = [j for j in jobs if j.run_attempt == run.run_attempt]
    jobs.sort(key=lambda j: j.id)
    items = [job_json(state, repo, j) for j in jobs]
    return paginated(req, items, wrap=lambda page: {"total_count": len(items), "jobs": page})


def get_job(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    return Reply(body=job_json(state, repo, _job(state, repo, req)))


def job_logs_redirect(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    job = _job(state, repo, req)
    if job.log_gone:
        raise ApiError(410, "Gone")
    if job.status != "completed" or job.log is None:
        raise not_found()
    ticket = secrets.token_urlsafe(24)
    state.log_tickets[ticket] = LogTicket(job.id, now() + state.log_url_lifetime)
    location = f"{state.base_url}/_blobs/actions-logs/{job.id}.txt?sig={ticket}"
    return Reply(status=302, headers={"Location": location})


def download_log(state: FakeState, req: Req) -> Reply:
    ticket = state.log_tickets.get(req.query.get("sig", ""))
    try:
        job_id = int(req.params["job_id"])
    except ValueError:
        raise not_found() from None
    if ticket is None or ticket.job_id != job_id:
        raise ApiError(404, "The specified blob does not exist.")
    if ticket.expires_at <= now():
        # Azure blob storage's answer to an expired shared-access signature
        raise ApiError(403, "Server failed to authenticate the request.")
    job = state.workflow_jobs.get(job_id)
    if job is None or job.log is None or job.log_gone:
        raise ApiError(404, "The specified blob does not exist.")
    return Reply(raw=job.log, headers={"Content-Type": "text/plain; charset=utf-8"})


_R = "/repos/{owner}/{repo}"
ROUTES = [
    *needing(
        ("actions",),
        [
            Route("GET", f"{_R}/actions/runs/{{run_id}}", get_run, "repo"),
            Route("GET", f"{_R}/actions/runs/{{run_id}}/jobs", list_run_jobs, "repo"),
            Route("GET", f"{_R}/actions/jobs/{{job_id}}", get_job, "repo"),
            Route("GET", f"{_R}/actions/jobs/{{job_id}}/logs", job_logs_redirect, "repo"),
        ],
    ),
    Route("GET", "/_blobs/actions-logs/{job_id}.txt", download_log, "public"),
]
