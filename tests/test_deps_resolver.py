"""The sandboxed resolver (fixers/dependencies/uvrunner.py): the real uv against the fake
index on localhost, its refusals, its budget, and credentials that never leak."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fixers.dependencies.resolution import CompileRequest, LockRequest
from fixers.dependencies.sources import simple_index_from_env
from fixers.dependencies.uvrunner import UvResolver, find_uv, resolver_from_env
from tests.fakeindex.server import FakeIndex, FakeRelease

T = datetime(2026, 1, 1, tzinfo=UTC)
PYPROJECT = (
    b'[project]\nname = "app"\nversion = "0.1.0"\nrequires-python = ">=3.9"\n'
    b'dependencies = ["flask==2.3.0"]\n'
)

pytestmark = pytest.mark.skipif(find_uv({}) is None, reason="uv is not installed")


def flask_index(index: FakeIndex) -> FakeIndex:
    index.add_project(
        "flask",
        [
            FakeRelease("2.3.0", T, requires_dist=("werkzeug>=2.3,<3",)),
            FakeRelease("3.0.0", T, requires_dist=("werkzeug>=3.0",), requires_python=">=3.8"),
        ],
    )
    index.add_project("werkzeug", [FakeRelease("2.3.0", T), FakeRelease("3.0.0", T)])
    return index


def make_resolver(index: FakeIndex, tmp: Path, env: dict[str, str] | None = None) -> UvResolver:
    env = env or index.env()
    url, creds = simple_index_from_env(env)
    assert url is not None
    resolver = resolver_from_env(env, index_url=url, credentials=creds, cache_dir=tmp)
    assert resolver is not None
    return resolver


@pytest.fixture
def rogue() -> Iterator[FakeIndex]:
    """A second index: a repository's own setting pointing at it must never be followed."""
    with FakeIndex() as other:
        flask_index(other)
        yield other


def test_compile_resolves_and_reports_conflicts(fake_index: FakeIndex, tmp_path: Path) -> None:
    resolver = make_resolver(flask_index(fake_index), tmp_path)
    bad = CompileRequest(
        files=(("r.in", b"flask==3.0.0\nwerkzeug==2.3.0\n"),),
        inputs=("r.in",),
        python_version="3.9",
    )
    result = resolver.compile(bad)
    assert not result.ok and not result.unavailable and result.refused is None
    assert "werkzeug" in result.message and "not available" not in result.message
    good = CompileRequest(
        files=(("r.in", b"flask==3.0.0\nwerkzeug>=2.3\n"), ("r.txt", b"werkzeug==2.3.0\n")),
        inputs=("r.in",),
        output="r.txt",
        python_version="3.9",
        generate_hashes=True,
    )
    result = resolver.compile(good)
    assert result.ok, result.message
    text = result.outputs["r.txt"].decode()
    assert "flask==3.0.0 \\\n    --hash=sha256:" in text and "werkzeug==3.0.0" in text
    # Plain data: the resolver goes into a fixer child process as it is, secrets hidden.
    assert pickle.loads(pickle.dumps(resolver)) == resolver


def test_lock_upgrades_only_the_named_package_and_checks(
    fake_index: FakeIndex, tmp_path: Path
) -> None:
    flask_index(fake_index).add_project("six", [FakeRelease("1.16.0", T), FakeRelease("1.17.0", T)])
    resolver = make_resolver(fake_index, tmp_path)
    old_six = fake_index.projects["six"].releases.pop()  # lock while 1.16.0 is the newest
    project = PYPROJECT.replace(b'"flask==2.3.0"', b'"flask==2.3.0", "six"')
    first = resolver.lock(LockRequest(files=(("pyproject.toml", project),)))
    assert first.ok, first.message
    fake_index.projects["six"].releases.append(old_six)
    bumped = project.replace(b"flask==2.3.0", b"flask==3.0.0")
    files = (("pyproject.toml", bumped), ("uv.lock", first.outputs["uv.lock"]))
    assert not resolver.lock(LockRequest(files=files, check=True)).ok  # stale
    result = resolver.lock(LockRequest(files=files, upgrade=("flask",)))
    assert result.ok, result.message
    lock = result.outputs["uv.lock"].decode()
    assert 'name = "flask"\nversion = "3.0.0"' in lock
    assert 'name = "werkzeug"\nversion = "3.0.0"' in lock  # dragged along
    assert 'name = "six"\nversion = "1.16.0"' in lock  # not upgraded: not named
    check = LockRequest(files=(("pyproject.toml", bumped), ("uv.lock", lock.encode())), check=True)
    assert resolver.lock(check).ok


def test_repository_index_settings_are_refused_and_never_contacted(
    fake_index: FakeIndex, rogue: FakeIndex, tmp_path: Path
) -> None:
    resolver = make_resolver(flask_index(fake_index), tmp_path)
    project = (
        PYPROJECT
        + (
            f'[[tool.uv.index]]\nname = "corp"\nurl = "{rogue.simple_url}"\n\n'
            '[tool.uv.sources]\nflask = { index = "corp" }\n'
        ).encode()
    )
    result = resolver.lock(LockRequest(files=(("pyproject.toml", project),)))
    assert result.refused and "[tool.uv] index, sources" in result.refused
    for line in (f"--extra-index-url {rogue.simple_url}", f"-i {rogue.simple_url}", "-e ."):
        req = CompileRequest(
            files=(("r.in", f"{line}\nflask\n".encode()),), inputs=("r.in",), python_version="3.9"
        )
        assert resolver.compile(req).refused, line
    url_req = CompileRequest(
        files=(("r.in", f"flask @ {rogue.base_url}/files/x.whl\n".encode()),),
        inputs=("r.in",),
        python_version="3.9",
    )
    assert resolver.compile(url_req).refused
    assert rogue.total_requests() == 0
    # The refusal is what protects: uv itself follows [tool.uv.sources] even with --no-config.
    resolver._run(["lock", "--python", resolver.python], (("pyproject.toml", project),), ())
    assert rogue.total_requests() > 0


def test_build_backends_never_run(fake_index: FakeIndex, tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    backend = f"open({str(marker)!r}, 'w').write('ran')\n"
    dynamic = (
        b'[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
        b'[project]\nname = "app"\ndynamic = ["version"]\ndependencies = ["flask"]\n'
    )
    resolver = make_resolver(flask_index(fake_index), tmp_path)
    result = resolver.lock(LockRequest(files=(("pyproject.toml", dynamic),)))
    assert result.refused and "dynamic version" in result.refused
    assert not marker.exists()
    # A static project with the same backend locks without ever importing it.
    static = dynamic.replace(b'dynamic = ["version"]', b'version = "1.0"')
    assert resolver.lock(LockRequest(files=(("pyproject.toml", static),))).ok
    # An sdist-only dependency whose setup.py would write the marker is never built.
    fake_index.add_project(
        "evil",
        [
            FakeRelease(
                "1.0", T, filenames=("evil-1.0.tar.gz",), sdist_files=(("setup.py", backend),)
            )
        ],
    )
    req = CompileRequest(files=(("r.in", b"evil\n"),), inputs=("r.in",), python_version="3.11")
    result = resolver.compile(req)
    assert not result.ok and "build" in result.message.lower()
    assert not marker.exists()
    # Proof the refusal matters: run uv on the dynamic project with its backend present.
    files = (("pyproject.toml", dynamic), ("backend.py", backend.encode()))
    resolver._run(["lock", "--python", resolver.python], files, ())
    assert marker.exists()


def test_credentials_go_through_netrc_and_never_leak(fake_index: FakeIndex, tmp_path: Path) -> None:
    flask_index(fake_index).credentials = ("bot", "s3cr3t-index-pass")
    url = fake_index.simple_url.replace("http://", "http://bot:s3cr3t-index-pass@")
    resolver = make_resolver(fake_index, tmp_path, {"PATCHWELL_INDEX_URL": url})
    assert "s3cr3t" not in repr(resolver) and "s3cr3t" not in resolver.index_url
    result = resolver.lock(LockRequest(files=(("pyproject.toml", PYPROJECT),)))
    assert result.ok, result.message
    assert b"s3cr3t" not in result.outputs["uv.lock"] and "bot" not in result.message
    assert any(a and a.startswith("Basic ") for a in fake_index.auth_seen)
    fake_index.credentials = ("bot", "another-pass-entirely")  # now the index refuses us
    result = resolver.lock(LockRequest(files=(("pyproject.toml", PYPROJECT),), upgrade=("flask",)))
    assert not result.ok and "s3cr3t" not in result.message


def test_budget_stops_a_slow_resolution(fake_index: FakeIndex, tmp_path: Path) -> None:
    resolver = make_resolver(flask_index(fake_index), tmp_path)
    slow = UvResolver(**{**resolver.__dict__, "timeout": 0.001})
    result = slow.lock(LockRequest(files=(("pyproject.toml", PYPROJECT),)))
    assert not result.ok and result.unavailable and "stopped" in result.message


def _newer_python() -> str | None:
    """An interpreter newer than this one, if the machine has one (pyenv, /usr/bin)."""
    import glob
    import subprocess
    import sys

    found = sorted(
        glob.glob(str(Path.home() / ".pyenv/versions/3.*/bin/python3.*[0-9]"))
        + glob.glob("/usr/bin/python3.*[0-9]")
        + glob.glob("/usr/local/bin/python3.*[0-9]")
    )
    for path in found:
        try:
            out = subprocess.run(
                [path, "-c", "import sys; print(sys.version_info[1])"],
                capture_output=True,
                text=True,
                timeout=10,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and int(out.stdout.strip() or 0) > sys.version_info[1]:
            return path
    return None


def test_a_project_needing_a_newer_python_than_the_worker(
    fake_index: FakeIndex, tmp_path: Path
) -> None:
    """Found on djangopackages (requires-python >=3.12) against PyPI from a 3.11 worker:
    `uv lock --python <worker's python>` refused ("incompatible with the project's Python
    requirement") and the PR said so in uv's words. Now the worker's Python is passed only
    when requires-python admits it; otherwise uv picks a compatible interpreter the
    operator installed, and without one the message says what the operator can do."""
    import sys

    minor = sys.version_info[1] + 1
    project = PYPROJECT.replace(b'">=3.9"', f'">=3.{minor}"'.encode())
    resolver = make_resolver(flask_index(fake_index), tmp_path)
    result = resolver.lock(LockRequest(files=(("pyproject.toml", project),)))
    assert not result.ok and result.unavailable
    assert f"a Python matching `>=3.{minor}`" in result.message
    assert "PATCHWELL_RESOLVER_PYTHONS" in result.message
    newer = _newer_python()
    if newer is None:
        pytest.skip(f"no Python newer than 3.{minor - 1} on this machine for the second half")
    env = {**fake_index.env(), "PATCHWELL_RESOLVER_PYTHONS": newer}
    with_newer = make_resolver(fake_index, tmp_path, env)
    result = with_newer.lock(LockRequest(files=(("pyproject.toml", project),)))
    assert result.ok, result.message
    assert f'requires-python = ">=3.{minor}"' in result.outputs["uv.lock"].decode()


def test_long_tool_messages_keep_their_end(fake_index: FakeIndex, tmp_path: Path) -> None:
    """Poetry says what went wrong last (after its resolver trace): the tail is kept."""
    resolver = make_resolver(fake_index, tmp_path)
    text = "\n".join(f"line {i}" for i in range(400)) + "\nthe reason"
    assert resolver._clean(text, tail=True).endswith("the reason")
    assert resolver._clean(text).startswith("line 0")
