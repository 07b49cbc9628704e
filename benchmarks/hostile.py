"""Hostile repository input, before and after the issue-9 budgets (``benchmarks/hostile.py``).

Each attack is generated here, then run in a fresh child process against two code trees:
*before* (a ``git worktree`` of an older commit; by default the parent of the commit that
added ``tests/redos.py``, i.e. main before this work) and *after* (this checkout). The
child imports the fixers of its tree only; the parent measures its wall time and peak RSS
and kills it at ``--timeout`` seconds, reported as ``> N s (killed)``. Last, a normal
generated 5,000-file repository is scanned by every fixer with both trees, to show what
the budgets cost on ordinary input.

    python benchmarks/hostile.py                    # all attacks, 60 s cap, 3 normal runs
    python benchmarks/hostile.py --only pem,yaml-workflow --timeout 20
    python benchmarks/hostile.py --before <rev> --normal-files 5000

Prints a Markdown table (the README's "Hostile input" figures come from it).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def alias_bomb(levels: int, head: str = "") -> str:
    out = head + 'x0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, levels + 1):
        out += f"x{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]\n"
    return out


WORKFLOW = "on: push\njobs:\n  b:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n"

# Each child gets ``DATA`` (a file the parent wrote), runs ``setup`` (imports, reading
# DATA, compiling rules: not timed), then times ``op`` alone and prints one JSON line.
_SCAN_SETUP = """
import json
from fixers.contract import MemorySnapshot, Services
from fixers.repo_config import load_repo_config
from fixers.runner import run_fixers
from fixers.secrets.engine import Scanner
Scanner()  # rules compiled once, as a worker process has them
files = {k: v.encode("latin-1") for k, v in json.load(open(DATA)).items()}
config = load_repo_config(None)[0]

def scan():
    r = run_fixers(MemorySnapshot(files), config, Services())
    return f"{len(r.findings)} findings, {len(r.patches)} patches, {len(r.errors)} crashed"
"""
_SCAN = "scan()"
_TIMED = """
import json as _json, time as _time
_start = _time.perf_counter()
_out = {op}
print(_json.dumps({{"op_s": _time.perf_counter() - _start, "out": str(_out)}}))
"""


@dataclass(frozen=True)
class Attack:
    name: str
    what: str
    setup: str
    op: str
    make: Callable[[Path], None]  # writes DATA


def _write_json(files: dict[str, str]) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.write_text(json.dumps(files), encoding="utf-8")

    return make


def _write_text(text: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.write_text(text, encoding="utf-8")

    return make


def _gzip_bomb(members: int, member_mb: int) -> Callable[[Path], None]:
    """A tarball of identical zero files, built from one compressed block reused: gzip
    allows concatenated members, so ``members * member_mb`` MB costs seconds to write."""

    def make(path: Path) -> None:
        size = member_mb * 1024 * 1024
        zeros = gzip.compress(bytes(size), compresslevel=9)
        with path.open("wb") as out:
            first = tarfile.TarInfo("o-r-abc1234/app.py")
            body = b"import os\n"
            first.size = len(body)
            out.write(gzip.compress(first.tobuf() + body + bytes(512 - len(body))))
            for i in range(members):
                info = tarfile.TarInfo(f"o-r-abc1234/z/{i}.bin")
                info.size = size
                out.write(gzip.compress(info.tobuf()))
                out.write(zeros)
            out.write(gzip.compress(bytes(1024)))

    return make


def attacks() -> list[Attack]:
    deep = 3_000
    header = "-----BEGIN RSA PRIVATE KEY-----\n"
    scan = (_SCAN_SETUP, _SCAN)
    return [
        Attack(
            "pem",
            "32 KB of PEM headers without END (secrets scanner)",
            "from fixers.secrets.engine import Scanner\nS = Scanner()\nD = open(DATA, 'rb').read()",
            "len(S.scan('key.pem', D))",
            _write_text(header * (32 * 1024 // len(header))),
        ),
        Attack(
            "gitignore",
            "`*a` x10 `*b` against `.env.` + 'a' x 40",
            "from fixers.production.facts.gitignore import gitignored\nD = open(DATA).read()",
            "gitignored('*a' * 10 + '*b\\n', D)",
            _write_text(".env." + "a" * 40),
        ),
        Attack(
            "env-newlines",
            "64 KiB of newlines in .env.example (env-names)",
            "from fixers.production.env_names import listed_names\nD = open(DATA).read()",
            "len(listed_names(D))",
            _write_text("\n" * 65536),
        ),
        Attack(
            "js-bundle",
            "60 KB one-line JS bundle of unclosed `{`",
            "from fixers.production.facts.javascript import env_reads_in_javascript\n"
            "D = open(DATA).read()",
            "len(env_reads_in_javascript('dist/app.js', D))",
            _write_text("{a:" * 20_000),
        ),
        Attack(
            "yaml-workflow",
            "workflow of YAML aliases, 7 levels, 0.5 KB (all fixers)",
            *scan,
            _write_json({".github/workflows/ci.yml": alias_bomb(7, WORKFLOW)}),
        ),
        Attack(
            "yaml-secret",
            "secret in a 6-level alias-bomb YAML file (all fixers, secrets rewrite)",
            *scan,
            _write_json({"config/settings.yml": "password: hunter2Xk9qLmZ7vRt3\n" + alias_bomb(6)}),
        ),
        Attack(
            "gzip-bomb",
            "tarball: 600 identical 10 MB zero files (6 GB inflated, 6 MB download)",
            "from bot.scan.snapshot import snapshot_from_tarball\nD = open(DATA, 'rb').read()",
            "(lambda s: f'{len(s.paths())} read, {len(s.skipped)} skipped')"
            "(snapshot_from_tarball(D, commit='c' * 40))",
            _gzip_bomb(600, 10),
        ),
        Attack(
            "deep-toml",
            "pyproject.toml array 3,000 deep + JSON manifests (all fixers)",
            *scan,
            _write_json(
                {
                    "pyproject.toml": "[project]\nname='x'\nversion='1'\n[tool.x]\na = "
                    + "[" * deep
                    + "]" * deep
                    + "\n",
                    "package.json": "[" * deep + "]" * deep,
                }
            ),
        ),
        Attack(
            "include-chain",
            "3,000-file `-r` chain (all fixers)",
            *scan,
            _write_json(
                {"requirements.txt": "-r r0.txt\n"}
                | {f"r{i}.txt": f"-r r{i + 1}.txt\nflask==3.0.0\n" for i in range(3000)}
            ),
        ),
    ]


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class Run:
    seconds: float  # the operation alone (setup excluded); wall time when killed
    rss_mib: float
    killed: bool
    output: str


_PEAK = (
    "\nimport resource as _r, sys as _s\n"
    "print('peak_kib', _r.getrusage(_r.RUSAGE_SELF).ru_maxrss, file=_s.stderr)\n"
)


def measured(tree: Path, setup: str, op: str, data: Path, timeout: float) -> Run:
    """One child run: wall time, and its own peak RSS (printed on stderr at its exit, or
    read from /proc when it has to be killed)."""
    code = f"DATA = {str(data)!r}\n" + setup + _TIMED.format(op=op) + _PEAK
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=tree,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    killed = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            with open(f"/proc/{proc.pid}/status") as status:
                rss_line = next((ln for ln in status if ln.startswith("VmHWM")), "VmHWM: 0 kB")
        except OSError:
            rss_line = "VmHWM: 0 kB"
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        killed = True
        peak_kib = int(rss_line.split()[1])
    else:
        peak = [ln for ln in err.decode(errors="replace").splitlines() if ln.startswith("peak_kib")]
        peak_kib = int(peak[-1].split()[1]) if peak else 0
    seconds = time.monotonic() - start
    lines = out.decode(errors="replace").strip().splitlines()
    errs = [ln for ln in err.decode(errors="replace").splitlines() if not ln.startswith("peak_kib")]
    try:
        answer = json.loads(lines[-1])
        return Run(float(answer["op_s"]), peak_kib / 1024, killed, str(answer["out"]))
    except (IndexError, ValueError, KeyError):  # killed, or crashed: say how
        tail = errs[-1][-160:] if errs else "(no output)"
        return Run(seconds, peak_kib / 1024, killed, tail)


def _cell(run: Run) -> str:
    return "-" if run.killed else "`" + run.output.replace("|", "/").replace("`", "'")[:80] + "`"


def _fmt(run: Run, timeout: float) -> str:
    if run.killed:
        return f"> {timeout:.0f} s (killed), {run.rss_mib:.0f} MiB"
    return f"{run.seconds:.2f} s, {run.rss_mib:.0f} MiB"


# --------------------------------------------------------------------------- normal repository


def normal_repository(n_files: int) -> dict[str, str]:
    """A plausible application: Python packages, tests, docs, a few manifests, workflows."""
    files: dict[str, str] = {
        "requirements.txt": "django==4.2.1\nflask==3.0.0\nrequests==2.31.0\n",
        "requirements-dev.txt": "-r requirements.txt\npytest==8.0.0\n",
        "pyproject.toml": "[project]\nname = 'app'\nversion = '1.0'\nrequires-python = '>=3.11'\n"
        "dependencies = ['django>=4.2', 'requests']\n[tool.pytest.ini_options]\naddopts = '-q'\n",
        ".env.example": "DATABASE_URL=\nSECRET_KEY=\n",
        ".gitignore": ".env\n*.pyc\n__pycache__/\nnode_modules/\n",
        "Dockerfile": "FROM python:3.12-slim\nCOPY . /app\nRUN pip install -r requirements.txt\n"
        'CMD ["gunicorn", "app.wsgi", "--bind", "0.0.0.0:8000"]\n',
        "docker-compose.yml": "services:\n  web:\n    build: .\n    environment:\n"
        "      - DATABASE_URL=${DATABASE_URL:-postgres://db/app}\n  db:\n    image: postgres:16\n",
        "package.json": json.dumps({"name": "app", "dependencies": {"react": "^18.0.0"}}),
        ".github/workflows/ci.yml": WORKFLOW.replace("echo", "pytest")
        + "      - uses: actions/checkout@v4\n      - uses: actions/setup-python@v5\n"
        "        with:\n          python-version: '3.12'\n",
    }
    i = 0
    while len(files) < n_files:
        pkg = f"app/pkg{i // 50}"
        files[f"{pkg}/mod{i}.py"] = (
            "import os\nimport logging\n\nlog = logging.getLogger(__name__)\n"
            f"TIMEOUT = int(os.environ.get('TIMEOUT_{i}', '30'))\n\n\n"
            f"def handler_{i}(request):\n    '''Handle {i}.'''\n"
            "    value = request.get('value')\n    if value is None:\n        return None\n"
            "    return {'value': value, 'ok': True}\n" * 3
        )
        if i % 10 == 0:
            files[f"tests/test_mod{i}.py"] = f"def test_{i}():\n    assert {i} == {i}\n"
        if i % 25 == 0:
            files[f"docs/page{i}.md"] = f"# Page {i}\n\nSome text about `handler_{i}`.\n" * 5
        if i % 40 == 0:
            files[f"web/src/c{i}.js"] = (
                f"export function c{i}() {{ return process.env.API_URL || '/api'; }}\n" * 4
            )
        i += 1
    return files


# --------------------------------------------------------------------------- main


def _before_commit() -> str:
    added = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%H", "--", "tests/redos.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if not added:
        raise SystemExit("cannot find the commit that added tests/redos.py: pass --before")
    return added[-1] + "^"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", help="git revision of the 'before' code (default: see doc)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per child run")
    parser.add_argument("--only", help="comma-separated attack names")
    parser.add_argument("--normal-files", type=int, default=5000)
    parser.add_argument("--normal-runs", type=int, default=3)
    args = parser.parse_args(argv)
    before_rev = args.before or _before_commit()
    chosen = [a for a in attacks() if not args.only or a.name in args.only.split(",")]
    with tempfile.TemporaryDirectory(prefix="patchwell-hostile-") as tmp:
        tmpdir = Path(tmp)
        old = tmpdir / "before"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(old), before_rev],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        try:
            print(f"before = {before_rev}, after = this checkout; cap {args.timeout:.0f} s\n")
            print("| attack | input | before | after | before's answer | after's answer |")
            print("|---|---|---|---|---|---|")
            for attack in chosen:
                data = tmpdir / f"{attack.name}.data"
                attack.make(data)
                b = measured(old, attack.setup, attack.op, data, args.timeout)
                a = measured(ROOT, attack.setup, attack.op, data, args.timeout)
                print(
                    f"| {attack.name} | {attack.what} | {_fmt(b, args.timeout)} "
                    f"| {_fmt(a, args.timeout)} | {_cell(b)} | {_cell(a)} |",
                    flush=True,
                )
            if args.normal_files:
                data = tmpdir / "normal.data"
                _write_json(normal_repository(args.normal_files))(data)
                times: dict[str, list[float]] = {"before": [], "after": []}
                for _ in range(args.normal_runs):  # interleaved: load drifts hit both alike
                    for label, tree in (("before", old), ("after", ROOT)):
                        run = measured(tree, _SCAN_SETUP, _SCAN, data, args.timeout * 5)
                        times[label].append(run.seconds)
                best = {k: min(v) for k, v in times.items()}
                cost = (best["after"] / best["before"] - 1) * 100
                print(
                    f"\nnormal {args.normal_files}-file repository, all fixers, min of "
                    f"{args.normal_runs}: before {best['before']:.2f} s, after "
                    f"{best['after']:.2f} s ({cost:+.1f} %)"
                )
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, capture_output=True
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
