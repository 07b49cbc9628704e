"""Webhook payloads of our own, shaped like GitHub's, for every event Patchwell routes.

The suite must pass on a fresh clone with nothing beside it, so the payloads the tests send are
built here rather than read from ``../shared``. Each builder returns a complete body -- every
field GitHub's published webhook schema marks as required -- so handlers see what GitHub sends,
not a hand-trimmed dict. ``tests/test_payload_shapes.py`` validates every builder against the
octokit schemas when ``../shared/github/schemas`` is present (CI), and skips with the reason
when it is not.

Builders take the facts a test cares about (owner, repository, installation id, SHAs, numbers,
logins, bodies) as keyword arguments; everything else gets a stable default. The defaults
describe one fictional account:

* user ``patchwell-demo`` (id 5101) owning ``patchwell-demo/todo-app`` and
  ``patchwell-demo/notes-api``,
* installation :data:`INSTALLATION_ID` on that account, with both repositories,
* app :data:`APP_ID`, slug ``patchwell``.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

API = "https://api.github.com"
WEB = "https://github.com"

OWNER = "patchwell-demo"
OWNER_ID = 5101
REPO = "todo-app"
OTHER_REPO = "notes-api"
INSTALLATION_ID = 4242001
APP_ID = 9090
APP_SLUG = "patchwell"
SENDER = "demo-maintainer"

_TIME = "2026-11-30T12:00:00Z"
_EPOCH = 1796040000  # the same instant, as GitHub's installation payloads give it
_PERMISSIONS = {
    "checks": "write",
    "contents": "write",
    "issues": "write",
    "metadata": "read",
    "pull_requests": "write",
    "workflows": "write",
    "actions": "read",
}
_EVENTS = [
    "check_run",
    "check_suite",
    "issue_comment",
    "issues",
    "pull_request",
    "push",
    "workflow_job",
    "workflow_run",
]

JSON = dict[str, Any]


def _id_for(text: str, base: int = 10_000_000) -> int:
    """A stable positive id derived from a name, so two builders agree without a registry."""
    return base + int(hashlib.sha256(text.encode()).hexdigest()[:7], 16)


def _node_id(kind: str, number: int) -> str:
    return f"{kind}_{number:x}"


def sha_for(text: str) -> str:
    """A stable 40-hex commit id for a label (``sha_for("base")``)."""
    return hashlib.sha1(text.encode()).hexdigest()


# --- building blocks -------------------------------------------------------------------------


def user(login: str = SENDER, *, id: int | None = None, type: str = "User") -> JSON:
    uid = id if id is not None else _id_for(login, 1_000_000)
    url = f"{API}/users/{login}"
    return {
        "login": login,
        "id": uid,
        "node_id": _node_id("U", uid),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
        "gravatar_id": "",
        "url": url,
        "html_url": f"{WEB}/{login}",
        "followers_url": f"{url}/followers",
        "following_url": f"{url}/following{{/other_user}}",
        "gists_url": f"{url}/gists{{/gist_id}}",
        "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{url}/subscriptions",
        "organizations_url": f"{url}/orgs",
        "repos_url": f"{url}/repos",
        "events_url": f"{url}/events{{/privacy}}",
        "received_events_url": f"{url}/received_events",
        "type": type,
        "site_admin": False,
    }


def bot_user(slug: str = APP_SLUG) -> JSON:
    """The account an app's comments and PRs are authored by (``<slug>[bot]``)."""
    return user(f"{slug}[bot]", type="Bot")


def owner_account(owner: str = OWNER) -> JSON:
    return user(owner, id=OWNER_ID if owner == OWNER else None)


def repository(
    owner: str = OWNER,
    name: str = REPO,
    *,
    id: int | None = None,
    default_branch: str = "main",
    private: bool = False,
) -> JSON:
    full = f"{owner}/{name}"
    rid = id if id is not None else _id_for(full)
    url = f"{API}/repos/{full}"
    templated = {
        "keys_url": "keys{/key_id}",
        "collaborators_url": "collaborators{/collaborator}",
        "issue_events_url": "issues/events{/number}",
        "assignees_url": "assignees{/user}",
        "branches_url": "branches{/branch}",
        "blobs_url": "git/blobs{/sha}",
        "git_tags_url": "git/tags{/sha}",
        "git_refs_url": "git/refs{/sha}",
        "trees_url": "git/trees{/sha}",
        "statuses_url": "statuses/{sha}",
        "commits_url": "commits{/sha}",
        "git_commits_url": "git/commits{/sha}",
        "comments_url": "comments{/number}",
        "issue_comment_url": "issues/comments{/number}",
        "contents_url": "contents/{+path}",
        "compare_url": "compare/{base}...{head}",
        "archive_url": "{archive_format}{/ref}",
        "issues_url": "issues{/number}",
        "pulls_url": "pulls{/number}",
        "milestones_url": "milestones{/number}",
        "notifications_url": "notifications{?since,all,participating}",
        "labels_url": "labels{/name}",
        "releases_url": "releases{/id}",
    }
    plain = [
        "forks",
        "teams",
        "hooks",
        "events",
        "tags",
        "languages",
        "stargazers",
        "contributors",
        "subscribers",
        "subscription",
        "merges",
        "downloads",
        "deployments",
    ]
    body: JSON = {
        "id": rid,
        "node_id": _node_id("R", rid),
        "name": name,
        "full_name": full,
        "private": private,
        "owner": owner_account(owner),
        "html_url": f"{WEB}/{full}",
        "description": None,
        "fork": False,
        "url": url,
    }
    body |= {f"{part}_url": f"{url}/{part}" for part in plain}
    body |= {key: f"{url}/{suffix}" for key, suffix in templated.items()}
    body |= {
        "created_at": _TIME,
        "updated_at": _TIME,
        "pushed_at": _TIME,
        "git_url": f"git://github.com/{full}.git",
        "ssh_url": f"git@github.com:{full}.git",
        "clone_url": f"{WEB}/{full}.git",
        "svn_url": f"{WEB}/{full}",
        "homepage": None,
        "size": 12,
        "stargazers_count": 0,
        "watchers_count": 0,
        "language": "Python",
        "has_issues": True,
        "has_projects": False,
        "has_downloads": True,
        "has_wiki": False,
        "has_pages": False,
        "forks_count": 0,
        "mirror_url": None,
        "archived": False,
        "open_issues_count": 0,
        "license": None,
        "forks": 0,
        "open_issues": 0,
        "watchers": 0,
        "default_branch": default_branch,
        "is_template": False,
        "web_commit_signoff_required": False,
        "topics": [],
        "visibility": "private" if private else "public",
        "custom_properties": {},
    }
    return body


def repository_lite(owner: str = OWNER, name: str = REPO) -> JSON:
    """The short repository form used in ``workflow_run.repository`` and installation lists."""
    full = repository(owner, name)
    keep = [k for k in full if k.endswith("_url") or k in _LITE_SCALARS]
    return {k: full[k] for k in keep if k not in _NOT_IN_LITE}


_LITE_SCALARS = {
    "id",
    "node_id",
    "name",
    "full_name",
    "private",
    "owner",
    "html_url",
    "description",
    "fork",
    "url",
}
_NOT_IN_LITE = {"mirror_url", "svn_url", "clone_url", "ssh_url", "git_url"}


def installation_repository(owner: str = OWNER, name: str = REPO) -> JSON:
    """An entry of ``installation.repositories`` / ``repositories_added``."""
    full = repository(owner, name)
    return {k: full[k] for k in ("id", "node_id", "name", "full_name", "private")}


def installation(
    id: int = INSTALLATION_ID, *, owner: str = OWNER, owner_type: str = "User"
) -> JSON:
    account = user(owner, id=OWNER_ID if owner == OWNER else None, type=owner_type)
    settings = (
        f"{WEB}/organizations/{owner}/settings/installations/{id}"
        if owner_type == "Organization"
        else f"{WEB}/settings/installations/{id}"
    )
    return {
        "id": id,
        "account": account,
        "repository_selection": "selected",
        "access_tokens_url": f"{API}/app/installations/{id}/access_tokens",
        "repositories_url": f"{API}/installation/repositories",
        "html_url": settings,
        "app_id": APP_ID,
        "app_slug": APP_SLUG,
        "target_id": account["id"],
        "target_type": owner_type,
        "permissions": dict(_PERMISSIONS),
        "events": list(_EVENTS),
        "created_at": _EPOCH,
        "updated_at": _EPOCH,
        "single_file_name": None,
        "suspended_at": None,
        "suspended_by": None,
    }


def installation_lite(id: int = INSTALLATION_ID) -> JSON:
    return {"id": id, "node_id": _node_id("I", id)}


def committer(name: str = SENDER) -> JSON:
    return {"name": name, "email": f"{name}@users.noreply.github.com", "username": name}


def commit(
    sha: str,
    *,
    owner: str = OWNER,
    repo: str = REPO,
    message: str = "Update",
    added: list[str] | None = None,
    modified: list[str] | None = None,
    removed: list[str] | None = None,
    author: str = SENDER,
) -> JSON:
    """One entry of a push's ``commits`` (and its ``head_commit``)."""
    return {
        "id": sha,
        "tree_id": sha_for("tree:" + sha),
        "distinct": True,
        "message": message,
        "timestamp": "2026-11-30T12:00:00+00:00",
        "url": f"{WEB}/{owner}/{repo}/commit/{sha}",
        "author": committer(author),
        "committer": committer(author),
        "added": list(added or []),
        "removed": list(removed or []),
        "modified": list(modified or []),
    }


def commit_simple(sha: str, *, message: str = "Update", author: str = SENDER) -> JSON:
    """``head_commit`` of check suites and workflow runs."""
    person = {"name": author, "email": f"{author}@users.noreply.github.com"}
    return {
        "id": sha,
        "tree_id": sha_for("tree:" + sha),
        "message": message,
        "timestamp": "2026-11-30T12:00:00Z",
        "author": person,
        "committer": person,
    }


def app_info(slug: str = APP_SLUG) -> JSON:
    """The ``app`` object on check suites and check runs."""
    return {
        "id": APP_ID,
        "slug": slug,
        "node_id": _node_id("A", APP_ID),
        "owner": owner_account(),
        "name": slug.title(),
        "description": "",
        "external_url": "https://patchwell.example",
        "html_url": f"{WEB}/apps/{slug}",
        "created_at": _TIME,
        "updated_at": _TIME,
        "permissions": dict(_PERMISSIONS),
        "events": list(_EVENTS),
    }


def reactions(url: str) -> JSON:
    counts = ["+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes"]
    return {"url": f"{url}/reactions", "total_count": 0} | dict.fromkeys(counts, 0)


def _envelope(
    action: str | None,
    *,
    owner: str,
    repo: str,
    installation_id: int,
    sender: str,
    sender_type: str = "User",
) -> JSON:
    body: JSON = {} if action is None else {"action": action}
    body["repository"] = repository(owner, repo)
    body["sender"] = user(sender, type=sender_type)
    body["installation"] = installation_lite(installation_id)
    return body


# --- events ----------------------------------------------------------------------------------


def ping(*, hook_id: int = 7001) -> JSON:
    return {
        "zen": "Keep it logically awesome.",
        "hook_id": hook_id,
        "hook": {
            "type": "App",
            "id": hook_id,
            "name": "web",
            "active": True,
            "events": list(_EVENTS),
            "config": {
                "content_type": "json",
                "insecure_ssl": "0",
                "url": "https://patchwell.example/webhook",
            },
            "updated_at": _TIME,
            "created_at": _TIME,
            "app_id": APP_ID,
            "url": f"{API}/app/hook/config",
            "ping_url": f"{API}/app/hook/pings",
            "deliveries_url": f"{API}/app/hook/deliveries",
        },
    }


def installation_event(
    action: str = "created",
    *,
    installation_id: int = INSTALLATION_ID,
    owner: str = OWNER,
    repos: list[str] | None = None,
    owner_type: str = "User",
    sender: str = OWNER,
) -> JSON:
    """``installation`` created/deleted/suspend/unsuspend/new_permissions_accepted."""
    names = [REPO, OTHER_REPO] if repos is None else repos
    body: JSON = {
        "action": action,
        "installation": installation(installation_id, owner=owner, owner_type=owner_type),
        "sender": user(sender, id=OWNER_ID if sender == OWNER else None),
    }
    if action in {"created", "deleted", "new_permissions_accepted"}:
        body["repositories"] = [installation_repository(owner, n) for n in names]
    if action == "suspend":
        body["installation"]["suspended_at"] = _TIME
        body["installation"]["suspended_by"] = user(sender)
    return body


def installation_repositories(
    action: str = "added",
    *,
    installation_id: int = INSTALLATION_ID,
    owner: str = OWNER,
    added: list[str] | None = None,
    removed: list[str] | None = None,
    sender: str = OWNER,
) -> JSON:
    return {
        "action": action,
        "installation": installation(installation_id, owner=owner),
        "repository_selection": "selected",
        "repositories_added": [installation_repository(owner, n) for n in (added or [])],
        "repositories_removed": [installation_repository(owner, n) for n in (removed or [])],
        "requester": None,
        "sender": user(sender, id=OWNER_ID if sender == OWNER else None),
    }


def push(
    *,
    owner: str = OWNER,
    repo: str = REPO,
    installation_id: int = INSTALLATION_ID,
    ref: str = "refs/heads/main",
    before: str | None = None,
    after: str | None = None,
    added: list[str] | None = None,
    modified: list[str] | None = None,
    removed: list[str] | None = None,
    commits: list[JSON] | None = None,
    created: bool = False,
    deleted: bool = False,
    forced: bool = False,
    sender: str = SENDER,
    default_branch: str = "main",
) -> JSON:
    """A push; ``commits`` defaults to one commit touching ``added``/``modified``/``removed``."""
    before = before or sha_for("before")
    after = after or ("0" * 40 if deleted else sha_for("after"))
    if commits is None:
        commits = (
            []
            if deleted
            else [
                commit(
                    after, owner=owner, repo=repo, added=added, modified=modified, removed=removed
                )
            ]
        )
    body = _envelope(None, owner=owner, repo=repo, installation_id=installation_id, sender=sender)
    body["repository"]["default_branch"] = default_branch
    body |= {
        "ref": ref,
        "before": before,
        "after": after,
        "created": created,
        "deleted": deleted,
        "forced": forced,
        "base_ref": None,
        "compare": f"{WEB}/{owner}/{repo}/compare/{before[:12]}...{after[:12]}",
        "commits": commits,
        "head_commit": commits[-1] if commits else None,
        "pusher": {"name": sender, "email": f"{sender}@users.noreply.github.com"},
    }
    return body


def pull_request_object(
    number: int = 1,
    *,
    owner: str = OWNER,
    repo: str = REPO,
    head_ref: str = "feature",
    head_sha: str | None = None,
    base_ref: str = "main",
    base_sha: str | None = None,
    head_owner: str | None = None,
    author: str = SENDER,
    author_type: str = "User",
    title: str = "A change",
    body: str | None = "",
    state: str = "open",
    merged: bool = False,
    draft: bool = False,
) -> JSON:
    """The ``pull_request`` object; ``head_owner`` other than ``owner`` makes it a fork PR."""
    head_owner = head_owner or owner
    url = f"{API}/repos/{owner}/{repo}/pulls/{number}"
    issue = f"{API}/repos/{owner}/{repo}/issues/{number}"
    html = f"{WEB}/{owner}/{repo}/pull/{number}"
    head_sha = head_sha or sha_for(f"head:{number}")
    base_sha = base_sha or sha_for("base")
    closed = state == "closed"
    pid = _id_for(f"{owner}/{repo}#{number}", 100_000_000)

    def side(ref: str, sha: str, side_owner: str) -> JSON:
        return {
            "label": f"{side_owner}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": owner_account(side_owner),
            "repo": repository(side_owner, repo),
        }

    return {
        "url": url,
        "id": pid,
        "node_id": _node_id("PR", pid),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": issue,
        "number": number,
        "state": state,
        "locked": False,
        "title": title,
        "user": user(author, type=author_type),
        "body": body,
        "created_at": _TIME,
        "updated_at": _TIME,
        "closed_at": _TIME if closed else None,
        "merged_at": _TIME if merged else None,
        "merge_commit_sha": sha_for(f"merge:{number}") if merged else None,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "labels": [],
        "milestone": None,
        "commits_url": f"{url}/commits",
        "review_comments_url": f"{url}/comments",
        "review_comment_url": f"{API}/repos/{owner}/{repo}/pulls/comments{{/number}}",
        "comments_url": f"{issue}/comments",
        "statuses_url": f"{API}/repos/{owner}/{repo}/statuses/{head_sha}",
        "head": side(head_ref, head_sha, head_owner),
        "base": side(base_ref, base_sha, owner),
        "_links": {
            "self": {"href": url},
            "html": {"href": html},
            "issue": {"href": issue},
            "comments": {"href": f"{issue}/comments"},
            "review_comments": {"href": f"{url}/comments"},
            "review_comment": {"href": f"{API}/repos/{owner}/{repo}/pulls/comments{{/number}}"},
            "commits": {"href": f"{url}/commits"},
            "statuses": {"href": f"{API}/repos/{owner}/{repo}/statuses/{head_sha}"},
        },
        "author_association": "NONE" if author_type == "Bot" else "COLLABORATOR",
        "auto_merge": None,
        "active_lock_reason": None,
        "draft": draft,
        "merged": merged,
        "mergeable": None,
        "rebaseable": None,
        "mergeable_state": "unknown",
        "merged_by": user(SENDER) if merged else None,
        "comments": 0,
        "review_comments": 0,
        "maintainer_can_modify": False,
        "commits": 1,
        "additions": 1,
        "deletions": 0,
        "changed_files": 1,
    }


def pull_request(
    action: str = "opened",
    *,
    number: int = 1,
    owner: str = OWNER,
    repo: str = REPO,
    installation_id: int = INSTALLATION_ID,
    sender: str = SENDER,
    before: str | None = None,
    **pr: Any,
) -> JSON:
    """A ``pull_request`` delivery; ``pr`` goes to :func:`pull_request_object`."""
    if action == "closed":
        pr.setdefault("state", "closed")
    obj = pull_request_object(number, owner=owner, repo=repo, **pr)
    body = _envelope(action, owner=owner, repo=repo, installation_id=installation_id, sender=sender)
    body |= {"number": number, "pull_request": obj}
    if action == "synchronize":
        body["before"] = before or sha_for(f"before:{number}")
        body["after"] = obj["head"]["sha"]
    return body


def _suite_object(
    *,
    owner: str,
    repo: str,
    head_sha: str,
    head_branch: str | None,
    status: str,
    conclusion: str | None,
    pulls: list[JSON],
    suite_id: int,
) -> JSON:
    url = f"{API}/repos/{owner}/{repo}/check-suites/{suite_id}"
    return {
        "id": suite_id,
        "node_id": _node_id("CS", suite_id),
        "head_branch": head_branch,
        "head_sha": head_sha,
        "status": status,
        "conclusion": conclusion,
        "url": url,
        "before": sha_for("suite-before"),
        "after": head_sha,
        "pull_requests": pulls,
        "app": app_info(),
        "created_at": _TIME,
        "updated_at": _TIME,
        "latest_check_runs_count": 1,
        "check_runs_url": f"{url}/check-runs",
        "head_commit": commit_simple(head_sha),
    }


def _pr_refs(owner: str, repo: str, numbers: list[int], head_sha: str) -> list[JSON]:
    """The short PR form on check suites, check runs and workflow runs."""
    base_repo = {
        "id": _id_for(f"{owner}/{repo}"),
        "url": f"{API}/repos/{owner}/{repo}",
        "name": repo,
    }
    return [
        {
            "url": f"{API}/repos/{owner}/{repo}/pulls/{n}",
            "id": _id_for(f"{owner}/{repo}#{n}", 100_000_000),
            "number": n,
            "head": {"ref": f"pr-{n}", "sha": head_sha, "repo": base_repo},
            "base": {"ref": "main", "sha": sha_for("base"), "repo": base_repo},
        }
        for n in numbers
    ]


def check_suite(
    action: str = "rerequested",
    *,
    owner: str = OWNER,
    repo: str = REPO,
    installation_id: int = INSTALLATION_ID,
    head_sha: str | None = None,
    head_branch: str | None = "main",
    pull_numbers: list[int] | None = None,
    suite_id: int = 5_000_001,
    sender: str = SENDER,
) -> JSON:
    head_sha = head_sha or sha_for("after")
    done = action == "completed"
    body = _envelope(action, owner=owner, repo=repo, installation_id=installation_id, sender=sender)
    body["check_suite"] = _suite_object(
        owner=owner,
        repo=repo,
        head_sha=head_sha,
        head_branch=head_branch,
        status="completed" if done else "queued",
        conclusion="success" if done else None,
        pulls=_pr_refs(owner, repo, pull_numbers or [], head_sha),
        suite_id=suite_id,
    )
    return body


def check_run(
    action: str = "completed",
    *,
    owner: str = OWNER,
    repo: str = REPO,
    installation_id: int = INSTALLATION_ID,
    name: str = "tests",
    run_id: int = 6_000_001,
    head_sha: str | None = None,
    head_branch: str | None = "main",
    conclusion: str | None = "failure",
    pull_numbers: list[int] | None = None,
    app_slug: str = "ci-app",
    sender: str = SENDER,
) -> JSON:
    """A ``check_run`` delivery; ``app_slug`` names the app that owns the run (other CI)."""
    head_sha = head_sha or sha_for("after")
    done = action in {"completed", "rerequested"}  # only a finished run can be re-requested
    url = f"{API}/repos/{owner}/{repo}/check-runs/{run_id}"
    pulls = _pr_refs(owner, repo, pull_numbers or [], head_sha)
    app = app_info(app_slug)
    suite = _suite_object(
        owner=owner,
        repo=repo,
        head_sha=head_sha,
        head_branch=head_branch,
        status="completed" if done else "queued",
        conclusion=conclusion if done else None,
        pulls=pulls,
        suite_id=run_id + 1,
    )
    suite["app"] = app
    for long_form_only in ("latest_check_runs_count", "check_runs_url", "head_commit"):
        del suite[long_form_only]  # a check run carries the short form of its suite
    body = _envelope(action, owner=owner, repo=repo, installation_id=installation_id, sender=sender)
    body["check_run"] = {
        "id": run_id,
        "node_id": _node_id("CR", run_id),
        "head_sha": head_sha,
        "external_id": "",
        "url": url,
        "html_url": f"{WEB}/{owner}/{repo}/runs/{run_id}",
        "details_url": f"{WEB}/{owner}/{repo}/runs/{run_id}",
        "status": "completed" if done else "queued",
        "conclusion": conclusion if done else None,
        "started_at": _TIME,
        "completed_at": _TIME if done else None,
        "output": {
            "title": None,
            "summary": None,
            "text": None,
            "annotations_count": 0,
            "annotations_url": f"{url}/annotations",
        },
        "name": name,
        "check_suite": suite,
        "app": app,
        "pull_requests": pulls,
    }
    return body


def workflow_run(
    action: str = "completed",
    *,
    owner: str = OWNER,
    repo: str = REPO,
    installation_id: int = INSTALLATION_ID,
    run_id: int = 7_000_001,
    workflow_id: int = 8_001,
    name: str = "CI",
    path: str = ".github/workflows/ci.yml",
    head_sha: str | None = None,
    head_branch: str = "main",
    event: str = "push",
    conclusion: str | None = "failure",
    pull_numbers: list[int] | None = None,
    run_attempt: int = 1,
    sender: str = SENDER,
) -> JSON:
    head_sha = head_sha or sha_for("after")
    done = action == "completed"
    base = f"{API}/repos/{owner}/{repo}"
    run_url = f"{base}/actions/runs/{run_id}"
    workflow_url = f"{base}/actions/workflows/{workflow_id}"
    body = _envelope(action, owner=owner, repo=repo, installation_id=installation_id, sender=sender)
    body["workflow"] = {
        "badge_url": f"{WEB}/{owner}/{repo}/workflows/{name}/badge.svg",
        "created_at": _TIME,
        "html_url": f"{WEB}/{owner}/{repo}/blob/{head_branch}/{path}",
        "id": workflow_id,
        "name": name,
        "node_id": _node_id("W", workflow_id),
        "path": path,
        "state": "active",
        "updated_at": _TIME,
        "url": workflow_url,
    }
    body["workflow_run"] = {
        "artifacts_url": f"{run_url}/artifacts",
        "cancel_url": f"{run_url}/cancel",
        "check_suite_url": f"{base}/check-suites/{run_id + 1}",
        "check_suite_id": run_id + 1,
        "check_suite_node_id": _node_id("CS", run_id + 1),
        "conclusion": conclusion if done else None,
        "created_at": _TIME,
        "event": event,
        "head_branch": head_branch,
        "head_commit": commit_simple(head_sha),
        "head_repository": repository_lite(owner, repo),
        "head_sha": head_sha,
        "html_url": f"{WEB}/{owner}/{repo}/actions/runs/{run_id}",
        "id": run_id,
        "jobs_url": f"{run_url}/jobs",
        "logs_url": f"{run_url}/logs",
        "node_id": _node_id("WR", run_id),
        "name": name,
        "pull_requests": _pr_refs(owner, repo, pull_numbers or [], head_sha),
        "referenced_workflows": [],
        "repository": repository_lite(owner, repo),
        "rerun_url": f"{run_url}/rerun",
        "run_number": run_id % 1000,
        "status": "completed" if done else "queued",
        "updated_at": _TIME,
        "url": run_url,
        "workflow_id": workflow_id,
        "workflow_url": workflow_url,
        "run_attempt": run_attempt,
        "run_started_at": _TIME,
        "previous_attempt_url": f"{run_url}/attempts/{run_attempt - 1}"
        if run_attempt > 1
        else None,
        "actor": user(sender),
        "triggering_actor": user(sender),
        "path": path,
        "display_title": "Update",
    }
    return body


def workflow_job(
    action: str = "completed",
    *,
    owner: str = OWNER,
    repo: str = REPO,
    installation_id: int = INSTALLATION_ID,
    job_id: int = 9_000_001,
    run_id: int = 7_000_001,
    name: str = "test",
    workflow_name: str = "CI",
    head_sha: str | None = None,
    head_branch: str = "main",
    conclusion: str | None = "failure",
    steps: list[JSON] | None = None,
    labels: list[str] | None = None,
    run_attempt: int = 1,
    sender: str = SENDER,
) -> JSON:
    """A ``workflow_job`` delivery (GitHub documents it; octokit ships no example of it)."""
    head_sha = head_sha or sha_for("after")
    done = action == "completed"
    base = f"{API}/repos/{owner}/{repo}"
    if steps is None:
        steps = [
            {
                "name": "Set up job",
                "status": "completed",
                "conclusion": "success",
                "number": 1,
                "started_at": _TIME,
                "completed_at": _TIME,
            },
            {
                "name": "Run tests",
                "status": "completed",
                "conclusion": conclusion if done else None,
                "number": 2,
                "started_at": _TIME,
                "completed_at": _TIME if done else None,
            },
        ]
    body = _envelope(action, owner=owner, repo=repo, installation_id=installation_id, sender=sender)
    body["workflow_job"] = {
        "id": job_id,
        "run_id": run_id,
        "workflow_name": workflow_name,
        "head_branch": head_branch,
        "run_url": f"{base}/actions/runs/{run_id}",
        "run_attempt": run_attempt,
        "node_id": _node_id("WJ", job_id),
        "head_sha": head_sha,
        "url": f"{base}/actions/jobs/{job_id}",
        "html_url": f"{WEB}/{owner}/{repo}/actions/runs/{run_id}/job/{job_id}",
        "status": "completed" if done else "queued",
        "conclusion": conclusion if done else None,
        "created_at": _TIME,
        "started_at": _TIME,
        "completed_at": _TIME if done else None,
        "name": name,
        "steps": steps,
        "check_run_url": f"{base}/check-runs/{job_id}",
        "labels": labels or ["ubuntu-latest"],
        "runner_id": 1 if done else None,
        "runner_name": "GitHub Actions 1" if done else None,
        "runner_group_id": 1 if done else None,
        "runner_group_name": "GitHub Actions" if done else None,
    }
    return body


def issue_object(
    number: int = 1,
    *,
    owner: str = OWNER,
    repo: str = REPO,
    title: str = "An issue",
    body: str | None = "",
    author: str = SENDER,
    author_type: str = "User",
    is_pull_request: bool = False,
    state: str = "open",
) -> JSON:
    url = f"{API}/repos/{owner}/{repo}/issues/{number}"
    iid = _id_for(f"{owner}/{repo}/issues/{number}", 200_000_000)
    obj: JSON = {
        "url": url,
        "repository_url": f"{API}/repos/{owner}/{repo}",
        "labels_url": f"{url}/labels{{/name}}",
        "comments_url": f"{url}/comments",
        "events_url": f"{url}/events",
        "html_url": f"{WEB}/{owner}/{repo}/{'pull' if is_pull_request else 'issues'}/{number}",
        "id": iid,
        "node_id": _node_id("I", iid),
        "number": number,
        "title": title,
        "user": user(author, type=author_type),
        "labels": [],
        "state": state,
        "locked": False,
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "comments": 0,
        "created_at": _TIME,
        "updated_at": _TIME,
        "closed_at": _TIME if state == "closed" else None,
        "author_association": "NONE" if author_type == "Bot" else "COLLABORATOR",
        "active_lock_reason": None,
        "body": body,
        "reactions": reactions(url),
        "performed_via_github_app": None,
        "state_reason": None,
    }
    if is_pull_request:
        obj["pull_request"] = {
            "url": f"{API}/repos/{owner}/{repo}/pulls/{number}",
            "html_url": f"{WEB}/{owner}/{repo}/pull/{number}",
            "diff_url": f"{WEB}/{owner}/{repo}/pull/{number}.diff",
            "patch_url": f"{WEB}/{owner}/{repo}/pull/{number}.patch",
            "merged_at": None,
        }
    return obj


def issue_comment(
    action: str = "created",
    *,
    body: str = "@patchwell explain",
    number: int = 1,
    comment_id: int = 3_000_001,
    owner: str = OWNER,
    repo: str = REPO,
    installation_id: int = INSTALLATION_ID,
    login: str = SENDER,
    login_type: str = "User",
    on_pull_request: bool = True,
    issue_title: str = "A change",
    issue_author: str = SENDER,
    issue_author_type: str = "User",
    previous_body: str | None = None,
) -> JSON:
    """An ``issue_comment`` delivery by ``login`` on issue/PR ``number``."""
    url = f"{API}/repos/{owner}/{repo}/issues/comments/{comment_id}"
    kind = "pull" if on_pull_request else "issues"
    envelope = _envelope(
        action,
        owner=owner,
        repo=repo,
        installation_id=installation_id,
        sender=login,
        sender_type=login_type,
    )
    envelope["issue"] = issue_object(
        number,
        owner=owner,
        repo=repo,
        title=issue_title,
        author=issue_author,
        author_type=issue_author_type,
        is_pull_request=on_pull_request,
    )
    envelope["comment"] = {
        "url": url,
        "html_url": f"{WEB}/{owner}/{repo}/{kind}/{number}#issuecomment-{comment_id}",
        "issue_url": f"{API}/repos/{owner}/{repo}/issues/{number}",
        "id": comment_id,
        "node_id": _node_id("IC", comment_id),
        "user": user(login, type=login_type),
        "created_at": _TIME,
        "updated_at": _TIME,
        "author_association": "NONE" if login_type == "Bot" else "COLLABORATOR",
        "performed_via_github_app": None,
        "body": body,
        "reactions": reactions(url),
    }
    if action == "edited":
        envelope["changes"] = {"body": {"from": previous_body or ""}}
    return envelope


def issues(
    action: str = "edited",
    *,
    number: int = 1,
    owner: str = OWNER,
    repo: str = REPO,
    installation_id: int = INSTALLATION_ID,
    title: str = "An issue",
    body: str | None = "",
    author: str = SENDER,
    author_type: str = "User",
    sender: str = SENDER,
    sender_type: str = "User",
    previous_body: str | None = None,
) -> JSON:
    """An ``issues`` delivery (opened/edited/closed/...); ``edited`` carries ``changes``."""
    envelope = _envelope(
        action,
        owner=owner,
        repo=repo,
        installation_id=installation_id,
        sender=sender,
        sender_type=sender_type,
    )
    envelope["issue"] = issue_object(
        number,
        owner=owner,
        repo=repo,
        title=title,
        body=body,
        author=author,
        author_type=author_type,
        state="closed" if action == "closed" else "open",
    )
    if action == "edited":
        envelope["changes"] = {"body": {"from": previous_body or ""}}
    return envelope


# --- one default per (event, action) ---------------------------------------------------------

_BUILDERS = {
    "ping": lambda action: ping(),
    "installation": lambda action: installation_event(action or "created"),
    "installation_repositories": lambda action: installation_repositories(
        action or "added",
        **({"removed": [OTHER_REPO]} if action == "removed" else {"added": [OTHER_REPO]}),
    ),
    "push": lambda action: push(added=["app.py"]),
    "pull_request": lambda action: pull_request(action or "opened"),
    "check_suite": lambda action: check_suite(action or "rerequested"),
    "check_run": lambda action: check_run(action or "completed"),
    "workflow_run": lambda action: workflow_run(action or "completed"),
    "workflow_job": lambda action: workflow_job(action or "completed"),
    "issue_comment": lambda action: issue_comment(action or "created"),
    "issues": lambda action: issues(action or "edited"),
}

# Every (event, action) the suite checks for shape; each is a delivery Patchwell may receive.
CATALOGUE: tuple[tuple[str, str | None], ...] = (
    ("ping", None),
    ("installation", "created"),
    ("installation", "deleted"),
    ("installation", "suspend"),
    ("installation", "unsuspend"),
    ("installation", "new_permissions_accepted"),
    ("installation_repositories", "added"),
    ("installation_repositories", "removed"),
    ("push", None),
    ("pull_request", "opened"),
    ("pull_request", "synchronize"),
    ("pull_request", "reopened"),
    ("pull_request", "closed"),
    ("check_suite", "requested"),
    ("check_suite", "rerequested"),
    ("check_suite", "completed"),
    ("check_run", "created"),
    ("check_run", "rerequested"),
    ("check_run", "completed"),
    ("workflow_run", "requested"),
    ("workflow_run", "completed"),
    ("workflow_job", "completed"),
    ("issue_comment", "created"),
    ("issue_comment", "edited"),
    ("issue_comment", "deleted"),
    ("issues", "edited"),
)


def payload(event: str, action: str | None = None) -> JSON:
    """A fresh default body for ``event``/``action`` (tests adjust the copy they get)."""
    try:
        build = _BUILDERS[event]
    except KeyError:
        raise LookupError(f"no payload builder for event {event!r}") from None
    return copy.deepcopy(build(action))
