"""Pull request review comments (comments on a diff line), with GitHub's placement rule:
``line`` (and ``start_line``) must fall inside one of the file's diff hunks on the side
given, else ``422`` -- which is why a ``suggestion`` block only works on changed code."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tests.fakegithub import shapes
from tests.fakegithub.httpkit import Reply, Req, Route, needing, paginated
from tests.fakegithub.state import ApiError, FakeState, Repo, not_found, now, validation_failed

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", re.MULTILINE)


@dataclass
class ReviewComment:
    id: int
    repo: str
    pull_number: int
    body: str
    user: str
    path: str
    line: int
    start_line: int | None
    commit_id: str
    created_at: float
    updated_at: float


def _store(state: FakeState) -> dict[int, ReviewComment]:
    return state.review_comments


def review_json(state: FakeState, r: Repo, c: ReviewComment) -> dict[str, Any]:
    api = f"{state.base_url}/repos/{r.full_name}"
    return {
        "id": c.id,
        "node_id": f"PRRC_{c.id}",
        "url": f"{api}/pulls/comments/{c.id}",
        "pull_request_url": f"{api}/pulls/{c.pull_number}",
        "html_url": f"{shapes.HTML}/{r.full_name}/pull/{c.pull_number}#discussion_r{c.id}",
        "body": c.body,
        "path": c.path,
        "line": c.line,
        "start_line": c.start_line,
        "side": "RIGHT",
        "commit_id": c.commit_id,
        "user": shapes.user(state, c.user),
        "created_at": shapes.iso(c.created_at),
        "updated_at": shapes.iso(c.updated_at),
    }


def _diff_lines(repo: Repo, pull) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for f in shapes.pull_files(repo, pull):
        change = shapes.file_change(repo, f)
        lines: set[int] = set()
        for m in _HUNK.finditer(change.get("patch") or ""):
            start, count = int(m.group(1)), int(m.group(2) or 1)
            lines |= set(range(start, start + count))
        out[change["filename"]] = lines
    return out


def create_review_comment(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    body = req.obj()
    pull = repo.pulls.get(int(req.params["number"]))
    if pull is None:
        raise not_found()
    text, path, line = body.get("body"), body.get("path"), body.get("line")
    if not (isinstance(text, str) and text and isinstance(path, str) and isinstance(line, int)):
        raise validation_failed({"resource": "PullRequestReviewComment", "code": "missing_field"})
    if body.get("commit_id") != pull.head_sha:
        raise validation_failed({"message": "commit_id is not part of the pull request"})
    start = body.get("start_line")
    lines = _diff_lines(repo, pull).get(path)
    wanted = set(range(start if isinstance(start, int) else line, line + 1))
    if lines is None or not wanted <= lines:
        raise ApiError(
            422,
            "Validation Failed",
            errors=[{"message": "pull_request_review_thread.line must be part of the diff"}],
        )
    comment = ReviewComment(
        id=state.new_id(),
        repo=repo.key,
        pull_number=pull.number,
        body=text,
        user=state.bot_login,
        path=path,
        line=line,
        start_line=start if isinstance(start, int) else None,
        commit_id=pull.head_sha,
        created_at=now(),
        updated_at=now(),
    )
    _store(state)[comment.id] = comment
    return Reply(status=201, body=review_json(state, repo, comment))


def list_review_comments(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    number = int(req.params["number"])
    items = sorted(
        (c for c in _store(state).values() if c.repo == repo.key and c.pull_number == number),
        key=lambda c: c.id,
    )
    return paginated(req, [review_json(state, repo, c) for c in items])


def _comment(state: FakeState, repo: Repo, req: Req) -> ReviewComment:
    c = _store(state).get(int(req.params["comment_id"]))
    if c is None or c.repo != repo.key:
        raise not_found()
    return c


def update_review_comment(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    c = _comment(state, repo, req)
    text = req.obj().get("body")
    if not isinstance(text, str) or not text:
        raise validation_failed({"resource": "PullRequestReviewComment", "code": "missing_field"})
    c.body, c.updated_at = text, now()
    return Reply(body=review_json(state, repo, c))


def delete_review_comment(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    c = _comment(state, repo, req)
    del _store(state)[c.id]
    return Reply(status=204)


_P = "/repos/{owner}/{repo}/pulls"
ROUTES = needing(
    ("pull_requests",),
    [
        Route("POST", f"{_P}/{{number}}/comments", create_review_comment, "repo"),
        Route("GET", f"{_P}/{{number}}/comments", list_review_comments, "repo"),
        Route("PATCH", f"{_P}/comments/{{comment_id}}", update_review_comment, "repo"),
        Route("DELETE", f"{_P}/comments/{{comment_id}}", delete_review_comment, "repo"),
    ],
)
