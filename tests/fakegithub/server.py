"""FakeGitHub: the server in a background thread, plus thread-safe helpers for tests.

The server has its own event loop in its own thread so that sync clients (PyGithub), async tests
on pytest's loop and subprocesses (``patchwell worker``) can all reach it at ``.url``.
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakegithub import (
    manifests,
    routes_actions,
    routes_app,
    routes_checks,
    routes_git,
    routes_issues,
    routes_pulls,
    routes_repos,
    routes_reviews,
    shapes,
)
from tests.fakegithub.chaos import Chaos
from tests.fakegithub.gitobjects import MODE_FILE, Commit, FlatTree, diff_trees
from tests.fakegithub.httpkit import SECONDARY_LIMIT_DOCS, SECONDARY_LIMIT_MESSAGE, build_app
from tests.fakegithub.limits import ContentLimits, Write
from tests.fakegithub.routes_issues import add_comment
from tests.fakegithub.state import (
    PERMISSION_LEVELS,
    ApiError,
    Call,
    CheckRun,
    FakeState,
    Injection,
    Installation,
    PullRequest,
    Repo,
    WorkflowJob,
    WorkflowRun,
    now,
)

FileValue = bytes | str | None
DEFAULT_PERMISSIONS = {
    "actions": "read",
    "checks": "write",
    "contents": "write",
    "issues": "write",
    "metadata": "read",
    "pull_requests": "write",
    "workflows": "write",  # app.yml asks for it; an installation may not have accepted it yet
}


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


@dataclass(frozen=True)
class RepoInfo:
    id: int
    owner: str
    name: str
    full_name: str
    default_branch: str
    private: bool
    head_sha: str | None  # None for an empty repository


def generate_private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def _public_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


class FakeGitHub:
    """A stateful fake of the GitHub REST API, served on 127.0.0.1 from a background thread."""

    def __init__(self, app_id: int = 424242, private_key_pem: str | None = None) -> None:
        self.app_id = app_id
        self.private_key_pem = private_key_pem or generate_private_key_pem()
        self.client_id = f"Iv23li{app_id:014d}"
        self.state = FakeState(
            app_id=app_id,
            public_key_pem=_public_pem(self.private_key_pem),
            client_id=self.client_id,
        )
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeGitHub:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._serve, args=(ready,), name="fake-github", daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout=30) or not self.url:
            raise RuntimeError("fake GitHub did not start")
        return self

    def _serve(self, ready: threading.Event) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start_site())
        ready.set()
        self._loop.run_forever()

    async def _start_site(self) -> None:
        routes = (
            routes_app.ROUTES
            + routes_git.ROUTES
            + routes_checks.ROUTES  # before repos: ".../commits/{ref}/check-runs" is more specific
            + routes_repos.ROUTES
            + routes_reviews.ROUTES  # before pulls: ".../pulls/comments/{id}" is more specific
            + routes_pulls.ROUTES
            + routes_issues.ROUTES
            + routes_actions.ROUTES
        )
        app = build_app(self.state, routes + manifests.ROUTES)
        app.add_routes(manifests.web_routes(self.state))  # github.com pages, not the API
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self.state.base_url = self.url

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        if self._runner is not None:
            future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            future.result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._loop = None

    def reset(self) -> None:
        """Forget everything but the server and the app's identity."""
        self.state.reset()

    # --- configuration ------------------------------------------------------------------------

    @property
    def bot_login(self) -> str:
        """Who the app's API writes (commits, pulls, comments) are made by: ``<slug>[bot]``."""
        with self.state.lock:
            return self.state.bot_login

    def rename_app(self, slug: str) -> None:
        """The App renamed on GitHub: ``GET /app`` gives the new slug, writes its new bot user."""
        with self.state.lock:
            self.state.app_slug = slug

    @property
    def token_lifetime(self) -> float:
        return self.state.token_lifetime

    @token_lifetime.setter
    def token_lifetime(self, seconds: float) -> None:
        with self.state.lock:
            self.state.token_lifetime = seconds

    @property
    def rate_limit(self) -> int:
        return self.state.rate_limit

    @rate_limit.setter
    def rate_limit(self, limit: int) -> None:
        with self.state.lock:
            self.state.rate_limit = limit
            self.state.buckets.clear()

    def set_content_limits(
        self,
        per_minute: int = 80,
        per_hour: int = 500,
        *,
        minute: float = 60.0,
        hour: float = 3600.0,
    ) -> None:
        """Enforce GitHub's content-creation limits per installation (see ``limits.py``).

        ``minute``/``hour`` shorten the windows to run GitHub's ratios faster in a test.
        """
        with self.state.lock:
            self.state.ledger.limits = ContentLimits(per_minute, per_hour, minute, hour)
            self.state.ledger.recent.clear()

    def set_latency(self, low: float, high: float) -> None:
        """Every answer takes between ``low`` and ``high`` seconds, like GitHub's do."""
        with self.state.lock:
            self.state.latency = (low, high)

    def set_chaos(self, rate: float, *, seed: int = 0, timeout_delay: float = 3.0) -> None:
        """Make ``rate`` of all answers fail at random (see ``chaos.py``); ``rate=0`` stops it
        (the counts of what was injected stay readable)."""
        with self.state.lock:
            if rate <= 0:
                if self.state.chaos is not None:
                    self.state.chaos.rate = 0.0
                return
            self.state.chaos = Chaos(rate, random.Random(seed), timeout_delay)

    def chaos_faults(self) -> dict[str, int]:
        """How many faults of each kind chaos injected so far (since the last set_chaos)."""
        with self.state.lock:
            return dict(self.state.chaos.faults) if self.state.chaos is not None else {}

    def writes(self, installation_id: int | None = None) -> list[Write]:
        """Every content write the fake saw (admitted and refused), oldest first."""
        with self.state.lock:
            return [
                w
                for w in self.state.ledger.writes
                if installation_id is None or w.installation_id == installation_id
            ]

    def refused_writes(self, installation_id: int | None = None) -> int:
        return sum(1 for w in self.writes(installation_id) if w.refused)

    def max_writes_in_flight(self, installation_id: int) -> int:
        """The most writes of one installation the fake was serving at the same moment."""
        with self.state.lock:
            return self.state.ledger.max_in_flight.get(installation_id, 0)

    @property
    def tokens_issued(self) -> int:
        return self.state.tokens_issued

    def expire_tokens(self) -> None:
        """Make every installation token issued so far expire now."""
        with self.state.lock:
            for token in self.state.tokens.values():
                token.expires_at = now() - 1

    def add_installation(
        self,
        installation_id: int,
        account_login: str,
        repos: Iterable[str] = (),
        *,
        account_type: str = "Organization",
        permissions: dict[str, str] | None = None,
    ) -> None:
        """Install the app on ``account_login`` for ``repos`` ("name" or "owner/name")."""
        names = {(r if "/" in r else f"{account_login}/{r}").lower() for r in repos}
        with self.state.lock:
            self.state.installations[installation_id] = Installation(
                id=installation_id,
                account_login=account_login,
                account_type=account_type,
                repos=names,
                permissions=dict(permissions or DEFAULT_PERMISSIONS),
                created_at=now(),
            )

    def remove_installation(self, installation_id: int) -> None:
        """Uninstall: the installation's tokens stop working (401), new ones cannot be had."""
        with self.state.lock:
            self.state.installations.pop(installation_id, None)

    def suspend_installation(self, installation_id: int, suspended: bool = True) -> None:
        """Suspend (or unsuspend): tokens are refused with 403 while suspended."""
        with self.state.lock:
            installation = self.state.installations[installation_id]
            installation.suspended_at = now() if suspended else None

    # --- repositories and git -----------------------------------------------------------------

    def create_repo(
        self,
        owner: str,
        name: str,
        files: dict[str, bytes | str],
        default_branch: str = "main",
        private: bool = False,
        *,
        owner_type: str = "Organization",
        archived: bool = False,
    ) -> RepoInfo:
        with self.state.lock:
            key = f"{owner}/{name}".lower()
            if key in self.state.repos:
                raise ValueError(f"repository {owner}/{name} already exists")
            repo = Repo(
                id=self.state.new_id(),
                owner=owner,
                name=name,
                owner_type=owner_type,
                private=private,
                default_branch=default_branch,
                created_at=now(),
                archived=archived,
            )
            self.state.repos[key] = repo
            if files:
                self._commit_files(repo, default_branch, files, "Initial commit", owner)
            return self._info(repo)

    def _info(self, repo: Repo) -> RepoInfo:
        return RepoInfo(
            id=repo.id,
            owner=repo.owner,
            name=repo.name,
            full_name=repo.full_name,
            default_branch=repo.default_branch,
            private=repo.private,
            head_sha=repo.branch_sha(repo.default_branch),
        )

    def _commit_files(
        self, repo: Repo, branch: str, files: dict[str, FileValue], message: str, login: str
    ) -> str:
        parent = repo.branch_sha(branch)
        if parent is None:  # a new branch starts from the default branch, like "git switch -c"
            parent = repo.branch_sha(repo.default_branch)
        store = repo.objects
        flat: FlatTree = store.flatten(store.commits[parent].tree) if parent else {}
        for path, value in files.items():
            clean = path.strip("/")
            if value is None:
                flat = {
                    k: v for k, v in flat.items() if k != clean and not k.startswith(clean + "/")
                }
            else:
                mode = flat.get(clean, (MODE_FILE, ""))[0]
                flat[clean] = (mode, store.put_blob(_bytes(value)))
        commit = self.state.write_commit(
            repo,
            flat=flat,
            parents=(parent,) if parent else (),
            message=message,
            login=login,
            verified=False,
        )
        self.state.set_ref(repo, f"refs/heads/{branch}", commit.sha)
        return commit.sha

    def push(
        self,
        owner: str,
        name: str,
        branch: str,
        files: dict[str, FileValue],
        message: str,
        author_login: str = "human",
    ) -> str:
        """A human commit on ``branch`` (fast-forward; ``None`` deletes a file); returns its sha."""
        with self.state.lock:
            repo = self._repo(owner, name)
            return self._commit_files(repo, branch, files, message, author_login)

    def create_branch(self, owner: str, name: str, branch: str, from_ref: str | None = None) -> str:
        with self.state.lock:
            repo = self._repo(owner, name)
            sha = repo.resolve(from_ref or repo.default_branch)
            if sha is None:
                raise ValueError(f"no such ref {from_ref!r}")
            self.state.set_ref(repo, f"refs/heads/{branch}", sha)
            return sha

    def create_tag(self, owner: str, name: str, tag: str, from_ref: str | None = None) -> str:
        """A lightweight tag (what ``git push --tags`` makes for an action's release)."""
        with self.state.lock:
            repo = self._repo(owner, name)
            sha = repo.resolve(from_ref or repo.default_branch)
            if sha is None:
                raise ValueError(f"no such ref {from_ref!r}")
            self.state.set_ref(repo, f"refs/tags/{tag}", sha)
            return sha

    def delete_branch(self, owner: str, name: str, branch: str) -> None:
        with self.state.lock:
            self.state.set_ref(self._repo(owner, name), f"refs/heads/{branch}", None)

    def delete_repo(self, owner: str, name: str) -> None:
        """The repository is gone (a fork deleted after its PR was opened: GitHub then
        shows that PR's ``head.repo`` as null)."""
        with self.state.lock:
            self.state.repos.pop(f"{owner}/{name}".lower(), None)

    def set_permission(self, owner: str, name: str, user: str, permission: str) -> None:
        if permission not in PERMISSION_LEVELS:
            raise ValueError(f"permission must be one of {PERMISSION_LEVELS}")
        with self.state.lock:
            self._repo(owner, name).permissions[user.lower()] = permission

    def merge_pull(
        self, owner: str, name: str, number: int, merged_by: str = "human", method: str = "merge"
    ) -> str:
        """Merge a pull request as a human would in the UI; returns the new base head sha."""
        with self.state.lock:
            repo = self._repo(owner, name)
            pull = self._pull(repo, number)
            return self.state.merge(repo, pull, login=merged_by, method=method)

    def open_pull(
        self,
        owner: str,
        name: str,
        head: str,
        base: str | None = None,
        title: str = "A human's change",
        author_login: str = "human",
        body: str | None = None,
    ) -> int:
        """A pull request opened by a person; returns its number."""
        with self.state.lock:
            repo = self._repo(owner, name)
            base = base or repo.default_branch
            head_sha, base_sha = repo.branch_sha(head), repo.branch_sha(base)
            if head_sha is None or base_sha is None:
                raise ValueError(f"both branches must exist: {head!r}, {base!r}")
            pull = PullRequest(
                id=self.state.new_id(),
                number=repo.take_number(),
                title=title,
                body=body,
                head_ref=head,
                head_sha=head_sha,
                base_ref=base,
                base_sha=base_sha,
                user=author_login,
                draft=False,
                maintainer_can_modify=True,
                created_at=now(),
                updated_at=now(),
            )
            repo.pulls[pull.number] = pull
            return pull.number

    def open_fork_pull(
        self,
        owner: str,
        name: str,
        fork_owner: str,
        head: str,
        files: dict[str, FileValue],
        *,
        title: str = "A stranger's change",
        author_login: str | None = None,
    ) -> int:
        """A pull request from ``fork_owner``'s fork, whose branch ``head`` adds ``files``.

        Like GitHub, the fork's commit is readable in the base repository (as
        ``refs/pull/N/head``); the base repository gets no branch named ``head``.
        """
        with self.state.lock:
            repo = self._repo(owner, name)
            fork_key = f"{fork_owner}/{name}".lower()
            if fork_key not in self.state.repos:
                fork = Repo(
                    id=self.state.new_id(),
                    owner=fork_owner,
                    name=name,
                    owner_type="User",
                    private=False,
                    default_branch=repo.default_branch,
                    created_at=now(),
                    fork=True,
                )
                self.state.repos[fork_key] = fork
            fork = self.state.repos[fork_key]
            base_sha = repo.branch_sha(repo.default_branch)
            assert base_sha is not None
            number = repo.take_number()
            scratch = f"refs/pull/{number}/head"
            repo.refs[scratch] = base_sha
            store = repo.objects
            flat: FlatTree = dict(store.flatten(store.commits[base_sha].tree))
            for path, value in files.items():
                if value is not None:
                    flat[path.strip("/")] = (MODE_FILE, store.put_blob(_bytes(value)))
            login = author_login or fork_owner
            commit = self.state.write_commit(
                repo, flat=flat, parents=(base_sha,), message=title, login=login, verified=False
            )
            repo.refs[scratch] = commit.sha
            fork.refs[f"refs/heads/{head}"] = commit.sha
            pull = PullRequest(
                id=self.state.new_id(),
                number=number,
                title=title,
                body=None,
                head_ref=head,
                head_sha=commit.sha,
                base_ref=repo.default_branch,
                base_sha=base_sha,
                user=login,
                draft=False,
                maintainer_can_modify=False,
                created_at=now(),
                updated_at=now(),
                head_repo=fork.full_name,
            )
            repo.pulls[number] = pull
            return number

    def close_pull(self, owner: str, name: str, number: int) -> None:
        with self.state.lock:
            pull = self._pull(self._repo(owner, name), number)
            pull.state, pull.closed_at = "closed", now()

    def add_comment(
        self, owner: str, name: str, number: int, body: str, author_login: str = "human"
    ) -> dict[str, Any]:
        """A comment written by a person (e.g. a ``@patchwell`` command)."""
        with self.state.lock:
            repo = self._repo(owner, name)
            if number not in repo.pulls and number not in repo.issues:
                raise ValueError(f"no issue or pull request #{number}")
            comment = add_comment(self.state, repo, number, body, author_login)
            return shapes.comment(self.state, repo, comment)

    def _repo(self, owner: str, name: str) -> Repo:
        try:
            return self.state.repo(owner, name)
        except ApiError:
            raise ValueError(f"no repository {owner}/{name}") from None

    def _pull(self, repo: Repo, number: int) -> PullRequest:
        pull = repo.pulls.get(number)
        if pull is None:
            raise ValueError(f"no pull request #{number} in {repo.full_name}")
        return pull

    # --- GitHub Actions ------------------------------------------------------------------------

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

    def review_comments(self, owner: str, name: str, number: int) -> list[dict[str, Any]]:
        """Comments on diff lines of pull request ``number`` (suggestions live there)."""
        with self.state.lock:
            repo = self._repo(owner, name)
            found = sorted(
                (
                    c
                    for c in self.state.review_comments.values()
                    if c.repo == repo.key and c.pull_number == number
                ),
                key=lambda c: c.id,
            )
            return [routes_reviews.review_json(self.state, repo, c) for c in found]

    def expire_log_urls(self) -> None:
        """Every job-log download URL handed out so far stops working (403)."""
        with self.state.lock:
            for ticket in self.state.log_tickets.values():
                ticket.expires_at = now() - 1

    def set_log_url_lifetime(self, seconds: float) -> None:
        with self.state.lock:
            self.state.log_url_lifetime = seconds

    # --- read helpers (all return plain JSON-shaped dicts, as the API would) -------------------

    def repo_json(self, owner: str, name: str) -> dict[str, Any]:
        """The repository as the API renders it (e.g. to build a webhook payload that agrees)."""
        with self.state.lock:
            return shapes.repo(self.state, self._repo(owner, name))

    def installation_json(self, installation_id: int) -> dict[str, Any]:
        with self.state.lock:
            installation = self.state.installations.get(installation_id)
            if installation is None:
                raise ValueError(f"no installation {installation_id}")
            return shapes.installation(self.state, installation)

    def repo_info(self, owner: str, name: str) -> RepoInfo:
        with self.state.lock:
            return self._info(self._repo(owner, name))

    def file_at(self, owner: str, name: str, ref: str, path: str) -> bytes | None:
        with self.state.lock:
            repo = self._repo(owner, name)
            sha = repo.resolve(ref)
            if sha is None:
                return None
            store = repo.objects
            entry = store.lookup_path(store.commits[sha].tree, path)
            if entry is None or entry.is_tree:
                return None
            return store.blobs[entry.sha]

    def files_at(self, owner: str, name: str, ref: str) -> dict[str, bytes]:
        with self.state.lock:
            repo = self._repo(owner, name)
            sha = repo.resolve(ref)
            if sha is None:
                return {}
            store = repo.objects
            flat = store.flatten(store.commits[sha].tree)
            return {path: store.blobs[blob] for path, (_, blob) in flat.items()}

    def pulls(self, owner: str, name: str) -> list[dict[str, Any]]:
        with self.state.lock:
            repo = self._repo(owner, name)
            return [shapes.pull_full(self.state, repo, p) for _, p in sorted(repo.pulls.items())]

    def pull(self, owner: str, name: str, number: int) -> dict[str, Any]:
        with self.state.lock:
            repo = self._repo(owner, name)
            return shapes.pull_full(self.state, repo, self._pull(repo, number))

    def comments(self, owner: str, name: str, number: int) -> list[dict[str, Any]]:
        with self.state.lock:
            repo = self._repo(owner, name)
            found = sorted(
                (
                    c
                    for c in self.state.comments.values()
                    if c.repo == repo.key and c.issue_number == number
                ),
                key=lambda c: c.id,
            )
            return [shapes.comment(self.state, repo, c) for c in found]

    def issues(self, owner: str, name: str) -> list[dict[str, Any]]:
        """Every issue (not pull request) in the repository, by number."""
        with self.state.lock:
            repo = self._repo(owner, name)
            return [shapes.issue(self.state, repo, i) for _, i in sorted(repo.issues.items())]

    def issue_edits(self, owner: str, name: str, number: int) -> int:
        """How many ``PATCH`` requests the API took for issue ``number``."""
        with self.state.lock:
            return self._repo(owner, name).issues[number].edits

    def edit_issue(self, owner: str, name: str, number: int, body: str) -> str:
        """A person edits an issue's body in the UI; returns the body before."""
        with self.state.lock:
            issue = self._repo(owner, name).issues[number]
            before, issue.body, issue.updated_at = issue.body or "", body, now()
            return before

    def labels(self, owner: str, name: str, number: int) -> list[str]:
        with self.state.lock:
            return list(self._repo(owner, name).labels.get(number, []))

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

    def branches(self, owner: str, name: str) -> dict[str, str]:
        """Branch name -> head sha."""
        with self.state.lock:
            repo = self._repo(owner, name)
            return {
                ref.removeprefix("refs/heads/"): sha
                for ref, sha in sorted(repo.refs.items())
                if ref.startswith("refs/heads/")
            }

    def commit(self, owner: str, name: str, sha: str) -> dict[str, Any]:
        """The REST "get a commit" shape (with files and verification) for ``sha`` or a ref."""
        with self.state.lock:
            repo = self._repo(owner, name)
            resolved = repo.resolve(sha)
            if resolved is None:
                raise ValueError(f"no commit {sha!r} in {repo.full_name}")
            commit: Commit = repo.objects.commits[resolved]
            parent_tree = repo.objects.commits[commit.parents[0]].tree if commit.parents else None
            files = diff_trees(repo.objects, parent_tree, commit.tree)
            return shapes.rest_commit(self.state, repo, commit, files)

    def created_apps(self) -> dict[int, dict[str, Any]]:
        """Apps made through the manifest flow: id -> slug, pem, webhook_secret, manifest."""
        with self.state.lock:
            return {k: dict(v) for k, v in self.state.created_apps.items()}

    @property
    def internal_errors(self) -> list[str]:
        """Tracebacks of requests the fake itself failed on (a bug in the fake, not GitHub)."""
        with self.state.lock:
            return list(self.state.internal_errors)

    # --- the call log -------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        with self.state.lock:
            return list(self.state.calls)

    def clear_calls(self) -> None:
        with self.state.lock:
            self.state.calls.clear()

    def count_calls(
        self, method: str | None = None, path_regex: str | None = None, status: int | None = None
    ) -> int:
        pattern = re.compile(path_regex) if path_regex else None
        return sum(
            1
            for c in self.calls
            if (method is None or c.method == method.upper())
            and (pattern is None or pattern.search(c.path))
            and (status is None or c.status == status)
        )

    # --- fault injection ----------------------------------------------------------------------

    def inject(
        self,
        method: str,
        path_regex: str,
        *,
        status: int | None = 500,
        times: int | None = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
        delay: float = 0.0,
        after: bool = False,
        content_type: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests (None: all) with ``status`` after ``delay``.

        ``status=None`` means "answer normally, only late" (a slow response). ``after=True``
        carries the request out first and then answers ``status`` (the write is done, its
        answer lost). ``content_type`` sends ``body`` raw with that type (a body not JSON).
        """
        with self.state.lock:
            self.state.injections.append(
                Injection(
                    method=method.upper(),
                    path_regex=re.compile(path_regex),
                    status=status,
                    times=times,
                    headers=dict(headers or {}),
                    body=body,
                    delay=delay,
                    after=after,
                    content_type=content_type,
                )
            )

    def inject_secondary_rate_limit(
        self, method: str, path_regex: str, retry_after: int = 1, status: int = 403, times: int = 1
    ) -> None:
        body = {
            "message": SECONDARY_LIMIT_MESSAGE.format(request_id="0000:FAKE:0000"),
            "documentation_url": SECONDARY_LIMIT_DOCS,
        }
        self.inject(
            method,
            path_regex,
            status=status,
            times=times,
            headers={"Retry-After": str(retry_after)},
            body=body,
        )

    def inject_429(
        self, method: str, path_regex: str, retry_after: int = 1, times: int = 1
    ) -> None:
        self.inject_secondary_rate_limit(
            method, path_regex, retry_after=retry_after, status=429, times=times
        )

    def inject_rate_limit_exhausted(
        self, method: str, path_regex: str, reset_in: int = 60, times: int = 1
    ) -> None:
        """A primary rate limit: 403, ``x-ratelimit-remaining: 0`` and the reset epoch."""
        with self.state.lock:
            limit = self.state.rate_limit
        headers = {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": "0",
            "x-ratelimit-used": str(limit),
            "x-ratelimit-reset": str(int(now()) + reset_in),
            "x-ratelimit-resource": "core",
        }
        body = {
            "message": "API rate limit exceeded for installation.",
            "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
        }
        self.inject(method, path_regex, status=403, times=times, headers=headers, body=body)

    def inject_slow(self, method: str, path_regex: str, delay: float, times: int = 1) -> None:
        self.inject(method, path_regex, status=None, times=times, delay=delay)
