"""App-level endpoints: the app itself, installations, installation tokens, rate limit."""

from __future__ import annotations

from tests.fakegithub import shapes
from tests.fakegithub.auth import SUSPENDED_MESSAGE, issue_token
from tests.fakegithub.httpkit import Reply, Req, Route, paginated, rate_bucket
from tests.fakegithub.state import ApiError, FakeState, not_found


def get_app(state: FakeState, req: Req) -> Reply:
    return Reply(body=shapes.app(state))


def list_installations(state: FakeState, req: Req) -> Reply:
    items = [
        shapes.installation(state, i)
        for i in sorted(state.installations.values(), key=lambda i: i.id)
    ]
    return paginated(req, items)


def _installation_id(req: Req) -> int:
    try:
        return int(req.params["installation_id"])
    except ValueError:
        raise not_found() from None


def get_installation(state: FakeState, req: Req) -> Reply:
    installation = state.installations.get(_installation_id(req))
    if installation is None:
        raise not_found()
    return Reply(body=shapes.installation(state, installation))


def create_access_token(state: FakeState, req: Req) -> Reply:
    installation = state.installations.get(_installation_id(req))
    if installation is None:
        raise ApiError(404, "Not Found")
    if installation.suspended_at is not None:
        raise ApiError(403, SUSPENDED_MESSAGE)
    token = issue_token(state, installation)
    return Reply(
        status=201,
        body={
            "token": token.value,
            "expires_at": shapes.iso(token.expires_at),
            "permissions": dict(installation.permissions),
            "repository_selection": "selected",
        },
    )


def repo_installation(state: FakeState, req: Req) -> Reply:
    repo = state.repo(req.params["owner"], req.params["repo"])
    installation = state.installation_for(repo)
    if installation is None:
        raise not_found()
    return Reply(body=shapes.installation(state, installation))


def installation_repositories(state: FakeState, req: Req) -> Reply:
    assert req.installation is not None
    repos = sorted(
        (r for r in state.repos.values() if r.key in req.installation.repos), key=lambda r: r.id
    )
    items = [shapes.repo(state, r) for r in repos]
    return paginated(
        req, items, wrap=lambda page: {"total_count": len(items), "repositories": page}
    )


def rate_limit(state: FakeState, req: Req) -> Reply:
    bucket = rate_bucket(state, req.creds)
    core = {
        "limit": bucket.limit,
        "used": bucket.used,
        "remaining": bucket.remaining,
        "reset": int(bucket.reset_at),
    }
    return Reply(body={"resources": {"core": core}, "rate": core})


def get_user(state: FakeState, req: Req) -> Reply:
    login = req.params["login"]
    known = {r.owner.lower(): r.owner_type for r in state.repos.values()}
    return Reply(body=shapes.user(state, login, known.get(login.lower())))


ROUTES = [
    Route("GET", "/users/{login}", get_user, "public"),
    Route("GET", "/app", get_app, "app"),
    Route("GET", "/app/installations", list_installations, "app"),
    Route("GET", "/app/installations/{installation_id}", get_installation, "app"),
    Route("POST", "/app/installations/{installation_id}/access_tokens", create_access_token, "app"),
    Route("GET", "/repos/{owner}/{repo}/installation", repo_installation, "app"),
    Route("GET", "/installation/repositories", installation_repositories, "installation"),
    Route("GET", "/rate_limit", rate_limit, "public"),
]
