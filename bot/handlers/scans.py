"""Scan jobs: the full scans queued at installation and the periodic rescans."""

from __future__ import annotations

from gidgethub.routing import Router

from bot.scan.engine import SCAN_JOB, ScanRequest, split_full_name

router = Router()


@router.register(SCAN_JOB)
async def scan_repository(event, gh, ctx) -> None:
    full_name = event.data["repository"]["full_name"]
    record = await ctx.store.repository(full_name)
    if record is not None and not record.active:
        await ctx.record("scan", f"{full_name} no longer installed: skipped")
        return
    owner, repo = split_full_name(full_name)
    engine = await ctx.scan_engine(gh)
    outcome = await engine.scan(
        ScanRequest(
            owner,
            repo,
            event.data["installation"]["id"],
            reason=event.data.get("action") or "rescan",
        )
    )
    await ctx.record(
        "scan",
        f"{full_name} at {outcome.head_sha[:12]}: {outcome.mode}, {outcome.findings} findings",
    )
