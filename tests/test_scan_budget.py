"""Issue 9 point 1: every scan runs under a budget in a process of its own.

The toy fixers misbehave the way hostile repositories make real fixers misbehave (a
backtracking regex spins, an alias bomb allocates, a stuck call waits). Each is stopped by its
budget; it gets a finding naming what ran out, the fixers before and after it keep their
results, and the fixer code never runs in the caller's process (so never under its GIL).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bot.cli_scan import EXIT_USAGE, build_parser, run_scan
from bot.config import load_settings, scan_budget_from_env
from bot.errors import ConfigError
from bot.scan.engine import ScanRequest
from fixers.contract import MemorySnapshot, Services
from fixers.isolation import BUDGET_RULE, ScanBudget, _context, run_budgeted
from fixers.repo_config import RepoConfig
from tests.appfixtures import engine_on_fake
from tests.test_scan_engine import INSTALLATION, OWNER, REPO
from tests.toyfixers import FixmeFixer, HogFixer, PidFixer, SleepFixer, SpinFixer

ROOT = Path(__file__).resolve().parent.parent

SNAPSHOT = MemorySnapshot({"notes/todo.txt": b"FIXME drift\n"})
TIGHT = ScanBudget(cpu_seconds=1, memory_bytes=768 * 1024**2, wall_seconds=120)


def by_fixer(result) -> dict[str, list]:
    found: dict[str, list] = {}
    for f in result.findings:
        found.setdefault(f.fixer, []).append(f)
    return found


def test_a_spinning_fixer_is_stopped_and_the_others_keep_their_results() -> None:
    result = run_budgeted(
        SNAPSHOT,
        RepoConfig(),
        Services(),
        fixers=[FixmeFixer(), SpinFixer(), PidFixer()],
        budget=TIGHT,
    )
    found = by_fixer(result)
    assert [f.rule for f in found["fixme"]] == ["fixme"]
    (spin,) = found["spin"]
    assert spin.rule == BUDGET_RULE and spin.incomplete
    assert "CPU time (1 s, PATCHWELL_SCAN_CPU_SECONDS)" in spin.message
    # The fixer after it ran, in a fresh process -- never in this one.
    (pid,) = found["pid"]
    assert pid.rule == "ran" and int(pid.message) != os.getpid()
    assert [e.fixer for e in result.errors] == ["spin"]
    assert result.fixers_run == ("fixme", "spin", "pid")


def test_a_fixer_over_the_memory_budget_is_stopped_and_the_others_go_on() -> None:
    result = run_budgeted(
        SNAPSHOT, RepoConfig(), Services(), fixers=[HogFixer(), FixmeFixer()], budget=TIGHT
    )
    found = by_fixer(result)
    (hog,) = found["hog"]
    assert hog.rule == BUDGET_RULE and "memory (768 MiB, PATCHWELL_SCAN_MEMORY_MB)" in hog.message
    assert [f.rule for f in found["fixme"]] == ["fixme"]


def test_a_stuck_fixer_is_killed_at_the_wall_clock_budget() -> None:
    budget = ScanBudget(cpu_seconds=60, memory_bytes=TIGHT.memory_bytes, wall_seconds=1)
    result = run_budgeted(
        SNAPSHOT, RepoConfig(), Services(), fixers=[SleepFixer(), FixmeFixer()], budget=budget
    )
    found = by_fixer(result)
    assert "ran out of time (1 s, PATCHWELL_SCAN_WALL_SECONDS)" in found["sleepy"][0].message
    assert [f.rule for f in found["fixme"]] == ["fixme"]


async def test_a_scan_over_budget_publishes_its_check_run_and_is_done(
    fake_github, tmp_path
) -> None:
    fake_github.create_repo(OWNER, REPO, {"notes/todo.txt": "FIXME vulnerability\n"})
    fake_github.add_installation(INSTALLATION, OWNER, [REPO])
    url = f"sqlite:///{tmp_path / 'scan.db'}"
    async with engine_on_fake(
        fake_github, url, INSTALLATION, fixers=[SpinFixer(), FixmeFixer()], budget=TIGHT
    ) as (engine, _):
        outcome = await engine.scan(ScanRequest(OWNER, REPO, INSTALLATION, reason="rescan"))
    assert outcome.mode == "full"  # returned: the job is done, not retried
    (run,) = fake_github.check_runs(OWNER, REPO)
    assert run["conclusion"] == "failure"  # the finished fixer's high-severity finding
    summary = run["output"]["summary"]
    assert "spin fixer ran out of its budget" in summary
    assert "PATCHWELL_SCAN_CPU_SECONDS" in summary
    assert [p["head"]["ref"] for p in fake_github.pulls(OWNER, REPO)] == [
        "patchwell/fixme/notes-todo"
    ]


def test_patchwell_scan_runs_the_same_budgeted_runner(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("FIXME drift\n")
    args = build_parser().parse_args([str(tmp_path), "--offline", "--format", "json"])
    out = io.StringIO()
    run_scan(
        args,
        fixers=[HogFixer(), FixmeFixer()],
        stdout=out,
        stderr=io.StringIO(),
        env={"PATCHWELL_SCAN_MEMORY_MB": "768"},
    )
    rules = {(f["fixer"], f["rule"]) for f in json.loads(out.getvalue())["findings"]}
    assert rules == {("hog", BUDGET_RULE), ("fixme", "fixme")}


def _fresh_process(script: str, *args: str) -> dict:
    """Run ``script`` in a new interpreter (single-threaded, as ``patchwell scan`` is); it
    prints one JSON object."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


_CLI_SCAN = """
import io, json, os, socket, sys
from bot.cli_scan import build_parser, run_scan
from tests.toyfixers import FixmeFixer, HogFixer, ProcessFixer

held = socket.socket()  # the CLI's own socket: its scan process must not hold it
args = build_parser().parse_args([sys.argv[1], "--offline", "--format", "json"])
out = io.StringIO()
run_scan(
    args,
    fixers=[FixmeFixer(), HogFixer(), ProcessFixer()],
    stdout=out,
    stderr=io.StringIO(),
    env={"PATCHWELL_SCAN_MEMORY_MB": "768", "PATCHWELL_SCAN_CPU_SECONDS": "30"},
)
print(json.dumps({"pid": os.getpid(), "report": json.loads(out.getvalue())}))
"""


def test_patchwell_scan_forks_its_scan_process_itself_under_the_same_budget(
    tmp_path: Path,
) -> None:
    """The CLI is single-threaded: its scan process is its own child (no forkserver to
    start and import every fixer again, ~1 s), with the budget set in that child, and
    holding none of the CLI's sockets."""
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("FIXME drift\n")
    said = _fresh_process(_CLI_SCAN, str(tmp_path))
    found = {f["fixer"]: f for f in said["report"]["findings"]}
    assert found["fixme"]["rule"] == "fixme"
    assert found["hog"]["rule"] == BUDGET_RULE
    assert "memory (768 MiB, PATCHWELL_SCAN_MEMORY_MB)" in found["hog"]["message"]
    pid, ppid, memory, cpu, sockets = map(int, found["process"]["message"].split())
    assert ppid == said["pid"] != pid  # forked by the CLI, not by a forkserver
    assert (memory, cpu) == (768 * 1024**2, 30)
    assert sockets == 1  # its pipe to the CLI, nothing else


_DIRECT_BUDGETS = """
import json, os
from fixers.contract import MemorySnapshot, Services
from fixers.isolation import ScanBudget, run_budgeted
from fixers.repo_config import RepoConfig
from tests.toyfixers import FixmeFixer, ProcessFixer, SleepFixer, SpinFixer

snapshot = MemorySnapshot({"notes/todo.txt": b"FIXME drift\\n"})
mib = 768 * 1024**2


def findings(fixers, budget):
    result = run_budgeted(
        snapshot, RepoConfig(), Services(), fixers=fixers, budget=budget, direct=True
    )
    return [[f.fixer, f.rule, f.message] for f in result.findings]


print(json.dumps({
    "pid": os.getpid(),
    "cpu": findings([FixmeFixer(), SpinFixer(), ProcessFixer()], ScanBudget(1, mib, 120)),
    "wall": findings([SleepFixer(), ProcessFixer()], ScanBudget(60, mib, 1)),
}))
"""


def test_a_directly_forked_scan_process_is_stopped_by_its_cpu_and_wall_budgets() -> None:
    said = _fresh_process(_DIRECT_BUDGETS)
    for key, fixer, why in (
        ("cpu", "spin", "CPU time (1 s, PATCHWELL_SCAN_CPU_SECONDS)"),
        ("wall", "sleepy", "ran out of time (1 s, PATCHWELL_SCAN_WALL_SECONDS)"),
    ):
        found = {f: (rule, message) for f, rule, message in said[key]}
        assert found[fixer][0] == BUDGET_RULE and why in found[fixer][1]
        # The fixer after it ran in a fresh process, forked by the caller again.
        _pid, ppid, *_ = map(int, found["process"][1].split())
        assert ppid == said["pid"]
    assert "fixme" in {f for f, _rule, _message in said["cpu"]}


def test_a_caller_with_other_threads_gets_the_forkserver_even_when_it_asks_for_a_fork() -> None:
    """A plain fork while another thread runs could copy a lock it holds (this suite hung
    on that once): ``direct`` only holds while the caller is single-threaded."""
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert _context(direct=True).get_start_method() == "forkserver"
    finally:
        stop.set()
        other.join()
    assert _context().get_start_method() == "forkserver"


def test_a_malformed_budget_is_a_usage_error_naming_the_variable(tmp_path: Path) -> None:
    args = build_parser().parse_args([str(tmp_path), "--offline"])
    err = io.StringIO()
    code = run_scan(
        args, stdout=io.StringIO(), stderr=err, env={"PATCHWELL_SCAN_CPU_SECONDS": "lots"}
    )
    assert code == EXIT_USAGE
    assert "PATCHWELL_SCAN_CPU_SECONDS is malformed" in err.getvalue()


def test_budget_settings_are_validated_with_the_rest(patchwell_env) -> None:
    assert load_settings(patchwell_env, dotenv_path=None).scan_budget == ScanBudget()
    assert scan_budget_from_env(
        {"PATCHWELL_SCAN_CPU_SECONDS": "60", "PATCHWELL_SCAN_MEMORY_MB": "2048"}
    ) == ScanBudget(cpu_seconds=60, memory_bytes=2048 * 1024**2)
    bad = {
        **patchwell_env,
        "PATCHWELL_SCAN_CPU_SECONDS": "0",
        "PATCHWELL_SCAN_MEMORY_MB": "12",
        "PATCHWELL_SCAN_WALL_SECONDS": "1h",
    }
    with pytest.raises(ConfigError) as exc:
        load_settings(bad, dotenv_path=None)
    for name in bad.keys() - patchwell_env.keys():
        assert f"{name} is malformed" in str(exc.value)


def test_a_cancelled_scan_stops_its_process_at_once() -> None:
    """A worker handing its job back (SIGTERM, a lost lease) must not wait for a scan it gave
    up: setting ``cancel`` kills the scan process and raises."""
    import threading

    from fixers.isolation import ScanCancelled

    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    with pytest.raises(ScanCancelled):
        run_budgeted(
            SNAPSHOT,
            RepoConfig(),
            Services(),
            fixers=[SleepFixer()],
            budget=ScanBudget(cpu_seconds=60, memory_bytes=TIGHT.memory_bytes, wall_seconds=600),
            cancel=cancel,
        )


def _children(pid: int) -> list[tuple[int, str]]:
    """``pid``'s child processes and their command lines (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # it ended while we looked
        # `pid (comm) state ppid …`: comm may hold spaces, so split after its `)`.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append((int(entry.name), cmdline))
    return found


def test_a_worker_starts_the_scan_forkserver_before_its_first_job(live_env, tmp_path) -> None:
    """Without it the first scan of every worker process waited ~1 s for the forkserver to
    import and warm every fixer (benchmarks/forkserver_warmup.py: 0.79-0.93 s cold, 0.03 s
    warmed)."""
    import time

    from tests.processes import worker

    env = live_env | {"DATABASE_URL": f"sqlite:///{tmp_path / 'queue.db'}"}
    process = worker("idle", env, tmp_path, concurrency=1).start()
    try:
        deadline = time.monotonic() + 60
        while not (servers := [p for p, c in _children(process.pid) if "forkserver" in c]):
            assert process.alive, process.log()[-3000:]
            assert time.monotonic() < deadline, "no forkserver started by an idle worker"
            time.sleep(0.1)
        # Every scan forks from it and runs the fixers over a stranger's repository: it
        # inherits the worker's environment, which must by then hold no credential.
        (server,) = servers
        environ = dict(
            item.split(b"=", 1)
            for item in Path(f"/proc/{server}/environ").read_bytes().split(b"\0")
            if b"=" in item
        )
        assert environ[b"PATCHWELL_APP_ID"] == env["PATCHWELL_APP_ID"].encode()
        for name in ("PATCHWELL_PRIVATE_KEY", "PATCHWELL_WEBHOOK_SECRET", "DATABASE_URL"):
            assert name.encode() not in environ, name
        assert b"PRIVATE KEY" not in Path(f"/proc/{server}/environ").read_bytes()
    finally:
        process.kill()
