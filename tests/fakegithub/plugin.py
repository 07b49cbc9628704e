"""Pytest fixtures: one fake GitHub server per session, fresh state for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakegithub.server import FakeGitHub


@pytest.fixture(scope="session")
def fake_github_server() -> Iterator[FakeGitHub]:
    # one server and one RSA key per session: key generation and binding a port are the slow parts
    server = FakeGitHub().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake_github(fake_github_server: FakeGitHub) -> Iterator[FakeGitHub]:
    fake_github_server.reset()
    yield fake_github_server
    crashes = fake_github_server.internal_errors
    fake_github_server.reset()
    if crashes:
        # the test saw a 500 that real GitHub would not have sent; say where the fake broke
        pytest.fail("fake GitHub crashed while serving the test:\n" + "\n".join(crashes))
