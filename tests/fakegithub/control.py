"""What every group of FakeGitHub's test helpers shares: the state, and finding a repository
or a pull request in it (a test's typo is a ``ValueError``, not an API error)."""

from __future__ import annotations

from tests.fakegithub.state import ApiError, FakeState, PullRequest, Repo

FileValue = bytes | str | None


def file_bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


class Controls:
    """The base of the helper mixins :class:`~tests.fakegithub.server.FakeGitHub` combines."""

    state: FakeState

    def _repo(self, owner: str, name: str) -> Repo:
        try:
            return self.state.repo(owner, name)
        except ApiError:
            raise ValueError(f"no repository {owner}/{name}") from None

    def _pull(self, repo: Repo, number: int) -> PullRequest:
        pull = repo.pulls.get(number)
        if pull is None:
            raise ValueError(f"no pull request #{number} in {repo.full_name}")
        return pull
