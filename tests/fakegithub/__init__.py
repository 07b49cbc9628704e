"""The one fake GitHub REST API the whole test suite uses.

Use the ``fake_github`` fixture (from ``tests/fakegithub/plugin.py``, loaded by conftest): one
server per session on ``fake_github.url`` (127.0.0.1, ephemeral port, own thread and event loop),
fresh state for every test::

    def test_something(fake_github):
        fake_github.create_repo("acme", "shop", {"requirements.txt": "flask==2.0\\n"})
        fake_github.add_installation(42, "acme", ["shop"])
        # configure the bot with fake_github.url, fake_github.app_id, fake_github.private_key_pem
        ...
        assert fake_github.pulls("acme", "shop")[0]["user"]["login"] == fake_github.bot_login

Modules: ``gitobjects`` (blobs/trees/commits with git's SHA-1s), ``state`` (the world and its
lock), ``auth`` (JWTs, installation tokens), ``httpkit`` (pagination, ETags, rate limits, faults,
call log), ``shapes`` (GitHub's JSON), ``routes_*`` (one per API area), ``control_*`` (the helpers
tests call, one mixin per concern: ``auth``, ``faults``, ``repos``, ``pulls``, ``actions``) and
``server`` (FakeGitHub: the mixins, the state, the thread and the routes).
"""

from tests.fakegithub.server import FakeGitHub, RepoInfo, generate_private_key_pem
from tests.fakegithub.state import Call

__all__ = ["Call", "FakeGitHub", "RepoInfo", "generate_private_key_pem"]
