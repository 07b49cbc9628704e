"""GitHub API calls and wall time of a full scan and of a push scan.

    .venv/bin/python benchmarks/scan_api.py [--files 5000]

Generates a repository of ``--files`` ordinary source files on the fake GitHub
(tests/fakegithub, a real HTTP server on localhost), runs the real scan engine
with every registered fixer, and counts the calls the fake GitHub received:

* a full scan (what installation and the periodic rescan do);
* a push that touches 3 files (the compare API, then the changed files);
* the same push replayed (a redelivery or retry: nothing new is written).

"Before any patch" counts every call up to the first Git Data write (blob,
tree, commit or ref). The package index and advisory service are pointed at a
closed local port: their cost is measured by benchmarks/deps.py.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Python puts this script's directory first on sys.path, where benchmarks/secrets.py
# would shadow the standard library's secrets module: put the repository root there.
sys.path[0] = str(ROOT)

from bot.scan.engine import ScanRequest  # noqa: E402
from bot.scan.services import services_from_env  # noqa: E402
from tests.appfixtures import engine_on_fake  # noqa: E402
from tests.fakegithub.server import FakeGitHub  # noqa: E402

OWNER, REPO, INSTALLATION = "bench", "big", 99
WRITE = ("/git/blobs", "/git/trees", "/git/commits", "/git/refs")


def generate(count: int) -> dict[str, str]:
    files: dict[str, str] = {
        "requirements.txt": "flask==2.0.0\nrequests==2.25.0\n",
        "Procfile": "web: gunicorn app:app\n",
        ".github/workflows/ci.yml": "on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - uses: actions/checkout@v4\n      - run: pytest\n",
    }
    for i in range(count - len(files)):
        package = f"pkg{i % 50}"
        files[f"src/{package}/module_{i}.py"] = (
            f'"""Module {i}."""\n\nimport os\n\n\ndef handler_{i}(event):\n'
            f'    value = os.environ.get("SETTING_{i % 20}", "default")\n'
            f"    return {{'module': {i}, 'value': value, 'event': event}}\n"
        )
    return files


def calls_before_first_write(fake: FakeGitHub) -> int:
    for index, call in enumerate(fake.calls):
        if call.method in ("POST", "PATCH") and any(w in call.path for w in WRITE):
            return index
    return len(fake.calls)


async def run_counts(count: int) -> None:
    """The scenario of the module docstring, printing calls and times per step."""
    fake = FakeGitHub().start()
    try:
        fake.create_repo(OWNER, REPO, generate(count))
        fake.add_installation(INSTALLATION, OWNER, [REPO])
        env = {
            "PATCHWELL_INDEX_URL": "http://127.0.0.1:9/pypi",
            "PATCHWELL_OSV_URL": "http://127.0.0.1:9/v1/query",
        }
        fake.clear_calls()  # the token request is counted: a cold worker makes it
        async with engine_on_fake(
            fake,
            f"sqlite:///{tempfile.mkdtemp()}/bench.db",
            INSTALLATION,
            services=services_from_env(env),
        ) as (engine, _db):
            started = time.perf_counter()
            outcome = await engine.scan(ScanRequest(OWNER, REPO, INSTALLATION, reason="install"))
            full_time = time.perf_counter() - started
            full_calls, full_before = len(fake.calls), calls_before_first_write(fake)
            print(
                f"full scan ({count} files): {full_time:.2f} s, {full_calls} API calls in all "
                f"(token included), {full_before} before the first patch write; "
                f"{outcome.findings} findings, {len(outcome.pulls.opened) if outcome.pulls else 0}"
                " PRs opened"
            )
            print("  calls: " + ", ".join(f"{c.method} {c.path}" for c in fake.calls[:full_before]))
            before = fake.branches(OWNER, REPO)["main"]
            after = fake.push(
                OWNER,
                REPO,
                "main",
                {
                    "src/pkg1/module_1.py": "import os\nTOKEN = os.environ['TOKEN']\n",
                    "src/pkg2/module_2.py": "x = 1\n",
                    "docs/notes.md": "# notes\n",
                },
                "touch three files",
            )
            push = ScanRequest(
                OWNER,
                REPO,
                INSTALLATION,
                reason="push",
                head_sha=after,
                default_branch="main",
                before_sha=before,
            )
            for label in ("push touching 3 files", "same push replayed"):
                fake.clear_calls()
                started = time.perf_counter()
                outcome = await engine.scan(push)
                elapsed = time.perf_counter() - started
                print(
                    f"{label}: {elapsed:.2f} s, {len(fake.calls)} API calls in all, "
                    f"{calls_before_first_write(fake)} before the first patch write "
                    f"(mode {outcome.mode})"
                )
                print(
                    "  calls: "
                    + ", ".join(f"{c.method} {c.path.split('?')[0]}" for c in fake.calls)
                )
    finally:
        fake.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    args = parser.parse_args()
    asyncio.run(run_counts(args.files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
