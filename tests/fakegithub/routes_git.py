"""The Git database API: blobs, trees, commits and refs, with real git object ids."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Any

from tests.fakegithub import shapes
from tests.fakegithub.gitobjects import BLOB_MODES, MODE_TREE, Commit, FlatTree, Signature
from tests.fakegithub.httpkit import Reply, Req, Route, needing
from tests.fakegithub.state import ApiError, FakeState, Repo, not_found, now

_SHA = re.compile(r"[0-9a-f]{40}")
_TREE_MODES = BLOB_MODES | {MODE_TREE, "160000"}


def _field_error(resource: str, field_name: str, code: str = "invalid") -> ApiError:
    return ApiError(
        422,
        "Invalid request.",
        errors=[{"resource": resource, "field": field_name, "code": code}],
    )


# --- blobs ---------------------------------------------------------------------------------


def create_blob(state: FakeState, req: Req) -> Reply:
    body = req.obj()
    content, encoding = body.get("content"), body.get("encoding", "utf-8")
    if not isinstance(content, str):
        raise _field_error("Blob", "content", "missing_field")
    if encoding == "utf-8":
        data = content.encode()
    elif encoding == "base64":
        try:
            data = base64.b64decode(content, validate=False)
        except (binascii.Error, ValueError):
            raise ApiError(422, "Invalid request.\n\nInvalid base64 content.") from None
    else:
        raise ApiError(422, f"Invalid request.\n\n{encoding!r} is not a valid encoding.")
    repo = req.the_repo
    sha = repo.objects.put_blob(data)
    return Reply(status=201, body={"sha": sha, "url": _url(state, repo, "blobs", sha)})


def get_blob(state: FakeState, req: Req) -> Reply:
    repo, sha = req.the_repo, req.params["sha"]
    data = repo.objects.blobs.get(sha)
    if data is None:
        raise not_found()
    return Reply(
        body={
            "sha": sha,
            "node_id": f"B_{sha}",
            "size": len(data),
            "url": _url(state, repo, "blobs", sha),
            "content": shapes.b64_lines(data),
            "encoding": "base64",
        }
    )


def _url(state: FakeState, repo: Repo, kind: str, sha: str) -> str:
    return f"{state.base_url}/repos/{repo.full_name}/git/{kind}/{sha}"


# --- trees ---------------------------------------------------------------------------------


def get_tree(state: FakeState, req: Req) -> Reply:
    repo, ref = req.the_repo, req.params["sha"]
    store = repo.objects
    sha = ref if ref in store.trees else None
    if sha is None:
        commit_sha = repo.resolve(ref)
        sha = store.commits[commit_sha].tree if commit_sha else None
    if sha is None:
        raise not_found()
    recursive = req.query.get("recursive") not in (None, "", "0", "false")
    listing = store.walk(sha) if recursive else [(e.name, e) for e in store.trees[sha]]
    entries = []
    for path, entry in listing:
        item: dict[str, Any] = {
            "path": path,
            "mode": entry.mode,
            "type": "tree" if entry.is_tree else "blob",
            "sha": entry.sha,
        }
        if not entry.is_tree:
            item["size"] = len(store.blobs.get(entry.sha, b""))
        item["url"] = _url(state, repo, "trees" if entry.is_tree else "blobs", entry.sha)
        entries.append(item)
    body = {"sha": sha, "url": _url(state, repo, "trees", sha), "tree": entries, "truncated": False}
    return Reply(body=body)


def create_tree(state: FakeState, req: Req) -> Reply:
    body = req.obj()
    repo = req.the_repo
    store = repo.objects
    base_tree = body.get("base_tree")
    entries = body.get("tree")
    if not isinstance(entries, list):
        raise _field_error("Tree", "tree", "missing_field")
    flat: FlatTree = {}
    if base_tree is not None:
        if base_tree not in store.trees:
            raise ApiError(422, "Invalid request.\n\nbase_tree is not a valid tree oid.")
        flat = store.flatten(base_tree)
    for entry in entries:
        _apply_tree_entry(repo, flat, entry)
    sha = store.build(flat)
    listed = get_tree(
        state, Req(**{**req.__dict__, "params": {**req.params, "sha": sha}, "query": {}})
    )
    return Reply(status=201, body=listed.body)


def _apply_tree_entry(repo: Repo, flat: FlatTree, entry: Any) -> None:
    store = repo.objects
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        raise ApiError(422, "Invalid tree info", errors=[{"resource": "Tree", "field": "path"}])
    path = entry["path"].strip("/")
    mode = entry.get("mode", "100644")
    if not path or ".." in path.split("/") or mode not in _TREE_MODES:
        raise ApiError(422, f"Invalid tree info for path {entry['path']!r}")
    under = path + "/"
    if "content" in entry and entry.get("content") is not None:
        if not isinstance(entry["content"], str):
            raise ApiError(422, "Invalid tree info: content must be a string")
        _drop(flat, path, under)
        flat[path] = (mode, store.put_blob(entry["content"].encode()))
        return
    if "sha" not in entry:
        raise ApiError(422, "Must supply either tree.sha or tree.content")
    sha = entry["sha"]
    if sha is None:  # GitHub: sha null deletes the path
        _drop(flat, path, under)
        return
    if not isinstance(sha, str) or not _SHA.fullmatch(sha):
        raise ApiError(422, f"Invalid tree info: tree.sha {sha!r} is not a valid object id")
    if mode == MODE_TREE or entry.get("type") == "tree":
        if sha not in store.trees:
            raise ApiError(422, f"tree.sha {sha} is not a valid tree")
        _drop(flat, path, under)
        flat.update({f"{under}{p}": v for p, v in store.flatten(sha).items()})
        return
    if sha not in store.blobs:
        raise ApiError(422, f"tree.sha {sha} is not a valid blob")
    _drop(flat, path, under)
    flat[path] = (mode, sha)


def _drop(flat: FlatTree, path: str, under: str) -> None:
    for key in [k for k in flat if k == path or k.startswith(under)]:
        del flat[key]


# --- commits -------------------------------------------------------------------------------


def create_commit(state: FakeState, req: Req) -> Reply:
    body = req.obj()
    repo = req.the_repo
    store = repo.objects
    message, tree = body.get("message"), body.get("tree")
    parents = body.get("parents", [])
    if not isinstance(message, str):
        raise _field_error("Commit", "message", "missing_field")
    if not isinstance(tree, str) or tree not in store.trees:
        raise ApiError(422, "Tree SHA does not exist")
    if not isinstance(parents, list) or any(p not in store.commits for p in parents):
        raise ApiError(422, "Parent SHA does not exist or is not a commit object")
    commit = commit_as_app(state, repo, body, tree=tree, parents=tuple(parents), message=message)
    return Reply(status=201, body=shapes.git_commit(state, repo, commit))


def commit_as_app(
    state: FakeState,
    repo: Repo,
    body: dict[str, Any],
    *,
    tree: str,
    parents: tuple[str, ...],
    message: str,
) -> Commit:
    """Store a commit made through the API, honouring optional ``author``/``committer``."""
    author, committer = body.get("author"), body.get("committer")
    bot = Signature(
        state.bot_login,
        f"{state.user_id(state.bot_login)}+{state.bot_login}@users.noreply.github.com",
        int(now()),
    )
    author_sig = _signature(author, bot) if author is not None else bot
    committer_sig = _signature(committer, author_sig) if committer is not None else author_sig
    return repo.objects.put_commit(
        tree=tree,
        parents=parents,
        message=message,
        author=author_sig,
        committer=committer_sig,
        author_login=None if author is not None else state.bot_login,
        committer_login=None if committer is not None else state.bot_login,
        # GitHub signs commits it authors for an app; a supplied identity is left unsigned
        verified=author is None and committer is None,
    )


def _signature(value: Any, default: Signature) -> Signature:
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise ApiError(422, "Invalid request.\n\nauthor/committer needs name and email.")
    email = value.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise ApiError(422, "Invalid request.\n\nauthor/committer email is invalid.")
    return Signature(value["name"], email, _parse_date(value.get("date"), default.timestamp))


def _parse_date(value: Any, default: int) -> int:
    if not isinstance(value, str):
        return default
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        raise ApiError(422, f"Invalid request.\n\n{value!r} is not a valid date-time.") from None


def get_git_commit(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    commit = repo.objects.commits.get(req.params["sha"])
    if commit is None:
        raise not_found()
    return Reply(body=shapes.git_commit(state, repo, commit))


# --- refs ----------------------------------------------------------------------------------


def _full_ref(ref: str) -> str:
    return ref if ref.startswith("refs/") else f"refs/{ref}"


def get_ref(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    name = _full_ref(req.params["ref"])
    sha = repo.refs.get(name)
    if sha is None:
        raise not_found()
    return Reply(body=shapes.ref(state, repo, name, sha))


def matching_refs(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    prefix = _full_ref(req.params.get("ref", ""))
    items = [
        shapes.ref(state, repo, name, sha)
        for name, sha in sorted(repo.refs.items())
        if name.startswith(prefix)
    ]
    return Reply(body=items)


def create_ref(state: FakeState, req: Req) -> Reply:
    body = req.obj()
    repo = req.the_repo
    name, sha = body.get("ref"), body.get("sha")
    if not isinstance(name, str) or not name.startswith("refs/") or name.count("/") < 2:
        raise ApiError(422, "Reference name is invalid")
    if not _valid_ref_name(name):
        raise ApiError(422, "Reference name is invalid")
    if not isinstance(sha, str) or repo.objects.kind_of(sha) is None:
        raise ApiError(422, "Object does not exist")
    if name in repo.refs:
        raise ApiError(422, "Reference already exists")
    _refuse_workflow_edits(req, sha)
    state.set_ref(repo, name, sha)
    return Reply(status=201, body=shapes.ref(state, repo, name, sha))


WORKFLOWS_DIR = ".github/workflows/"


def _refuse_workflow_edits(req: Req, sha: str) -> None:
    """GitHub refuses an App a ref pointing at a commit that changes a workflow file unless
    the installation granted the ``workflows`` permission (a new permission waits for the
    owner to accept it)."""
    installation = req.installation
    if installation is None or installation.permissions.get("workflows") == "write":
        return
    store = req.the_repo.objects
    commit = store.commits.get(sha)
    if commit is None:
        return
    after = store.flatten(commit.tree)
    before = store.flatten(store.commits[commit.parents[0]].tree) if commit.parents else {}
    changed = sorted(
        p
        for p in set(after) | set(before)
        if p.startswith(WORKFLOWS_DIR) and after.get(p) != before.get(p)
    )
    if changed:
        raise ApiError(
            403,
            f"refusing to allow a GitHub App to create or update workflow `{changed[0]}` "
            "without `workflows` permission",
        )


def _valid_ref_name(name: str) -> bool:
    # the parts of git-check-ref-format a bot can plausibly get wrong
    bad = ("..", "//", "@{", "\\", " ", "~", "^", ":", "?", "*", "[")
    return not any(b in name for b in bad) and not name.endswith((".", "/", ".lock"))


def update_ref(state: FakeState, req: Req) -> Reply:
    body = req.obj()
    repo = req.the_repo
    name = _full_ref(req.params["ref"])
    sha, force = body.get("sha"), bool(body.get("force", False))
    current = repo.refs.get(name)
    if current is None:
        raise ApiError(422, "Reference does not exist")
    if not isinstance(sha, str) or sha not in repo.objects.commits:
        raise ApiError(422, "Object does not exist")
    if not force and current not in repo.objects.ancestors(sha):
        raise ApiError(422, "Update is not a fast forward")
    _refuse_workflow_edits(req, sha)
    state.set_ref(repo, name, sha)
    return Reply(body=shapes.ref(state, repo, name, sha))


def delete_ref(state: FakeState, req: Req) -> Reply:
    repo = req.the_repo
    name = _full_ref(req.params["ref"])
    if name not in repo.refs:
        raise ApiError(422, "Reference does not exist")
    state.set_ref(repo, name, None)
    return Reply(status=204)


def list_refs(state: FakeState, req: Req) -> Reply:
    return matching_refs(state, Req(**{**req.__dict__, "params": {**req.params, "ref": ""}}))


_R = "/repos/{owner}/{repo}/git"
ROUTES = needing(
    ("contents",),
    [
        Route("POST", f"{_R}/blobs", create_blob, "repo"),
        Route("GET", f"{_R}/blobs/{{sha}}", get_blob, "repo"),
        Route("POST", f"{_R}/trees", create_tree, "repo"),
        Route("GET", f"{_R}/trees/{{sha:.+}}", get_tree, "repo"),
        Route("POST", f"{_R}/commits", create_commit, "repo"),
        Route("GET", f"{_R}/commits/{{sha}}", get_git_commit, "repo"),
        Route("GET", f"{_R}/ref/{{ref:.+}}", get_ref, "repo"),
        Route("GET", f"{_R}/matching-refs/{{ref:.*}}", matching_refs, "repo"),
        Route("GET", f"{_R}/refs", list_refs, "repo"),
        Route("POST", f"{_R}/refs", create_ref, "repo"),
        Route("GET", f"{_R}/refs/{{ref:.+}}", get_ref, "repo"),
        Route("PATCH", f"{_R}/refs/{{ref:.+}}", update_ref, "repo"),
        Route("DELETE", f"{_R}/refs/{{ref:.+}}", delete_ref, "repo"),
    ],
)
