"""Issue 9 point 6 on the PR engine's side: a PR is Patchwell's only when its head branch
lives in the repository itself and the App opened it -- a branch name proves nothing.

A stranger opens a PR from a fork whose branch is named like Patchwell's and deletes the
fork: GitHub then lists that PR with ``head.repo: null``. Read as "same repository", the
engine would adopt the stranger's PR (rewriting its title and body, recording its number)
and never open its own."""

from __future__ import annotations

from tests.appfixtures import engine_on_fake
from tests.test_scan_engine import INSTALLATION, OWNER, REPO, full_scan, make_repo
from tests.toyfixers import FixmeFixer


async def test_a_deleted_forks_pr_named_like_ours_is_not_adopted(fake_github, tmp_path) -> None:
    make_repo(fake_github, {"notes/todo.txt": "FIXME drift\n"})
    branch = "patchwell/fixme/notes-todo"
    number = fake_github.open_fork_pull(
        OWNER, REPO, "stranger", branch, {"app.py": "print('mine')\n"}, title="Innocent"
    )
    fake_github.delete_repo("stranger", REPO)
    assert fake_github.pull(OWNER, REPO, number)["head"]["repo"] is None
    url = f"sqlite:///{tmp_path / 'scan.db'}"
    async with engine_on_fake(fake_github, url, INSTALLATION, fixers=[FixmeFixer()]) as (
        engine,
        db,
    ):
        await engine.scan(full_scan())
        (recorded,) = await db.fetchall(
            "SELECT pr_number FROM patch_branches WHERE branch = ?", (branch,)
        )
    ours = [
        p
        for p in fake_github.pulls(OWNER, REPO)
        if p["user"]["login"] == fake_github.bot_login and p["state"] == "open"
    ]
    assert [(p["head"]["ref"], p["head"]["repo"]["full_name"]) for p in ours] == [
        (branch, f"{OWNER}/{REPO}")
    ]
    assert fake_github.pull(OWNER, REPO, number)["title"] == "Innocent"
    assert recorded == (ours[0]["number"],)
