"""poetry.lock in the same PR, written by the real Poetry (the optional ``poetry`` extra,
installed by ``.[test]``) against the fake index: only the bumped package moves, the
lock passes ``poetry check --lock``, and the sandbox holds -- repository sources,
path/git dependencies and plugins are refused before Poetry starts, an sdist is never
built, credentials never leak (issue 13, point 1)."""

from __future__ import annotations

import dataclasses
import difflib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixers.contract import Patch
from fixers.dependencies.locks import parse_lock
from fixers.dependencies.resolution import ToolLockRequest
from fixers.dependencies.toolrunner import SHIM, ToolCommand, poetry_command
from fixers.dependencies.uvrunner import UvResolver, find_poetry, find_uv
from tests.fakeindex.server import FakeIndex, FakeRelease
from tests.lockscan import NEW, OLD, resolver_for, scan

PYPROJECT = (
    b'[tool.poetry]\nname = "app"\nversion = "0.1.0"\ndescription = ""\n'
    b'authors = ["A <a@example.com>"]\nreadme = "README.md"\n\n'
    b'[tool.poetry.dependencies]\npython = "^3.10"\nflask = "2.3.0"\nsix = "^1.16"\n'
)

pytestmark = [
    pytest.mark.skipif(find_uv({}) is None, reason="uv is not installed"),
    pytest.mark.skipif(
        find_poetry({}) is None,
        reason="Poetry is not installed (the optional `poetry` extra; `.[test]` installs it)",
    ),
]


def add_flask(index: FakeIndex, *, new: bool = True) -> FakeIndex:
    flask = [FakeRelease("2.3.0", OLD, requires_dist=("werkzeug>=2.3,<3",))]
    werkzeug, six = [FakeRelease("2.3.0", OLD)], [FakeRelease("1.16.0", OLD)]
    if new:
        flask.append(FakeRelease("3.0.0", NEW, requires_dist=("werkzeug>=3.0",)))
        werkzeug.append(FakeRelease("3.0.0", NEW))
        six.append(FakeRelease("1.17.0", NEW))
    index.add_project("flask", flask)
    index.add_project("werkzeug", werkzeug)
    index.add_project("six", six)
    return index


@pytest.fixture
def rogue() -> Iterator[FakeIndex]:
    with FakeIndex() as other:
        yield add_flask(other)


def old_lock(tmp: Path, pyproject: bytes = PYPROJECT) -> bytes:
    """A poetry.lock made before the new releases existed (its own index and cache)."""
    with FakeIndex() as before:
        made = resolver_for(add_flask(before, new=False), tmp / "before").tool_lock(
            ToolLockRequest("poetry", (("pyproject.toml", pyproject),))
        )
    assert made.ok, made.message
    return made.outputs["poetry.lock"]


def run(index: FakeIndex, resolver: UvResolver | None, files: dict[str, bytes]) -> list[Patch]:
    return scan(index, resolver, files)[1]


def changed(before: bytes, after: bytes) -> list[str]:
    diff = difflib.unified_diff(before.decode().splitlines(), after.decode().splitlines(), n=0)
    return [ln for ln in diff if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]


def test_poetry_lock_moves_only_the_bumped_package(fake_index: FakeIndex, tmp_path: Path) -> None:
    add_flask(fake_index)
    lock = old_lock(tmp_path)
    resolver = resolver_for(fake_index, tmp_path / "pr")
    files = {"pyproject.toml": PYPROJECT, "poetry.lock": lock}
    patches = run(fake_index, resolver, files)
    flask = next(p for p in patches if p.key == "pip-flask")
    edits = {e.path: e.content or b"" for e in flask.edits}
    assert set(edits) == {"pyproject.toml", "poetry.lock"}
    before = parse_lock("poetry.lock", lock.decode()).packages
    after = parse_lock("poetry.lock", edits["poetry.lock"].decode()).packages
    moved = {n for n in before if before[n].version != after[n].version}
    assert moved == {"flask", "werkzeug"}  # werkzeug because flask 3 requires it
    assert after["six"].version == "1.16.0"  # never a full relock
    six = [ln for ln in changed(lock, edits["poetry.lock"]) if "six" in ln]
    assert not six, six
    # The real `poetry check --lock` on the PR's files; and it does fail on a stale lock.
    pr = (("pyproject.toml", edits["pyproject.toml"]), ("poetry.lock", edits["poetry.lock"]))
    assert resolver.tool_lock(ToolLockRequest("poetry", pr, check=True)).ok
    stale = (("pyproject.toml", edits["pyproject.toml"]), ("poetry.lock", lock))
    verdict = resolver.tool_lock(ToolLockRequest("poetry", stale, check=True))
    assert not verdict.ok and "changed significantly" in verdict.message
    text = flask.explanation.markdown()
    assert "was updated by Poetry with `poetry update --lock flask`" in text
    assert "`poetry check --lock` passes" in text
    # The lock names files and hashes, never the operator's index.
    assert fake_index.base_url.encode() not in edits["poetry.lock"]
    # Without Poetry (the extra not installed) the lock cannot follow: no PR, and the
    # finding gives the command.
    without = resolver_for(fake_index, tmp_path / "pr", PATCHWELL_POETRY="off")
    assert without.tools == frozenset()
    findings, patches = scan(fake_index, without, files)
    assert not any(p.key == "pip-flask" for p in patches)
    flask = next(f for f in findings if f.data.get("package") == "flask")
    assert "`poetry.lock` cannot be updated here" in flask.message
    assert "`poetry update --lock flask`" in flask.message


def test_a_release_newer_than_poetrys_cached_page_is_still_locked(
    fake_index: FakeIndex, tmp_path: Path
) -> None:
    """Poetry keeps index pages for their max-age; the fixer may propose a release
    published since (found through its own index client): the update is retried once
    without Poetry's cache rather than failing."""
    add_flask(fake_index, new=False)
    resolver = resolver_for(fake_index, tmp_path / "shared")
    made = resolver.tool_lock(ToolLockRequest("poetry", (("pyproject.toml", PYPROJECT),)))
    assert made.ok, made.message
    fake_index.projects["flask"].releases.append(
        FakeRelease("3.0.0", NEW, requires_dist=("werkzeug>=3.0",))
    )
    fake_index.projects["werkzeug"].releases.append(FakeRelease("3.0.0", NEW))
    files = {"pyproject.toml": PYPROJECT, "poetry.lock": made.outputs["poetry.lock"]}
    flask = next(p for p in run(fake_index, resolver, files) if p.key == "pip-flask")
    lock = next(e.content for e in flask.edits if e.path == "poetry.lock")
    assert lock is not None
    assert parse_lock("poetry.lock", lock.decode()).packages["flask"].version == "3.0.0"


def test_a_lock_poetry_would_reformat_is_left_with_the_command(
    fake_index: FakeIndex, tmp_path: Path
) -> None:
    add_flask(fake_index)
    lock = old_lock(tmp_path).decode()
    # An older Poetry's lock: lock-version 2.0, no `groups` in the entries.
    older = "\n".join(ln for ln in lock.splitlines() if not ln.startswith("groups = "))
    older = older.replace('lock-version = "2.1"', 'lock-version = "2.0"') + "\n"
    files = {"pyproject.toml": PYPROJECT, "poetry.lock": older.encode()}
    findings, patches = scan(fake_index, resolver_for(fake_index, tmp_path / "pr"), files)
    # No PR: pyproject.toml without its lock fails `poetry install` (found on mealie).
    assert not any(p.key == "pip-flask" for p in patches)
    flask = next(f for f in findings if f.data.get("package") == "flask")
    text = flask.message
    assert "`poetry.lock` could not be updated: the lock has lock-version 2.0" in text
    assert "it would rewrite every entry" in text and "`poetry update --lock flask`" in text


@pytest.mark.parametrize(
    "extra",
    [
        '\n[[tool.poetry.source]]\nname = "corp"\nurl = "{rogue}/simple/"\npriority = "primary"\n',
        '\n[tool.poetry.group.dev.dependencies]\nlocal = {{ path = "../local" }}\n',
        '\n[tool.poetry.group.dev.dependencies]\ngitdep = {{ git = "{rogue}/x.git" }}\n',
        '\n[tool.poetry.group.dev.dependencies]\nw = [{{ url = "{rogue}/files/w.whl" }}]\n',
        '\n[tool.poetry.requires-plugins]\npoetry-plugin-export = ">=1.8"\n',
    ],
    ids=["source", "path", "git", "url", "plugins"],
)
def test_repository_sources_and_local_dependencies_are_refused(
    fake_index: FakeIndex, rogue: FakeIndex, tmp_path: Path, extra: str
) -> None:
    resolver = resolver_for(add_flask(fake_index), tmp_path)
    project = PYPROJECT + extra.format(rogue=rogue.base_url).encode()
    result = resolver.tool_lock(ToolLockRequest("poetry", (("pyproject.toml", project),)))
    assert result.refused and not result.ok
    assert rogue.total_requests() == 0 and fake_index.total_requests() == 0


def test_the_refusal_is_what_keeps_poetry_off_a_repository_source(
    fake_index: FakeIndex, rogue: FakeIndex, tmp_path: Path
) -> None:
    """Poetry follows [[tool.poetry.source]] even through the shim: the check before it
    starts is the protection (this runs Poetry past the check, on purpose)."""
    resolver = resolver_for(add_flask(fake_index), tmp_path)
    source = f'\n[[tool.poetry.source]]\nname = "corp"\nurl = "{rogue.simple_url}/"\n'
    project = PYPROJECT + (source + 'priority = "primary"\n').encode()
    command = ToolCommand(
        "Poetry", (sys.executable, "-I", str(SHIM), fake_index.base_url, "lock", "-n")
    )
    resolver._run([], (("pyproject.toml", project),), ("poetry.lock",), tool=command)
    assert rogue.total_requests() > 0


def _evil(index: FakeIndex, marker: Path) -> None:
    """An sdist-only package whose metadata only a build would reveal; building it
    (its in-tree backend) writes ``marker``."""
    backend = f"open({str(marker)!r}, 'w').write('ran')\n"
    pyproject = '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
    index.add_project(
        "evil",
        [
            FakeRelease(
                "1.0",
                OLD,
                filenames=("evil-1.0.tar.gz",),
                sdist_files=(("backend.py", backend), ("pyproject.toml", pyproject)),
                json_requires_dist=False,
                sdist_pkg_info=False,
            )
        ],
    )


def test_poetry_never_builds_a_package(fake_index: FakeIndex, tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    _evil(add_flask(fake_index), marker)
    resolver = resolver_for(fake_index, tmp_path / "cache")
    project = PYPROJECT.replace(b'six = "^1.16"', b'evil = "1.0"')
    result = resolver.tool_lock(ToolLockRequest("poetry", (("pyproject.toml", project),)))
    assert not result.ok and "disabled in Patchwell's sandbox" in result.message
    assert not marker.exists()
    # Proof the shim's build guard matters: Poetry pointed at the same index without it.
    unguarded = tmp_path / "unguarded.py"
    unguarded.write_text(
        SHIM.read_text()
        .replace("    for module in (info, chef, isolated_build):", "    for module in ():")
        .replace("    info.get_pep517_metadata = _no_metadata_build", "")
    )
    command = ToolCommand(
        "Poetry", (sys.executable, "-I", str(unguarded), fake_index.base_url, "lock", "-n")
    )
    other = dataclasses.replace(resolver, cache_dir=str(tmp_path / "cache2"))
    other._run([], (("pyproject.toml", project),), ("poetry.lock",), tool=command)
    assert marker.exists()


def test_credentials_reach_the_index_and_never_the_lock(
    fake_index: FakeIndex, tmp_path: Path
) -> None:
    add_flask(fake_index).credentials = ("bot", "s3cr3t-index-pass")
    url = fake_index.simple_url.replace("http://", "http://bot:s3cr3t-index-pass@")
    resolver = resolver_for(fake_index, tmp_path, PATCHWELL_INDEX_URL=url)
    result = resolver.tool_lock(ToolLockRequest("poetry", (("pyproject.toml", PYPROJECT),)))
    assert result.ok, result.message
    assert (
        b"s3cr3t" not in result.outputs["poetry.lock"]
        and b"bot:" not in result.outputs["poetry.lock"]
    )
    assert any(a and a.startswith("Basic ") for a in fake_index.auth_seen)
    fake_index.credentials = ("bot", "another-pass-entirely")  # the index now refuses us
    other = dataclasses.replace(resolver, cache_dir=str(tmp_path / "cold"))
    result = other.tool_lock(ToolLockRequest("poetry", (("pyproject.toml", PYPROJECT),)))
    assert not result.ok and "s3cr3t" not in result.message


def test_budget_stops_a_slow_poetry(fake_index: FakeIndex, tmp_path: Path) -> None:
    resolver = resolver_for(add_flask(fake_index), tmp_path)
    slow = dataclasses.replace(resolver, timeout=0.001)
    result = slow.tool_lock(ToolLockRequest("poetry", (("pyproject.toml", PYPROJECT),)))
    assert not result.ok and result.unavailable and "Poetry took longer" in result.message


def test_the_operators_ca_bundle_reaches_poetry(fake_index: FakeIndex, tmp_path: Path) -> None:
    """Found against PyPI behind a TLS-inspecting proxy: uv honoured SSL_CERT_FILE, Poetry
    (requests, certifi's bundle) failed every lock with CERTIFICATE_VERIFY_FAILED."""
    env = {"SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt"}
    resolver = resolver_for(fake_index, tmp_path, **env)
    request = ToolLockRequest("poetry", (("pyproject.toml", PYPROJECT),))
    command = poetry_command(resolver, request, fake_index.base_url)
    assert command.env["REQUESTS_CA_BUNDLE"] == "/etc/ssl/certs/ca-certificates.crt"
    own = resolver_for(fake_index, tmp_path, REQUESTS_CA_BUNDLE="/srv/ca.pem", **env)
    assert poetry_command(own, request, fake_index.base_url).env["REQUESTS_CA_BUNDLE"] == (
        "/srv/ca.pem"
    )
