"""``installation`` and ``installation_repositories``: where full scans start.

Each repository gets its own scan job (so the queue's one-job-per-repository
rule applies and one slow repository does not hold up the others).
"""

from __future__ import annotations

from gidgethub.routing import Router

from bot.scan.engine import SCAN_JOB, repositories_of, scan_payload, split_full_name

router = Router()


async def _enqueue_scans(ctx, installation_id: int, names: list[str], reason: str) -> int:
    queued = 0
    for full_name in names:
        await ctx.store.upsert_repository(full_name, installation_id)
        owner, repo = split_full_name(full_name)
        job = await ctx.queue.enqueue(
            SCAN_JOB,
            scan_payload(owner, repo, installation_id, reason),
            repository=full_name,
            installation_id=installation_id,
            dedupe_key=f"scan:{full_name}:{reason}",
        )
        queued += job is not None
    return queued


@router.register("installation", action="created")
async def installation_created(event, gh, ctx) -> None:
    # The payload lists repositories only for "selected" installations, and not
    # always all of them: ask GitHub for the authoritative list (paginated).
    names = [
        repo["full_name"]
        async for repo in gh.getiter("/installation/repositories", iterable_key="repositories")
    ]
    installation_id = event.data["installation"]["id"]
    queued = await _enqueue_scans(ctx, installation_id, names, "install")
    await ctx.record(
        "installation_created",
        f"{len(names)} repositories, {queued} scans queued: {', '.join(names[:50])}",
    )


@router.register("installation", action="deleted")
@router.register("installation", action="suspend")
async def installation_gone(event, gh, ctx) -> None:
    installation_id = event.data["installation"]["id"]
    await ctx.store.deactivate_installation(installation_id)
    await ctx.record(
        f"installation_{event.data.get('action')}", f"installation {installation_id} deactivated"
    )


@router.register("installation", action="unsuspend")
@router.register("installation", action="new_permissions_accepted")
async def installation_back(event, gh, ctx) -> None:
    names = [
        repo["full_name"]
        async for repo in gh.getiter("/installation/repositories", iterable_key="repositories")
    ]
    queued = await _enqueue_scans(ctx, event.data["installation"]["id"], names, "install")
    await ctx.record(f"installation_{event.data.get('action')}", f"{queued} scans queued")


@router.register("installation_repositories", action="added")
async def repositories_added(event, gh, ctx) -> None:
    names = repositories_of(event.data.get("repositories_added") or [])
    queued = await _enqueue_scans(ctx, event.data["installation"]["id"], names, "added")
    await ctx.record("repositories_added", f"{queued} scans queued: {', '.join(names[:50])}")


@router.register("installation_repositories", action="removed")
async def repositories_removed(event, gh, ctx) -> None:
    names = repositories_of(event.data.get("repositories_removed") or [])
    for full_name in names:
        await ctx.store.upsert_repository(full_name, event.data["installation"]["id"], active=False)
    await ctx.record("repositories_removed", f"{len(names)} repositories: {', '.join(names[:50])}")
