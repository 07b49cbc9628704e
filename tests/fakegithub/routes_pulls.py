"""Pull requests: create (with GitHub's validations), list, read, edit, reviewers, merge."""

from __future__ import annotations

from typing import Any

from tests.fakegithub import shapes
from tests.fakegithub.httpkit import Reply, Req, Route, needing, paginated
from tests.fakegithub.routes_repos import is_collaborator
from tests.fakegithub.state import (
    ApiError,
    FakeState,
    PullRequest,
    Repo,
    not_found,
    now,
    validation_failed,
)


def _custom(message: str) -> ApiError:
    return validation_failed({"resource": "PullRequest", "code": "custom", "message": message})


def _branch_of(repo: Repo, spec: str) -> str:
    """``branch`` or ``owner:branch`` (same-repo heads only: the fake has no forks)."""
    owner, sep, branch = spec.partition(":")
    if not sep:
        return spec
    if owner.lower() != repo.owner.lower():
        raise validation_failed({"resource": "PullRequest", "field": "head", "code": "invalid"})
    return branch


def create_pull(state: FakeState, req: Req) -> Reply:
    body = req.obj()
    repo = req.the_repo
    title, head, base = body.get("title"), body.get("head"), body.get("base")
    if not isinstance(title, str) or not title.strip():
        raise validation_failed(
            {"resource": "PullRequest", "field": "title", "code": "missing_field"}
        )
    if not isinstance(base, str) or repo.branch_sha(base) is None:
        raise validation_failed({"resource": "PullRequest", "field": "base", "code": "invalid"})
    if not isinstance(head, str):
        raise validation_failed(
            {"resource": "PullRequest", "field": "head", "code": "missing_field"}
        )
    head_ref = _branch_of(repo, head)
    head_sha, base_sha = repo.branch_sha(head_ref), repo.branch_sha(base)
    if head_sha is None:
        raise validation_failed({"resource": "PullRequest", "field": "head", "code": "invalid"})
    assert base_sha is not None
    for other in repo.pulls.values():
        # Per head repository: a fork's PR from a branch of the same name is another head.
        if (
            other.state == "open"
            and other.head_repo is None
            and other.head_ref == head_ref
            and other.base_ref == base
        ):
            raise _custom(f"A pull request already exists for {repo.owner}:{head_ref}.")
    if head_ref == base or not repo.objects.commits_between(base_sha, head_sha):
        raise _custom(f"No commits between {base} and {head_ref}")
    draft = body.get("draft", False)
    pull = PullRequest(
        id=state.new_id(),
        number=repo.take_number(),
        title=title,
        body=body.get("body") if isinstance(body.get("body"), str) else None,
        head_ref=head_ref,
        head_sha=head_sha,
        base_ref=base,
        base_sha=base_sha,
        user=state.bot_login,  # every write through an installation token is the app's bot user
        draft=bool(draft),
        maintainer_can_modify=bool(body.get("maintainer_can_modify", False)),
        created_at=now(),
        updated_at=now(),
    )
    repo.pulls[pull.number] = pull
    return Reply(status=201, body=shapes.pull_full(state, repo, pull))


def _pull(repo: Repo, req: Req) -> PullRequest:
    try:
        number = int(req.params["number"])
    except ValueError:
        raise not_found() from None
    pull = repo.pulls.get(number)
    if pull is None:
        raise not_found()
    return pull


def list_pulls(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    wanted = req.query.get("state", "open")
    if wanted not in ("open", "closed", "all"):
        raise validation_failed({"resource": "PullRequest", "field": "state", "code": "invalid"})
    head, base = req.query.get("head"), req.query.get("base")
    pulls = [p for p in repo.pulls.values() if wanted in ("all", p.state)]
    if head:
        owner, _, branch = head.partition(":")
        # GitHub ignores a head filter without the "owner:" part; with a foreign owner: nothing
        if branch:
            pulls = [
                p
                for p in pulls
                if owner.lower() == (p.head_repo or repo.full_name).split("/")[0].lower()
                and p.head_ref == branch
            ]
    if base:
        pulls = [p for p in pulls if p.base_ref == base]
    reverse = req.query.get("direction", "desc") == "desc"
    key = "updated_at" if req.query.get("sort") == "updated" else "created_at"
    pulls.sort(key=lambda p: (getattr(p, key), p.number), reverse=reverse)
    return paginated(req, [shapes.pull(state, repo, p) for p in pulls])


def get_pull(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    return Reply(body=shapes.pull_full(state, repo, _pull(repo, req)))


def update_pull(state: FakeState, req: Req) -> Reply:
    body = req.obj()
    repo = req.the_repo
    pull = _pull(repo, req)
    if "title" in body:
        if not isinstance(body["title"], str) or not body["title"].strip():
            raise validation_failed(
                {"resource": "PullRequest", "field": "title", "code": "invalid"}
            )
        pull.title = body["title"]
    if "body" in body:
        pull.body = body["body"] if isinstance(body["body"], str) else None
    if "base" in body:
        _change_base(repo, pull, body["base"])
    if "state" in body:
        _change_state(repo, pull, body["state"])
    pull.updated_at = now()
    return Reply(body=shapes.pull_full(state, repo, pull))


def _change_base(repo: Repo, pull: PullRequest, base: Any) -> None:
    sha = repo.branch_sha(base) if isinstance(base, str) else None
    if sha is None:
        raise validation_failed({"resource": "PullRequest", "field": "base", "code": "invalid"})
    pull.base_ref, pull.base_sha = base, sha


def _change_state(repo: Repo, pull: PullRequest, wanted: Any) -> None:
    if wanted not in ("open", "closed"):
        raise validation_failed({"resource": "PullRequest", "field": "state", "code": "invalid"})
    if pull.merged_at is not None and wanted == "open":
        raise _custom("Cannot reopen a merged pull request")
    if wanted == "open" and pull.state == "closed":
        sha = repo.branch_sha(pull.head_ref)
        if sha is None:
            raise _custom("The head branch was deleted; the pull request cannot be reopened")
        pull.head_sha = sha
        pull.closed_at = None
    elif wanted == "closed" and pull.state == "open":
        pull.closed_at = now()
    pull.state = wanted


def pull_commits(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    pull = _pull(repo, req)
    store = repo.objects
    commits = store.commits_between(store.merge_base(pull.base_sha, pull.head_sha), pull.head_sha)
    return paginated(req, [shapes.rest_commit(state, repo, c) for c in commits])


def request_reviewers(state: FakeState, req: Req) -> Reply:
    body = req.obj()
    repo = req.the_repo
    pull = _pull(repo, req)
    reviewers = body.get("reviewers", [])
    if not isinstance(reviewers, list) or not all(isinstance(r, str) for r in reviewers):
        raise validation_failed(
            {"resource": "PullRequest", "field": "reviewers", "code": "invalid"}
        )
    for login in reviewers:
        if login == pull.user:
            raise _custom("Review cannot be requested from pull request author.")
        if not is_collaborator(repo, login):
            raise _custom(
                "Reviews may only be requested from collaborators. One or more of the users or "
                "teams you specified is not a collaborator of the "
                f"{repo.full_name} repository."
            )
        if login not in pull.requested_reviewers:
            pull.requested_reviewers.append(login)
    return Reply(status=201, body=shapes.pull_full(state, repo, pull))


def merge_pull(state: FakeState, req: Req) -> Reply:
    body = req.obj()
    repo = req.the_repo
    pull = _pull(repo, req)
    method = body.get("merge_method", "merge")
    if method not in ("merge", "squash", "rebase"):
        raise validation_failed(
            {"resource": "PullRequest", "field": "merge_method", "code": "invalid"}
        )
    if body.get("sha") not in (None, pull.head_sha):
        raise ApiError(409, "Head branch was modified. Review and try the merge again.")
    if pull.draft:
        raise ApiError(405, "Pull Request is still a draft")
    sha = state.merge(
        repo,
        pull,
        login=state.bot_login,
        method=method,
        title=body.get("commit_title") if isinstance(body.get("commit_title"), str) else None,
        message=body.get("commit_message") if isinstance(body.get("commit_message"), str) else None,
    )
    return Reply(body={"sha": sha, "merged": True, "message": "Pull Request successfully merged"})


def list_files(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    files = shapes.pull_files(repo, _pull(repo, req))
    return paginated(req, [shapes.file_change(repo, f) for f in files])


def update_branch(state: FakeState, req: Req) -> Reply:
    """Merge the base branch into the head branch (GitHub's "update a pull request branch")."""
    body = req.obj()
    repo = req.the_repo
    pull = _pull(repo, req)
    expected = body.get("expected_head_sha")
    if expected is not None and expected != pull.head_sha:
        raise validation_failed(
            {
                "resource": "PullRequest",
                "code": "custom",
                "message": "expected head sha didn't match current head ref.",
            }
        )
    base_sha = repo.branch_sha(pull.base_ref)
    if pull.state != "open" or base_sha is None:
        raise _custom("Pull request is not open")
    if base_sha in repo.objects.ancestors(pull.head_sha):
        raise _custom("There are no new commits on the base branch.")
    try:
        merged = state.merged_flat(repo, pull.head_sha, base_sha)
    except ApiError:
        raise _custom("merge conflict between base and head") from None
    commit = state.write_commit(
        repo,
        flat=merged,
        parents=(pull.head_sha, base_sha),
        message=f"Merge branch '{pull.base_ref}' into {pull.head_ref}",
        login=state.bot_login,
        verified=True,
    )
    state.set_ref(repo, f"refs/heads/{pull.head_ref}", commit.sha)
    return Reply(
        status=202,
        body={
            "message": "Updating pull request branch.",
            "url": f"{shapes.HTML}/{repo.full_name}/pull/{pull.number}",
        },
    )


def is_merged(state: FakeState, req: Req) -> Reply:
    pull = _pull(req.the_repo, req)
    if pull.merged_at is None:
        raise not_found()
    return Reply(status=204)


_P = "/repos/{owner}/{repo}/pulls"
ROUTES = needing(
    ("pull_requests",),
    [
        Route("POST", _P, create_pull, "repo"),
        Route("GET", _P, list_pulls, "repo"),
        Route("GET", f"{_P}/{{number}}", get_pull, "repo"),
        Route("PATCH", f"{_P}/{{number}}", update_pull, "repo"),
        Route("GET", f"{_P}/{{number}}/commits", pull_commits, "repo"),
        Route("GET", f"{_P}/{{number}}/files", list_files, "repo"),
        Route("POST", f"{_P}/{{number}}/requested_reviewers", request_reviewers, "repo"),
        Route("PUT", f"{_P}/{{number}}/merge", merge_pull, "repo"),
        Route("PUT", f"{_P}/{{number}}/update-branch", update_branch, "repo"),
        Route("GET", f"{_P}/{{number}}/merge", is_merged, "repo"),
    ],
)
