"""One comment per subject on a PR, updated in place: never a second one.

A comment carries a hidden marker (``<!-- patchwell:sticky:KEY -->``). The caller keeps
the comment's id; when it has none (a fresh database, or a crash between posting and
saving) the PR's comments are searched for the marker first, so a redelivery adopts the
comment instead of posting another. Issue comments (conversation) and review comments
(on a diff line, where a ``suggestion`` block works) are both handled.
"""

from __future__ import annotations

from dataclasses import dataclass

import gidgethub

__all__ = ["Sticky", "marker", "upsert_comment", "upsert_review_comment"]

MAX_SCANNED = 300  # comments searched for a lost marker (three pages)


def marker(key: str) -> str:
    return f"<!-- patchwell:sticky:{key} -->"


@dataclass(frozen=True)
class Sticky:
    id: int
    kind: str  # issue | review
    changed: bool  # False when the comment already said exactly this


async def _find(gh, path: str, v: dict, key: str, bot_login: str | None) -> dict | None:
    seen = 0
    async for comment in gh.getiter(path, {**v, "per_page": 100}):
        seen += 1
        body = comment.get("body") or ""
        author = (comment.get("user") or {}).get("login")
        if marker(key) in body and (bot_login is None or author == bot_login):
            return comment
        if seen >= MAX_SCANNED:
            break
    return None


async def upsert_comment(
    gh,
    owner: str,
    repo: str,
    number: int,
    key: str,
    body: str,
    *,
    comment_id: int | None = None,
    bot_login: str | None = None,
) -> Sticky:
    """Create or edit the conversation comment for ``key`` on issue/PR ``number``."""
    text = f"{body}\n\n{marker(key)}"
    v = {"owner": owner, "repo": repo}
    existing = None
    if comment_id is not None:
        try:
            existing = await gh.getitem(
                "/repos/{owner}/{repo}/issues/comments/{id}", {**v, "id": comment_id}
            )
        except gidgethub.BadRequest as exc:
            if int(exc.status_code) != 404:
                raise  # deleted by someone: find or post anew
    if existing is None:
        existing = await _find(
            gh,
            "/repos/{owner}/{repo}/issues/{number}/comments{?per_page}",
            {**v, "number": number},
            key,
            bot_login,
        )
    if existing is not None:
        if existing.get("body") == text:
            return Sticky(int(existing["id"]), "issue", False)
        await gh.patch(
            "/repos/{owner}/{repo}/issues/comments/{id}",
            {**v, "id": existing["id"]},
            data={"body": text},
        )
        return Sticky(int(existing["id"]), "issue", True)
    created = await gh.post(
        "/repos/{owner}/{repo}/issues/{number}/comments",
        {**v, "number": number},
        data={"body": text},
    )
    return Sticky(int(created["id"]), "issue", True)


async def upsert_review_comment(
    gh,
    owner: str,
    repo: str,
    number: int,
    key: str,
    body: str,
    *,
    commit_id: str,
    path: str,
    line: int,
    start_line: int | None = None,
    comment_id: int | None = None,
    bot_login: str | None = None,
) -> Sticky:
    """Create or edit the review comment for ``key`` at ``path:line`` (a new anchor means
    the old comment is deleted and one posted there: still one comment)."""
    text = f"{body}\n\n{marker(key)}"
    v = {"owner": owner, "repo": repo}
    existing = await _find(
        gh,
        "/repos/{owner}/{repo}/pulls/{number}/comments{?per_page}",
        {**v, "number": number},
        key,
        bot_login,
    )
    if existing is not None:
        same_place = existing.get("path") == path and existing.get("line") == line
        if same_place:
            if existing.get("body") == text:
                return Sticky(int(existing["id"]), "review", False)
            await gh.patch(
                "/repos/{owner}/{repo}/pulls/comments/{id}",
                {**v, "id": existing["id"]},
                data={"body": text},
            )
            return Sticky(int(existing["id"]), "review", True)
        await delete_comment(gh, owner, repo, int(existing["id"]), "review")
    data: dict = {"body": text, "commit_id": commit_id, "path": path, "line": line, "side": "RIGHT"}
    if start_line is not None and start_line < line:
        data |= {"start_line": start_line, "start_side": "RIGHT"}
    created = await gh.post(
        "/repos/{owner}/{repo}/pulls/{number}/comments", {**v, "number": number}, data=data
    )
    return Sticky(int(created["id"]), "review", True)


async def delete_comment(gh, owner: str, repo: str, comment_id: int, kind: str) -> None:
    path = (
        "/repos/{owner}/{repo}/pulls/comments/{id}"
        if kind == "review"
        else "/repos/{owner}/{repo}/issues/comments/{id}"
    )
    try:
        await gh.delete(path, {"owner": owner, "repo": repo, "id": comment_id})
    except gidgethub.BadRequest as exc:
        if int(exc.status_code) != 404:
            raise
