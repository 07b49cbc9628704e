"""GitHub Actions tags for the dependency fixer, read from GitHub by the engine.

Fixers never call GitHub; they get this catalog as an injected service. Fixers
run in a worker thread, so :meth:`GitHubActionsCatalog.tags` hands the request
to the worker's event loop and waits for it: the same authenticated client,
rate-limit accounting and ETag cache as every other call. Each action repository
is asked once per scan (cached here), at most :data:`MAX_TAG_PAGES` pages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import gidgethub

log = logging.getLogger("patchwell.actions")

MAX_TAG_PAGES = 3
TIMEOUT_SECONDS = 30


class GitHubActionsCatalog:
    def __init__(self, gh, loop: asyncio.AbstractEventLoop) -> None:
        self._gh = gh
        self._loop = loop
        self._cache: dict[str, tuple[tuple[str, str], ...]] = {}

    def tags(self, owner: str, repo: str) -> Sequence[tuple[str, str]]:
        key = f"{owner}/{repo}".lower()
        if key not in self._cache:
            future = asyncio.run_coroutine_threadsafe(self._fetch(owner, repo), self._loop)
            try:
                self._cache[key] = future.result(timeout=TIMEOUT_SECONDS)
            except TimeoutError:
                future.cancel()
                self._cache[key] = ()
        return self._cache[key]

    async def _fetch(self, owner: str, repo: str) -> tuple[tuple[str, str], ...]:
        found: list[tuple[str, str]] = []
        try:
            async for tag in self._gh.getiter(
                "/repos/{owner}/{repo}/tags{?per_page}",
                {"owner": owner, "repo": repo, "per_page": 100},
            ):
                found.append((tag["name"], tag["commit"]["sha"]))
                if len(found) >= 100 * MAX_TAG_PAGES:
                    break
        except gidgethub.BadRequest as exc:
            # A private or missing action repository: nothing to compare against.
            log.info("no tags for %s/%s (%s)", owner, repo, int(exc.status_code))
            return ()
        return tuple(found)
