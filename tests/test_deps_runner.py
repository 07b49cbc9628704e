"""The dependencies fixer through the real config loader and runner."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fixers.contract import MemorySnapshot, Services
from fixers.dependencies.sources import StaticActionsCatalog, sources_from_env
from fixers.registry import fixer_names
from fixers.repo_config import load_repo_config
from fixers.runner import run_fixers
from tests.fakeindex.server import FakeIndex, FakeRelease, FakeVuln

NOW = datetime(2026, 11, 23, tzinfo=UTC)

CONFIG = """
ignore-paths: ["docs/**"]
fixers:
  dependencies:
    mode: {mode}
    cooldown-days: 3
    groups: [{{name: dev-tools, patterns: ["pytest*", "ruff"], update-types: [patch, minor],
              dependency-type: development}}]
    ignore: [{{name: django, versions: [">=5"], update-types: [major]}}]
    actions: {{pin: sha}}
"""


@dataclass(frozen=True)
class WithActions(Services):
    actions: Any = None


def populate(index: FakeIndex) -> None:
    old, new = NOW - timedelta(days=300), NOW - timedelta(days=30)
    index.add_project(
        "django", [FakeRelease("4.2.1", old), FakeRelease("4.2.9", new), FakeRelease("5.0.0", new)]
    )
    index.add_project("pytest", [FakeRelease("8.0.0", old), FakeRelease("8.1.0", new)])
    index.add_project("ruff", [FakeRelease("0.5.0", old), FakeRelease("0.5.1", new)])
    index.add_project("flask", [FakeRelease("3.0.0", old), FakeRelease("3.0.3", new)])
    index.add_vuln(FakeVuln("GHSA-f1", "flask", [("0", "3.0.3")], [], "session", "LOW"))


FILES = {
    "requirements.txt": b"django==4.2.1\nflask==3.0.0\n",
    "requirements-dev.txt": b"-r requirements.txt\npytest==8.0.0\nruff==0.5.0\n",
    "docs/requirements.txt": b"sphinx==1.0\n",
    ".github/workflows/ci.yml": b"jobs:\n  t:\n    steps:\n      - uses: actions/checkout@v4\n",
}


def scan(index: FakeIndex, mode: str = "fix") -> Any:
    config, problems = load_repo_config(CONFIG.format(mode=mode), known_fixers=fixer_names())
    assert problems == []
    idx, adv = sources_from_env(index.env(), cache_dir=None)
    catalog_data = {"actions/checkout": [("v4", "d" * 40), ("v4.2.2", "d" * 40)]}
    services = WithActions(idx, adv, lambda: NOW, StaticActionsCatalog(catalog_data))
    return run_fixers(MemorySnapshot(FILES), config, services, only="dependencies")


def test_full_scan_through_runner(fake_index: FakeIndex) -> None:
    populate(fake_index)
    result = scan(fake_index)
    assert result.errors == ()
    keys = {p.patch.key: p.patch for p in result.patches}
    # django: 5.0.0 is a major ignored by config, 4.2.9 proposed alone;
    # flask: security, its own PR; pytest+ruff: the dev-tools group; checkout pinned to its SHA
    assert sorted(keys) == ["action-actions-checkout", "group-dev-tools", "pip-django", "pip-flask"]
    assert keys["pip-flask"].bypass_limit
    assert keys["pip-django"].edits[0].content == b"django==4.2.9\nflask==3.0.0\n"
    group = keys["group-dev-tools"].edits[0].content
    assert group == b"-r requirements.txt\npytest==8.1.0\nruff==0.5.1\n"
    checkout = keys["action-actions-checkout"].edits[0].content or b""
    assert b"actions/checkout@" + b"d" * 40 + b" # v4.2.2" in checkout
    assert not any(f.path and f.path.startswith("docs/") for f in result.findings)
    assert all(f.fixer == "dependencies" for f in result.findings)
    fingerprints = [f.fingerprint for f in result.findings]
    assert len(fingerprints) == len(set(fingerprints))
    for f in result.findings:  # the engine stores data as JSON and hands it back to fix
        assert json.loads(json.dumps(f.data)) == f.data


def test_report_mode_and_supersede(fake_index: FakeIndex) -> None:
    populate(fake_index)
    report = scan(fake_index, mode="report")
    assert {p.mode for p in report.patches} == {"report"}
    fake_index.projects["django"].releases.append(FakeRelease("4.2.11", NOW - timedelta(days=5)))
    again = scan(fake_index)
    before = {p.patch.branch for p in report.patches}
    after = {p.patch.branch: p.patch for p in again.patches}
    assert before == set(after)  # the same branches: open PRs are updated, not duplicated
    assert after["patchwell/dependencies/pip-django"].edits[0].content == (
        b"django==4.2.11\nflask==3.0.0\n"
    )
