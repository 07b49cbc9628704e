"""The ``patchwell`` command.

``serve``    the webhook server (and, on SQLite, the worker in the same process)
``worker``   a worker process (PostgreSQL deployments run as many as they like)
``migrate``  apply schema migrations (Procfile ``release:``), or ``--to N`` to roll back
``jobs``     list queued/running/dead jobs; ``jobs retry ID`` requeues one; ``jobs purge``
           deletes done jobs and old delivery ids now (also done hourly by every worker)
``scan``     run every fixer over a local checkout
``deps``     print every dependency Patchwell parsed from a local checkout
``setup``    register the GitHub App from app.yml (the manifest flow, a local page)

Exit codes: 0 success, 1 findings (``scan``) or failure, 2 usage or configuration errors.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.errors import ConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="patchwell",
        description="A GitHub App that opens small healing pull requests.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the webhook server")
    serve.add_argument("--port", type=int, help="port to listen on (default: $PORT or 8000)")
    serve.add_argument("--host", default="0.0.0.0", help="address to bind (default: 0.0.0.0)")
    group = serve.add_mutually_exclusive_group()
    group.add_argument(
        "--worker",
        dest="inline_worker",
        action="store_true",
        default=None,
        help="also run a worker in this process (default on SQLite)",
    )
    group.add_argument(
        "--no-worker",
        dest="inline_worker",
        action="store_false",
        help="only accept webhooks (default on PostgreSQL)",
    )

    worker = sub.add_parser("worker", help="run a job worker")
    worker.add_argument(
        "--concurrency", type=int, help="jobs at once (default: $PATCHWELL_WORKER_CONCURRENCY or 4)"
    )

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--to", type=int, dest="target", help="migrate up or down to version N")

    jobs = sub.add_parser("jobs", help="list jobs, or retry one")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", metavar="ACTION")
    listing = jobs_sub.add_parser("list", help="list jobs (the default)")
    listing.add_argument(
        "--state",
        action="append",
        choices=["queued", "running", "dead", "done"],
        help="only these states (repeatable; default: queued, running, dead)",
    )
    listing.add_argument("--limit", type=int, default=100)
    retry = jobs_sub.add_parser("retry", help="requeue a dead or queued job now")
    retry.add_argument("job_id", type=int)
    purge = jobs_sub.add_parser(
        "purge", help="delete done jobs, their payloads and old delivery ids now"
    )
    purge.add_argument(
        "--older-than",
        type=_retention,
        help="keep what is younger (default: $PATCHWELL_RETENTION or 14d; at least 3d)",
    )

    try:
        from bot.cli_scan import add_scan_parser
    except ImportError:  # pragma: no cover - the scan command ships with the package
        pass
    else:
        add_scan_parser(sub)

    setup = sub.add_parser("setup", help="register the GitHub App from app.yml (manifest flow)")
    setup.add_argument("--host", default="127.0.0.1", help="address of the local page")
    setup.add_argument("--port", type=int, default=3000, help="port of the local page")
    setup.add_argument("--org", help="register the App on this organisation")
    setup.add_argument("--webhook-url", help="the webhook URL (default: app.yml's)")
    setup.add_argument("--env-file", type=Path, default=Path(".env"), help="default: .env")
    setup.add_argument(
        "--key-file", type=Path, help="write the private key here (default: inline in the env file)"
    )
    setup.add_argument("--manifest", type=Path, help="the App manifest (default: app.yml)")
    setup.add_argument("--force", action="store_true", help="replace existing files")

    deps = sub.add_parser("deps", help="print every dependency parsed from a checkout")
    deps.add_argument("path", type=Path)
    deps.add_argument("--format", choices=["text", "json"], default="text")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        from bot.config import withhold_credentials
        from bot.service import serve

        env = withhold_credentials(os.environ)  # the scan processes it starts inherit none
        return serve(env, port=args.port, host=args.host, inline_worker=args.inline_worker)
    if args.command == "worker":
        from bot.config import withhold_credentials
        from bot.service import run_worker_process

        env = withhold_credentials(os.environ)
        return run_worker_process(env, concurrency=args.concurrency)
    if args.command == "migrate":
        import asyncio  # here, not at the top: `patchwell scan` needs no event loop

        from bot.service import run_migrate

        return asyncio.run(run_migrate(os.environ, args.target))
    if args.command == "jobs":
        import asyncio

        from bot.service import jobs_list, jobs_purge, jobs_retry

        if args.jobs_command == "retry":
            return asyncio.run(jobs_retry(os.environ, args.job_id))
        if args.jobs_command == "purge":
            return asyncio.run(jobs_purge(os.environ, args.older_than))
        states = tuple(getattr(args, "state", None) or ("queued", "running", "dead"))
        return asyncio.run(jobs_list(os.environ, states, getattr(args, "limit", 100)))
    if args.command == "setup":
        from bot.setup_app import APP_YML, DEFAULT_API_URL, DEFAULT_WEB_URL, SetupOptions, run

        return run(
            SetupOptions(
                env_file=args.env_file,
                web_url=os.environ.get("PATCHWELL_GITHUB_URL") or DEFAULT_WEB_URL,
                api_url=os.environ.get("PATCHWELL_GITHUB_API_URL") or DEFAULT_API_URL,
                host=args.host,
                port=args.port,
                org=args.org,
                webhook_url=args.webhook_url,
                key_file=args.key_file,
                force=args.force,
                manifest_path=args.manifest or APP_YML,
            )
        )
    if args.command == "deps":
        return _deps(args.path, args.format)
    if args.command == "scan":
        return args.run(args)
    raise AssertionError(f"unhandled command {args.command}")  # argparse guarantees a command


def _deps(path: Path, fmt: str) -> int:
    if not path.is_dir():
        print(f"patchwell deps: {path} is not a directory", file=sys.stderr)
        return 2
    from fixers.dependencies.inventory import parse_snapshot, render, render_skipped
    from fixers.local import load_directory

    parsed = parse_snapshot(load_directory(path))
    print(render(parsed.dependencies, fmt))
    if fmt == "text" and parsed.skipped:
        print(render_skipped(parsed.skipped))
    return 0


def _retention(text: str):
    from bot.config import parse_retention

    try:
        return parse_retention(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
