"""The one fake GitHub REST API the whole test suite uses (see ``plugin.py`` for fixtures)."""

from tests.fakegithub.server import FakeGitHub, RepoInfo, generate_private_key_pem
from tests.fakegithub.state import Call

__all__ = ["Call", "FakeGitHub", "RepoInfo", "generate_private_key_pem"]
