"""FakeGitHub helpers for repositories and git data: creating repositories, human pushes,
branches, tags, permissions, and reading files, commits and refs back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.fakegithub import shapes
from tests.fakegithub.control import Controls, FileValue, file_bytes
from tests.fakegithub.gitobjects import MODE_FILE, Commit, FlatTree, diff_trees
from tests.fakegithub.state import PERMISSION_LEVELS, Repo, now


@dataclass(frozen=True)
class RepoInfo:
    id: int
    owner: str
    name: str
    full_name: str
    default_branch: str
    private: bool
    head_sha: str | None  # None for an empty repository


class RepoControls(Controls):
    """Repositories, their refs and contents, as a person (or the test) changes them."""

    def create_repo(
        self,
        owner: str,
        name: str,
        files: dict[str, bytes | str],
        default_branch: str = "main",
        private: bool = False,
        *,
        owner_type: str = "Organization",
        archived: bool = False,
    ) -> RepoInfo:
        with self.state.lock:
            key = f"{owner}/{name}".lower()
            if key in self.state.repos:
                raise ValueError(f"repository {owner}/{name} already exists")
            repo = Repo(
                id=self.state.new_id(),
                owner=owner,
                name=name,
                owner_type=owner_type,
                private=private,
                default_branch=default_branch,
                created_at=now(),
                archived=archived,
            )
            self.state.repos[key] = repo
            if files:
                self._commit_files(repo, default_branch, files, "Initial commit", owner)
            return self._info(repo)

    def _info(self, repo: Repo) -> RepoInfo:
        return RepoInfo(
            id=repo.id,
            owner=repo.owner,
            name=repo.name,
            full_name=repo.full_name,
            default_branch=repo.default_branch,
            private=repo.private,
            head_sha=repo.branch_sha(repo.default_branch),
        )

    def _commit_files(
        self, repo: Repo, branch: str, files: dict[str, FileValue], message: str, login: str
    ) -> str:
        parent = repo.branch_sha(branch)
        if parent is None:  # a new branch starts from the default branch, like "git switch -c"
            parent = repo.branch_sha(repo.default_branch)
        store = repo.objects
        flat: FlatTree = store.flatten(store.commits[parent].tree) if parent else {}
        for path, value in files.items():
            clean = path.strip("/")
            if value is None:
                flat = {
                    k: v for k, v in flat.items() if k != clean and not k.startswith(clean + "/")
                }
            else:
                mode = flat.get(clean, (MODE_FILE, ""))[0]
                flat[clean] = (mode, store.put_blob(file_bytes(value)))
        commit = self.state.write_commit(
            repo,
            flat=flat,
            parents=(parent,) if parent else (),
            message=message,
            login=login,
            verified=False,
        )
        self.state.set_ref(repo, f"refs/heads/{branch}", commit.sha)
        return commit.sha

    def push(
        self,
        owner: str,
        name: str,
        branch: str,
        files: dict[str, FileValue],
        message: str,
        author_login: str = "human",
    ) -> str:
        """A human commit on ``branch`` (fast-forward; ``None`` deletes a file); returns its sha."""
        with self.state.lock:
            repo = self._repo(owner, name)
            return self._commit_files(repo, branch, files, message, author_login)

    def create_branch(self, owner: str, name: str, branch: str, from_ref: str | None = None) -> str:
        with self.state.lock:
            repo = self._repo(owner, name)
            sha = repo.resolve(from_ref or repo.default_branch)
            if sha is None:
                raise ValueError(f"no such ref {from_ref!r}")
            self.state.set_ref(repo, f"refs/heads/{branch}", sha)
            return sha

    def create_tag(self, owner: str, name: str, tag: str, from_ref: str | None = None) -> str:
        """A lightweight tag (what ``git push --tags`` makes for an action's release)."""
        with self.state.lock:
            repo = self._repo(owner, name)
            sha = repo.resolve(from_ref or repo.default_branch)
            if sha is None:
                raise ValueError(f"no such ref {from_ref!r}")
            self.state.set_ref(repo, f"refs/tags/{tag}", sha)
            return sha

    def delete_branch(self, owner: str, name: str, branch: str) -> None:
        with self.state.lock:
            self.state.set_ref(self._repo(owner, name), f"refs/heads/{branch}", None)

    def delete_repo(self, owner: str, name: str) -> None:
        """The repository is gone (a fork deleted after its PR was opened: GitHub then
        shows that PR's ``head.repo`` as null)."""
        with self.state.lock:
            self.state.repos.pop(f"{owner}/{name}".lower(), None)

    def set_permission(self, owner: str, name: str, user: str, permission: str) -> None:
        if permission not in PERMISSION_LEVELS:
            raise ValueError(f"permission must be one of {PERMISSION_LEVELS}")
        with self.state.lock:
            self._repo(owner, name).permissions[user.lower()] = permission

    def repo_json(self, owner: str, name: str) -> dict[str, Any]:
        """The repository as the API renders it (e.g. to build a webhook payload that agrees)."""
        with self.state.lock:
            return shapes.repo(self.state, self._repo(owner, name))

    def repo_info(self, owner: str, name: str) -> RepoInfo:
        with self.state.lock:
            return self._info(self._repo(owner, name))

    def file_at(self, owner: str, name: str, ref: str, path: str) -> bytes | None:
        with self.state.lock:
            repo = self._repo(owner, name)
            sha = repo.resolve(ref)
            if sha is None:
                return None
            store = repo.objects
            entry = store.lookup_path(store.commits[sha].tree, path)
            if entry is None or entry.is_tree:
                return None
            return store.blobs[entry.sha]

    def files_at(self, owner: str, name: str, ref: str) -> dict[str, bytes]:
        with self.state.lock:
            repo = self._repo(owner, name)
            sha = repo.resolve(ref)
            if sha is None:
                return {}
            store = repo.objects
            flat = store.flatten(store.commits[sha].tree)
            return {path: store.blobs[blob] for path, (_, blob) in flat.items()}

    def branches(self, owner: str, name: str) -> dict[str, str]:
        """Branch name -> head sha."""
        with self.state.lock:
            repo = self._repo(owner, name)
            return {
                ref.removeprefix("refs/heads/"): sha
                for ref, sha in sorted(repo.refs.items())
                if ref.startswith("refs/heads/")
            }

    def commit(self, owner: str, name: str, sha: str) -> dict[str, Any]:
        """The REST "get a commit" shape (with files and verification) for ``sha`` or a ref."""
        with self.state.lock:
            repo = self._repo(owner, name)
            resolved = repo.resolve(sha)
            if resolved is None:
                raise ValueError(f"no commit {sha!r} in {repo.full_name}")
            commit: Commit = repo.objects.commits[resolved]
            parent_tree = repo.objects.commits[commit.parents[0]].tree if commit.parents else None
            files = diff_trees(repo.objects, parent_tree, commit.tree)
            return shapes.rest_commit(self.state, repo, commit, files)
