"""FakeGitHub helpers for pull requests, issues and comments made by people, and reading
them back as the API renders them."""

from __future__ import annotations

from typing import Any

from tests.fakegithub import routes_reviews, shapes
from tests.fakegithub.control import Controls, FileValue, file_bytes
from tests.fakegithub.gitobjects import MODE_FILE, FlatTree
from tests.fakegithub.routes_issues import add_comment
from tests.fakegithub.state import PullRequest, Repo, now


class PullControls(Controls):
    """Pull requests (opened, from a fork, merged, closed), issues, comments and labels."""

    def merge_pull(
        self, owner: str, name: str, number: int, merged_by: str = "human", method: str = "merge"
    ) -> str:
        """Merge a pull request as a human would in the UI; returns the new base head sha."""
        with self.state.lock:
            repo = self._repo(owner, name)
            pull = self._pull(repo, number)
            return self.state.merge(repo, pull, login=merged_by, method=method)

    def open_pull(
        self,
        owner: str,
        name: str,
        head: str,
        base: str | None = None,
        title: str = "A human's change",
        author_login: str = "human",
        body: str | None = None,
    ) -> int:
        """A pull request opened by a person; returns its number."""
        with self.state.lock:
            repo = self._repo(owner, name)
            base = base or repo.default_branch
            head_sha, base_sha = repo.branch_sha(head), repo.branch_sha(base)
            if head_sha is None or base_sha is None:
                raise ValueError(f"both branches must exist: {head!r}, {base!r}")
            pull = PullRequest(
                id=self.state.new_id(),
                number=repo.take_number(),
                title=title,
                body=body,
                head_ref=head,
                head_sha=head_sha,
                base_ref=base,
                base_sha=base_sha,
                user=author_login,
                draft=False,
                maintainer_can_modify=True,
                created_at=now(),
                updated_at=now(),
            )
            repo.pulls[pull.number] = pull
            return pull.number

    def open_fork_pull(
        self,
        owner: str,
        name: str,
        fork_owner: str,
        head: str,
        files: dict[str, FileValue],
        *,
        title: str = "A stranger's change",
        author_login: str | None = None,
    ) -> int:
        """A pull request from ``fork_owner``'s fork, whose branch ``head`` adds ``files``.

        Like GitHub, the fork's commit is readable in the base repository (as
        ``refs/pull/N/head``); the base repository gets no branch named ``head``.
        """
        with self.state.lock:
            repo = self._repo(owner, name)
            fork_key = f"{fork_owner}/{name}".lower()
            if fork_key not in self.state.repos:
                fork = Repo(
                    id=self.state.new_id(),
                    owner=fork_owner,
                    name=name,
                    owner_type="User",
                    private=False,
                    default_branch=repo.default_branch,
                    created_at=now(),
                    fork=True,
                )
                self.state.repos[fork_key] = fork
            fork = self.state.repos[fork_key]
            base_sha = repo.branch_sha(repo.default_branch)
            assert base_sha is not None
            number = repo.take_number()
            scratch = f"refs/pull/{number}/head"
            repo.refs[scratch] = base_sha
            store = repo.objects
            flat: FlatTree = dict(store.flatten(store.commits[base_sha].tree))
            for path, value in files.items():
                if value is not None:
                    flat[path.strip("/")] = (MODE_FILE, store.put_blob(file_bytes(value)))
            login = author_login or fork_owner
            commit = self.state.write_commit(
                repo, flat=flat, parents=(base_sha,), message=title, login=login, verified=False
            )
            repo.refs[scratch] = commit.sha
            fork.refs[f"refs/heads/{head}"] = commit.sha
            pull = PullRequest(
                id=self.state.new_id(),
                number=number,
                title=title,
                body=None,
                head_ref=head,
                head_sha=commit.sha,
                base_ref=repo.default_branch,
                base_sha=base_sha,
                user=login,
                draft=False,
                maintainer_can_modify=False,
                created_at=now(),
                updated_at=now(),
                head_repo=fork.full_name,
            )
            repo.pulls[number] = pull
            return number

    def close_pull(self, owner: str, name: str, number: int) -> None:
        with self.state.lock:
            pull = self._pull(self._repo(owner, name), number)
            pull.state, pull.closed_at = "closed", now()

    def add_comment(
        self, owner: str, name: str, number: int, body: str, author_login: str = "human"
    ) -> dict[str, Any]:
        """A comment written by a person (e.g. a ``@patchwell`` command)."""
        with self.state.lock:
            repo = self._repo(owner, name)
            if number not in repo.pulls and number not in repo.issues:
                raise ValueError(f"no issue or pull request #{number}")
            comment = add_comment(self.state, repo, number, body, author_login)
            return shapes.comment(self.state, repo, comment)

    def review_comments(self, owner: str, name: str, number: int) -> list[dict[str, Any]]:
        """Comments on diff lines of pull request ``number`` (suggestions live there)."""
        with self.state.lock:
            repo = self._repo(owner, name)
            found = sorted(
                (
                    c
                    for c in self.state.review_comments.values()
                    if c.repo == repo.key and c.pull_number == number
                ),
                key=lambda c: c.id,
            )
            return [routes_reviews.review_json(self.state, repo, c) for c in found]

    def pulls(self, owner: str, name: str) -> list[dict[str, Any]]:
        with self.state.lock:
            repo = self._repo(owner, name)
            return [shapes.pull_full(self.state, repo, p) for _, p in sorted(repo.pulls.items())]

    def pull(self, owner: str, name: str, number: int) -> dict[str, Any]:
        with self.state.lock:
            repo = self._repo(owner, name)
            return shapes.pull_full(self.state, repo, self._pull(repo, number))

    def comments(self, owner: str, name: str, number: int) -> list[dict[str, Any]]:
        with self.state.lock:
            repo = self._repo(owner, name)
            found = sorted(
                (
                    c
                    for c in self.state.comments.values()
                    if c.repo == repo.key and c.issue_number == number
                ),
                key=lambda c: c.id,
            )
            return [shapes.comment(self.state, repo, c) for c in found]

    def issues(self, owner: str, name: str) -> list[dict[str, Any]]:
        """Every issue (not pull request) in the repository, by number."""
        with self.state.lock:
            repo = self._repo(owner, name)
            return [shapes.issue(self.state, repo, i) for _, i in sorted(repo.issues.items())]

    def issue_edits(self, owner: str, name: str, number: int) -> int:
        """How many ``PATCH`` requests the API took for issue ``number``."""
        with self.state.lock:
            return self._repo(owner, name).issues[number].edits

    def edit_issue(self, owner: str, name: str, number: int, body: str) -> str:
        """A person edits an issue's body in the UI; returns the body before."""
        with self.state.lock:
            issue = self._repo(owner, name).issues[number]
            before, issue.body, issue.updated_at = issue.body or "", body, now()
            return before

    def labels(self, owner: str, name: str, number: int) -> list[str]:
        with self.state.lock:
            return list(self._repo(owner, name).labels.get(number, []))
