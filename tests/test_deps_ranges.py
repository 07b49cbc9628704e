"""range-strategy: a vulnerable lower bound is raised to the fixed release in an app,
reported in a library and under lock-only; ranges admitting the newest release are left
alone (issue 13, point 4)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from fixers.contract import Context, Finding, MemorySnapshot, Patch, Services, Severity
from fixers.dependencies import FIXER
from fixers.dependencies.sources import sources_from_env
from tests.fakeindex.server import FakeIndex, FakeRelease, FakeVuln

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
OLD = NOW - timedelta(days=300)

APP = {
    "Dockerfile": "FROM python:3.12-slim\n",
    "requirements.txt": "django>=4.2,<5  # web\nrequests>=2.30\n",
    "pyproject.toml": '[tool.poetry.dependencies]\npython = "^3.12"\ndjango = "^4.2"\n',
}


def run(
    index: FakeIndex, files: Mapping[str, str], options: Mapping[str, Any] | None = None
) -> tuple[list[Finding], list[Patch]]:
    idx, adv = sources_from_env(index.env(), cache_dir=None)
    ctx = Context(
        services=Services(index=idx, advisories=adv, clock=lambda: NOW), options=dict(options or {})
    )
    s = MemorySnapshot({k: v.encode() for k, v in files.items()})
    findings = FIXER.detect(s, ctx)
    return findings, FIXER.fix(s, findings, ctx)


def setup(index: FakeIndex) -> None:
    index.add_project("django", [FakeRelease(v, OLD) for v in ("4.2", "4.2.16", "4.2.20", "5.0")])
    index.add_project("requests", [FakeRelease(v, OLD) for v in ("2.30.0", "2.32.0")])
    index.add_vuln(FakeVuln("GHSA-dj01", "django", [("4.0", "4.2.16")], [], "SQLi", "HIGH"))


def test_vulnerable_lower_bound_is_raised_in_an_app(fake_index: FakeIndex) -> None:
    setup(fake_index)
    findings, patches = run(fake_index, APP)
    ranged = [f for f in findings if f.rule == "vulnerable-range"]
    assert [f.data["package"] for f in ranged] == ["django"] and ranged[0].data[
        "target"
    ] == "4.2.16"
    assert not any(f.data.get("package") == "requests" for f in findings)  # admits the newest
    (patch,) = [p for p in patches if p.key == "range-django"]
    edits = {e.path: e.content for e in patch.edits}
    assert edits["requirements.txt"] == b"django>=4.2.16,<5  # web\nrequests>=2.30\n"
    assert edits["pyproject.toml"] == APP["pyproject.toml"].replace("^4.2", "^4.2.16").encode()
    assert patch.bypass_limit and "upper bound" in patch.explanation.markdown()


def test_library_and_lock_only_are_reported_not_edited(fake_index: FakeIndex) -> None:
    setup(fake_index)
    library = {k: v for k, v in APP.items() if k != "Dockerfile"}
    findings, patches = run(fake_index, library)
    (ranged,) = [f for f in findings if f.rule == "vulnerable-range"]
    assert ranged.data["target"] is None and "library" in ranged.message
    assert not [p for p in patches if p.key.startswith("range-")]
    findings, patches = run(fake_index, library, {"range-strategy": "bump"})
    assert [p.key for p in patches if p.key.startswith("range-")] == ["range-django"]
    findings, patches = run(fake_index, APP, {"range-strategy": "lock-only"})
    (ranged,) = [f for f in findings if f.rule == "vulnerable-range"]
    assert "lock-only" in ranged.message and not [p for p in patches if p.key.startswith("range-")]
    findings, _p = run(fake_index, APP, {"range-strategy": "sideways"})
    assert any(f.rule == "config" and "range-strategy" in f.message for f in findings)


def test_a_library_with_a_test_database_compose_file_is_still_a_library(
    fake_index: FakeIndex,
) -> None:
    """jazzband/django-model-utils' shape: a `docker-compose.yml` that only starts the test
    database made a packaged library count as deployed, so its vulnerable lower bound was
    edited and rated a vulnerability; a library's range is reported for its users instead."""
    setup(fake_index)
    library = {
        "pyproject.toml": (
            '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
            '[project]\nname = "model-utils"\nversion = "5.0"\n'
            'dependencies = ["django>=4.2,<5"]\n'
        ),
        "docker-compose.yml": "services:\n  postgres:\n    image: postgres:16\n",
        "model_utils/__init__.py": "",
        "tests/test_models.py": "def test_ok():\n    assert True\n",
    }
    findings, patches = run(fake_index, library)
    (ranged,) = [f for f in findings if f.rule == "vulnerable-range"]
    assert ranged.data["target"] is None and "library" in ranged.message
    assert ranged.severity is Severity.HYGIENE
    assert not [p for p in patches if p.key.startswith("range-")]
