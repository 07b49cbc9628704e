"""What the lock-file tests share: the dates the fake index's releases carry, a sandboxed uv
resolver on the fake index, the index as it was when a lock was made, and one scan by the
dependency fixer (detect, then fix) with that resolver."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fixers.contract import Context, Finding, MemorySnapshot, Patch, Services
from fixers.dependencies import FIXER
from fixers.dependencies.sources import simple_index_from_env, sources_from_env
from fixers.dependencies.uvrunner import UvResolver, resolver_from_env
from tests.fakeindex.server import FakeIndex, FakeRelease

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
OLD = NOW - timedelta(days=300)
NEW = NOW - timedelta(days=30)


def resolver_for(index: FakeIndex, tmp: Path, **env: str) -> UvResolver:
    """The real uv, sandboxed, answering from ``index`` with its cache in ``tmp``."""
    environ = {**index.env(), **env}
    url, creds = simple_index_from_env(environ)
    assert url is not None
    resolver = resolver_from_env(environ, index_url=url, credentials=creds, cache_dir=tmp)
    assert resolver is not None
    return resolver


def scan(
    index: FakeIndex, resolver: UvResolver | None, files: Mapping[str, bytes]
) -> tuple[list[Finding], list[Patch]]:
    idx, adv = sources_from_env(index.env(), cache_dir=None)
    services = Services(index=idx, advisories=adv, clock=lambda: NOW, resolver=resolver)
    ctx = Context(services=services, options={"groups": []})
    snapshot = MemorySnapshot(dict(files))
    findings = FIXER.detect(snapshot, ctx)
    return findings, FIXER.fix(snapshot, findings, ctx)


def hide_new(index: FakeIndex) -> list[tuple[str, FakeRelease]]:
    """Hide the new releases (the repository's lock was made before they existed). Use a
    resolver with a cache of its own meanwhile: uv keeps index pages for their max-age."""
    hidden = []
    for name, project in index.projects.items():
        for rel in [r for r in project.releases if r.uploaded == NEW]:
            project.releases.remove(rel)
            hidden.append((name, rel))
    return hidden


def restore(index: FakeIndex, hidden: list[tuple[str, FakeRelease]]) -> None:
    for name, rel in hidden:
        index.projects[name].releases.append(rel)
