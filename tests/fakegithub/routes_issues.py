"""Issues and their comments, labels and comment reactions (pull requests are issues too)."""

from __future__ import annotations

from tests.fakegithub import shapes
from tests.fakegithub.httpkit import Reply, Req, Route, needing, paginated
from tests.fakegithub.state import (
    ApiError,
    Comment,
    FakeState,
    Issue,
    Repo,
    not_found,
    now,
    validation_failed,
)

MAX_COMMENT_LENGTH = 65536  # GitHub refuses longer bodies with a 422


def _number(repo: Repo, req: Req) -> int:
    try:
        number = int(req.params["number"])
    except ValueError:
        raise not_found() from None
    if number not in repo.pulls and number not in repo.issues:
        raise not_found()
    return number


def create_issue(state: FakeState, req: Req) -> Reply:
    body = req.obj()
    repo = req.the_repo
    title = body.get("title")
    if not isinstance(title, str) or not title.strip():
        raise validation_failed({"resource": "Issue", "field": "title", "code": "missing_field"})
    issue = Issue(
        id=state.new_id(),
        number=repo.take_number(),
        title=title,
        body=body.get("body") if isinstance(body.get("body"), str) else None,
        user=state.bot_login,
        created_at=now(),
    )
    repo.issues[issue.number] = issue
    labels = body.get("labels")
    if isinstance(labels, list):
        repo.labels[issue.number] = [str(label) for label in labels]
    return Reply(status=201, body=shapes.issue(state, repo, issue))


def get_issue(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    number = _number(repo, req)
    if number in repo.pulls:
        pull = repo.pulls[number]
        issue = Issue(
            pull.id, number, pull.title, pull.body, pull.user, pull.created_at, pull.state
        )
    else:
        issue = repo.issues[number]
    return Reply(body=shapes.issue(state, repo, issue))


def list_issues(state: FakeState, req: Req) -> Reply:
    """Issues and pull requests (GitHub lists both here), newest first, filtered."""
    repo = req.the_repo
    wanted = req.query.get("state", "open")
    if wanted not in ("open", "closed", "all"):
        raise validation_failed({"resource": "Issue", "field": "state", "code": "invalid"})
    creator = (req.query.get("creator") or "").lower()
    items: list[tuple[float, int, dict]] = []
    for issue in repo.issues.values():
        if wanted in ("all", issue.state) and creator in ("", issue.user.lower()):
            items.append((issue.created_at, issue.number, shapes.issue(state, repo, issue)))
    for pull in repo.pulls.values():
        if wanted in ("all", pull.state) and creator in ("", pull.user.lower()):
            shown = Issue(
                pull.id, pull.number, pull.title, pull.body, pull.user, pull.created_at, pull.state
            )
            body = shapes.issue(state, repo, shown)
            body["pull_request"] = {
                "url": f"{state.base_url}/repos/{repo.full_name}/pulls/{pull.number}"
            }
            items.append((pull.created_at, pull.number, body))
    items.sort(key=lambda t: (t[0], t[1]), reverse=req.query.get("direction", "desc") == "desc")
    return paginated(req, [body for _, _, body in items])


def update_issue(state: FakeState, req: Req) -> Reply:
    body = req.obj()
    repo = req.the_repo
    number = _number(repo, req)
    if number in repo.pulls:
        raise validation_failed(
            {
                "resource": "Issue",
                "code": "custom",
                "message": "edit pull requests through /pulls in this fake",
            }
        )
    issue = repo.issues[number]
    if "title" in body:
        if not isinstance(body["title"], str) or not body["title"].strip():
            raise validation_failed({"resource": "Issue", "field": "title", "code": "invalid"})
        issue.title = body["title"]
    if "body" in body:
        text = body["body"]
        if text is not None and (not isinstance(text, str) or len(text) > MAX_COMMENT_LENGTH):
            raise validation_failed({"resource": "Issue", "field": "body", "code": "invalid"})
        issue.body = text
    if "state" in body:
        if body["state"] not in ("open", "closed"):
            raise validation_failed({"resource": "Issue", "field": "state", "code": "invalid"})
        issue.state = body["state"]
        issue.closed_at = now() if issue.state == "closed" else None
    issue.updated_at = now()
    issue.edits += 1
    return Reply(body=shapes.issue(state, repo, issue))


def add_comment(state: FakeState, repo: Repo, number: int, text: str, login: str) -> Comment:
    comment = Comment(
        id=state.new_id(),
        repo=repo.key,
        issue_number=number,
        body=text,
        user=login,
        created_at=now(),
        updated_at=now(),
    )
    state.comments[comment.id] = comment
    return comment


def _comment_body(req: Req) -> str:
    text = req.obj().get("body")
    if not isinstance(text, str) or not text:
        raise validation_failed(
            {"resource": "IssueComment", "field": "body", "code": "missing_field"}
        )
    if len(text) > MAX_COMMENT_LENGTH:
        raise validation_failed(
            {
                "resource": "IssueComment",
                "code": "custom",
                "field": "body",
                "message": "body is too long (maximum is 65536 characters)",
            }
        )
    return text


def create_comment(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    number = _number(repo, req)
    comment = add_comment(state, repo, number, _comment_body(req), state.bot_login)
    return Reply(status=201, body=shapes.comment(state, repo, comment))


def list_comments(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    number = _number(repo, req)
    found = sorted(
        (c for c in state.comments.values() if c.repo == repo.key and c.issue_number == number),
        key=lambda c: c.id,
    )
    return paginated(req, [shapes.comment(state, repo, c) for c in found])


def _comment(state: FakeState, repo: Repo, req: Req) -> Comment:
    try:
        comment = state.comments.get(int(req.params["comment_id"]))
    except ValueError:
        comment = None
    if comment is None or comment.repo != repo.key:
        raise not_found()
    return comment


def get_comment(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    return Reply(body=shapes.comment(state, repo, _comment(state, repo, req)))


def update_comment(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    comment = _comment(state, repo, req)
    comment.body, comment.updated_at = _comment_body(req), now()
    return Reply(body=shapes.comment(state, repo, comment))


def delete_comment(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    comment = _comment(state, repo, req)
    del state.comments[comment.id]
    return Reply(status=204)


def create_reaction(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    comment = _comment(state, repo, req)
    content = req.obj().get("content")
    if content not in shapes.REACTIONS:
        raise validation_failed({"resource": "Reaction", "field": "content", "code": "invalid"})
    existed = (state.bot_login, content) in comment.reactions
    if not existed:
        comment.reactions.append((state.bot_login, content))
    reaction_id = comment.id * 10 + shapes.REACTIONS.index(content)
    body = {
        "id": reaction_id,
        "node_id": f"REA_{reaction_id}",
        "user": shapes.user(state, state.bot_login),
        "content": content,
        "created_at": shapes.iso(comment.created_at),
    }
    # GitHub answers 200 when this user already reacted with this content
    return Reply(status=200 if existed else 201, body=body)


def add_labels(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    number = _number(repo, req)
    body = req.body
    names = body.get("labels") if isinstance(body, dict) else body
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise ApiError(422, "Invalid request.\n\nlabels must be an array of non-empty strings.")
    current = repo.labels.setdefault(number, [])
    current.extend(n for n in names if n not in current)
    return Reply(body=shapes.labels(state, repo, current))


_I = "/repos/{owner}/{repo}/issues"
ROUTES = needing(
    ("issues", "pull_requests"),
    [
        Route("POST", _I, create_issue, "repo"),
        Route("GET", _I, list_issues, "repo"),
        Route("PATCH", f"{_I}/{{number}}", update_issue, "repo"),
        Route("GET", f"{_I}/comments/{{comment_id}}", get_comment, "repo"),
        Route("PATCH", f"{_I}/comments/{{comment_id}}", update_comment, "repo"),
        Route("DELETE", f"{_I}/comments/{{comment_id}}", delete_comment, "repo"),
        Route("POST", f"{_I}/comments/{{comment_id}}/reactions", create_reaction, "repo"),
        Route("GET", f"{_I}/{{number}}", get_issue, "repo"),
        Route("POST", f"{_I}/{{number}}/comments", create_comment, "repo"),
        Route("GET", f"{_I}/{{number}}/comments", list_comments, "repo"),
        Route("POST", f"{_I}/{{number}}/labels", add_labels, "repo"),
    ],
)
