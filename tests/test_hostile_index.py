"""Issue 9, point 8: the operator's package index and what a repository can make it ask.

Package names from Pipfile/Poetry keys are the repository's words: they must be PEP 508
names before they reach an index URL sent with the operator's credentials, and those
credentials must never follow a redirect to another host.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from fixers.contract import MemorySnapshot, Services
from fixers.dependencies.model import valid_project_name
from fixers.dependencies.sources import HttpClient, PackageIndexClient, sources_from_env
from fixers.repo_config import load_repo_config
from fixers.runner import run_fixers
from tests.fakeindex.server import FakeIndex, FakeRelease

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def test_pep508_names() -> None:
    assert valid_project_name("Flask") and valid_project_name("zope.interface")
    assert valid_project_name("a") and valid_project_name("typing_extensions")
    for bad in ("", "a b", "../admin", "%2e%2e", "-x", "x-", "a/b", "x\n", "é"):
        assert not valid_project_name(bad), bad


def test_hostile_manifest_names_never_reach_the_index(fake_index: FakeIndex) -> None:
    """`"%2e%2e/%2e%2e/admin"` went into `/pypi/<name>/json` as is (the server decodes it
    to `../../admin`) and `"a b"` crashed the fixer."""
    old = NOW - timedelta(days=300)
    fake_index.add_project("flask", [FakeRelease("2.0.0", old), FakeRelease("3.0.0", old)])
    files = {
        "Pipfile": b'[packages]\n"a b" = "*"\n"%2e%2e/%2e%2e/admin" = "==1.0"\nflask = "==2.0.0"\n',
        "pyproject.toml": b'[tool.poetry]\nname = "x"\nversion = "1"\n'
        b'[tool.poetry.dependencies]\npython = "^3.11"\n"a b" = "^1.0"\n"../x" = "1.0"\n',
    }
    idx, adv = sources_from_env(fake_index.env(), cache_dir=None)
    services = Services(index=idx, advisories=adv, clock=lambda: NOW)
    result = run_fixers(
        MemorySnapshot(files), load_repo_config(None)[0], services, only="dependencies"
    )
    assert result.errors == ()
    asked = set(fake_index.requests)
    assert any("flask" in path for path in asked)
    assert not [p for p in asked if "admin" in p or "%" in p or " " in p or ".." in p], asked


class _Redirecting(BaseHTTPRequestHandler):
    """Answers every GET with a redirect to ``target``; records what each request carried."""

    target = ""
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        if self.path.startswith("/landed"):
            body = b'{"info": {"name": "x"}, "releases": {}}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(302)
        self.send_header("Location", f"{self.target}/landed{self.path}")
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def servers() -> Iterator[tuple[str, str, type[_Redirecting]]]:
    class Handler(_Redirecting):
        seen: ClassVar[list[tuple[str, str | None]]] = []

    index = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    other = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    for server in (index, other):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{index.server_port}", f"http://localhost:{other.server_port}", Handler
    for server in (index, other):
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("cross_origin", [True, False])
def test_credentials_do_not_follow_a_redirect_to_another_origin(
    servers: tuple[str, str, type[_Redirecting]], cross_origin: bool
) -> None:
    index_url, other_url, handler = servers
    handler.target = other_url if cross_origin else index_url
    host = index_url.removeprefix("http://")
    http = HttpClient(auth=("operator", "s3cret-index-pass"), auth_host=host)
    project = PackageIndexClient(http, json_url=f"{index_url}/pypi").project("flask")
    assert project is not None
    expected = "Basic " + base64.b64encode(b"operator:s3cret-index-pass").decode()
    (first_path, first_auth), (landed_path, landed_auth) = handler.seen
    assert first_path == "/pypi/flask/json" and first_auth == expected
    assert landed_path.startswith("/landed/")
    assert landed_auth == (None if cross_origin else expected)
