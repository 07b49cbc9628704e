"""What a worker's first scan waits for with and without the forkserver started ahead.

    .venv/bin/python benchmarks/forkserver_warmup.py [--runs 2]

Each run is a fresh Python process that imports every fixer (as a worker has), then times two
scans of a one-file snapshot through ``run_budgeted``: "cold" lets the first scan start the
forkserver, "warm" calls ``start_scan_server`` first and waits as a worker's first claim and
tarball download would.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = """
import sys, time
from fixers.contract import MemorySnapshot, Services
from fixers.isolation import run_budgeted, start_scan_server
from fixers.repo_config import RepoConfig

def main():
    import fixers.isolation_preload  # noqa: F401  a worker has its fixers imported
    snap = MemorySnapshot({"app.py": b"x = 1\\n"}, commit="a" * 40)
    if sys.argv[1] == "warm":
        start_scan_server()
        time.sleep(6)
    times = []
    for _ in range(2):
        start = time.monotonic()
        run_budgeted(snap, RepoConfig(), Services())
        times.append(time.monotonic() - start)
    print(f"{times[0]:.2f} {times[1]:.2f}")

if __name__ == "__main__":
    main()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        # A file, not `-c`: the forkserver imports the main module of the process.
        script = Path(scratch) / "first_scan.py"
        script.write_text(_CHILD)
        print("mode  first scan  second scan")
        for _ in range(args.runs):
            for mode in ("cold", "warm"):
                out = subprocess.run(
                    [sys.executable, str(script), mode],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.split()
                print(f"{mode:5} {out[0]:>8} s  {out[1]:>9} s")


if __name__ == "__main__":
    main()
