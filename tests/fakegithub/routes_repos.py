"""Repository endpoints: the repo, contents, tarballs, branches, commits, compare, permissions."""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import tarfile
from typing import Any

from tests.fakegithub import shapes
from tests.fakegithub.auth import check_ticket, issue_ticket
from tests.fakegithub.gitobjects import MODE_EXEC, MODE_FILE, MODE_LINK, diff_trees
from tests.fakegithub.httpkit import Reply, Req, Route, needing, paginated
from tests.fakegithub.routes_git import commit_as_app
from tests.fakegithub.state import ApiError, FakeState, Repo, not_found

MAX_COMPARE_COMMITS = 250


def get_repo(state: FakeState, req: Req) -> Reply:
    body = shapes.repo(state, req.the_repo)
    return Reply(body=body)


# --- contents ------------------------------------------------------------------------------

#: GitHub's contents API inlines files up to 1 MB in its JSON form (``encoding: "none"`` and
#: empty ``content`` above that); the blob API serves up to 100 MB.
CONTENTS_API_MAX_BYTES = 1_000_000
BLOB_API_MAX_BYTES = 100 * 1_000_000


def get_contents(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    ref = req.query.get("ref") or repo.default_branch
    sha = repo.resolve(ref)
    if sha is None:
        raise ApiError(404, f"No commit found for the ref {ref}")
    path = req.params.get("path", "").strip("/")
    store = repo.objects
    entry = store.lookup_path(store.commits[sha].tree, path)
    if entry is None:
        raise not_found()
    if entry.is_tree:
        items = [
            _content_item(state, repo, ref, f"{path}/{e.name}".lstrip("/"), e.sha, e.is_tree)
            for e in store.trees.get(entry.sha, ())
        ]
        return Reply(body=items)
    item = _content_item(state, repo, ref, path, entry.sha, False)
    data = store.blobs[entry.sha]
    if len(data) > CONTENTS_API_MAX_BYTES:
        # Like GitHub: the JSON form has no content for 1-100 MB files (the raw media type or
        # the blob API has it); past 100 MB the endpoint refuses.
        if len(data) > BLOB_API_MAX_BYTES:
            raise ApiError(
                403,
                "This API returns blobs up to 100 MB in size. The requested blob is too large "
                "to fetch via the API, but you can always clone the repository via Git to "
                "obtain it.",
                errors=[{"resource": "Blob", "field": "data", "code": "too_large"}],
            )
        item |= {"content": "", "encoding": "none"}
        return Reply(body=item)
    item |= {"content": shapes.b64_lines(data), "encoding": "base64"}
    return Reply(body=item)


def put_contents(state: FakeState, req: Req) -> Reply:
    """Create or update one file in one commit (GitHub's "create or update file contents")."""
    body = req.obj()
    repo = req.the_repo
    path = req.params.get("path", "").strip("/")
    message, content = body.get("message"), body.get("content")
    if not path or ".." in path.split("/"):
        raise not_found()
    if not isinstance(message, str) or not message:
        raise ApiError(422, 'Invalid request.\n\n"message" wasn\'t supplied.')
    if not isinstance(content, str):
        raise ApiError(422, 'Invalid request.\n\n"content" wasn\'t supplied.')
    try:
        data = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, "content is not valid Base64") from None
    branch = body.get("branch") or repo.default_branch
    if not isinstance(branch, str):
        raise ApiError(422, "Invalid request.\n\nbranch must be a string.")
    parent = repo.branch_sha(branch)
    if parent is None and repo.refs:
        raise ApiError(404, f"Branch {branch} not found")
    store = repo.objects
    flat = store.flatten(store.commits[parent].tree) if parent else {}
    existing = flat.get(path)
    if existing is not None and body.get("sha") is None:
        raise ApiError(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
    if existing is not None and body.get("sha") != existing[1]:
        raise ApiError(409, f"{path} does not match {body.get('sha')}")
    if any(p.startswith(path + "/") for p in flat):
        raise ApiError(422, f"{path} is a directory")
    flat[path] = (existing[0] if existing else MODE_FILE, store.put_blob(data))
    commit = commit_as_app(
        state,
        repo,
        body,
        tree=store.build(flat),
        parents=(parent,) if parent else (),
        message=message,
    )
    state.set_ref(repo, f"refs/heads/{branch}", commit.sha)
    item = _content_item(state, repo, branch, path, flat[path][1], False)
    return Reply(
        status=200 if existing else 201,
        body={"content": item, "commit": shapes.git_commit(state, repo, commit)},
    )


def _content_item(
    state: FakeState, repo: Repo, ref: str, path: str, sha: str, is_dir: bool
) -> dict[str, Any]:
    api = f"{state.base_url}/repos/{repo.full_name}"
    url = f"{api}/contents/{path}?ref={ref}"
    git_url = f"{api}/git/{'trees' if is_dir else 'blobs'}/{sha}"
    html = f"{shapes.HTML}/{repo.full_name}/{'tree' if is_dir else 'blob'}/{ref}/{path}"
    return {
        "type": "dir" if is_dir else "file",
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "sha": sha,
        "size": 0 if is_dir else len(repo.objects.blobs.get(sha, b"")),
        "url": url,
        "html_url": html,
        "git_url": git_url,
        "download_url": None
        if is_dir
        else f"https://raw.githubusercontent.com/{repo.full_name}/{ref}/{path}",
        "_links": {"self": url, "git": git_url, "html": html},
    }


# --- tarball -------------------------------------------------------------------------------


def tarball_redirect(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    ref = req.params.get("ref") or repo.default_branch
    sha = repo.resolve(ref)
    if sha is None:
        raise not_found()
    ticket = issue_ticket(state, repo, sha)
    location = (
        f"{state.base_url}/_codeload/{repo.owner}/{repo.name}/legacy.tar.gz/{sha}?token={ticket}"
    )
    return Reply(status=302, headers={"Location": location})


def codeload(state: FakeState, req: Req) -> Reply:
    repo = state.repo(req.params["owner"], req.params["repo"])
    sha = req.params["sha"]
    if sha not in repo.objects.commits:
        raise not_found()
    check_ticket(state, req.query.get("token", ""), repo, sha)
    top = f"{repo.owner}-{repo.name}-{sha[:7]}"
    return Reply(
        raw=build_tarball(repo, sha, top),
        headers={
            "Content-Type": "application/x-gzip",
            "Content-Disposition": f"attachment; filename={top}.tar.gz",
        },
    )


def build_tarball(repo: Repo, sha: str, top: str) -> bytes:
    """A gzip tar like GitHub's: one top directory, the commit id in the pax global header."""
    store = repo.objects
    stamp = store.commits[sha].committer.timestamp
    buffer = io.BytesIO()
    with tarfile.open(
        fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"comment": sha}
    ) as tar:
        root = tarfile.TarInfo(f"{top}/")
        root.type, root.mode, root.mtime = tarfile.DIRTYPE, 0o775, stamp
        tar.addfile(root)
        for path, entry in store.walk(store.commits[sha].tree):
            info = tarfile.TarInfo(f"{top}/{path}")
            info.mtime = stamp
            if entry.is_tree:
                info.type, info.mode = tarfile.DIRTYPE, 0o775
                tar.addfile(info)
                continue
            data = store.blobs[entry.sha]
            if entry.mode == MODE_LINK:
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, data.decode(), 0o777
                tar.addfile(info)
                continue
            info.size, info.mode = len(data), 0o775 if entry.mode == MODE_EXEC else 0o664
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buffer.getvalue(), mtime=0)


# --- branches ------------------------------------------------------------------------------


def list_branches(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    items = [
        shapes.branch_short(state, repo, name.removeprefix("refs/heads/"), sha)
        for name, sha in sorted(repo.refs.items())
        if name.startswith("refs/heads/")
    ]
    return paginated(req, items)


def list_tags(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    items = [
        {
            "name": name.removeprefix("refs/tags/"),
            "commit": {"sha": sha, "url": f"{state.base_url}/repos/{repo.full_name}/commits/{sha}"},
            "zipball_url": f"{state.base_url}/repos/{repo.full_name}/zipball/{name[10:]}",
            "tarball_url": f"{state.base_url}/repos/{repo.full_name}/tarball/{name[10:]}",
            "node_id": f"TAG_{sha[:12]}",
        }
        for name, sha in sorted(repo.refs.items(), reverse=True)
        if name.startswith("refs/tags/")
    ]
    return paginated(req, items)


def get_branch(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    name = req.params["branch"]
    sha = repo.branch_sha(name)
    if sha is None:
        raise ApiError(404, "Branch not found")
    return Reply(body=shapes.branch_full(state, repo, name, repo.objects.commits[sha]))


# --- commits and compare -------------------------------------------------------------------


def get_commit(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    sha = repo.resolve(req.params["ref"])
    if sha is None:
        raise ApiError(422, f"No commit found for SHA: {req.params['ref']}")
    store = repo.objects
    commit = store.commits[sha]
    parent_tree = store.commits[commit.parents[0]].tree if commit.parents else None
    files = diff_trees(store, parent_tree, commit.tree)
    return Reply(body=shapes.rest_commit(state, repo, commit, files))


def list_commits(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    ref = req.query.get("sha") or repo.default_branch
    sha = repo.resolve(ref)
    if sha is None:
        if not repo.refs:
            raise ApiError(409, "Git Repository is empty.")
        raise not_found()
    store = repo.objects
    commits = store.log(sha)
    path = req.query.get("path")
    if path:
        commits = [c for c in commits if _touches(repo, c.sha, path)]
    return paginated(req, [shapes.rest_commit(state, repo, c) for c in commits])


def _touches(repo: Repo, sha: str, path: str) -> bool:
    store = repo.objects
    commit = store.commits[sha]
    parent_tree = store.commits[commit.parents[0]].tree if commit.parents else None
    return any(
        f.filename == path or f.filename.startswith(path.rstrip("/") + "/")
        for f in diff_trees(store, parent_tree, commit.tree)
    )


def compare(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    base_ref, sep, head_ref = req.params["spec"].partition("...")
    if not sep:
        raise not_found()
    base_sha = repo.resolve(base_ref.split(":", 1)[-1])
    head_sha = repo.resolve(head_ref.split(":", 1)[-1])
    if base_sha is None or head_sha is None:
        raise not_found()
    store = repo.objects
    merge_base = store.merge_base(base_sha, head_sha)
    ahead = store.commits_between(base_sha, head_sha)
    behind = store.commits_between(head_sha, base_sha)
    status = _compare_status(len(ahead), len(behind))
    base_tree = store.commits[merge_base].tree if merge_base else None
    files = diff_trees(store, base_tree, store.commits[head_sha].tree)
    api = f"{state.base_url}/repos/{repo.full_name}"
    body = {
        "url": f"{api}/compare/{req.params['spec']}",
        "html_url": f"{shapes.HTML}/{repo.full_name}/compare/{req.params['spec']}",
        "base_commit": shapes.rest_commit(state, repo, store.commits[base_sha]),
        "merge_base_commit": shapes.rest_commit(state, repo, store.commits[merge_base])
        if merge_base
        else None,
        "status": status,
        "ahead_by": len(ahead),
        "behind_by": len(behind),
        "total_commits": len(ahead),
        "commits": [shapes.rest_commit(state, repo, c) for c in ahead[:MAX_COMPARE_COMMITS]],
        "files": [shapes.file_change(repo, f) for f in files],
    }
    return Reply(body=body)


def _compare_status(ahead: int, behind: int) -> str:
    if ahead == 0 and behind == 0:
        return "identical"
    if behind == 0:
        return "ahead"
    if ahead == 0:
        return "behind"
    return "diverged"


# --- collaborators -------------------------------------------------------------------------

_LEGACY = {
    "admin": "admin",
    "maintain": "write",
    "write": "write",
    "triage": "read",
    "read": "read",
    "none": "none",
}


def permission_of(repo: Repo, login: str) -> str:
    """The role a user has: set explicitly, owner is admin, else read on public repos."""
    if login.lower() in repo.permissions:
        return repo.permissions[login.lower()]
    if login.lower() == repo.owner.lower():
        return "admin"
    return "none" if repo.private else "read"


def is_collaborator(repo: Repo, login: str) -> bool:
    """Explicitly given access (or owning the repo): reading a public repo is not enough."""
    if login.lower() == repo.owner.lower():
        return True
    return repo.permissions.get(login.lower(), "none") != "none"


def collaborator_permission(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    login = req.params["user"]
    role = permission_of(repo, login)
    body = {
        "permission": _LEGACY[role],
        "role_name": role,
        "user": shapes.user(state, login) | {"permissions": _permission_flags(role)},
    }
    return Reply(body=body)


def _permission_flags(role: str) -> dict[str, bool]:
    order = ["read", "triage", "write", "maintain", "admin"]
    rank = order.index(role) if role in order else -1
    return {
        "admin": rank >= 4,
        "maintain": rank >= 3,
        "push": rank >= 2,
        "triage": rank >= 1,
        "pull": rank >= 0,
    }


_R = "/repos/{owner}/{repo}"
ROUTES = needing(
    ("contents",),
    [
        Route("GET", _R, get_repo, "repo", ("metadata",)),
        Route("GET", f"{_R}/contents", get_contents, "repo"),
        Route("GET", f"{_R}/contents/{{path:.*}}", get_contents, "repo"),
        Route("PUT", f"{_R}/contents/{{path:.+}}", put_contents, "repo"),
        Route("GET", f"{_R}/tarball", tarball_redirect, "repo"),
        Route("GET", f"{_R}/tarball/{{ref:.+}}", tarball_redirect, "repo"),
        Route("GET", "/_codeload/{owner}/{repo}/legacy.tar.gz/{sha}", codeload, "public"),
        Route("GET", f"{_R}/branches", list_branches, "repo"),
        Route("GET", f"{_R}/tags", list_tags, "repo", ("metadata",)),
        Route("GET", f"{_R}/branches/{{branch:.+}}", get_branch, "repo"),
        Route("GET", f"{_R}/commits", list_commits, "repo"),
        Route("GET", f"{_R}/commits/{{ref:[^/]+(?:/[^/]+)*?}}", get_commit, "repo"),
        Route("GET", f"{_R}/compare/{{spec:.+}}", compare, "repo"),
        Route(
            "GET",
            f"{_R}/collaborators/{{user}}/permission",
            collaborator_permission,
            "repo",
            ("metadata",),
        ),
    ],
)
