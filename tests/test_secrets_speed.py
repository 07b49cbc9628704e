"""The secrets scan's fast paths report exactly what the straightforward scan reports.

The straightforward scan (``engine="exhaustive"``) runs every rule's regex over every
whole file with no prefilter; the fast ones (Hyperscan or the keyword prefilter, the
process pool, the on-disk database cache) may only skip work, never a finding. Speed
itself is measured by ``benchmarks/secrets.py``, never here.
"""

from __future__ import annotations

import random
import re
import string

import pytest

from fixers.secrets.rules import default_ruleset

# Runs that look like every value shape the rules know (hex, digits, base64, dashes)
# and contain no provider keyword: a prefilter must not fire on them.
_ALPHABETS = (
    "0123456789",
    "0123456789abcdef",
    string.ascii_letters + string.digits,
    string.ascii_letters + string.digits + "_-=",
)


def _keywordless_text(keywords: set[bytes], seed: int = 11) -> bytes:
    rng = random.Random(seed)
    lines = []
    for _ in range(400):
        alphabet = rng.choice(_ALPHABETS)
        n = rng.choice((16, 18, 25, 32, 37, 64, 80))
        token = "".join(rng.choice(alphabet) for _ in range(n))
        if any(k in token.lower().encode() for k in keywords):
            continue  # a keyword by chance: this run would be a fair candidate
        lines.append(rng.choice(("v = '{}'", "{}", "x: {}", '"k": "{}"')).format(token))
    text = "\n".join(lines).encode()
    assert not any(k in text.lower() for k in keywords)
    return text


def test_a_prefilter_only_fires_where_its_rule_has_a_keyword() -> None:
    """An anchored rule's Hyperscan pattern once read `anchor OP a|b|c`: the bare `b` and
    `c` matched any 18-digit or 32-character run, so every file of a tree produced
    millions of candidates (and the scan ran 4x slower) without changing a finding."""
    rules = [r for r in default_ruleset().regex_rules if r.keywords]
    words = {k for r in rules for k in r.keywords}
    # A keyword cut out of a random run would make the text unusable: drop the few rules
    # whose keywords are short enough to appear by chance.
    rules = [r for r in rules if all(len(k) >= 4 for k in r.keywords)]
    text = _keywordless_text({k for k in words if len(k) >= 4})
    for rule in rules:
        for pattern in {rule.hs_regex, rule.hs_regex_code}:
            flags = "(?i)" if rule.case_insensitive else ""
            assert re.search((flags + pattern).encode(), text) is None, rule.id


def test_hyperscan_prefilter_only_fires_where_its_rule_has_a_keyword() -> None:
    hyperscan = pytest.importorskip("hyperscan")
    from fixers.secrets.engine import _default_hyperscan

    hs = _default_hyperscan()
    words = {k for r in hs.rules for k in r.keywords if len(k) >= 4}
    text = _keywordless_text(words)
    fired: set[str] = set()

    def on_match(rule_id: int, _s: int, _e: int, _f: int, _c: object) -> None:
        fired.add(hs.rules[rule_id].id)

    for db in (hs.db, hs.db_code):
        db.scan(text, match_event_handler=on_match, scratch=hyperscan.Scratch(db))
    keyworded = {r.id for r in hs.rules if r.keywords and all(len(k) >= 4 for k in r.keywords)}
    assert not fired & keyworded


# -- a varied tree: every rule, many file kinds, decoys, fixtures, env files ------------

_DECOYS = (
    'password = os.environ["DB_PASSWORD"]',
    'api_key = os.getenv("API_KEY", "")',
    "secret_key = settings.SECRET_KEY",
    'password = "changeme"  # local development only',
    "PASSWORD_RESET_TIMEOUT = 3600",
    "      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?Variable not set}",
    "#password_encryption = scram-sha-256",
    "const headers = { Authorization: `Bearer ${token}` };",
    'export const apiKey: string = process.env.API_KEY ?? "";',
    '  "password": "{{ password }}",',
    "token = make_token()",
    'SECRET_KEY = os.environ.get("SECRET_KEY") or "you-will-never-guess"',
)
_KINDS = (
    ("src/app/settings.py", "{}"),
    ("web/src/config.ts", "export const conf = {{ value: `{}` }};"),
    ("deploy/docker-compose.yml", "    {}"),
    ("conf/app.ini", "{}"),
    ("config/.env", "{}"),
    ("docs/setup.md", "    {}"),
    ("tests/fixtures/keys.py", "{}"),
    ("api/requests.bru", "{}"),
    ("data/settings.json", '  "x": 1, {}'),
)


def varied_tree(seeds: int = 3) -> dict[str, bytes]:
    """Files holding every rule's samples in several languages, next to decoys and noise,
    with CRLF, tabs and unterminated last lines; the planted tree of the speed tests."""
    from fixers.secrets.samples import all_samples

    rng = random.Random(2026)
    files: dict[str, list[str]] = {}
    for seed in range(seeds):
        for n, smp in enumerate(all_samples(seed)):
            path, shape = _KINDS[(n + seed) % len(_KINDS)]
            stem, _, ext = path.rpartition(".")
            target = f"{stem}_{seed}_{n % 7}.{ext}" if "/.env" not in path else path + f".{seed}"
            lines = files.setdefault(target, [])
            lines += [rng.choice(_DECOYS) for _ in range(rng.randint(0, 4))]
            for i, line in enumerate(smp.text.splitlines()):
                lines.append(shape.format(line) if i == 0 else line)
            noise = "".join(rng.choice(string.ascii_letters + " =:_-") for _ in range(70))
            lines.append(noise)
    out: dict[str, bytes] = {}
    for i, (path, lines) in enumerate(sorted(files.items())):
        sep = "\r\n" if i % 5 == 0 else "\n"
        end = "" if i % 3 == 0 else sep
        out[path] = (sep.join(lines) + end).encode()
    out["src/big/minified.min.js"] = b"var a=1;" * 2000
    out["assets/logo.png"] = b"\x89PNG\x00\x00" + bytes(range(256))
    return out


def _hits(scanner: object, path: str, data: bytes) -> list[tuple[object, ...]]:
    from fixers.secrets.engine import Scanner

    assert isinstance(scanner, Scanner)
    return [
        (h.rule.id, h.start, h.end, h.line, h.end_line, h.name, h.value_hash)
        for h in scanner.scan(path, data)
    ]


def test_fast_engines_report_exactly_what_the_exhaustive_scan_reports() -> None:
    from fixers.secrets.engine import Scanner

    engines = ["re"] + (["hyperscan"] if _has_hyperscan() else [])
    reference = Scanner(engine="exhaustive")
    fast = [Scanner(engine=e) for e in engines]  # type: ignore[arg-type]
    total = 0
    for path, data in varied_tree().items():
        want = _hits(reference, path, data)
        total += len(want)
        for scanner in fast:
            assert _hits(scanner, path, data) == want, (scanner.engine_name, path)
    assert total > 200  # the tree really is planted (every rule, three times, some decoys)


def _has_hyperscan() -> bool:
    try:
        import hyperscan  # noqa: F401
    except ImportError:
        return False
    return True


def test_pool_and_fast_engine_detect_the_same_findings_as_one_exhaustive_process() -> None:
    from fixers.contract import Context, MemorySnapshot
    from fixers.secrets import SecretsFixer

    snapshot = MemorySnapshot(varied_tree())
    want = SecretsFixer(engine="exhaustive", workers=1).detect(snapshot, Context())
    got = SecretsFixer(workers=3).detect(snapshot, Context())
    assert got == want
    assert len({f.path for f in want}) > 20
    assert any(f.data.get("fixture") for f in want)  # the fixture pass still ran


def test_the_fix_shares_its_files_out_and_patches_exactly_as_one_process(monkeypatch) -> None:
    """Proving each rewrite (the file parsed before and after) costs milliseconds a file,
    so the fix shares its files out like the scan; the patches are the same."""
    from fixers.contract import Context, MemorySnapshot
    from fixers.secrets import SecretsFixer, pool

    snapshot = MemorySnapshot(varied_tree())
    found = SecretsFixer(workers=1).detect(snapshot, Context())
    want = SecretsFixer(workers=1).fix(snapshot, found, Context())
    runs: list[tuple[int, int, int]] = []
    real = pool.run

    def counted(fn, n, workers):  # the real pool, its runs counted
        result = real(fn, n, workers)
        runs.append((n, workers, result.stats.processes))
        return result

    monkeypatch.setattr(pool, "run", counted)
    got = SecretsFixer(workers=3).fix(snapshot, found, Context())
    assert got == want
    assert len(want) > 20
    assert any(n > 20 and processes == 3 for n, _workers, processes in runs)


# -- the pool itself ----------------------------------------------------------------------


def test_pool_returns_every_result_in_order_from_several_processes() -> None:
    import os
    import time

    from fixers.secrets import pool

    def fn(i: int) -> tuple[int, int]:
        time.sleep(0.002)  # long enough that the helpers get chunks too
        return i * i, os.getpid()

    result = pool.run(fn, 200, 3)
    assert [sq for sq, _ in result.results] == [i * i for i in range(200)]
    assert len({pid for _, pid in result.results}) > 1
    assert result.stats.processes == 3 and result.stats.redone == 0


def test_work_a_crashed_child_took_is_redone_by_the_parent() -> None:
    import os
    import time

    from fixers.secrets import pool

    parent = os.getpid()

    def fn(i: int) -> int:
        if os.getpid() != parent:
            os._exit(3)  # every helper dies on its first item
        time.sleep(0.002)
        return i + 1

    result = pool.run(fn, 100, 3)
    assert result.results == [i + 1 for i in range(100)]
    assert result.stats.redone > 0


def _in_daemon(conn: object) -> None:
    """Runs in a daemonic multiprocessing child, where multiprocessing itself would
    refuse to start processes: the pool must still use several."""
    import os
    import time

    from fixers.secrets import pool

    def fn(i: int) -> int:
        time.sleep(0.002)
        return os.getpid()

    pids = pool.run(fn, 150, 2).results
    conn.send(len(set(pids)))  # type: ignore[attr-defined]


def test_pool_works_inside_a_daemonic_process() -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    ours, theirs = ctx.Pipe()
    child = ctx.Process(target=_in_daemon, args=(theirs,), daemon=True)
    child.start()
    assert ours.poll(30)
    assert ours.recv() == 2
    child.join(10)
    assert child.exitcode == 0


def _budgeted(conn: object) -> None:
    """Under a 40 s CPU limit, each of 4 processes may use a quarter of what is left."""
    import resource
    import time

    from fixers.secrets import pool

    resource.setrlimit(resource.RLIMIT_CPU, (40, resource.RLIM_INFINITY))

    def fn(_i: int) -> int:
        time.sleep(0.002)
        return resource.getrlimit(resource.RLIMIT_CPU)[0]

    conn.send(sorted(set(pool.run(fn, 200, 4).results)))  # type: ignore[attr-defined]


def test_a_cpu_budget_is_shared_by_the_pool_not_multiplied() -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    ours, theirs = ctx.Pipe()
    child = ctx.Process(target=_budgeted, args=(theirs,))
    child.start()
    assert ours.poll(30)
    limits = ours.recv()
    child.join(10)
    assert limits[-1] == 40  # the parent keeps its own limit
    assert limits[:-1] and all(limit <= 10 for limit in limits[:-1])


def _hanging_pool(pid_dir: str) -> None:
    import os
    import time
    from pathlib import Path

    from fixers.secrets import pool

    def fn(_i: int) -> int:
        Path(pid_dir, str(os.getpid())).touch()
        time.sleep(60)
        return 0

    pool.run(fn, 4, 3)


def test_killing_a_scan_kills_its_pool(tmp_path: object) -> None:
    import multiprocessing
    import os
    import signal
    import time
    from pathlib import Path

    pid_dir = Path(str(tmp_path))
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=_hanging_pool, args=(str(pid_dir),))
    child.start()
    deadline = time.monotonic() + 20
    while len(list(pid_dir.iterdir())) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    helpers = [int(p.name) for p in pid_dir.iterdir() if int(p.name) != child.pid]
    assert len(helpers) == 2
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        # A zombie no one reaps (our test process is not their parent) is dead too.
        status = Path(f"/proc/{pid}/status")
        return status.exists() and "\nState:\tZ" not in status.read_text()

    deadline = time.monotonic() + 10
    while any(alive(p) for p in helpers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(p) for p in helpers)


# -- the compiled database on disk ------------------------------------------------------


def _matches(db: object, scratch: object, data: bytes) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    db.scan(  # type: ignore[attr-defined]
        data, match_event_handler=lambda i, _s, e, _f, _c: out.append((i, e)), scratch=scratch
    )
    return out


def test_database_cache_is_reused_and_a_damaged_file_recompiled(tmp_path: object) -> None:
    hyperscan = pytest.importorskip("hyperscan")
    from pathlib import Path

    from fixers.secrets.engine import _Hyperscan
    from fixers.secrets.samples import all_samples

    cache = Path(str(tmp_path))
    rules = default_ruleset().regex_rules[:12]  # a few rules compile in milliseconds
    text = "\n".join(s.text for s in all_samples(1))
    first = _Hyperscan(rules, cache)
    files = sorted(cache.iterdir())
    assert files  # config and code databases (one file when their patterns agree)
    want = _matches(first.db_code, hyperscan.Scratch(first.db_code), text.encode())
    assert want

    stamps = [f.stat().st_mtime_ns for f in files]
    again = _Hyperscan(rules, cache)  # loaded, not compiled: the files are not rewritten
    assert [f.stat().st_mtime_ns for f in files] == stamps
    assert _matches(again.db_code, hyperscan.Scratch(again.db_code), text.encode()) == want

    damaged = {}
    for f in files:  # a flipped byte in the payload: recompiled and rewritten, same answers
        blob = bytearray(f.read_bytes())
        blob[-100] ^= 0xFF
        damaged[f] = bytes(blob)
        f.write_bytes(damaged[f])
    fixed = _Hyperscan(rules, cache)
    assert _matches(fixed.db_code, hyperscan.Scratch(fixed.db_code), text.encode()) == want
    assert all(f.read_bytes() != damaged[f] for f in files)


def test_a_changed_rule_gets_its_own_database_and_no_cache_dir_still_scans(
    tmp_path: object,
) -> None:
    pytest.importorskip("hyperscan")
    import dataclasses
    from pathlib import Path

    from fixers.secrets.engine import _Hyperscan

    cache = Path(str(tmp_path)) / "deep" / "cache"
    rules = default_ruleset().regex_rules[:12]
    _Hyperscan(rules, cache)
    before = set(cache.iterdir())
    changed = (dataclasses.replace(rules[0], hs_regex="AKIA[A-Z2-7]{12}"), *rules[1:])
    _Hyperscan(changed, cache)
    assert len(set(cache.iterdir()) - before) == 1  # the config database; code unchanged
    unwritable = Path(str(tmp_path)) / "file"
    unwritable.write_text("not a directory")
    assert _Hyperscan(rules, unwritable / "sub").db is not None


async def test_pool_runs_from_the_workers_scan_thread() -> None:
    """The worker scans in ``asyncio.to_thread``: the pool forks from that thread, with an
    event loop (its signal wakeup fd) in the process, and the loop carries on."""
    import asyncio
    import os
    import time

    from fixers.secrets import pool

    def fn(_i: int) -> int:
        time.sleep(0.002)
        return os.getpid()

    result = await asyncio.to_thread(pool.run, fn, 150, 2)
    assert len(set(result.results)) == 2
    assert await asyncio.sleep(0, result="alive") == "alive"
