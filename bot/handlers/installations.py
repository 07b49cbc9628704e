"""``installation`` and ``installation_repositories``: where full scans start."""

from __future__ import annotations

from gidgethub.routing import Router

router = Router()


def _repo_names(repos: object) -> list[str]:
    if not isinstance(repos, list):
        return []
    return [
        r["full_name"] for r in repos if isinstance(r, dict) and isinstance(r.get("full_name"), str)
    ]


@router.register("installation", action="created")
async def installation_created(event, gh, ctx) -> None:
    # The payload lists the repositories only when the installation chose some;
    # ask GitHub for the authoritative list (paginated) either way.
    names: list[str] = []
    if gh is not None:
        async for repo in gh.getiter("/installation/repositories", iterable_key="repositories"):
            names.append(repo["full_name"])
    else:
        names = _repo_names(event.data.get("repositories"))
    await ctx.record("installation_created", f"{len(names)} repositories: {', '.join(names[:50])}")


@router.register("installation", action="deleted")
@router.register("installation", action="suspend")
@router.register("installation", action="unsuspend")
@router.register("installation", action="new_permissions_accepted")
async def installation_changed(event, gh, ctx) -> None:
    await ctx.record(
        f"installation_{event.data.get('action')}",
        f"account {event.data.get('installation', {}).get('account', {}).get('login')}",
    )


@router.register("installation_repositories", action="added")
async def repositories_added(event, gh, ctx) -> None:
    names = _repo_names(event.data.get("repositories_added"))
    await ctx.record("repositories_added", f"{len(names)} repositories: {', '.join(names[:50])}")


@router.register("installation_repositories", action="removed")
async def repositories_removed(event, gh, ctx) -> None:
    names = _repo_names(event.data.get("repositories_removed"))
    await ctx.record("repositories_removed", f"{len(names)} repositories: {', '.join(names[:50])}")
