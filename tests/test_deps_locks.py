"""Lock files in the same PR, by the real tool: uv.lock and pip-compile/uv-compiled
requirements re-done with uv against the fake index, only the moved packages changing;
Poetry/PDM/Pipenv locks reported with the command to run (issue 13, point 1)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fixers.contract import Context, Finding, MemorySnapshot, Patch, Services
from fixers.dependencies import FIXER
from fixers.dependencies.locks import parse_lock
from fixers.dependencies.resolution import CompileRequest, LockRequest
from fixers.dependencies.sources import simple_index_from_env, sources_from_env
from fixers.dependencies.uvrunner import UvResolver, find_uv, resolver_from_env
from tests.fakeindex.server import FakeIndex, FakeRelease, FakeVuln

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
OLD = NOW - timedelta(days=300)
NEW = NOW - timedelta(days=30)
PYPROJECT = (
    '[project]\nname = "app"\nversion = "0.1.0"\nrequires-python = ">=3.10"\n'
    'dependencies = [\n    "flask==2.3.0",\n    "six>=1.0",\n]\n'
)

pytestmark = pytest.mark.skipif(find_uv({}) is None, reason="uv is not installed")


@pytest.fixture
def index(fake_index: FakeIndex) -> FakeIndex:
    fake_index.add_project(
        "flask",
        [
            FakeRelease("2.3.0", OLD, requires_dist=("werkzeug>=2.3,<3",)),
            FakeRelease("3.0.0", NEW, requires_dist=("werkzeug>=3.0",)),
        ],
    )
    fake_index.add_project("werkzeug", [FakeRelease("2.3.0", OLD), FakeRelease("3.0.0", NEW)])
    fake_index.add_project("six", [FakeRelease("1.16.0", OLD), FakeRelease("1.17.0", NEW)])
    return fake_index


def resolver_for(index: FakeIndex, tmp: Path) -> UvResolver:
    url, creds = simple_index_from_env(index.env())
    assert url is not None
    resolver = resolver_from_env(index.env(), index_url=url, credentials=creds, cache_dir=tmp)
    assert resolver is not None
    return resolver


def as_of_old(index: FakeIndex) -> list[tuple[str, FakeRelease]]:
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


def scan(
    index: FakeIndex, resolver: UvResolver | None, files: Mapping[str, bytes]
) -> tuple[list[Finding], list[Patch]]:
    idx, adv = sources_from_env(index.env(), cache_dir=None)
    services = Services(index=idx, advisories=adv, clock=lambda: NOW, resolver=resolver)
    ctx = Context(services=services, options={"groups": []})
    snapshot = MemorySnapshot(dict(files))
    findings = FIXER.detect(snapshot, ctx)
    return findings, FIXER.fix(snapshot, findings, ctx)


def run(index: FakeIndex, resolver: UvResolver | None, files: Mapping[str, bytes]) -> list[Patch]:
    return scan(index, resolver, files)[1]


def changed_lines(before: bytes, after: bytes) -> list[str]:
    diff = difflib.unified_diff(before.decode().splitlines(), after.decode().splitlines(), n=0)
    return [ln for ln in diff if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]


def test_uv_lock_moves_only_the_bumped_package(index: FakeIndex, tmp_path: Path) -> None:
    resolver = resolver_for(index, tmp_path / "pr")
    hidden = as_of_old(index)
    maker = resolver_for(index, tmp_path / "before")
    made = maker.lock(LockRequest(files=(("pyproject.toml", PYPROJECT.encode()),)))
    assert made.ok, made.message
    restore(index, hidden)
    lock = made.outputs["uv.lock"]
    files = {"pyproject.toml": PYPROJECT.encode(), "uv.lock": lock}
    (patch,) = run(index, resolver, files)
    edits = {e.path: e.content or b"" for e in patch.edits}
    assert set(edits) == {"pyproject.toml", "uv.lock"}
    new_lock = edits["uv.lock"].decode()
    assert 'name = "flask"\nversion = "3.0.0"' in new_lock
    assert 'name = "werkzeug"\nversion = "3.0.0"' in new_lock  # dragged along by flask
    assert 'name = "six"\nversion = "1.16.0"' in new_lock  # never a full relock
    assert not any("six" in ln for ln in changed_lines(lock, edits["uv.lock"]))
    check = LockRequest(
        files=(("pyproject.toml", edits["pyproject.toml"]), ("uv.lock", edits["uv.lock"])),
        check=True,
    )
    assert resolver.lock(check).ok  # `uv lock --check`, the real tool, on the PR's files
    assert "`uv.lock` was updated with `uv lock --upgrade-package`" in patch.explanation.markdown()
    # Without a resolver the lock cannot follow: no PR (pyproject.toml beside a stale
    # uv.lock fails `uv lock --check`), and the finding says exactly what to run.
    findings, patches = scan(index, None, files)
    assert patches == []
    flask = next(f for f in findings if f.data.get("package") == "flask")
    assert "`uv lock --upgrade-package flask==3.0.0`" in flask.message


def compiled_files(index: FakeIndex, tmp: Path, header: str | None) -> dict[str, bytes]:
    hidden = as_of_old(index)
    resolver = resolver_for(index, tmp / "before")
    command = "uv pip compile requirements.in -o requirements.txt --generate-hashes"
    made = resolver.compile(
        CompileRequest(
            files=(("requirements.in", b"flask\nsix\n"),),
            inputs=("requirements.in",),
            output="requirements.txt",
            python_version="3.11",
            generate_hashes=True,
            header_command=command,
        )
    )
    restore(index, hidden)
    assert made.ok, made.message
    text = made.outputs["requirements.txt"].decode()
    if header is not None:
        text = header + text.split("\n", 2)[2]
    return {"requirements.in": b"flask\nsix\n", "requirements.txt": text.encode()}


PIP_TOOLS_HEADER = (
    "#\n# This file is autogenerated by pip-compile with Python 3.11\n"
    "# by the following command:\n#\n"
    "#    pip-compile --generate-hashes --output-file=requirements.txt requirements.in\n#\n"
)


@pytest.mark.parametrize("header", [None, PIP_TOOLS_HEADER], ids=["uv", "pip-compile"])
def test_compiled_requirements_are_recompiled_with_their_options(
    index: FakeIndex, tmp_path: Path, header: str | None
) -> None:
    resolver = resolver_for(index, tmp_path / "pr")
    files = compiled_files(index, tmp_path, header)
    before = files["requirements.txt"]
    patches = run(index, resolver, files)
    flask = next(p for p in patches if p.key == "pip-flask")
    after = next(e.content for e in flask.edits if e.path == "requirements.txt")
    assert after is not None
    changed = changed_lines(before, after)
    # flask and werkzeug (which flask 3 needs) with their new hashes; nothing else.
    assert changed and all("flask" in ln or "werkzeug" in ln or "--hash" in ln for ln in changed)
    assert "+flask==3.0.0 \\" in changed and "+werkzeug==3.0.0 \\" in changed
    assert after.decode().startswith(before.decode().split("flask==")[0])  # header kept
    assert b"six==1.16.0" in after
    assert "re-compiled with `uv pip compile`" in flask.explanation.markdown()


def test_other_lock_tools_are_reported_with_the_command(index: FakeIndex, tmp_path: Path) -> None:
    """A lock Patchwell cannot write means no PR (the manifest alone would leave it
    stale): the finding gives the command instead."""
    poetry = (
        '[tool.poetry]\nname = "app"\nversion = "0.1.0"\n\n'
        '[tool.poetry.dependencies]\npython = "^3.10"\nsix = "1.16.0"\n'
    )
    files = {"pyproject.toml": poetry.encode(), "poetry.lock": b"# poetry\n"}
    # Without the optional Poetry extra (tests/test_deps_poetry.py runs the real one).
    url, creds = simple_index_from_env(index.env())
    assert url is not None
    env = {**index.env(), "PATCHWELL_POETRY": "off"}
    no_poetry = resolver_from_env(env, index_url=url, credentials=creds, cache_dir=tmp_path)
    findings, patches = scan(index, no_poetry, files)
    six = next(f for f in findings if f.rule == "outdated")
    assert patches == [] and "`poetry.lock` cannot be updated here" in six.message
    assert "`poetry update --lock six`" in six.message
    files = {"Pipfile": b'[packages]\nsix = "==1.16.0"\n', "Pipfile.lock": b"{}"}
    findings, patches = scan(index, resolver_for(index, tmp_path), files)
    six = next(f for f in findings if f.rule == "outdated")
    assert patches == [] and "Patchwell does not run Pipenv" in six.message
    assert "`pipenv upgrade six`" in six.message


def test_vulnerable_transitive_package_gets_a_lock_only_pr(
    index: FakeIndex, tmp_path: Path
) -> None:
    index.add_project(
        "werkzeug", [FakeRelease(v, OLD) for v in ("2.3.0", "2.3.8", "3.0.0", "3.0.1")]
    )
    index.add_vuln(FakeVuln("GHSA-wz01", "werkzeug", [("0", "2.3.8")], [], "DoS", "HIGH"))
    project = PYPROJECT.replace('"flask==2.3.0"', '"flask>=2.3"')
    resolver = resolver_for(index, tmp_path / "pr")
    hidden = as_of_old(index)
    keep = index.projects["werkzeug"].releases
    index.projects["werkzeug"].releases = [r for r in keep if r.version == "2.3.0"]
    maker = resolver_for(index, tmp_path / "before")
    made = maker.lock(LockRequest(files=(("pyproject.toml", project.encode()),)))
    assert made.ok, made.message
    index.projects["werkzeug"].releases = keep
    restore(index, hidden)
    lock = made.outputs["uv.lock"]
    files = {"pyproject.toml": project.encode(), "uv.lock": lock}
    patches = run(index, resolver, files)
    patch = next(p for p in patches if p.key == "lock-werkzeug")
    (edit,) = patch.edits
    assert edit.path == "uv.lock" and edit.content is not None
    old = parse_lock("uv.lock", lock.decode()).packages
    new = parse_lock("uv.lock", edit.content.decode()).packages
    moved = {n for n in old if old[n].version != new[n].version}
    assert moved == {"werkzeug"} and new["werkzeug"].version == "2.3.8"
    assert "installed through flask" in patch.explanation.markdown()
    assert patch.bypass_limit
    # A direct pin that excludes the fix: no PR, and the finding names who must move.
    pinned = PYPROJECT  # flask==2.3.0, which needs werkzeug<3
    index.add_vuln(FakeVuln("GHSA-wz02", "werkzeug", [("0", "3.0.1")], [], "RCE", "CRITICAL"))
    made = maker.lock(LockRequest(files=(("pyproject.toml", pinned.encode()),)))
    assert made.ok, made.message
    s = MemorySnapshot({"pyproject.toml": pinned.encode(), "uv.lock": made.outputs["uv.lock"]})
    idx, adv = sources_from_env(index.env(), cache_dir=None)
    ctx = Context(
        services=Services(index=idx, advisories=adv, clock=lambda: NOW, resolver=resolver)
    )
    findings = FIXER.detect(s, ctx)
    locked = next(f for f in findings if f.rule == "vulnerable" and f.data.get("lock"))
    assert locked.data["blocked"] and "flask must move first" in locked.message
    assert not any(p.key.startswith("lock-") for p in FIXER.fix(s, findings, ctx))


def test_vulnerable_pin_in_a_poetry_lock_says_what_to_run(index: FakeIndex, tmp_path: Path) -> None:
    index.add_vuln(FakeVuln("GHSA-wz03", "werkzeug", [("0", "3.0.0")], [], "DoS", "HIGH"))
    poetry_lock = (
        '[[package]]\nname = "flask"\nversion = "2.3.0"\n\n'
        '[package.dependencies]\nwerkzeug = ">=2.3"\n\n'
        '[[package]]\nname = "werkzeug"\nversion = "2.3.0"\n'
    )
    pyproject = '[tool.poetry.dependencies]\npython = "^3.10"\nflask = "^2.3"\n'
    files = {"pyproject.toml": pyproject.encode(), "poetry.lock": poetry_lock.encode()}
    idx, adv = sources_from_env(index.env(), cache_dir=None)
    ctx = Context(services=Services(index=idx, advisories=adv, clock=lambda: NOW))
    findings = FIXER.detect(MemorySnapshot(files), ctx)
    locked = next(f for f in findings if f.rule == "vulnerable" and f.data.get("lock"))
    assert "required through flask" in locked.message
    assert "`poetry update --lock werkzeug`" in locked.message


def test_an_upload_window_in_the_compile_command_is_honoured(
    fake_index: FakeIndex, tmp_path: Path
) -> None:
    """Found on readthedocs.org against PyPI: its files are compiled with
    `--uploaded-prior-to=P14D`; Patchwell proposed releases 6 days old, and did not
    re-compile ("not re-run here"). Now the window is a cooldown for those files' pins and
    the re-compile passes it to uv (`--exclude-newer`)."""
    fake_index.add_project(
        "six",
        [
            FakeRelease("1.15.0", OLD),
            FakeRelease("1.16.0", NOW - timedelta(days=20)),
            FakeRelease("1.17.0", NOW - timedelta(days=6)),  # inside the 14-day window
        ],
    )
    header = (
        "#\n# This file is autogenerated by pip-compile with Python 3.11\n"
        "# by the following command:\n#\n"
        "#    pip-compile --output-file=requirements.txt --uploaded-prior-to=P14D "
        "requirements.in\n#\n"
    )
    files = {
        "requirements.in": b"six\n",
        "requirements.txt": (header + "six==1.15.0\n    # via -r requirements.in\n").encode(),
    }
    idx, adv = sources_from_env(fake_index.env(), cache_dir=None)
    resolver = resolver_for(fake_index, tmp_path)
    services = Services(index=idx, advisories=adv, clock=lambda: NOW, resolver=resolver)
    ctx = Context(services=services, options={"groups": []})
    snapshot = MemorySnapshot(files)
    findings = FIXER.detect(snapshot, ctx)
    six = next(f for f in findings if f.rule == "outdated")
    assert six.data["target"] == "1.16.0" and six.data["latest"] == "1.17.0"
    assert "--uploaded-prior-to=P14D" in six.message and "before 2026-11-09" in six.message
    (patch,) = FIXER.fix(snapshot, findings, ctx)
    after = next(e.content for e in patch.edits if e.path == "requirements.txt")
    assert after is not None and b"six==1.16.0" in after and after.startswith(header.encode())
    assert "re-compiled with `uv pip compile`" in patch.explanation.markdown()
    # The window reaches uv: asked for 1.17.0 anyway, it finds no such release.
    request = CompileRequest(
        files=(("requirements.in", b"six==1.17.0\n"),),
        inputs=("requirements.in",),
        python_version="3.11",
        exclude_newer="2026-11-09T12:00:00Z",
    )
    result = resolver.compile(request)
    assert not result.ok and "six" in result.message


def test_a_compile_command_run_from_the_repository_root(index: FakeIndex, tmp_path: Path) -> None:
    """Found on readthedocs.org: `pip-compile --output-file=requirements/pip.txt
    requirements/pip.in` names its paths from the root; they were read relative to
    `requirements/` ("input requirements/requirements/pip.in is not in the repository")
    and nothing was re-compiled."""
    from fixers.dependencies.locks import compiled_header

    header = (
        "#\n# This file is autogenerated by pip-compile with Python 3.11\n"
        "# by the following command:\n#\n"
        "#    pip-compile --output-file=requirements/base.txt requirements/base.in\n#\n"
    )
    body = "six==1.16.0\n    # via -r requirements/base.in\n"
    compiled = compiled_header("requirements/base.txt", header + body)
    assert compiled is not None and compiled.inputs == ("requirements/base.in",)
    # The same command written from the file's own directory still means that directory.
    local = header.replace("requirements/base.txt requirements/base.in", "base.txt base.in")
    again = compiled_header("requirements/base.txt", local + body)
    assert again is not None and again.inputs == ("requirements/base.in",)
    files = {"requirements/base.in": b"six\n", "requirements/base.txt": (header + body).encode()}
    (patch,) = run(index, resolver_for(index, tmp_path), files)
    after = next(e.content for e in patch.edits if e.path == "requirements/base.txt")
    assert after is not None and b"six==1.17.0" in after and after.startswith(header.encode())
    assert "re-compiled with `uv pip compile`" in patch.explanation.markdown()


def test_a_range_in_the_input_file_bounds_the_compiled_pin(
    fake_index: FakeIndex, tmp_path: Path
) -> None:
    """Found on readthedocs.org: `django-crispy-forms<2` in pip.in, 1.14.0 pinned in the
    compiled pip.txt, and 2.7 proposed (the re-compile then failed on the conflict)."""
    fake_index.add_project(
        "six", [FakeRelease(v, OLD) for v in ("1.15.0", "1.16.0")] + [FakeRelease("2.0", NEW)]
    )
    files = {
        "requirements.in": b"six<2\n",
        "requirements.txt": (PIP_TOOLS_HEADER + "six==1.15.0\n").encode(),
    }
    idx, adv = sources_from_env(fake_index.env(), cache_dir=None)
    ctx = Context(services=Services(index=idx, advisories=adv, clock=lambda: NOW))
    snapshot = MemorySnapshot(files)
    six = next(f for f in FIXER.detect(snapshot, ctx) if f.rule == "outdated")
    assert six.data["target"] == "1.16.0", six.message
    assert "`six<2` at requirements.in:1" in six.message
