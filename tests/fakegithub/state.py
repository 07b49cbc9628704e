"""The fake's world: installations, tokens, repositories with git data, pulls, comments, checks.

All of it is guarded by one re-entrant lock: the server thread's handlers and the test thread's
helpers both take it, and no critical section ever awaits, so neither side can see a half-made
change.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.fakegithub.chaos import Chaos
from tests.fakegithub.gitobjects import Commit, ObjectStore, Signature, three_way_merge
from tests.fakegithub.limits import WriteLedger

PERMISSION_LEVELS = ("admin", "maintain", "write", "triage", "read", "none")
DEFAULT_TOKEN_LIFETIME = 3600.0
DEFAULT_RATE_LIMIT = 5000
APP_SLUG = "patchwell"
BOT_LOGIN = f"{APP_SLUG}[bot]"


class ApiError(Exception):
    """A GitHub-shaped error answer (raised by handlers, rendered by the HTTP layer)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        documentation_url: str = "https://docs.github.com/rest",
    ) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}
        self.documentation_url = documentation_url

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message}
        if self.errors is not None:
            out["errors"] = self.errors
        out["documentation_url"] = self.documentation_url
        out["status"] = str(self.status)
        return out


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def validation_failed(*errors: dict[str, Any]) -> ApiError:
    return ApiError(422, "Validation Failed", errors=list(errors))


@dataclass
class Installation:
    id: int
    account_login: str
    account_type: str
    repos: set[str]  # lower-case "owner/name"
    permissions: dict[str, str]
    created_at: float
    suspended_at: float | None = None


@dataclass
class Token:
    value: str
    installation_id: int
    expires_at: float


@dataclass
class CodeloadTicket:
    """The short-lived token in a tarball redirect URL (codeload needs no Authorization)."""

    repo: str
    sha: str
    expires_at: float


@dataclass
class PullRequest:
    id: int
    number: int
    title: str
    body: str | None
    head_ref: str
    head_sha: str
    base_ref: str
    base_sha: str
    user: str
    draft: bool
    maintainer_can_modify: bool
    created_at: float
    updated_at: float
    state: str = "open"
    closed_at: float | None = None
    merged_at: float | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    requested_reviewers: list[str] = field(default_factory=list)
    #: "owner/name" of the fork the head branch lives in; None for a same-repository PR.
    head_repo: str | None = None


@dataclass
class Issue:
    id: int
    number: int
    title: str
    body: str | None
    user: str
    created_at: float
    state: str = "open"
    updated_at: float | None = None
    closed_at: float | None = None
    edits: int = 0  # PATCH requests through the API


@dataclass
class Comment:
    id: int
    repo: str
    issue_number: int
    body: str
    user: str
    created_at: float
    updated_at: float
    reactions: list[tuple[str, str]] = field(default_factory=list)  # (user, content)


@dataclass
class CheckRun:
    id: int
    repo: str
    name: str
    head_sha: str
    status: str
    conclusion: str | None
    started_at: float
    completed_at: float | None
    details_url: str | None
    external_id: str | None
    output: dict[str, Any]
    annotations: list[dict[str, Any]] = field(default_factory=list)
    #: the app that owns the run: None for Patchwell, else e.g. "github-actions"
    app_slug: str | None = None


@dataclass
class WorkflowJob:
    """One job of a workflow run. Its check run has the same id (annotations live there)."""

    id: int
    run_id: int
    repo: str
    name: str
    head_sha: str
    head_branch: str
    status: str
    conclusion: str | None
    steps: list[dict[str, Any]]
    labels: list[str]
    run_attempt: int
    workflow_name: str
    started_at: float
    completed_at: float | None
    log: bytes | None = None  # None until the job completes; then its text
    log_gone: bool = False  # deleted or past retention: the API answers 410


@dataclass
class WorkflowRun:
    id: int
    repo: str
    name: str
    path: str
    workflow_id: int
    head_sha: str
    head_branch: str
    event: str
    status: str
    conclusion: str | None
    run_attempt: int
    pull_numbers: list[int]
    created_at: float
    head_repo: str | None = None  # "owner/name" of a fork; None for the repository itself


@dataclass
class LogTicket:
    """The short-lived signature in a job-log redirect (blob storage needs no token)."""

    job_id: int
    expires_at: float


@dataclass
class Repo:
    id: int
    owner: str
    name: str
    owner_type: str
    private: bool
    default_branch: str
    created_at: float
    archived: bool = False
    fork: bool = False
    objects: ObjectStore = field(default_factory=ObjectStore)
    refs: dict[str, str] = field(default_factory=dict)  # "refs/heads/main" -> sha
    pulls: dict[int, PullRequest] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)
    labels: dict[int, list[str]] = field(default_factory=dict)
    permissions: dict[str, str] = field(default_factory=dict)
    next_number: int = 1
    pushed_at: float | None = None

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def key(self) -> str:
        return self.full_name.lower()

    def branch_sha(self, branch: str) -> str | None:
        return self.refs.get(f"refs/heads/{branch}")

    def resolve(self, ref: str) -> str | None:
        """A commit sha for a branch, tag, ``heads/x``, ``refs/...`` or a (short) commit sha."""
        for candidate in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}", f"refs/{ref}"):
            if candidate in self.refs:
                return self.refs[candidate]
        if re.fullmatch(r"[0-9a-f]{7,40}", ref):
            matches = [s for s in self.objects.commits if s.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
        return None

    def take_number(self) -> int:
        number = self.next_number
        self.next_number += 1
        return number


@dataclass(frozen=True)
class Call:
    """One request as the fake saw it (benchmarks count these)."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    auth: str  # "jwt" | "token" | "none" | "invalid"
    installation_id: int | None = None  # whose token made the call (None: not a valid token)


@dataclass
class Injection:
    method: str
    path_regex: re.Pattern[str]
    status: int | None  # None: answer normally after the delay
    times: int | None  # None: forever
    headers: dict[str, str]
    body: Any
    delay: float
    #: The request is carried out first, then answered with ``status``: the write happened
    #: but the client never learns it (a proxy's 502, a connection cut after the commit).
    after: bool = False
    #: A raw body with this content type instead of JSON (a 200 that is not JSON).
    content_type: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        return self.method in ("*", method.upper()) and bool(self.path_regex.search(path))


@dataclass
class RateBucket:
    limit: int
    used: int
    reset_at: float

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)


def now() -> float:
    return time.time()


@dataclass
class FakeState:
    """Everything the fake knows; mutate only while holding ``lock``."""

    app_id: int
    public_key_pem: str
    client_id: str = ""
    base_url: str = ""
    lock: threading.RLock = field(default_factory=threading.RLock)
    token_lifetime: float = DEFAULT_TOKEN_LIFETIME
    rate_limit: int = DEFAULT_RATE_LIMIT
    tokens_issued: int = 0
    installations: dict[int, Installation] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    tickets: dict[str, CodeloadTicket] = field(default_factory=dict)
    repos: dict[str, Repo] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    check_runs: dict[int, CheckRun] = field(default_factory=dict)
    workflow_runs: dict[int, WorkflowRun] = field(default_factory=dict)
    workflow_jobs: dict[int, WorkflowJob] = field(default_factory=dict)
    log_tickets: dict[str, LogTicket] = field(default_factory=dict)
    review_comments: dict[int, Any] = field(default_factory=dict)  # routes_reviews
    #: how long a job-log download URL works (GitHub: about a minute)
    log_url_lifetime: float = 60.0
    calls: list[Call] = field(default_factory=list)
    injections: list[Injection] = field(default_factory=list)
    buckets: dict[str, RateBucket] = field(default_factory=dict)
    user_ids: dict[str, int] = field(default_factory=dict)
    internal_errors: list[str] = field(default_factory=list)
    generation: int = 0  # bumped by reset(); lets in-flight slow answers notice a new test
    app_slug: str = APP_SLUG  # GET /app's slug; the app's writes are by "<slug>[bot]"
    manifest_codes: dict[str, Any] = field(default_factory=dict)  # code -> PendingApp
    created_apps: dict[int, dict[str, Any]] = field(default_factory=dict)  # from manifests
    ledger: WriteLedger = field(default_factory=WriteLedger)  # content writes and their limits
    latency: tuple[float, float] | None = None  # seconds each answer takes (low, high)
    chaos: Chaos | None = None  # random faults (see chaos.py)
    _next_id: int = 1000

    def reset(self) -> None:
        with self.lock:
            self.generation += 1
            self.token_lifetime = DEFAULT_TOKEN_LIFETIME
            self.rate_limit = DEFAULT_RATE_LIMIT
            self.app_slug = APP_SLUG
            self.log_url_lifetime = 60.0
            self.tokens_issued = 0
            for table in (
                self.installations,
                self.tokens,
                self.tickets,
                self.repos,
                self.comments,
                self.check_runs,
                self.workflow_runs,
                self.workflow_jobs,
                self.log_tickets,
                self.review_comments,
                self.buckets,
                self.user_ids,
                self.manifest_codes,
                self.created_apps,
            ):
                table.clear()
            self.calls.clear()
            self.ledger.clear()
            self.latency = None
            self.chaos = None
            self.injections.clear()
            self.internal_errors.clear()

    @property
    def bot_login(self) -> str:
        return f"{self.app_slug}[bot]"

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def user_id(self, login: str) -> int:
        if login not in self.user_ids:
            self.user_ids[login] = self.new_id()
        return self.user_ids[login]

    # --- lookups ------------------------------------------------------------------------------

    def repo(self, owner: str, name: str) -> Repo:
        repo = self.repos.get(f"{owner}/{name}".lower())
        if repo is None:
            raise not_found()
        return repo

    def installation_for(self, repo: Repo) -> Installation | None:
        return next((i for i in self.installations.values() if repo.key in i.repos), None)

    def commit(self, repo: Repo, ref: str) -> Commit:
        sha = repo.resolve(ref)
        if sha is None:
            raise ApiError(422, f"No commit found for SHA: {ref}")
        return repo.objects.commits[sha]

    # --- refs ---------------------------------------------------------------------------------

    def set_ref(self, repo: Repo, ref: str, sha: str | None) -> None:
        """Move (or delete, for None) a ref; open pulls follow their branches like on GitHub."""
        if sha is None:
            repo.refs.pop(ref, None)
        else:
            repo.refs[ref] = sha
            repo.pushed_at = now()
        if not ref.startswith("refs/heads/"):
            return
        branch = ref.removeprefix("refs/heads/")
        for pull in repo.pulls.values():
            if pull.state != "open":
                continue
            if pull.head_ref == branch and pull.head_repo is None:
                if sha is None:  # deleting a head branch closes its pull request
                    pull.state, pull.closed_at = "closed", now()
                else:
                    pull.head_sha = sha
                pull.updated_at = now()
            if pull.base_ref == branch and sha is not None:
                pull.base_sha = sha

    def write_commit(
        self,
        repo: Repo,
        *,
        flat: dict[str, tuple[str, str]],
        parents: tuple[str, ...],
        message: str,
        login: str,
        verified: bool,
    ) -> Commit:
        stamp = int(now())
        email = f"{self.user_id(login)}+{login}@users.noreply.github.com"
        who = Signature(login, email, stamp)
        return repo.objects.put_commit(
            tree=repo.objects.build(flat),
            parents=parents,
            message=message,
            author=who,
            committer=who,
            author_login=login,
            committer_login=login,
            verified=verified,
        )

    # --- merging ------------------------------------------------------------------------------

    def merged_flat(self, repo: Repo, base_sha: str, head_sha: str) -> dict[str, tuple[str, str]]:
        store = repo.objects
        merge_base = store.merge_base(base_sha, head_sha)
        base_flat = store.flatten(store.commits[merge_base].tree) if merge_base else {}
        ours = store.flatten(store.commits[base_sha].tree)
        theirs = store.flatten(store.commits[head_sha].tree)
        merged = three_way_merge(base_flat, ours, theirs)
        if merged is None:
            raise ApiError(405, "Pull Request is not mergeable")
        return merged

    def mergeable(self, repo: Repo, pull: PullRequest) -> bool:
        try:
            self.merged_flat(repo, pull.base_sha, pull.head_sha)
        except ApiError:
            return False
        return True

    def merge(
        self,
        repo: Repo,
        pull: PullRequest,
        *,
        login: str,
        method: str = "merge",
        title: str | None = None,
        message: str | None = None,
    ) -> str:
        """Merge ``pull`` into its base branch; returns the new base head sha."""
        if pull.state != "open":
            raise ApiError(405, "Pull Request is not mergeable")
        base_sha = repo.branch_sha(pull.base_ref)
        if base_sha is None:
            raise ApiError(405, "Base branch was deleted")
        merged = self.merged_flat(repo, base_sha, pull.head_sha)
        if method == "merge":
            default_title = f"Merge pull request #{pull.number} from {repo.owner}/{pull.head_ref}"
            parents: tuple[str, ...] = (base_sha, pull.head_sha)
        else:  # squash and rebase both land one new commit on the base in this fake
            default_title = f"{pull.title} (#{pull.number})"
            parents = (base_sha,)
        text = title or default_title
        if message:
            text = f"{text}\n\n{message}"
        commit = self.write_commit(
            repo, flat=merged, parents=parents, message=text, login=login, verified=True
        )
        self.set_ref(repo, f"refs/heads/{pull.base_ref}", commit.sha)
        pull.state, pull.closed_at, pull.merged_at = "closed", now(), now()
        pull.merged_by, pull.merge_commit_sha = login, commit.sha
        pull.updated_at = now()
        return commit.sha
