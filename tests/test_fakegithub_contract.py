"""Contract: the fake speaks GitHub's shapes well enough for PyGithub, and hashes like git."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import aiohttp
import pytest
from gidgethub import apps
from gidgethub.aiohttp import GitHubAPI
from github import Auth, Github, GithubException, GithubIntegration, InputGitTreeElement

from tests.fakegithub import FakeGitHub
from tests.fakegithub.gitobjects import ObjectStore

OWNER, NAME, INSTALLATION = "acme", "shop", 31337
FILES = {
    "README.md": "# shop\n",
    "requirements.txt": "flask==2.0.1\nrequests>=2\n",
    "src/app/main.py": "print('hello')\n",
    "src/app/util.py": "X = 1\n",
    ".github/workflows/ci.yml": "on: push\njobs: {}\n",
}


def _client(fake: FakeGitHub, **kwargs: object) -> Github:
    # no retries and no client-side throttling: the contract is about shapes, not politeness
    return Github(
        base_url=fake.url,
        retry=None,
        seconds_between_requests=0,
        seconds_between_writes=0,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def gh(fake_github: FakeGitHub) -> Github:
    fake_github.create_repo(OWNER, NAME, FILES)
    fake_github.add_installation(INSTALLATION, OWNER, [NAME])
    app_auth = Auth.AppAuth(fake_github.app_id, fake_github.private_key_pem)
    return _client(fake_github, auth=app_auth.get_installation_auth(INSTALLATION))


def test_app_auth_reads_repo_branches_and_refs(gh: Github, fake_github: FakeGitHub) -> None:
    repo = gh.get_repo(f"{OWNER}/{NAME}")
    assert repo.full_name == f"{OWNER}/{NAME}"
    assert repo.default_branch == "main"
    assert repo.private is False
    head = fake_github.branches(OWNER, NAME)["main"]
    assert repo.get_branch("main").commit.sha == head
    assert [b.name for b in repo.get_branches()] == ["main"]
    assert repo.get_git_ref("heads/main").object.sha == head
    fake_github.push(OWNER, NAME, "patchwell/deps", {"x.txt": "x"}, "add x")
    refs = repo.get_git_matching_refs("heads/patchwell/")
    assert [r.ref for r in refs] == ["refs/heads/patchwell/deps"]
    assert fake_github.tokens_issued == 1


def test_recursive_tree_and_blob(gh: Github) -> None:
    repo = gh.get_repo(f"{OWNER}/{NAME}")
    tree = repo.get_git_tree("main", recursive=True)
    blobs = {e.path: e.sha for e in tree.tree if e.type == "blob"}
    assert set(blobs) == set(FILES)
    assert {e.path for e in tree.tree if e.type == "tree"} == {
        ".github",
        ".github/workflows",
        "src",
        "src/app",
    }
    blob = repo.get_git_blob(blobs["requirements.txt"])
    assert blob.encoding == "base64"
    assert base64.b64decode(blob.content) == FILES["requirements.txt"].encode()
    contents = repo.get_contents("src/app/main.py", ref="main")
    assert contents.decoded_content == FILES["src/app/main.py"].encode()


def test_write_commit_create_pull_and_paginate(gh: Github, fake_github: FakeGitHub) -> None:
    repo = gh.get_repo(f"{OWNER}/{NAME}")
    base = repo.get_branch("main").commit
    for i in range(5):
        blob = repo.create_git_blob(f"flask==3.0.{i}\n", "utf-8")
        element = _tree_element("requirements.txt", blob.sha)
        tree = repo.create_git_tree([element], base_tree=repo.get_git_tree(base.sha))
        commit = repo.create_git_commit(f"bump {i}", tree, [repo.get_git_commit(base.sha)])
        assert commit.sha == fake_github.commit(OWNER, NAME, commit.sha)["sha"]
        repo.create_git_ref(f"refs/heads/patchwell/bump-{i}", commit.sha)
        pr = repo.create_pull(base="main", head=f"patchwell/bump-{i}", title=f"Bump {i}", body="b")
        assert pr.number == i + 1
        assert pr.head.sha == commit.sha
    small = _client(fake_github, auth=Auth.Token(_token(fake_github)), per_page=2)
    pulls = small.get_repo(f"{OWNER}/{NAME}").get_pulls(state="open")
    assert pulls.totalCount == 5
    assert [p.number for p in pulls] == [5, 4, 3, 2, 1]  # newest first, across three pages
    assert fake_github.count_calls("GET", r"/pulls$") >= 3
    verified = fake_github.commit(OWNER, NAME, "patchwell/bump-0")["commit"]["verification"]
    assert verified["verified"] is True


def _tree_element(path: str, sha: str) -> InputGitTreeElement:
    return InputGitTreeElement(path, "100644", "blob", sha=sha)


def _token(fake: FakeGitHub) -> str:
    integration_auth = Auth.AppAuth(fake.app_id, fake.private_key_pem)
    integration = GithubIntegration(auth=integration_auth, base_url=fake.url)
    return integration.get_access_token(INSTALLATION).token


def test_comments_and_check_run(gh: Github, fake_github: FakeGitHub) -> None:
    fake_github.push(OWNER, NAME, "fix", {"a.txt": "a\n"}, "add a")
    repo = gh.get_repo(f"{OWNER}/{NAME}")
    pr = repo.create_pull(base="main", head="fix", title="Fix", body="")
    fake_github.add_comment(OWNER, NAME, pr.number, "@patchwell rebase", "alice")
    pr.create_issue_comment("Rebased.")
    comments = list(repo.get_issue(pr.number).get_comments())
    assert [(c.user.login, c.body) for c in comments] == [
        ("alice", "@patchwell rebase"),
        ("patchwell[bot]", "Rebased."),
    ]
    run = repo.create_check_run(
        name="patchwell",
        head_sha=pr.head.sha,
        status="completed",
        conclusion="neutral",
        output={
            "title": "2 findings",
            "summary": "s",
            "annotations": [
                {
                    "path": "a.txt",
                    "start_line": 1,
                    "end_line": 1,
                    "annotation_level": "warning",
                    "message": "m",
                }
            ],
        },
    )
    assert run.conclusion == "neutral"
    assert run.output.annotations_count == 1
    listed = repo.get_commit(pr.head.sha).get_check_runs()
    assert [r.id for r in listed] == [run.id]
    assert fake_github.check_runs(OWNER, NAME)[0]["annotations"][0]["message"] == "m"


def test_repo_outside_installation_is_404_for_pygithub(gh: Github, fake_github: FakeGitHub) -> None:
    fake_github.create_repo(OWNER, "secret", {"a": "b"}, private=True)
    with pytest.raises(GithubException) as caught:
        gh.get_repo(f"{OWNER}/secret").get_branch("main")
    assert caught.value.status == 404


def _git(cwd: Path, *args: str, stdin: bytes | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, check=True)
    return done.stdout.decode().strip()


def test_blob_and_tree_shas_match_git(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    store = ObjectStore()
    contents = {"b.txt": b"bee\n", "a/x.py": b"print(1)\n", "a-b": b"\x00\xffbinary", "a.txt": b""}
    flat = {}
    for path, data in contents.items():
        file = tmp_path / "blob"
        file.write_bytes(data)
        git_sha = _git(tmp_path, "hash-object", "-w", str(file))
        assert store.put_blob(data) == git_sha
        flat[path] = ("100644", git_sha)
    sub = _git(tmp_path, "mktree", stdin=f"100644 blob {flat['a/x.py'][1]}\tx.py\n".encode())
    # "a-b", "a.txt" and the tree "a" exercise git's ordering of trees as if named "a/"
    listing = (
        "".join(f"100644 blob {flat[p][1]}\t{p}\n" for p in ("a-b", "a.txt", "b.txt"))
        + f"040000 tree {sub}\ta\n"
    )
    root = _git(tmp_path, "mktree", stdin=listing.encode())
    assert store.build(flat) == root
    assert store.put_tree([]) == _git(tmp_path, "mktree", stdin=b"")


async def test_gidgethub_token_pagination_and_writes(fake_github: FakeGitHub) -> None:
    fake_github.create_repo(OWNER, NAME, FILES)
    fake_github.add_installation(INSTALLATION, OWNER, [NAME])
    fake_github.push(OWNER, NAME, "fix", {"a.txt": "a\n"}, "add a")
    async with aiohttp.ClientSession() as session:
        app_gh = GitHubAPI(session, "patchwell-tests", base_url=fake_github.url)
        issued = await apps.get_installation_access_token(
            app_gh,
            installation_id=str(INSTALLATION),
            app_id=str(fake_github.app_id),
            private_key=fake_github.private_key_pem,
        )
        gh = GitHubAPI(
            session, "patchwell-tests", oauth_token=issued["token"], base_url=fake_github.url
        )
        pr = await gh.post(
            f"/repos/{OWNER}/{NAME}/pulls", data={"title": "t", "head": "fix", "base": "main"}
        )
        for i in range(5):
            await gh.post(
                f"/repos/{OWNER}/{NAME}/issues/{pr['number']}/comments", data={"body": str(i)}
            )
        url = f"/repos/{OWNER}/{NAME}/issues/{pr['number']}/comments?per_page=2"
        bodies = [c["body"] async for c in gh.getiter(url)]
        assert bodies == ["0", "1", "2", "3", "4"]
        files = [f["filename"] async for f in gh.getiter(f"/repos/{OWNER}/{NAME}/pulls/1/files")]
        assert files == ["a.txt"]
        assert gh.rate_limit is not None and gh.rate_limit.remaining < 5000
