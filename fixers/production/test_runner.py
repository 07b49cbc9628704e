"""How a repository really runs its tests, read from its own files -- or why we cannot tell.

``ci-tests`` proposes a workflow only when the command is certain; everything
here answers either a :class:`Runner` (the command and why we believe it) or an
:class:`Unsure` naming what was found, which becomes the report-only finding's
text. Never a guess: ``python -m pytest`` over ``tests.py`` collects nothing,
and ``manage.py test`` on a click CLI is not a command.

Rules, in order:

* pytest -- configured (``[tool.pytest.ini_options]``, ``pytest.ini``,
  ``setup.cfg``/``tox.ini`` ``[pytest]``) *and* declared as a dependency, or
  declared with ``test_*.py``/``*_test.py`` files (pytest-django included);
* Django -- a Django ``manage.py`` (``execute_from_command_line``) with tests that
  import ``django.test`` and no pytest: ``python manage.py test``;
* unittest -- a root ``tests.py`` that calls ``unittest.main()``, or a ``tests/``
  package whose files all import ``unittest`` and none ``pytest``;
* anything else -- unsure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fixers.contract import Snapshot
from fixers.production.facts import Note, env_reads_in_python, parse_python

__all__ = ["Runner", "Unsure", "declared_text", "find_runner", "windows_only"]

MAX_BYTES = 256 * 1024
_TEST_FILE = re.compile(r"(?:^|/)(?:test_[^/]*|[^/]*_test|tests)\.py$")
# Packages with no Linux build: a requirements line naming one without a platform
# marker makes `pip install -r` fail on ubuntu-latest.
_WINDOWS_ONLY = frozenset({"pywin32", "pypiwin32", "pywinpty", "winshell", "wmi", "windows-curses"})
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True, slots=True)
class Runner:
    kind: str  # "pytest", "django", "unittest"
    command: str  # without the tool prefix (`uv run`, `poetry run`)
    evidence: str


@dataclass(frozen=True, slots=True)
class Unsure:
    reason: str


def _read(snapshot: Snapshot, path: str) -> str | None:
    data = snapshot.read(path)
    if data is None or len(data) > MAX_BYTES:
        return None
    return data.decode("utf-8", errors="replace")


def declared_text(snapshot: Snapshot, pyproject: Mapping[str, Any], files: Sequence[str]) -> str:
    """Every dependency declaration, lower-cased, to ask "is X declared?"."""
    parts = [_read(snapshot, f) or "" for f in files]
    parts.append(repr(pyproject.get("project", {})))
    parts.append(repr(pyproject.get("dependency-groups", {})))
    tool = pyproject.get("tool", {})
    parts.append(repr(tool.get("poetry", {}) if isinstance(tool, Mapping) else {}))
    parts.append(_read(snapshot, "uv.lock") or "")
    parts.append(_read(snapshot, "poetry.lock") or "")
    parts.append(_read(snapshot, "Pipfile") or "")
    return "\n".join(parts).lower()


def _declares(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])", text) is not None


def windows_only(snapshot: Snapshot, files: Sequence[str]) -> str | None:
    """``path:line`` of a Windows-only requirement without a platform marker."""
    for path in files:
        for number, line in enumerate((_read(snapshot, path) or "").splitlines(), start=1):
            m = _REQ_NAME.match(line.split("#", 1)[0])
            if m and m.group(1).lower() in _WINDOWS_ONLY and ";" not in line:
                return f"{path}:{number}"
    return None


def _test_files(snapshot: Snapshot) -> list[str]:
    return [p for p in snapshot.paths() if _TEST_FILE.search(p)]


def _django_manage(snapshot: Snapshot) -> bool:
    text = _read(snapshot, "manage.py") or ""
    return "execute_from_command_line" in text and "DJANGO_SETTINGS_MODULE" in text


_SETTINGS = re.compile(r"""setdefault\(\s*["']DJANGO_SETTINGS_MODULE["']\s*,\s*["']([\w.]+)["']""")


def _settings_env_without_default(snapshot: Snapshot) -> list[str]:
    """Names the settings module reads with no default (``os.environ["X"]``, ``.get("X")``)."""
    m = _SETTINGS.search(_read(snapshot, "manage.py") or "")
    if m is None:
        return []
    base = m.group(1).replace(".", "/")
    for path in (f"{base}.py", f"{base}/__init__.py"):
        data = snapshot.read(path)
        if data is None:
            continue
        tree = parse_python(path, data)
        if isinstance(tree, Note):
            return []
        reads = env_reads_in_python(path, tree)
        return sorted({r.name for r in reads if r.requirement != "defaulted"})
    return []


def _unittest_only(snapshot: Snapshot, files: Sequence[str]) -> bool:
    texts = [_read(snapshot, f) or "" for f in files]
    return bool(texts) and all(
        re.search(r"^[^\S\n]*+(?:import unittest|from unittest\b)", t, re.M)
        and not re.search(r"^[^\S\n]*+(?:import pytest|from pytest\b)", t, re.M)
        for t in texts
    )


def find_runner(
    snapshot: Snapshot, pyproject: Mapping[str, Any], configured: str | None, declared: str
) -> Runner | Unsure:
    """The project's test command; ``configured`` names pytest configuration when present."""
    files = _test_files(snapshot)
    pytest_declared = _declares(declared, "pytest") or _declares(declared, "pytest-django")
    if configured and pytest_declared:
        return Runner("pytest", "pytest", f"pytest is configured ({configured}) and declared")
    pytest_style = [f for f in files if not f.endswith("tests.py") or "/" in f]
    pytest_named = [f for f in files if re.search(r"(?:^|/)(?:test_[^/]*|[^/]*_test)\.py$", f)]
    if pytest_declared and pytest_named:
        return Runner("pytest", "pytest", f"pytest is declared and `{pytest_named[0]}` exists")
    django_tests = [
        f
        for f in files
        if re.search(r"^[^\S\n]*+from django\.test\b", _read(snapshot, f) or "", re.M)
    ]
    if _django_manage(snapshot) and django_tests and not pytest_declared:
        unset = _settings_env_without_default(snapshot)
        if unset:
            return Unsure(
                "the Django settings read "
                + ", ".join(f"`{n}`" for n in unset[:5])
                + " from the environment with no default, so `manage.py test` fails until "
                "CI sets them (which values suit the tests is yours to say)"
            )
        return Runner(
            "django", "python manage.py test", f"Django's `manage.py`, `{django_tests[0]}`"
        )
    root = _read(snapshot, "tests.py") or ""
    if "tests.py" in files and re.search(r"\bunittest\.main\(", root) and not pytest_declared:
        return Runner("unittest", "python -m unittest -v tests", "`tests.py` calls unittest.main()")
    package = [f for f in files if f.startswith("tests/")]
    if package and "tests/__init__.py" in snapshot.paths() and _unittest_only(snapshot, package):
        return Runner(
            "unittest", "python -m unittest discover -v", "`tests/` is a unittest package"
        )
    found = ", ".join(f"`{f}`" for f in (pytest_style or files)[:3]) or "no test files"
    what = [f"test files: {found}"]
    if configured:
        what.append(f"pytest configured in {configured} but no dependency file declares pytest")
    elif not pytest_declared:
        what.append("no dependency file declares pytest")
    if "manage.py" in snapshot.paths() and not _django_manage(snapshot):
        what.append("`manage.py` is not Django's, so `manage.py test` is not a command")
    return Unsure("how the tests run is not written down: " + "; ".join(what))
