"""No dependency PR unless every lock it implies was updated and the change resolved.

Three classes of wrong PR, found on real repositories (benchmarks/realworld_labels.json)
and reproduced here on small repositories against the fake index with the real uv and
Poetry: the patch is withheld, the finding stays (report-only), and its message says
why there is no PR and gives the command the maintainer can run.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from fixers.contract import Finding
from fixers.dependencies import detect as detect_module
from fixers.dependencies.installable import Checker
from fixers.dependencies.resolution import CompileRequest, LockRequest, ToolLockRequest
from fixers.dependencies.uvrunner import find_poetry, find_uv
from tests.fakeindex.server import FakeIndex, FakeRelease, FakeVuln
from tests.lockscan import NEW, OLD, hide_new, resolver_for, restore, scan

pytestmark = pytest.mark.skipif(find_uv({}) is None, reason="uv is not installed")


def outdated(findings: list[Finding], name: str) -> Finding:
    return next(f for f in findings if f.rule == "outdated" and f.data["package"] == name)


# --------------------------------------------------------------------------- uv.lock + sdist

UV_PROJECT = (
    '[project]\nname = "site"\nversion = "1.0"\nrequires-python = ">=3.10"\n'
    'dependencies = ["six==1.16.0", "secureish>=1.0"]\n'
)


def test_a_uv_lock_that_needs_a_build_gets_no_pr(fake_index: FakeIndex, tmp_path: Path) -> None:
    """djangopackages: pyproject.toml bumped, uv.lock left stale, because django-secure
    publishes only an sdist and the sandbox never builds (`uv lock --upgrade-package`
    cannot run here), so `uv lock --check` failed on the PR as opened."""
    fake_index.add_project("six", [FakeRelease("1.16.0", OLD), FakeRelease("1.17.0", NEW)])
    fake_index.add_project("secureish", [FakeRelease("1.0", OLD)])
    hidden = hide_new(fake_index)
    made = resolver_for(fake_index, tmp_path / "before").lock(
        LockRequest(files=(("pyproject.toml", UV_PROJECT.encode()),))
    )
    restore(fake_index, hidden)
    assert made.ok, made.message
    # Since the lock was made, the project took down its wheels: only the sdist is left,
    # with no metadata a client could read without building it.
    fake_index.projects["secureish"].releases = [
        FakeRelease(
            "1.0",
            OLD,
            filenames=("secureish-1.0.tar.gz",),
            json_requires_dist=False,
            sdist_pkg_info=False,
        )
    ]
    lock = made.outputs["uv.lock"]
    files = {"pyproject.toml": UV_PROJECT.encode(), "uv.lock": lock}
    findings, patches = scan(fake_index, resolver_for(fake_index, tmp_path / "pr"), files)
    six = outdated(findings, "six")
    assert six.data["target"] == "1.17.0"
    assert patches == []  # never pyproject.toml without its lock
    assert six.data["no_pr"]["commands"] == ["uv lock --upgrade-package six==1.17.0"]
    assert "Patchwell opens no PR for this" in six.message
    assert "`uv.lock` could not be updated: secureish publishes only an sdist" in six.message
    assert "`uv lock --upgrade-package six==1.17.0`" in six.message
    assert six.title is not None and "no PR: `uv.lock` cannot be updated here" in six.title


def test_without_a_resolver_a_uv_lock_means_no_pr(fake_index: FakeIndex, tmp_path: Path) -> None:
    fake_index.add_project("six", [FakeRelease("1.16.0", OLD), FakeRelease("1.17.0", NEW)])
    fake_index.add_project("secureish", [FakeRelease("1.0", OLD)])
    hidden = hide_new(fake_index)
    made = resolver_for(fake_index, tmp_path).lock(
        LockRequest(files=(("pyproject.toml", UV_PROJECT.encode()),))
    )
    restore(fake_index, hidden)
    assert made.ok, made.message
    files = {"pyproject.toml": UV_PROJECT.encode(), "uv.lock": made.outputs["uv.lock"]}
    findings, patches = scan(fake_index, None, files)
    assert patches == []
    six = outdated(findings, "six")
    assert "`uv.lock` cannot be updated: no resolver is configured" in six.message
    # A manifest that implies no lock still gets its PR without a resolver (not checked).
    _f, patches = scan(fake_index, None, {"pyproject.toml": UV_PROJECT.encode()})
    assert [p.key for p in patches] == ["pip-six"]


# --------------------------------------------------------------------------- poetry.lock 2.0


POETRY_PROJECT = (
    b'[tool.poetry]\nname = "app"\nversion = "0.1.0"\ndescription = ""\n'
    b'authors = ["A <a@example.com>"]\n\n'
    b'[tool.poetry.dependencies]\npython = "^3.10"\nsix = "1.16.0"\n'
)


@pytest.mark.skipif(find_poetry({}) is None, reason="Poetry is not installed (`.[test]`)")
def test_a_poetry_lock_poetry_would_rewrite_gets_no_pr(
    fake_index: FakeIndex, tmp_path: Path
) -> None:
    """mealie: poetry.lock is lock-version 2.0 and Poetry 2 would rewrite every entry, so
    the lock was left stale on purpose -- and `poetry install` failed on the PR."""
    fake_index.add_project("six", [FakeRelease("1.16.0", OLD), FakeRelease("1.17.0", NEW)])
    hidden = hide_new(fake_index)
    made = resolver_for(fake_index, tmp_path / "before").tool_lock(
        ToolLockRequest("poetry", (("pyproject.toml", POETRY_PROJECT),))
    )
    restore(fake_index, hidden)
    assert made.ok, made.message
    lock = made.outputs["poetry.lock"].decode()
    older = "\n".join(ln for ln in lock.splitlines() if not ln.startswith("groups = "))
    older = older.replace('lock-version = "2.1"', 'lock-version = "2.0"') + "\n"
    files = {"pyproject.toml": POETRY_PROJECT, "poetry.lock": older.encode()}
    findings, patches = scan(fake_index, resolver_for(fake_index, tmp_path / "pr"), files)
    assert patches == []
    six = outdated(findings, "six")
    assert six.data["no_pr"]["commands"] == ["poetry update --lock six"]
    assert "`poetry.lock` could not be updated: the lock has lock-version 2.0" in six.message
    assert "`poetry update --lock six`" in six.message


# --------------------------------------------------------------------------- pip-compiled

COMPILED_HEADER = (
    "#\n# This file is autogenerated by pip-compile with Python 3.9\n"
    "# by the following command:\n#\n"
    "#    pip-compile --output-file=requirements/{name}.txt requirements/{name}.in\n#\n"
)


def compiled(name: str, pins: str) -> dict[str, bytes]:
    body = "".join(f"{p}\n    # via -r requirements/{name}.in\n" for p in pins.split())
    return {
        f"requirements/{name}.in": "".join(p.split("==")[0] + "\n" for p in pins.split()).encode(),
        f"requirements/{name}.txt": (COMPILED_HEADER.format(name=name) + body).encode(),
    }


def test_a_compiled_file_that_does_not_recompile_gets_no_pr(
    fake_index: FakeIndex, tmp_path: Path
) -> None:
    """readthedocs.org: pins hand-edited in pip-compiled files; the sandboxed re-compile
    found the set unsatisfiable, and the edits stayed. Here the file is compiled for
    Python 3.9 (its header) and the new release needs 3.10: the set resolves for the
    default Python, the file's own re-compile does not."""
    fake_index.add_project(
        "six",
        [FakeRelease("1.16.0", OLD), FakeRelease("1.17.0", NEW, requires_python=">=3.10")],
    )
    files = compiled("deploy", "six==1.16.0")
    resolver = resolver_for(fake_index, tmp_path)
    result = resolver.compile(
        CompileRequest(
            files=(("deploy.in", b"six==1.17.0\n"),), inputs=("deploy.in",), python_version="3.9"
        )
    )
    assert not result.ok  # what the re-compile meets: unsatisfiable on the file's Python
    findings, patches = scan(fake_index, resolver, files)
    six = outdated(findings, "six")
    assert six.data["install"]["status"] == "ok"  # the set resolves (default Python)
    assert patches == []  # ... but the compiled file cannot follow: no hand edit
    command = (
        "pip-compile --output-file=requirements/deploy.txt requirements/deploy.in "
        "--upgrade-package six==1.17.0"
    )
    assert six.data["no_pr"]["commands"] == [command]
    assert "`requirements/deploy.txt` could not be re-compiled with uv" in six.message
    assert f"`{command}`" in six.message


def test_the_resolution_budget_goes_to_security_updates_first(
    fake_index: FakeIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one resolution left, the vulnerable pin is checked and gets its PR; the drift
    that comes first in the repository waits (undecided, its PR if any left as it is)."""
    fake_index.add_project("aaa-drift", [FakeRelease("1.0", OLD), FakeRelease("1.1", NEW)])
    fake_index.add_project("zzz-vuln", [FakeRelease("2.0", OLD), FakeRelease("2.1", NEW)])
    fake_index.add_vuln(FakeVuln("GHSA-zz01", "zzz-vuln", [("0", "2.1")], [], "RCE", "HIGH"))
    files = {"requirements.txt": b"aaa-drift==1.0\n", "requirements-z.txt": b"zzz-vuln==2.0\n"}
    monkeypatch.setattr(
        detect_module, "Checker", lambda *a, **k: dataclasses.replace(Checker(*a, **k), budget=1)
    )
    findings, patches = scan(fake_index, resolver_for(fake_index, tmp_path), files)
    (vuln,) = [f for f in findings if f.rule == "vulnerable"]
    (drift,) = [f for f in findings if f.rule == "outdated" and f.data["package"] == "aaa-drift"]
    assert vuln.data["install"]["status"] == "ok" and not vuln.undecided
    assert drift.undecided and "resolution budget is spent" in drift.message
    assert [p.key for p in patches] == ["pip-zzz-vuln"]


def test_units_the_resolution_budget_did_not_reach_get_no_pr(
    fake_index: FakeIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """readthedocs.org: the scan's 60 resolutions were spent before some install units
    were checked, and those were patched anyway. Here the budget is one resolution:
    the first unit is checked and gets its PR, the second is not and gets none."""
    fake_index.add_project("six", [FakeRelease("1.16.0", OLD), FakeRelease("1.17.0", NEW)])
    fake_index.add_project("click", [FakeRelease("8.1.0", OLD), FakeRelease("8.2.0", NEW)])
    files = {"requirements-a.txt": b"click==8.1.0\n", "requirements-b.txt": b"six==1.16.0\n"}
    one = dataclasses.replace  # keep the real Checker, with a budget of one resolution

    def small_budget(*args: Any, **kwargs: Any) -> Checker:
        return one(Checker(*args, **kwargs), budget=1)

    monkeypatch.setattr(detect_module, "Checker", small_budget)
    findings, patches = scan(fake_index, resolver_for(fake_index, tmp_path), files)
    checked = [f for f in findings if f.rule == "outdated" and f.data["install"]["status"] == "ok"]
    skipped = [f for f in findings if f.rule == "outdated" and f not in checked]
    assert len(checked) == 1 and len(skipped) == 1
    assert [p.key for p in patches] == [f"pip-{checked[0].data['package']}"]
    late = skipped[0]
    assert "no_pr" not in checked[0].data
    assert "resolution budget is spent" in late.message
    # Undecided, not withdrawn: a PR an earlier scan opened for it stays open.
    assert late.undecided and not checked[0].undecided
    assert "Patchwell opens no PR for this" in late.message
    assert late.data["no_pr"]["commands"] == [f"uv pip compile {late.path}"]
    # A pip-compiled unit the budget did not reach: its own compile command, which
    # resolves and writes the pin (no hand edit to make first).
    monkeypatch.setattr(detect_module, "Checker", lambda *a, **k: one(Checker(*a, **k), budget=0))
    findings, patches = scan(
        fake_index, resolver_for(fake_index, tmp_path), compiled("deploy", "six==1.16.0")
    )
    six = outdated(findings, "six")
    assert patches == [] and "resolution budget is spent" in six.message
    command = (
        "pip-compile --output-file=requirements/deploy.txt requirements/deploy.in "
        "--upgrade-package six==1.17.0"
    )
    assert six.data["no_pr"]["commands"] == [command]
    assert f"run `{command}` and commit the re-compiled file" in six.message
