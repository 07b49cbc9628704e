"""The outside world fixers may use, built once per worker process.

The package index and advisory clients keep their HTTP caches (ETag + TTL) in
memory for the life of the process, so a daily rescan of many repositories asks
the index only about what changed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fixers.contract import Services

log = logging.getLogger("patchwell.services")


def services_from_env(env: Mapping[str, str]) -> Services:
    try:
        from fixers.dependencies.sources import sources_from_env
    except ImportError:  # pragma: no cover - the dependency fixer ships with the package
        return Services()
    index, advisories = sources_from_env(env, cache_dir=None)
    return Services(index=index, advisories=advisories)
