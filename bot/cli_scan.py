"""``patchwell scan PATH``: every fixer over a local checkout, as text, JSON or SARIF.

Exit status (for CI): 0 clean, 1 findings exist, 2 usage error (bad path,
unknown fixer, unreadable ``--config``). Config problems in the repository's
``.github/patchwell.yml`` are printed to stderr and the scan goes on with
defaults for the bad parts, as it does on GitHub.

``bot/cli.py`` mounts this with :func:`add_scan_parser`; ``python -m
bot.cli_scan`` runs it alone.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from bot.config import scan_budget_from_env
from bot.errors import ConfigError
from bot.git_listing import git_files
from fixers.contract import Fixer, Services
from fixers.isolation import run_budgeted
from fixers.local import SnapshotLimits, load_directory
from fixers.output import ScanReport, render_json, render_sarif, render_text
from fixers.repo_config import CONFIG_PATH, ConfigProblem, RepoConfig, load_repo_config
from fixers.runner import UnknownFixerError

__all__ = ["EXIT_CLEAN", "EXIT_FINDINGS", "EXIT_USAGE", "add_scan_parser", "main", "run_scan"]

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2

# Below this many files a scan is quick enough that a progress bar is noise.
PROGRESS_MIN_FILES = 500
# Without a terminal (CI logs) a few plain lines only for really large trees.
PROGRESS_MIN_FILES_NO_TTY = 5_000
_BAR_WIDTH = 30


@dataclass
class ProgressBar:
    """A bar on stderr, redrawn at most ~100 times whatever the tree size."""

    stream: TextIO
    enabled: bool
    tty: bool
    _last: int = -1

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total < (
            PROGRESS_MIN_FILES if self.tty else PROGRESS_MIN_FILES_NO_TTY
        ):
            return
        step = 100 if self.tty else 4
        bucket = done * step // total
        if bucket == self._last and done != total:
            return
        self._last = bucket
        if self.tty:
            filled = done * _BAR_WIDTH // total
            bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
            end = "\n" if done == total else ""
            self.stream.write(f"\rreading [{bar}] {done}/{total} files{end}")
        else:
            self.stream.write(f"reading {done}/{total} files\n")
        self.stream.flush()


def add_scan_parser(subparsers: Any) -> None:
    """Add ``scan`` to ``subparsers`` (from ``ArgumentParser.add_subparsers``).

    The parsed namespace's ``func`` is :func:`run_scan` (it returns the exit status).
    """
    parser = subparsers.add_parser(
        "scan",
        help="scan a local checkout and print findings (exit 1 when any)",
        description="Run every Patchwell fixer over a local directory.",
    )
    _configure(parser)


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="the checkout to scan")
    parser.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    parser.add_argument(
        "--diff", action="store_true", help="also print the unified diff each PR would carry"
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="FIXER",
        help="run only this fixer (repeat, or separate with commas)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        help=f"config file to use instead of PATH/{CONFIG_PATH}",
    )
    parser.add_argument(
        "--offline", action="store_true", help="no package index or advisory lookups"
    )
    parser.add_argument(
        "--include-untracked",
        action="store_true",
        help="in a git checkout, also read untracked files .gitignore does not ignore "
        "(by default only what git tracks is read, as on GitHub)",
    )
    parser.add_argument("--no-progress", action="store_true", help="never draw a progress bar")
    # ``func`` and ``run`` both name the handler: bot/cli.py dispatches on ``args.run``.
    parser.set_defaults(func=run_scan, run=run_scan)


# Checks that need a service a local scan may lack: (service field, fixer, what is not checked).
_SERVICE_CHECKS = (
    ("index", "dependencies", "newer releases of pinned dependencies (package index)"),
    ("advisories", "dependencies", "known vulnerabilities of pinned dependencies (advisories)"),
    ("actions", "dependencies", "newer tags of the GitHub Actions used (GitHub's tag list)"),
)


#: The fixers that use those services: a scan running none of them needs no index client.
_SERVICE_USERS = frozenset(fixer for _field, fixer, _what in _SERVICE_CHECKS)


def not_checked(services: Services, fixers_run: Sequence[str]) -> list[str]:
    """What this scan could not check for want of a service, per fixer that ran."""
    return [
        f"{fixer}: {what}"
        for field_name, fixer, what in _SERVICE_CHECKS
        if fixer in fixers_run and getattr(services, field_name) is None
    ]


def _services(offline: bool, stderr: TextIO, env: Mapping[str, str]) -> Services:
    """Network services when the dependencies package provides them, else offline."""
    if offline:
        return Services()
    try:
        from fixers.dependencies.sources import sources_from_env
    except ImportError:
        return Services()
    try:
        index, advisories = sources_from_env(env, cache_dir=_cache_dir(env))
    except Exception as exc:
        # Type only: the message could echo a credential from the environment.
        stderr.write(f"patchwell: package index unavailable ({type(exc).__name__}); offline\n")
        return Services()
    from bot.scan.services import resolver_for

    resolver = resolver_for(env, _cache_dir(env))
    return Services(index=index, advisories=advisories, resolver=resolver)  # type: ignore[arg-type]


def _cache_dir(env: Mapping[str, str]) -> Path | None:
    base = env.get("XDG_CACHE_HOME") or (
        str(Path(env["HOME"]) / ".cache") if env.get("HOME") else None
    )
    return Path(base) / "patchwell" if base else None


def _read_config(
    root: Path, explicit: Path | None, known: Sequence[str]
) -> tuple[RepoConfig, list[ConfigProblem]] | str:
    """The effective config, or a usage-error message for an unreadable ``--config``."""
    target = explicit if explicit is not None else root / CONFIG_PATH
    label = str(explicit) if explicit is not None else CONFIG_PATH
    try:
        raw = target.read_bytes()
    except FileNotFoundError:
        if explicit is not None:
            return f"config file not found: {explicit}"
        return RepoConfig(), []
    except OSError as exc:
        return f"cannot read config {label}: {type(exc).__name__}"
    text = raw.decode("utf-8", errors="replace")
    return load_repo_config(text, path=label, known_fixers=known)


def _only(values: Sequence[str] | None) -> list[str] | None:
    if not values:
        return None
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def run_scan(
    args: argparse.Namespace,
    *,
    fixers: Sequence[Fixer] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Run ``scan`` for parsed ``args``; returns the exit status.

    ``fixers`` defaults to the registry (tests pass their own).
    """
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    registry = fixers is None
    if fixers is None:
        from fixers.registry import fixer_names

        # Names only: the fixers that run are imported when the scan is planned, so
        # ``--only secrets`` never imports the others.
        known = fixer_names()
    else:
        known = [f.name for f in fixers]
    root: Path = args.path
    if not root.is_dir():
        err.write(f"patchwell scan: not a directory: {root}\n")
        return EXIT_USAGE
    loaded = _read_config(root, args.config, known)
    if isinstance(loaded, str):
        err.write(f"patchwell scan: {loaded}\n")
        return EXIT_USAGE
    config, problems = loaded
    for problem in problems:
        err.write(f"patchwell: config problem (defaults used): {problem}\n")
    only = _only(args.only)
    unknown = [name for name in only or () if name not in known]
    if unknown:
        err.write(f"patchwell scan: {UnknownFixerError(unknown, known)}\n")
        return EXIT_USAGE
    progress = ProgressBar(err, enabled=not args.no_progress, tty=_isatty(err))
    listed = git_files(root, include_untracked=args.include_untracked)
    snapshot = load_directory(
        root, limits=SnapshotLimits(), progress=progress, listing=listed.listing
    )
    environ = os.environ if env is None else env
    try:
        budget = scan_budget_from_env(environ)
    except ConfigError as exc:
        err.write(f"patchwell scan: {exc}\n")
        return EXIT_USAGE
    # Of the registry's fixers only the dependency fixer asks services: ``--only secrets``
    # builds no package-index client (nor imports one).
    wants_services = not registry or only is None or any(n in _SERVICE_USERS for n in only)
    services = _services(args.offline or not wants_services, err, environ)
    try:
        # The worker's runner: fixers in a child process under the scan budget, so a hostile
        # checkout gets a finding naming what ran out instead of a hung or killed CLI. The
        # child is forked from this process (nothing here runs another thread), so it starts
        # with the fixers imported and the snapshot in memory.
        result = run_budgeted(
            snapshot,
            config,
            services,
            fixers=None if registry else fixers,
            only=only,
            budget=budget,
            direct=True,
        )
    except UnknownFixerError as exc:
        err.write(f"patchwell scan: {exc}\n")
        return EXIT_USAGE
    skipped_checks = not_checked(services, result.fixers_run)
    if skipped_checks:
        why = "--offline" if args.offline else "no package index client"
        err.write(f"patchwell: not checked ({why}): " + "; ".join(skipped_checks) + "\n")
    report = ScanReport(
        result,
        snapshot,
        root=str(args.path),
        config_problems=tuple(problems),
        source="git" if listed.listing is not None else "directory",
        not_checked=tuple(skipped_checks),
    )
    if args.format == "json":
        out.write(render_json(report, diff=args.diff))
    elif args.format == "sarif":
        out.write(render_sarif(report))
    else:
        out.write(render_text(report, diff=args.diff))
    return EXIT_FINDINGS if result.findings else EXIT_CLEAN


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="patchwell scan")
    _configure(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_scan(args)


if __name__ == "__main__":
    sys.exit(main())
