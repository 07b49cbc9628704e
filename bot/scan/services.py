"""The outside world fixers may use, built once per worker process.

The package index and advisory clients keep their HTTP caches (ETag + TTL) in
memory for the life of the process, so a daily rescan of many repositories asks
the index only about what changed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from fixers.contract import Services

log = logging.getLogger("patchwell.services")


def services_from_env(env: Mapping[str, str]) -> Services:
    try:
        from fixers.dependencies.sources import sources_from_env
    except ImportError:  # pragma: no cover - the dependency fixer ships with the package
        return Services()
    # PATCHWELL_CACHE_DIR keeps index and advisory answers (with their ETags) across
    # restarts, so the first rescan after a deploy revalidates instead of refetching.
    cache_dir = env.get("PATCHWELL_CACHE_DIR")
    cache = Path(cache_dir) if cache_dir else None
    index, advisories = sources_from_env(env, cache_dir=cache)
    return Services(index=index, advisories=advisories, resolver=resolver_for(env, cache))


def resolver_for(env: Mapping[str, str], cache_dir: Path | None) -> object | None:
    """The sandboxed uv resolver on the operator's index (``PATCHWELL_RESOLVER=off``
    turns it off; without a simple index URL there is nothing it may talk to)."""
    from fixers.dependencies.sources import simple_index_from_env
    from fixers.dependencies.uvrunner import resolver_from_env

    url, creds = simple_index_from_env(env)
    if url is None:
        log.warning("no simple index URL configured: dependency resolution is off")
        return None
    return resolver_from_env(env, index_url=url, credentials=creds, cache_dir=cache_dir)
