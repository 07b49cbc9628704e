"""The HTTP layer shared by every route: requests in, GitHub-shaped responses out.

Route handlers are plain synchronous functions ``(state, req) -> Reply`` run under the state lock;
everything GitHub does to *every* response (auth, rate-limit headers, ETags, pagination links,
fault injection, the call log) lives here, once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import secrets
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tests.fakegithub.auth import (
    Credentials,
    installation_from_token,
    parse_authorization,
    repo_for_token,
    verify_app_jwt,
)
from tests.fakegithub.limits import WRITE_METHODS, retry_after_header
from tests.fakegithub.state import (
    ApiError,
    Call,
    FakeState,
    Injection,
    Installation,
    RateBucket,
    Repo,
    now,
)

JSON_TYPE = "application/json; charset=utf-8"
SECONDARY_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID {request_id}."
)
SECONDARY_LIMIT_DOCS = (
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
)
PRIMARY_LIMIT_DOCS = (
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
    "#about-the-rate-limit-for-github-apps"
)
ANONYMOUS_LIMIT = 60
MAX_BODY_BYTES = 100 * 1024 * 1024
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
_BODY_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


@dataclass
class Req:
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    creds: Credentials
    base_url: str
    installation: Installation | None = None
    repo: Repo | None = None

    def obj(self) -> dict[str, Any]:
        """The JSON body as an object; GitHub refuses anything else with a 400."""
        if not isinstance(self.body, dict):
            raise ApiError(400, "Problems parsing JSON")
        return self.body

    @property
    def the_repo(self) -> Repo:
        assert self.repo is not None, "route registered without repo auth"
        return self.repo


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # non-JSON payloads (tarballs)


Handler = Callable[[FakeState, Req], Reply]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    handler: Handler
    auth: str  # "app" | "installation" | "repo" | "public"
    # installation permission(s) the route needs ("read" for GET, else "write"); any one suffices
    permissions: tuple[str, ...] = ()


def needing(permissions: tuple[str, ...], routes: list[Route]) -> list[Route]:
    """``routes`` needing one of ``permissions`` wherever a route does not name its own."""
    return [r if r.permissions else replace(r, permissions=permissions) for r in routes]


def paginated(req: Req, items: list[Any], wrap: Callable[[list[Any]], Any] | None = None) -> Reply:
    """One page of ``items`` with GitHub's Link header (first/prev/next/last, absolute URLs)."""
    per_page = _int_param(req.query.get("per_page"), DEFAULT_PER_PAGE)
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    page = max(_int_param(req.query.get("page"), 1), 1)
    last = max((len(items) + per_page - 1) // per_page, 1)
    chunk = items[(page - 1) * per_page : page * per_page]

    def link(target: int) -> str:
        query = dict(req.query) | {"per_page": str(per_page), "page": str(target)}
        return f"<{req.base_url}{req.path}?{urlencode(query)}>"

    parts = []
    if page > 1:
        parts.append(f'{link(min(page - 1, last))}; rel="prev"')
    if page < last:
        parts += [f'{link(page + 1)}; rel="next"', f'{link(last)}; rel="last"']
    if page > 1:
        parts.append(f'{link(1)}; rel="first"')
    headers = {"Link": ", ".join(parts)} if parts else {}
    return Reply(body=wrap(chunk) if wrap else chunk, headers=headers)


def _int_param(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


# --- the application ---------------------------------------------------------------------------


def build_app(state: FakeState, routes: list[Route]) -> web.Application:
    # GitHub takes blobs up to 100 MB; aiohttp's default 1 MB body limit would refuse them
    app = web.Application(middlewares=[_middleware(state)], client_max_size=MAX_BODY_BYTES)
    for route in routes:
        app.router.add_route(route.method, route.pattern, _adapt(state, route))
    return app


def _adapt(state: FakeState, route: Route) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.StreamResponse:
        body = await _read_json(request)
        req = Req(
            method=request.method,
            path=request.path,
            params=dict(request.match_info),
            query=dict(request.query),
            body=body,
            creds=parse_authorization(request.headers.get("Authorization")),
            base_url=state.base_url,
        )
        with state.lock:
            _authenticate(state, route, req)
            reply = route.handler(state, req)
        return _render(reply)

    return handle


async def _read_json(request: web.Request) -> Any:
    if request.method not in _BODY_METHODS:
        return None
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "Problems parsing JSON") from None


def _authenticate(state: FakeState, route: Route, req: Req) -> None:
    if route.auth == "app":
        verify_app_jwt(state, req.creds)
    elif route.auth == "installation":
        req.installation = installation_from_token(state, req.creds)
    elif route.auth == "repo":
        req.repo = repo_for_token(
            state, req.creds, req.params["owner"], req.params["repo"], req.method
        )
        req.installation = installation_from_token(state, req.creds)
        if req.repo.key in req.installation.repos:  # permissions govern installed repos
            _check_access(route, req.method, req.repo, req.installation)


_LEVELS = {"read": 1, "write": 2, "admin": 3}


def _check_access(route: Route, method: str, repo: Repo, installation: Installation) -> None:
    writing = method != "GET"
    if route.permissions:
        needed = _LEVELS["write" if writing else "read"]
        granted = max(
            _LEVELS.get(installation.permissions.get(p, ""), 0) for p in route.permissions
        )
        if granted < needed:
            # GitHub names the permission(s) that would have worked, e.g. "contents=write"
            level = "write" if writing else "read"
            accepted = "; ".join(f"{p}={level}" for p in route.permissions)
            raise ApiError(
                403,
                "Resource not accessible by integration",
                headers={"x-accepted-github-permissions": accepted},
                documentation_url="https://docs.github.com/rest",
            )
    if writing and repo.archived:
        raise ApiError(403, "Repository was archived so is read-only.")


def _render(reply: Reply) -> web.Response:
    if reply.raw is not None:
        return web.Response(status=reply.status, body=reply.raw, headers=reply.headers)
    if reply.status in (204, 304) or (reply.body is None and reply.status >= 300):
        return web.Response(
            status=reply.status, headers=reply.headers | {"Content-Type": JSON_TYPE}
        )
    return json_response(reply.status, reply.body, reply.headers)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    payload = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
    return web.Response(
        status=status, body=payload, headers=(headers or {}) | {"Content-Type": JSON_TYPE}
    )


def _error_response(error: ApiError) -> web.Response:
    return json_response(error.status, error.body(), error.headers)


def _token_installation(state: FakeState, creds: Credentials) -> int | None:
    token = state.tokens.get(creds.value) if creds.kind == "token" else None
    return token.installation_id if token is not None else None


def _bucket_key(state: FakeState, creds: Credentials) -> str:
    if creds.kind == "token":
        # GitHub counts an installation's requests together, whichever of its tokens made them
        installation_id = _token_installation(state, creds)
        return f"installation:{installation_id}" if installation_id else f"token:{creds.value}"
    return "app" if creds.kind == "jwt" else "anonymous"


def rate_bucket(state: FakeState, creds: Credentials) -> RateBucket:
    key = _bucket_key(state, creds)
    bucket = state.buckets.get(key)
    if bucket is None or bucket.reset_at <= now():
        limit = ANONYMOUS_LIMIT if key == "anonymous" else state.rate_limit
        bucket = RateBucket(limit=limit, used=0, reset_at=now() + 3600)
        state.buckets[key] = bucket
    return bucket


def _rate_headers(bucket: RateBucket) -> dict[str, str]:
    return {
        "x-ratelimit-limit": str(bucket.limit),
        "x-ratelimit-remaining": str(bucket.remaining),
        "x-ratelimit-used": str(bucket.used),
        "x-ratelimit-reset": str(int(bucket.reset_at)),
        "x-ratelimit-resource": "core",
    }


def _take_injection(state: FakeState, method: str, path: str) -> Injection | None:
    with state.lock:
        for injection in state.injections:
            if injection.matches(method, path):
                if injection.times is not None:
                    injection.times -= 1
                return injection
    return None


def _injected_response(injection: Injection, request_id: str) -> web.Response:
    if injection.content_type is not None:
        raw = injection.body if isinstance(injection.body, bytes) else str(injection.body).encode()
        return web.Response(
            status=injection.status or 200, body=raw, content_type=injection.content_type
        )
    body = injection.body
    if body is None:
        body = {"message": _default_message(injection.status or 500, request_id)}
        body["documentation_url"] = (
            SECONDARY_LIMIT_DOCS
            if injection.status in (403, 429)
            else "https://docs.github.com/rest"
        )
    return json_response(injection.status or 500, body)


def _default_message(status: int, request_id: str) -> str:
    if status in (403, 429):
        return SECONDARY_LIMIT_MESSAGE.format(request_id=request_id)
    return {
        500: "Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "We couldn't respond to your request in time. Sorry about that.",
        404: "Not Found",
    }.get(status, "Error")


def _etag(payload: bytes) -> str:
    return '"' + hashlib.sha256(payload).hexdigest() + '"'


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = [c.strip().removeprefix("W/") for c in header.split(",")]
    return "*" in candidates or etag in candidates


def _middleware(state: FakeState) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        request_id = secrets.token_hex(8).upper()
        creds = parse_authorization(request.headers.get("Authorization"))
        generation = state.generation
        response = await _respond(state, request, handler, creds, request_id)
        response.headers["x-github-request-id"] = request_id
        response.headers.setdefault("x-github-api-version-selected", "2022-11-28")
        with state.lock:
            if state.generation != generation:
                # a request that outlived its test (a slow answer) must not show up in the
                # next test's call log
                return response
            state.calls.append(
                Call(
                    method=request.method,
                    path=request.path,
                    query=dict(request.query),
                    status=response.status,
                    auth=creds.kind,
                    installation_id=_token_installation(state, creds),
                )
            )
        return response

    return middleware


async def _respond(
    state: FakeState, request: web.Request, handler: Any, creds: Credentials, request_id: str
) -> web.StreamResponse:
    codeload = request.path.startswith(("/_codeload/", "/_blobs/"))  # signed URLs, no API
    injection = _take_injection(state, request.method, request.path)
    if injection is not None and injection.delay > 0:
        # GitHub has the whole request before it is slow to answer: a client that gives up
        # waiting does not undo the write (its body is read now; the handler gets it cached).
        if request.method in _BODY_METHODS:
            await request.read()
        await _sleep_unless_reset(state, injection.delay)
    with state.lock:
        bucket = rate_bucket(state, creds)
        rate = _rate_headers(bucket)
    if injection is not None and injection.status is not None and not injection.after:
        response = _injected_response(injection, request_id)
        response.headers.update(rate)
        response.headers.update(injection.headers)
        return response
    fault = _chaos(state)
    if fault == "timeout":  # done, but answered after the client gave up
        if request.method in _BODY_METHODS:
            await request.read()
        assert state.chaos is not None
        await _sleep_unless_reset(state, state.chaos.timeout_delay)
    elif fault == "server_error":
        with state.lock:
            status = state.chaos.status() if state.chaos else 502
        return json_response(status, {"message": _default_message(status, request_id)}, dict(rate))
    elif fault == "secondary":
        body = {
            "message": SECONDARY_LIMIT_MESSAGE.format(request_id=request_id),
            "documentation_url": SECONDARY_LIMIT_DOCS,
        }
        return json_response(403, body, rate | {"Retry-After": "1"})
    if bucket.remaining <= 0 and not codeload and request.path != "/rate_limit":
        return _rate_exhausted(creds, rate)
    writer = _token_installation(state, creds) if request.method in WRITE_METHODS else None
    if writer is not None:
        with state.lock:
            wait = state.ledger.admit(writer, request.method, request.path, now())
            if wait is None:
                state.ledger.started(writer)
        if wait is not None:
            return _content_limited(request_id, wait, rate)
    try:
        if state.latency is not None:  # GitHub's own time to answer (a realistic 50-150 ms)
            await _sleep_unless_reset(state, random.uniform(*state.latency))
        response = await _run(state, handler, request)
    finally:
        if writer is not None:
            with state.lock:
                state.ledger.finished(writer)
    if injection is not None and injection.status is not None and injection.after:
        response = _injected_response(injection, request_id)  # done, but the answer is lost
    response = _apply_etag(request, response)
    with state.lock:
        # a 304 and the rate-limit endpoint itself do not count against the limit, like GitHub
        if response.status != 304 and request.path != "/rate_limit" and not codeload:
            bucket.used += 1
        rate = _rate_headers(bucket)
    if not codeload:
        response.headers.update(rate)
    return response


def _chaos(state: FakeState) -> str | None:
    with state.lock:
        return state.chaos.pick() if state.chaos is not None else None


async def _sleep_unless_reset(state: FakeState, delay: float) -> None:
    # a slow answer must not outlive its test: reset() (between tests) cuts the wait short
    generation = state.generation
    deadline = asyncio.get_running_loop().time() + delay
    while state.generation == generation:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            return
        await asyncio.sleep(min(left, 0.05))


def _content_limited(request_id: str, wait: float, rate: dict[str, str]) -> web.Response:
    """GitHub's answer to too much content too fast: 403, "secondary rate limit", Retry-After."""
    body = {
        "message": SECONDARY_LIMIT_MESSAGE.format(request_id=request_id),
        "documentation_url": SECONDARY_LIMIT_DOCS,
    }
    return json_response(403, body, rate | {"Retry-After": retry_after_header(wait)})


def _rate_exhausted(creds: Credentials, rate: dict[str, str]) -> web.Response:
    who = "installation" if creds.kind == "token" else "this client"
    body = {
        "message": f"API rate limit exceeded for {who}.",
        "documentation_url": PRIMARY_LIMIT_DOCS,
    }
    return json_response(403, body, rate)


async def _run(state: FakeState, handler: Any, request: web.Request) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return _error_response(error)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        return _error_response(ApiError(404, "Not Found"))
    except web.HTTPException:
        raise
    except Exception:
        # a bug in the fake must not pass for a GitHub 500 that a client would retry: keep it
        # so the pytest fixture can fail the test that hit it
        state.internal_errors.append(f"{request.method} {request.path}\n{traceback.format_exc()}")
        return _error_response(ApiError(500, "Fake GitHub crashed (see fake.internal_errors)"))


def _apply_etag(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    if request.method != "GET" or response.status != 200 or not isinstance(response, web.Response):
        return response
    if response.body is None or not isinstance(response.body, bytes):
        return response
    if response.headers.get("Content-Type", JSON_TYPE) != JSON_TYPE:
        return response
    etag = _etag(response.body)
    if _etag_matches(request.headers.get("If-None-Match"), etag):
        kept = {k: v for k, v in response.headers.items() if k.lower() == "link"}
        return web.Response(status=304, headers=kept | {"ETag": etag})
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "private, max-age=60, s-maxage=60"
    response.headers["Vary"] = "Accept, Authorization, Cookie, X-GitHub-OTP"
    return response
