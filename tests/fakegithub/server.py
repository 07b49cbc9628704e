"""FakeGitHub: the server in a background thread, plus thread-safe helpers for tests.

The server has its own event loop in its own thread so that sync clients (PyGithub), async tests
on pytest's loop and subprocesses (``patchwell worker``) can all reach it at ``.url``.
"""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web

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
)
from tests.fakegithub.control_actions import ActionsControls, FakeJob, RunInfo
from tests.fakegithub.control_auth import (
    DEFAULT_PERMISSIONS,
    AuthControls,
    generate_private_key_pem,
    public_pem,
)
from tests.fakegithub.control_faults import FaultControls
from tests.fakegithub.control_pulls import PullControls
from tests.fakegithub.control_repos import RepoControls, RepoInfo
from tests.fakegithub.httpkit import build_app
from tests.fakegithub.state import FakeState

__all__ = [
    "DEFAULT_PERMISSIONS",
    "FakeGitHub",
    "FakeJob",
    "RepoInfo",
    "RunInfo",
    "generate_private_key_pem",
]


class FakeGitHub(AuthControls, FaultControls, RepoControls, PullControls, ActionsControls):
    """A stateful fake of the GitHub REST API, served on 127.0.0.1 from a background thread.

    The helpers tests call come from one mixin per concern (``control_*.py``); this class
    only owns the state, the server's thread and the app's routes.
    """

    def __init__(self, app_id: int = 424242, private_key_pem: str | None = None) -> None:
        self.app_id = app_id
        self.private_key_pem = private_key_pem or generate_private_key_pem()
        self.client_id = f"Iv23li{app_id:014d}"
        self.state = FakeState(
            app_id=app_id,
            public_key_pem=public_pem(self.private_key_pem),
            client_id=self.client_id,
        )
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

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
