"""What a scan of a large repository costs, against the scan budget's defaults.

Generates a 20,000-file application repository (Python, JavaScript, Markdown, YAML, JSON,
requirements, workflows, a Dockerfile and a Procfile; ~2 KB each), then scans it with every
registered fixer, offline:

* in-process (``run_fixers``, what a scan cost before the budget),
* in a budgeted child process (``run_budgeted``, the worker's and ``patchwell scan``'s way),
  reporting the child's CPU seconds and peak RSS against the default budget,
* once more with a quarter of the default memory budget, to show the default's margin.

Usage::

    python benchmarks/scan_budget.py [--files 20000]

Figures are in README "Scan budgets".
"""

from __future__ import annotations

import argparse
import random
import time

from fixers.contract import MemorySnapshot, Services
from fixers.isolation import BUDGET_RULE, ScanBudget, run_budgeted
from fixers.repo_config import RepoConfig
from fixers.runner import run_fixers

_PY = """import os
import requests

TIMEOUT = int(os.environ.get("TIMEOUT_{n}", "10"))


def fetch_{n}(url: str) -> dict:
    response = requests.get(url, timeout=TIMEOUT)
    response.raise_for_status()
    return response.json()


class Handler{n}:
    def __init__(self, name: str) -> None:
        self.name = name

    def handle(self, payload: dict) -> str:
        return f"{{self.name}}: {{payload.get('id')}}"
"""
_JS = """export function render{n}(items) {{
  return items.map((item) => `<li>${{item.name}}</li>`).join("");
}}
const API = process.env.API_URL_{n} || "http://localhost:3000";
export async function load{n}() {{
  const response = await fetch(`${{API}}/items/{n}`);
  return response.json();
}}
"""
_MD = "# Module {n}\n\nThis module renders items and talks to the API.\n\n" + "Lorem ipsum. " * 150
_YAML = "name: service-{n}\nreplicas: 2\nenv:\n  - name: PORT\n    value: '8000'\n" * 10
_JSON = '{{"name": "pkg-{n}", "version": "1.0.{n}", "scripts": {{"test": "jest"}}}}\n'

_FIXED = {
    "requirements.txt": b"requests==2.31.0\nflask==3.0.0\ngunicorn==21.2.0\n",
    "pyproject.toml": b'[project]\nname = "big"\nversion = "1.0"\nrequires-python = ">=3.11"\n',
    "Dockerfile": b"FROM python:3.11-slim\nCOPY . /app\nRUN pip install -r /app/requirements.txt\n"
    b'CMD ["gunicorn", "app:app"]\n',
    "Procfile": b"web: gunicorn app:app\nrelease: flask db upgrade\n",
    ".env.example": b"PORT=8000\nDATABASE_URL=postgresql://localhost/app\n",
    ".github/workflows/ci.yml": b"on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n"
    b"    steps:\n      - uses: actions/checkout@v3\n      - run: pytest\n",
}


def generate(count: int, seed: int = 1) -> MemorySnapshot:
    rng = random.Random(seed)
    kinds = [("py", _PY), ("js", _JS), ("md", _MD), ("yaml", _YAML), ("json", _JSON)]
    files = dict(_FIXED)
    for n in range(count - len(files)):
        ext, template = kinds[rng.randrange(len(kinds))]
        # Three copies of the template: ~2 KB, a typical source file.
        files[f"src/pkg{n % 200}/mod{n}.{ext}"] = (template.format(n=n) * 3).encode()
    return MemorySnapshot(files)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=20_000)
    args = parser.parse_args()
    snapshot = generate(args.files)
    size = sum(len(snapshot.read(p) or b"") for p in snapshot.paths())
    print(f"repository: {len(snapshot.paths())} files, {size / 1e6:.1f} MB")

    started = time.perf_counter()
    inline = run_fixers(snapshot, RepoConfig(), Services())
    print(f"in-process run_fixers: {time.perf_counter() - started:.1f} s wall")

    default = ScanBudget()
    used: list = []
    started = time.perf_counter()
    budgeted = run_budgeted(snapshot, RepoConfig(), Services(), on_usage=used.append)
    wall = time.perf_counter() - started
    (usage,) = used
    assert [f.fingerprint for f in budgeted.findings] == [f.fingerprint for f in inline.findings]
    print(
        f"budgeted child: {wall:.1f} s wall, {usage.cpu_seconds:.1f} s CPU "
        f"(budget {default.cpu_seconds} s), peak RSS {usage.peak_rss_bytes / 2**20:.0f} MiB, "
        f"peak address space {usage.peak_address_space_bytes / 2**20:.0f} MiB "
        f"(budget {default.memory_bytes // 2**20} MiB); "
        f"{len(budgeted.findings)} findings, the same as in-process"
    )

    quarter = ScanBudget(memory_bytes=default.memory_bytes // 4)
    tight = run_budgeted(snapshot, RepoConfig(), Services(), budget=quarter)
    stopped = sorted({f.fixer for f in tight.findings if f.rule == BUDGET_RULE})
    print(
        f"with a quarter of the memory budget ({quarter.memory_bytes // 2**20} MiB): "
        + (f"stopped {stopped}" if stopped else "every fixer finished")
    )


if __name__ == "__main__":
    main()
