"""JSON shapes as GitHub's REST API (2022-11-28) returns them, rendered from the fake's state.

URLs that clients follow (``url``, pagination) point at the fake; ``html_url`` stays on github.com
like the real thing, because the bot only ever shows those to humans.
"""

from __future__ import annotations

import base64
import zlib
from datetime import UTC, datetime
from typing import Any

from tests.fakegithub.gitobjects import Commit, FileChange, Signature, diff_trees
from tests.fakegithub.state import (
    CheckRun,
    Comment,
    FakeState,
    Installation,
    Issue,
    PullRequest,
    Repo,
)

HTML = "https://github.com"


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def b64_lines(data: bytes) -> str:
    # GitHub wraps base64 content at 60 characters with a trailing newline
    text = base64.b64encode(data).decode()
    return "".join(text[i : i + 60] + "\n" for i in range(0, len(text), 60))


def user(state: FakeState, login: str, account_type: str | None = None) -> dict[str, Any]:
    kind = account_type or ("Bot" if login.endswith("[bot]") else "User")
    return {
        "login": login,
        "id": state.user_id(login),
        "node_id": f"U_{state.user_id(login)}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{state.user_id(login)}?v=4",
        "url": f"{state.base_url}/users/{login}",
        "html_url": f"{HTML}/{login}",
        "type": kind,
        "site_admin": False,
    }


def repo(state: FakeState, r: Repo) -> dict[str, Any]:
    api = f"{state.base_url}/repos/{r.full_name}"
    return {
        "id": r.id,
        "node_id": f"R_{r.id}",
        "name": r.name,
        "full_name": r.full_name,
        "private": r.private,
        "owner": user(state, r.owner, r.owner_type),
        "html_url": f"{HTML}/{r.full_name}",
        "description": None,
        "fork": r.fork,
        "url": api,
        "git_url": f"git://github.com/{r.full_name}.git",
        "clone_url": f"{HTML}/{r.full_name}.git",
        "pulls_url": f"{api}/pulls{{/number}}",
        "issues_url": f"{api}/issues{{/number}}",
        "contents_url": f"{api}/contents/{{+path}}",
        "trees_url": f"{api}/git/trees{{/sha}}",
        "created_at": iso(r.created_at),
        "updated_at": iso(r.pushed_at or r.created_at),
        "pushed_at": iso(r.pushed_at or r.created_at),
        "size": sum(len(b) for b in r.objects.blobs.values()) // 1024,
        "language": None,
        "archived": r.archived,
        "disabled": False,
        "visibility": "private" if r.private else "public",
        "default_branch": r.default_branch,
        "topics": [],
        "has_issues": True,
        "open_issues_count": sum(1 for p in r.pulls.values() if p.state == "open"),
    }


def signature(sig: Signature) -> dict[str, Any]:
    return {"name": sig.name, "email": sig.email, "date": iso(sig.timestamp)}


def verification(c: Commit) -> dict[str, Any]:
    return {
        "verified": c.verified,
        "reason": c.reason,
        "signature": "-----BEGIN PGP SIGNATURE-----\n(fake)\n-----END PGP SIGNATURE-----"
        if c.verified
        else None,
        "payload": None,
        "verified_at": iso(c.committer.timestamp) if c.verified else None,
    }


def git_commit(state: FakeState, r: Repo, c: Commit) -> dict[str, Any]:
    api = f"{state.base_url}/repos/{r.full_name}"
    return {
        "sha": c.sha,
        "node_id": f"C_{c.sha}",
        "url": f"{api}/git/commits/{c.sha}",
        "html_url": f"{HTML}/{r.full_name}/commit/{c.sha}",
        "author": signature(c.author),
        "committer": signature(c.committer),
        "message": c.message,
        "tree": {"sha": c.tree, "url": f"{api}/git/trees/{c.tree}"},
        "parents": [
            {
                "sha": p,
                "url": f"{api}/git/commits/{p}",
                "html_url": f"{HTML}/{r.full_name}/commit/{p}",
            }
            for p in c.parents
        ],
        "verification": verification(c),
    }


def file_change(r: Repo, f: FileChange) -> dict[str, Any]:
    out: dict[str, Any] = {
        "sha": f.sha,
        "filename": f.filename,
        "status": f.status,
        "additions": f.additions,
        "deletions": f.deletions,
        "changes": f.additions + f.deletions,
        "blob_url": f"{HTML}/{r.full_name}/blob/HEAD/{f.filename}",
        "raw_url": f"{HTML}/{r.full_name}/raw/HEAD/{f.filename}",
    }
    if f.patch is not None:
        out["patch"] = f.patch
    return out


def rest_commit(
    state: FakeState, r: Repo, c: Commit, files: list[FileChange] | None = None
) -> dict[str, Any]:
    api = f"{state.base_url}/repos/{r.full_name}"
    inner = git_commit(state, r, c)
    out: dict[str, Any] = {
        "sha": c.sha,
        "node_id": f"C_{c.sha}",
        "commit": {
            "author": inner["author"],
            "committer": inner["committer"],
            "message": c.message,
            "tree": inner["tree"],
            "url": inner["url"],
            "comment_count": 0,
            "verification": inner["verification"],
        },
        "url": f"{api}/commits/{c.sha}",
        "html_url": f"{HTML}/{r.full_name}/commit/{c.sha}",
        "comments_url": f"{api}/commits/{c.sha}/comments",
        "author": user(state, c.author_login) if c.author_login else None,
        "committer": user(state, c.committer_login) if c.committer_login else None,
        "parents": [
            {"sha": p, "url": f"{api}/commits/{p}", "html_url": f"{HTML}/{r.full_name}/commit/{p}"}
            for p in c.parents
        ],
    }
    if files is not None:
        adds = sum(f.additions for f in files)
        dels = sum(f.deletions for f in files)
        out["stats"] = {"total": adds + dels, "additions": adds, "deletions": dels}
        out["files"] = [file_change(r, f) for f in files]
    return out


def ref(state: FakeState, r: Repo, name: str, sha: str) -> dict[str, Any]:
    api = f"{state.base_url}/repos/{r.full_name}"
    return {
        "ref": name,
        "node_id": f"REF_{r.id}_{name}",
        "url": f"{api}/git/{name}",
        "object": {"sha": sha, "type": "commit", "url": f"{api}/git/commits/{sha}"},
    }


def branch_short(state: FakeState, r: Repo, name: str, sha: str) -> dict[str, Any]:
    return {
        "name": name,
        "commit": {"sha": sha, "url": f"{state.base_url}/repos/{r.full_name}/commits/{sha}"},
        "protected": False,
    }


def branch_full(state: FakeState, r: Repo, name: str, c: Commit) -> dict[str, Any]:
    api = f"{state.base_url}/repos/{r.full_name}"
    return {
        "name": name,
        "commit": rest_commit(state, r, c),
        "_links": {"self": f"{api}/branches/{name}", "html": f"{HTML}/{r.full_name}/tree/{name}"},
        "protected": False,
        "protection": {"enabled": False, "required_status_checks": {"enforcement_level": "off"}},
        "protection_url": f"{api}/branches/{name}/protection",
    }


def labels(state: FakeState, r: Repo, names: list[str]) -> list[dict[str, Any]]:
    api = f"{state.base_url}/repos/{r.full_name}"
    return [
        {
            "id": zlib.crc32(f"{r.id}/{n}".encode()),
            "node_id": f"LA_{r.id}_{n}",
            "url": f"{api}/labels/{n}",
            "name": n,
            "color": "ededed",
            "default": False,
            "description": None,
        }
        for n in names
    ]


def pull_files(r: Repo, p: PullRequest) -> list[FileChange]:
    """What the pull request changes: merge base to head, like GitHub's "Files changed"."""
    store = r.objects
    base_point = store.merge_base(p.base_sha, p.head_sha)
    head_tree = store.commits[p.head_sha].tree
    return diff_trees(store, store.commits[base_point].tree if base_point else None, head_tree)


def pull(state: FakeState, r: Repo, p: PullRequest) -> dict[str, Any]:
    """The pull request as list endpoints return it (no merge/diff statistics)."""
    api = f"{state.base_url}/repos/{r.full_name}"
    repo_json = repo(state, r)
    return {
        "url": f"{api}/pulls/{p.number}",
        "id": p.id,
        "node_id": f"PR_{p.id}",
        "html_url": f"{HTML}/{r.full_name}/pull/{p.number}",
        "diff_url": f"{HTML}/{r.full_name}/pull/{p.number}.diff",
        "patch_url": f"{HTML}/{r.full_name}/pull/{p.number}.patch",
        "issue_url": f"{api}/issues/{p.number}",
        "commits_url": f"{api}/pulls/{p.number}/commits",
        "comments_url": f"{api}/issues/{p.number}/comments",
        "statuses_url": f"{api}/statuses/{p.head_sha}",
        "number": p.number,
        "state": p.state,
        "locked": False,
        "title": p.title,
        "user": user(state, p.user),
        "body": p.body,
        "labels": labels(state, r, r.labels.get(p.number, [])),
        "milestone": None,
        "active_lock_reason": None,
        "created_at": iso(p.created_at),
        "updated_at": iso(p.updated_at),
        "closed_at": iso(p.closed_at),
        "merged_at": iso(p.merged_at),
        "merge_commit_sha": p.merge_commit_sha,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [user(state, u) for u in p.requested_reviewers],
        "requested_teams": [],
        "head": _head(state, r, p, repo_json),
        "base": {
            "label": f"{r.owner}:{p.base_ref}",
            "ref": p.base_ref,
            "sha": p.base_sha,
            "user": user(state, r.owner, r.owner_type),
            "repo": repo_json,
        },
        "_links": {
            "self": {"href": f"{api}/pulls/{p.number}"},
            "html": {"href": f"{HTML}/{r.full_name}/pull/{p.number}"},
            "issue": {"href": f"{api}/issues/{p.number}"},
            "comments": {"href": f"{api}/issues/{p.number}/comments"},
            "commits": {"href": f"{api}/pulls/{p.number}/commits"},
        },
        "author_association": "NONE",
        "auto_merge": None,
        "draft": p.draft,
    }


def _head(state: FakeState, r: Repo, p: PullRequest, repo_json: dict[str, Any]) -> dict[str, Any]:
    """The head side: this repository's, or a fork's (its owner, its repository)."""
    if p.head_repo is None:
        return {
            "label": f"{r.owner}:{p.head_ref}",
            "ref": p.head_ref,
            "sha": p.head_sha,
            "user": user(state, r.owner, r.owner_type),
            "repo": repo_json,
        }
    fork = state.repos.get(p.head_repo.lower())
    owner = p.head_repo.split("/", 1)[0]
    return {
        "label": f"{owner}:{p.head_ref}",
        "ref": p.head_ref,
        "sha": p.head_sha,
        "user": user(state, owner),
        "repo": repo(state, fork) if fork is not None else None,
    }


def pull_full(state: FakeState, r: Repo, p: PullRequest) -> dict[str, Any]:
    """The single-pull-request shape: the list shape plus mergeability and diff statistics."""
    store = r.objects
    commits = store.commits_between(store.merge_base(p.base_sha, p.head_sha), p.head_sha)
    files = pull_files(r, p)
    mergeable = state.mergeable(r, p) if p.state == "open" else None
    return pull(state, r, p) | {
        "merged": p.merged_at is not None,
        "mergeable": mergeable,
        "rebaseable": mergeable,
        "mergeable_state": {True: "clean", False: "dirty", None: "unknown"}[mergeable],
        "merged_by": user(state, p.merged_by) if p.merged_by else None,
        "comments": sum(1 for c in state.comments.values() if _on(c, r, p.number)),
        "review_comments": 0,
        "maintainer_can_modify": p.maintainer_can_modify,
        "commits": len(commits),
        "additions": sum(f.additions for f in files),
        "deletions": sum(f.deletions for f in files),
        "changed_files": len(files),
    }


def _on(c: Comment, r: Repo, number: int) -> bool:
    return c.repo == r.key and c.issue_number == number


def issue(state: FakeState, r: Repo, i: Issue) -> dict[str, Any]:
    api = f"{state.base_url}/repos/{r.full_name}"
    return {
        "id": i.id,
        "node_id": f"I_{i.id}",
        "url": f"{api}/issues/{i.number}",
        "html_url": f"{HTML}/{r.full_name}/issues/{i.number}",
        "number": i.number,
        "state": i.state,
        "title": i.title,
        "body": i.body,
        "user": user(state, i.user),
        "labels": labels(state, r, r.labels.get(i.number, [])),
        "comments": sum(1 for c in state.comments.values() if _on(c, r, i.number)),
        "created_at": iso(i.created_at),
        "updated_at": iso(i.updated_at or i.created_at),
        "closed_at": iso(i.closed_at),
    }


REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")


def comment(state: FakeState, r: Repo, c: Comment) -> dict[str, Any]:
    api = f"{state.base_url}/repos/{r.full_name}"
    counts = {k: sum(1 for _, content in c.reactions if content == k) for k in REACTIONS}
    return {
        "id": c.id,
        "node_id": f"IC_{c.id}",
        "url": f"{api}/issues/comments/{c.id}",
        "html_url": f"{HTML}/{r.full_name}/issues/{c.issue_number}#issuecomment-{c.id}",
        "issue_url": f"{api}/issues/{c.issue_number}",
        "body": c.body,
        "user": user(state, c.user),
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
        "author_association": "NONE",
        "reactions": {
            "url": f"{api}/issues/comments/{c.id}/reactions",
            "total_count": len(c.reactions),
        }
        | counts,
    }


def check_run(state: FakeState, r: Repo, c: CheckRun) -> dict[str, Any]:
    api = f"{state.base_url}/repos/{r.full_name}"
    return {
        "id": c.id,
        "node_id": f"CR_{c.id}",
        "head_sha": c.head_sha,
        "external_id": c.external_id,
        "url": f"{api}/check-runs/{c.id}",
        "html_url": f"{HTML}/{r.full_name}/runs/{c.id}",
        "details_url": c.details_url,
        "status": c.status,
        "conclusion": c.conclusion,
        "started_at": iso(c.started_at),
        "completed_at": iso(c.completed_at),
        "output": {
            "title": c.output.get("title"),
            "summary": c.output.get("summary"),
            "text": c.output.get("text"),
            "annotations_count": len(c.annotations),
            "annotations_url": f"{api}/check-runs/{c.id}/annotations",
        },
        "name": c.name,
        "check_suite": {"id": c.id + 7_000_000},
        "app": app(state) if c.app_slug is None else other_app(c.app_slug),
        "pull_requests": [],
    }


def other_app(slug: str) -> dict[str, Any]:
    """Another GitHub App (``github-actions``, another CI) as check runs show it."""
    return {
        "id": 15368 if slug == "github-actions" else 90_000 + len(slug),
        "slug": slug,
        "name": "GitHub Actions" if slug == "github-actions" else slug,
        "owner": {"login": "github" if slug == "github-actions" else slug},
    }


def app(state: FakeState) -> dict[str, Any]:
    return {
        "id": state.app_id,
        "slug": state.app_slug,
        "node_id": f"A_{state.app_id}",
        "owner": user(state, "patchwell-org", "Organization"),
        "name": "Patchwell",
        "description": "Small healing pull requests.",
        "external_url": "https://patchwell.example",
        "html_url": f"{HTML}/apps/{state.app_slug}",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "permissions": {
            "checks": "write",
            "contents": "write",
            "issues": "write",
            "metadata": "read",
            "pull_requests": "write",
        },
        "events": ["check_run", "issue_comment", "pull_request", "push"],
        "installations_count": len(state.installations),
    }


def installation(state: FakeState, i: Installation) -> dict[str, Any]:
    api = state.base_url
    return {
        "id": i.id,
        "account": user(state, i.account_login, i.account_type),
        "repository_selection": "selected",
        "access_tokens_url": f"{api}/app/installations/{i.id}/access_tokens",
        "repositories_url": f"{api}/installation/repositories",
        "html_url": f"{HTML}/settings/installations/{i.id}",
        "app_id": state.app_id,
        "app_slug": state.app_slug,
        "target_id": state.user_id(i.account_login),
        "target_type": i.account_type,
        "permissions": dict(i.permissions),
        "events": ["check_run", "issue_comment", "pull_request", "push"],
        "created_at": iso(i.created_at),
        "updated_at": iso(i.created_at),
        "single_file_name": None,
        "suspended_at": iso(i.suspended_at),
        "suspended_by": None,
    }
