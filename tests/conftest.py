from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest_plugins = [
    "tests.dbfixtures",
    "tests.appfixtures",
    "tests.fakeindex.plugin",
    "tests.fakegithub.plugin",
    "tests.heal_fixtures",
]


@pytest.fixture(autouse=True)
def _every_printed_diff_applies(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Issue 14: every diff any test makes Patchwell print must apply with ``git apply``
    to the files it was computed from (masked secret diffs excepted, by design).

    An observer only: the real function runs and its result is returned unchanged."""
    import fixers.output as output
    from tests.diffcheck import GIT, apply_diff

    seen: list[tuple[Any, Any, tuple[Any, ...], str]] = []
    real = output.patch_diff

    def observed(snapshot: Any, planned: Any, findings: Any = ()) -> str:
        diff = real(snapshot, planned, findings)
        seen.append((snapshot, planned, tuple(findings), diff))
        return diff

    monkeypatch.setattr(output, "patch_diff", observed)
    yield
    if GIT is None:
        return
    for snapshot, planned, findings, diff in seen:
        if output.diff_is_masked(snapshot, planned, findings):
            continue
        edits = planned.patch.edits
        files = {e.path: snapshot.read(e.path) for e in edits}
        assert apply_diff(files, diff) == {e.path: e.content for e in edits}


@pytest.fixture
def own_cluster():
    """A PostgreSQL cluster of the test's own (never the system one), for tests that crash
    and restart it; skipped with the reason where initdb/pg_ctl cannot run."""
    from tests import pgcluster

    reason = pgcluster.unavailable_reason()
    if reason is not None:
        pytest.skip(f"needs a PostgreSQL cluster of its own to restart: {reason}")
    with pgcluster.temporary_cluster() as cluster:
        yield cluster
