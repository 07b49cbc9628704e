"""Check runs, with GitHub's limits: at most 50 annotations per request, appended on update."""

from __future__ import annotations

from typing import Any

from tests.fakegithub import shapes
from tests.fakegithub.httpkit import Reply, Req, Route, needing, paginated
from tests.fakegithub.state import ApiError, CheckRun, FakeState, Repo, not_found, now

MAX_ANNOTATIONS_PER_REQUEST = 50
MAX_OUTPUT_CHARS = 65535
STATUSES = ("queued", "in_progress", "completed", "waiting", "requested", "pending")
CONCLUSIONS = (
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
)
LEVELS = ("notice", "warning", "failure")
ANNOTATION_REQUIRED = ("path", "start_line", "end_line", "annotation_level", "message")


def _invalid(detail: str) -> ApiError:
    # checks validate with a JSON schema; GitHub words those failures "Invalid request."
    return ApiError(
        422,
        f"Invalid request.\n\n{detail}",
        documentation_url="https://docs.github.com/rest/checks/runs#create-a-check-run",
    )


def _validate_annotations(output: dict[str, Any]) -> list[dict[str, Any]]:
    annotations = output.get("annotations", [])
    if not isinstance(annotations, list):
        raise _invalid("For 'properties/annotations', it is not an array.")
    if len(annotations) > MAX_ANNOTATIONS_PER_REQUEST:
        raise _invalid(
            f"No more than {MAX_ANNOTATIONS_PER_REQUEST} items are allowed; "
            f"{len(annotations)} were supplied."
        )
    for item in annotations:
        _validate_annotation(item)
    return [dict(a) for a in annotations]


def _validate_annotation(item: Any) -> None:
    if not isinstance(item, dict):
        raise _invalid("For 'items', it is not an object.")
    missing = [k for k in ANNOTATION_REQUIRED if k not in item]
    if missing:
        raise _invalid(f'"{missing[0]}" wasn\'t supplied.')
    if item["annotation_level"] not in LEVELS:
        raise _invalid(
            f"For 'properties/annotation_level', {item['annotation_level']!r} is not a member "
            "of enum."
        )
    for key in ("start_line", "end_line"):
        if not isinstance(item[key], int) or isinstance(item[key], bool) or item[key] < 1:
            raise _invalid(f"For 'properties/{key}', {item[key]!r} is not a positive integer.")
    if item["end_line"] < item["start_line"]:
        raise _invalid("end_line must be greater than or equal to start_line")
    has_columns = "start_column" in item or "end_column" in item
    if has_columns and item["start_line"] != item["end_line"]:
        raise _invalid("start_column and end_column may only be used on single-line annotations")
    if not isinstance(item["path"], str) or not isinstance(item["message"], str):
        raise _invalid("path and message must be strings")


def _apply(run: CheckRun, body: dict[str, Any]) -> None:
    status, conclusion = body.get("status"), body.get("conclusion")
    if status is not None and status not in STATUSES:
        raise _invalid(f"For 'properties/status', {status!r} is not a member of enum.")
    if conclusion is not None and conclusion not in CONCLUSIONS:
        raise _invalid(f"For 'properties/conclusion', {conclusion!r} is not a member of enum.")
    if status == "completed" and conclusion is None and run.conclusion is None:
        raise _invalid("conclusion is required when status is completed")
    output = body.get("output")
    if output is not None:
        if not isinstance(output, dict):
            raise _invalid("For 'properties/output', it is not an object.")
        if not isinstance(output.get("title"), str) or not isinstance(output.get("summary"), str):
            raise _invalid('"title" and "summary" are required in output.')
        for key in ("summary", "text"):
            size = len(output.get(key) or "")
            if size > MAX_OUTPUT_CHARS:
                raise _invalid(
                    f"Only {MAX_OUTPUT_CHARS} characters are allowed; {size} were supplied."
                )
        annotations = _validate_annotations(output)
        run.output = {k: output.get(k) for k in ("title", "summary", "text")}
        run.annotations.extend(annotations)  # GitHub appends across updates
    if status is not None:
        run.status = status
    if conclusion is not None:
        run.conclusion, run.status = conclusion, "completed"
    if run.status == "completed" and run.completed_at is None:
        run.completed_at = now()
    for key in ("details_url", "external_id", "name"):
        if isinstance(body.get(key), str):
            setattr(run, key, body[key])


def create_check_run(state: FakeState, req: Req) -> Reply:
    body = req.obj()
    repo = req.the_repo
    name, head_sha = body.get("name"), body.get("head_sha")
    if not isinstance(name, str) or not name:
        raise _invalid('"name" wasn\'t supplied.')
    if not isinstance(head_sha, str) or head_sha not in repo.objects.commits:
        raise ApiError(422, f"No commit found for SHA: {head_sha}")
    run = CheckRun(
        id=state.new_id(),
        repo=repo.key,
        name=name,
        head_sha=head_sha,
        status="queued",
        conclusion=None,
        started_at=now(),
        completed_at=None,
        details_url=None,
        external_id=None,
        output={},
    )
    _apply(run, body)
    state.check_runs[run.id] = run
    return Reply(status=201, body=shapes.check_run(state, repo, run))


def _run(state: FakeState, repo: Repo, req: Req) -> CheckRun:
    try:
        run = state.check_runs.get(int(req.params["check_run_id"]))
    except ValueError:
        run = None
    if run is None or run.repo != repo.key:
        raise not_found()
    return run


def update_check_run(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    run = _run(state, repo, req)
    _apply(run, req.obj())
    return Reply(body=shapes.check_run(state, repo, run))


def get_check_run(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    return Reply(body=shapes.check_run(state, repo, _run(state, repo, req)))


def list_annotations(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    run = _run(state, repo, req)
    items = [
        {"blob_href": f"{shapes.HTML}/{repo.full_name}/blob/{run.head_sha}/{a['path']}"} | a
        for a in run.annotations
    ]
    return paginated(req, items)


def runs_for_ref(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    sha = repo.resolve(req.params["ref"])
    if sha is None:
        raise ApiError(422, f"No commit found for SHA: {req.params['ref']}")
    runs = [r for r in state.check_runs.values() if r.repo == repo.key and r.head_sha == sha]
    if req.query.get("check_name"):
        runs = [r for r in runs if r.name == req.query["check_name"]]
    if req.query.get("status"):
        runs = [r for r in runs if r.status == req.query["status"]]
    runs.sort(key=lambda r: r.id, reverse=True)
    if req.query.get("filter", "latest") == "latest":
        # GitHub's default: only the most recent run of each name
        newest: dict[str, CheckRun] = {}
        for run in runs:
            newest.setdefault(run.name, run)
        runs = list(newest.values())
    items = [shapes.check_run(state, repo, r) for r in runs]
    return paginated(req, items, wrap=lambda page: {"total_count": len(items), "check_runs": page})


_R = "/repos/{owner}/{repo}"
ROUTES = needing(
    ("checks",),
    [
        Route("POST", f"{_R}/check-runs", create_check_run, "repo"),
        Route("GET", f"{_R}/check-runs/{{check_run_id}}", get_check_run, "repo"),
        Route("PATCH", f"{_R}/check-runs/{{check_run_id}}", update_check_run, "repo"),
        Route("GET", f"{_R}/check-runs/{{check_run_id}}/annotations", list_annotations, "repo"),
        Route("GET", f"{_R}/commits/{{ref:.+}}/check-runs", runs_for_ref, "repo"),
    ],
)
