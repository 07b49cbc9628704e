"""Benchmark for the dependencies fixer.

1. parse + detect over 1,000 generated manifests (files/s), index and OSV answers
   served from a warm cache, so the figure is the fixer's own CPU cost;
2. index + OSV requests for one repository with 200 pinned dependencies: cold cache,
   warm cache (same process), and after the TTL with a disk cache (ETag revalidation);
3. PR count on a generated 270-pin ``pip freeze``, before (the pre-issue-13 default
   grouping) and after;
4. the real uv (sandboxed runner) against the fake index: seconds per resolution
   check, per ``uv.lock`` update and per compiled-requirements update, and index
   requests per PR with a cold and a warm uv cache;
5. the real Poetry (optional extra) through the same sandbox: seconds per
   ``poetry update --lock NAME`` and per ``poetry check --lock``.

The local fake index from tests/fakeindex is started in-process; nothing touches
the network. Run: ``.venv/bin/python benchmarks/deps.py [--manifests N] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fixers.contract import Context, MemorySnapshot, Services
from fixers.dependencies import FIXER
from fixers.dependencies.inventory import parse_snapshot
from fixers.dependencies.sources import sources_from_env
from tests.fakeindex.server import FakeIndex, FakeRelease, FakeVuln

NOW = datetime(2026, 11, 23, tzinfo=UTC)
PACKAGES = [f"pkg-{i:03d}" for i in range(200)]


def populate(index: FakeIndex, rng: random.Random) -> None:
    for name in PACKAGES:
        releases = [
            FakeRelease(f"1.{minor}.{patch}", NOW - timedelta(days=900 - 40 * minor - patch))
            for minor in range(6)
            for patch in range(3)
        ]
        index.add_project(name, releases, project_urls={"Changelog": f"https://x.test/{name}"})
        if rng.random() < 0.1:
            index.add_vuln(FakeVuln(f"GHSA-{name}", name, [("0", "1.3.0")], [], "bad", "HIGH"))


def requirement(rng: random.Random, name: str) -> str:
    version = f"1.{rng.randrange(6)}.{rng.randrange(3)}"
    shape = rng.randrange(6)
    if shape == 0:
        return f"{name}=={version} ; python_version >= '3.9'  # note"
    if shape == 1:
        return f"{name}[extra]=={version} \\\n    --hash=sha256:{'ab' * 32}"
    if shape == 2:
        return f"{name}>=1.0,<2"
    return f"{name}=={version}"


def manifest(rng: random.Random, i: int) -> tuple[str, str]:
    names = rng.sample(PACKAGES, 20)
    kind = i % 4
    if kind == 0:
        return "requirements.txt", "# generated\n" + "\n".join(
            requirement(rng, n) for n in names
        ) + "\n"
    if kind == 1:
        deps = ",\n".join(f'    "{n}==1.{rng.randrange(6)}.0"' for n in names[:15])
        dev = ", ".join(f'"{n}==1.0.0"' for n in names[15:])
        return "pyproject.toml", (
            f'[project]\nname = "app{i}"\nrequires-python = ">=3.10"\n'
            f"dependencies = [\n{deps},\n]\n"
            f"[dependency-groups]\ndev = [{dev}]\n"
        )
    if kind == 2:
        body = "\n".join(f'{n} = "==1.{rng.randrange(6)}.1"' for n in names)
        return "Pipfile", f'[packages]\n{body}\n[requires]\npython_version = "3.11"\n'
    body = "\n".join(f"    {n}==1.{rng.randrange(6)}.2" for n in names)
    return "setup.cfg", f"[options]\npython_requires = >=3.10\ninstall_requires =\n{body}\n"


def bench_parse_detect(index: FakeIndex, count: int, rng: random.Random) -> dict[str, float]:
    files = [dict([(p, t.encode())]) for p, t in (manifest(rng, i) for i in range(count))]
    idx, adv = sources_from_env(index.env(), cache_dir=None)
    ctx = Context(services=Services(index=idx, advisories=adv, clock=lambda: NOW))
    for f in files:  # warm the cache: this benchmark measures the fixer, not the network
        FIXER.detect(MemorySnapshot(f), ctx)

    # Fresh snapshots for each timing: a snapshot memoises what fixers derived from it
    # (the dependency fixer's plan), and a scan never sees one snapshot twice.
    def fresh(n: int = count) -> list[MemorySnapshot]:
        return [MemorySnapshot(f) for f in files[:n]]

    snaps = fresh()
    start = time.perf_counter()
    for s in snaps:
        parse_snapshot(s)
    parse_s = time.perf_counter() - start
    snaps = fresh()
    start = time.perf_counter()
    findings = 0
    for s in snaps:
        findings += len(FIXER.detect(s, ctx))
    detect_s = time.perf_counter() - start
    snaps = fresh(count // 4)
    start = time.perf_counter()
    patches = 0
    for s in snaps:
        patches += len(FIXER.fix(s, FIXER.detect(s, ctx), ctx))
    fix_s = time.perf_counter() - start
    return {
        "manifests": count,
        "parse_files_per_s": round(count / parse_s, 1),
        "parse_detect_files_per_s": round(count / detect_s, 1),
        "detect_fix_files_per_s": round((count // 4) / fix_s, 1),
        "findings": findings,
        "patches_in_fix_sample": patches,
    }


def bench_requests(index: FakeIndex) -> dict[str, float]:
    text = "".join(f"{n}==1.2.0\n" for n in PACKAGES)
    snapshot = MemorySnapshot({"requirements.txt": text.encode()})
    out: dict[str, float] = {"dependencies": len(PACKAGES)}
    with tempfile.TemporaryDirectory() as tmp:
        clock = [time.time()]
        idx, adv = sources_from_env(index.env(), cache_dir=Path(tmp), clock=lambda: clock[0])
        ctx = Context(services=Services(index=idx, advisories=adv, clock=lambda: NOW))
        for label in ("cold", "warm"):
            index.reset_counts()
            start = time.perf_counter()
            FIXER.detect(snapshot, ctx)
            out[f"{label}_seconds"] = round(time.perf_counter() - start, 3)
            out[f"{label}_requests"] = index.total_requests()
        # next day: a new process, same disk cache, TTL expired -> ETag revalidation
        clock[0] += 86_400
        idx, adv = sources_from_env(index.env(), cache_dir=Path(tmp), clock=lambda: clock[0])
        ctx = Context(services=Services(index=idx, advisories=adv, clock=lambda: NOW))
        index.reset_counts()
        start = time.perf_counter()
        FIXER.detect(snapshot, ctx)
        out["next_day_seconds"] = round(time.perf_counter() - start, 3)
        out["next_day_requests"] = index.total_requests()
        out["next_day_not_modified"] = (
            idx.http.stats.revalidated + adv.service.http.stats.revalidated
        )
    return out


FREEZE_PINS = 270
# The pre-issue-13 default: only development patch/minor updates were grouped (a runtime
# ``pip freeze`` got one PR per outdated pin). A configured ``groups`` equal to that
# default turns the new many-pins grouping off, so "before" runs the same code.
BEFORE_OPTIONS = {
    "groups": [
        {
            "name": "dev-dependencies",
            "patterns": ["*"],
            "update-types": ["patch", "minor"],
            "dependency-type": "development",
        }
    ]
}


def freeze_index(index: FakeIndex, rng: random.Random) -> str:
    """A 270-pin ``pip freeze`` of a typical app: most pins a few patch/minor releases
    behind, about one in seven a major behind, a few current."""
    lines = []
    for i in range(FREEZE_PINS):
        name = f"frz-{i:03d}"
        majors = 2 if rng.random() < 0.15 else 1
        releases = [
            FakeRelease(f"{major}.{minor}.{patch}", NOW - timedelta(days=800 - 30 * minor - patch))
            for major in range(1, majors + 1)
            for minor in range(4)
            for patch in range(3)
        ]
        index.add_project(name, releases)
        pinned = "1.3.2" if rng.random() < 0.1 else f"1.{rng.randrange(3)}.{rng.randrange(3)}"
        lines.append(f"{name}=={pinned}")
    return "\n".join(lines) + "\n"


def bench_freeze(index: FakeIndex, rng: random.Random) -> dict[str, float]:
    text = freeze_index(index, rng)
    snapshot = MemorySnapshot({"requirements.txt": text.encode()})
    idx, adv = sources_from_env(index.env(), cache_dir=None)
    out: dict[str, float] = {"pins": FREEZE_PINS}
    for label, options in (("before", BEFORE_OPTIONS), ("after", {})):
        ctx = Context(
            services=Services(index=idx, advisories=adv, clock=lambda: NOW), options=options
        )
        findings = FIXER.detect(snapshot, ctx)
        patches = FIXER.fix(snapshot, findings, ctx)
        out["outdated"] = sum(1 for f in findings if f.rule == "outdated")
        out[f"{label}_prs"] = len(patches)
        out[f"{label}_single_package_prs"] = sum(1 for p in patches if p.key.startswith("pip-"))
    return out


def _resolver(index: FakeIndex, cache: Path) -> Any:
    from fixers.dependencies.sources import simple_index_from_env
    from fixers.dependencies.uvrunner import resolver_from_env

    url, creds = simple_index_from_env(index.env())
    assert url is not None
    return resolver_from_env(index.env(), index_url=url, credentials=creds, cache_dir=cache)


def bench_resolution(rounds: int) -> dict[str, float]:
    """The real uv against the fake index: time per resolution check, per uv.lock update
    and per compiled-requirements update, and index requests per PR (cold, then warm uv
    cache). A 30-package app whose ``flask`` bump drags ``werkzeug`` along."""
    from fixers.dependencies.resolution import CompileRequest, LockRequest

    out: dict[str, float] = {"rounds": rounds}
    with FakeIndex() as index, tempfile.TemporaryDirectory() as tmp:
        old, new = NOW - timedelta(days=300), NOW - timedelta(days=30)
        index.add_project(
            "flask",
            [
                FakeRelease("2.3.0", old, requires_dist=("werkzeug>=2.3,<3",)),
                FakeRelease("3.0.0", new, requires_dist=("werkzeug>=3.0",)),
            ],
        )
        index.add_project("werkzeug", [FakeRelease("2.3.0", old), FakeRelease("3.0.0", new)])
        names = [f"lib-{i:02d}" for i in range(28)]
        for n in names:
            index.add_project(n, [FakeRelease("1.0.0", old), FakeRelease("1.1.0", new)])
        reqs = "flask==2.3.0\nwerkzeug==2.3.0\n" + "".join(f"{n}==1.0.0\n" for n in names)
        deps = ", ".join(f'"{n}==1.0.0"' for n in names)
        project = (
            '[project]\nname = "app"\nversion = "1"\nrequires-python = ">=3.10"\n'
            f'dependencies = ["flask==2.3.0", {deps}]\n'
        ).encode()
        resolver = _resolver(index, Path(tmp))
        idx, adv = sources_from_env(index.env(), cache_dir=None)
        ctx = Context(
            services=Services(index=idx, advisories=adv, clock=lambda: NOW, resolver=resolver)
        )
        lock = resolver.lock(LockRequest(files=(("pyproject.toml", project),))).outputs["uv.lock"]
        bumped = project.replace(b"flask==2.3.0", b"flask==3.0.0")
        snapshot = MemorySnapshot({"requirements.txt": reqs.encode()})
        for label in ("cold", "warm"):
            if label == "cold":
                shutil.rmtree(resolver.cache_dir, ignore_errors=True)
            index.reset_counts()
            findings = FIXER.detect(snapshot, ctx)
            patches = FIXER.fix(snapshot, findings, ctx)
            out[f"{label}_prs"] = len(patches)
            out[f"{label}_index_requests_per_pr"] = round(
                index.resolver_requests() / max(1, len(patches)), 1
            )
        check = CompileRequest(
            files=(("requirements.in", reqs.replace("flask==2.3.0", "flask==3.0.0").encode()),),
            inputs=("requirements.in",),
            python_version="3.10",
        )
        timings: dict[str, list[float]] = {"check": [], "lock": [], "compile": []}
        compiled = resolver.compile(
            CompileRequest(
                files=(("requirements.in", b"flask\n" + "\n".join(names).encode()),),
                inputs=("requirements.in",),
                output="requirements.txt",
                python_version="3.10",
                generate_hashes=True,
            )
        ).outputs["requirements.txt"]
        for _ in range(rounds):
            start = time.perf_counter()
            resolver.compile(check)
            timings["check"].append(time.perf_counter() - start)
            start = time.perf_counter()
            result = resolver.lock(
                LockRequest(
                    files=(("pyproject.toml", bumped), ("uv.lock", lock)),
                    upgrade=("flask==3.0.0",),
                )
            )
            assert result.ok, result.message
            timings["lock"].append(time.perf_counter() - start)
            start = time.perf_counter()
            result = resolver.compile(
                CompileRequest(
                    files=(
                        ("requirements.in", b"flask\n" + "\n".join(names).encode()),
                        ("requirements.txt", compiled),
                    ),
                    inputs=("requirements.in",),
                    output="requirements.txt",
                    python_version="3.10",
                    generate_hashes=True,
                    upgrade=("werkzeug==3.0.0", "flask==3.0.0"),
                )
            )
            assert result.ok, result.message
            timings["compile"].append(time.perf_counter() - start)
        for key, values in timings.items():
            out[f"{key}_median_s"] = round(statistics.median(values), 3)
    return out


def bench_poetry(rounds: int) -> dict[str, float]:
    """The real Poetry (optional extra) through the same sandbox: seconds per
    ``poetry update --lock flask`` of a 30-package poetry.lock and per ``poetry check
    --lock``, and index requests per update with a warm Poetry cache."""
    from fixers.dependencies.resolution import ToolLockRequest

    out: dict[str, float] = {"rounds": rounds}
    with FakeIndex() as index, tempfile.TemporaryDirectory() as tmp:
        old, new = NOW - timedelta(days=300), NOW - timedelta(days=30)
        index.add_project("flask", [FakeRelease("2.3.0", old, requires_dist=("werkzeug>=2.3,<3",))])
        index.add_project("werkzeug", [FakeRelease("2.3.0", old)])
        names = [f"lib-{i:02d}" for i in range(28)]
        for n in names:
            index.add_project(n, [FakeRelease("1.0.0", old)])
        resolver = _resolver(index, Path(tmp))
        if resolver is None or "poetry" not in resolver.tools:
            return {"skipped": "Poetry is not installed (pip install -e '.[poetry]')"}  # type: ignore[dict-item]
        deps = "".join(f'{n} = "^1.0"\n' for n in names)
        project = (
            '[tool.poetry]\nname = "app"\nversion = "1"\ndescription = ""\nauthors = []\n\n'
            f'[tool.poetry.dependencies]\npython = "^3.10"\nflask = "2.3.0"\n{deps}'
        ).encode()
        # The repository's lock, made before the new releases (its own Poetry cache).
        maker = _resolver(index, Path(tmp) / "maker")
        made = maker.tool_lock(ToolLockRequest("poetry", (("pyproject.toml", project),)))
        assert made.ok, made.message
        lock = made.outputs["poetry.lock"]
        index.projects["flask"].releases.append(
            FakeRelease("3.0.0", new, requires_dist=("werkzeug>=3.0",))
        )
        index.projects["werkzeug"].releases.append(FakeRelease("3.0.0", new))
        for n in names:
            index.projects[n].releases.append(FakeRelease("1.1.0", new))
        bumped = project.replace(b'flask = "2.3.0"', b'flask = "3.0.0"')
        files = (("pyproject.toml", bumped), ("poetry.lock", lock))
        timings: dict[str, list[float]] = {"update": [], "check": []}
        requests: list[int] = []
        for _ in range(rounds):
            index.reset_counts()
            start = time.perf_counter()
            result = resolver.tool_lock(ToolLockRequest("poetry", files, update=("flask",)))
            timings["update"].append(time.perf_counter() - start)
            requests.append(index.total_requests())
            assert result.ok, result.message
            new_files = (("pyproject.toml", bumped), ("poetry.lock", result.outputs["poetry.lock"]))
            start = time.perf_counter()
            assert resolver.tool_lock(ToolLockRequest("poetry", new_files, check=True)).ok
            timings["check"].append(time.perf_counter() - start)
        for key, values in timings.items():
            out[f"{key}_median_s"] = round(statistics.median(values), 3)
        out["index_requests_first_update"] = requests[0]
        out["index_requests_warm_update"] = requests[-1]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rounds", type=int, default=10, help="uv runs per timing")
    args = parser.parse_args(argv)
    rng = random.Random(20261123)
    with FakeIndex() as index:
        populate(index, rng)
        results = {
            "parse_detect": bench_parse_detect(index, args.manifests, rng),
            "requests_200_deps": bench_requests(index),
            "freeze_270_pins": bench_freeze(index, rng),
        }
    results["resolution_uv"] = bench_resolution(args.rounds)
    results["poetry_lock"] = bench_poetry(args.rounds)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for section, values in results.items():
            print(section)
            for key, value in values.items():
                print(f"  {key:28} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
