"""Issue 9: size budgets on what fixers parse from a repository (YAML aliases, archives,
nesting depth, include chains) and the operator's package index (names, redirects).

Each test builds the hostile input the issue describes and drives the code that met it;
none asserts a time: a budget shows as a finding or skip naming the file and the budget.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import threading
import zlib
from pathlib import Path
from typing import Any

import pytest

from bot.scan.snapshot import snapshot_from_tarball
from fixers.contract import MemorySnapshot, Services
from fixers.local import SkipReason, SnapshotLimits, load_directory
from fixers.production.facts.deploy_files import load_yaml
from fixers.production.facts.model import Note
from fixers.repo_config import load_repo_config
from fixers.runner import run_fixers
from fixers.yaml_budget import REPOSITORY_YAML, YamlBudget, YamlBudgetError, check_yaml

WORKFLOW = (
    "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n"
)


def alias_bomb(levels: int, head: str = "") -> str:
    """9 ** levels nodes once expanded, in ~40 bytes a level."""
    out = head + 'x0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, levels + 1):
        out += f"x{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]\n"
    return out


# --------------------------------------------------------------------------- YAML


def test_budget_counts_aliases_as_expanded_without_expanding() -> None:
    bomb = alias_bomb(9)  # 387 million nodes in ~400 bytes
    assert len(bomb) < 500
    with pytest.raises(YamlBudgetError) as caught:
        check_yaml(bomb)
    assert f"more than {REPOSITORY_YAML.nodes} nodes" in str(caught.value)
    assert "node budget" in str(caught.value)


def test_budget_lets_ordinary_anchors_through() -> None:
    check_yaml(WORKFLOW + "defaults: &d {shell: bash}\nother: *d\n")
    check_yaml(alias_bomb(4))  # 6,561 nodes: a large but plausible document
    with pytest.raises(YamlBudgetError):
        check_yaml(alias_bomb(4), YamlBudget(nodes=6_000, depth=10))


def test_budget_stops_deep_nesting_before_the_composer() -> None:
    with pytest.raises(YamlBudgetError) as caught:
        check_yaml("[" * 5_000 + "]" * 5_000)
    assert "depth budget" in str(caught.value)


def test_syntax_errors_are_left_to_the_loader() -> None:
    check_yaml("a: [")  # the load reports it, with its line


def _scan(files: dict[str, str]) -> object:
    snapshot = MemorySnapshot({path: text.encode() for path, text in files.items()})
    return run_fixers(snapshot, load_repo_config(None)[0], Services())


def test_workflow_alias_bomb_is_a_finding_naming_the_file_and_budget() -> None:
    """83 KB of workflow aliases took 18 s and 887 MiB; now one bounded finding."""
    path = ".github/workflows/ci.yml"
    result = _scan({path: alias_bomb(6, WORKFLOW), "app.py": "import os\n"})
    about = [f for f in result.findings if f.path == path]  # type: ignore[attr-defined]
    assert about and all("node budget" in f.message for f in about)
    assert not [p for p in result.patches if any(e.path == path for e in p.patch.edits)]  # type: ignore[attr-defined]


def test_compose_alias_bomb_is_a_note_naming_the_budget() -> None:
    text = "services:\n  web:\n    image: python:3.12\n" + alias_bomb(7)
    note = load_yaml("docker-compose.yml", text.encode())
    assert isinstance(note, Note)
    assert note.path == "docker-compose.yml" and "node budget" in note.reason


def test_secret_in_an_alias_bomb_is_reported_and_the_file_left_alone() -> None:
    """The secrets fix re-parses a rewritten YAML file to compare it with the original:
    on an alias bomb that comparison expanded it (a 400-byte file grew to 2.3 GB)."""
    path = "config/settings.yml"
    text = "password: hunter2Xk9qLmZ7vRt3\n" + alias_bomb(6)
    result = _scan({path: text})
    (finding,) = [f for f in result.findings if f.path == path and f.fixer == "secrets"]  # type: ignore[attr-defined]
    assert not [p for p in result.patches if any(e.path == path for e in p.patch.edits)]  # type: ignore[attr-defined]
    # The maintainer is told why no PR comes, and the budget that stopped it.
    assert "opens no PR for this file" in finding.message
    assert "node budget" in finding.message and finding.data["report_only"] is True


# --------------------------------------------------------------------------- archives


def _tarball(members: list[tuple[str, bytes]], top: str = "o-r-abc1234") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", compresslevel=1) as archive:
        for name, content in members:
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return out.getvalue()


def test_gzip_bomb_stops_at_the_uncompressed_budget_and_names_the_member() -> None:
    """Identical zero files (one blob to git) inflate without limit; each is skipped as too
    large but had to be inflated to get past it. Now the budget stops the reading."""
    zeros = bytes(3 * 1024 * 1024)
    data = _tarball([("app.py", b"import os\n")] + [(f"z{i}.bin", zeros) for i in range(40)])
    assert len(data) < 2 * 1024 * 1024  # 120 MB of members in a small download
    limits = SnapshotLimits(max_archive_bytes=16 * 1024 * 1024)
    snap = snapshot_from_tarball(data, commit="c" * 40, limits=limits)
    assert snap.read("app.py") == b"import os\n"
    over = [s for s in snap.skipped if s.reason == SkipReason.ARCHIVE_BYTES]
    assert len(over) == 1 and over[0].path.startswith("z")
    assert len([s for s in snap.skipped if s.reason == SkipReason.TOO_LARGE]) < 10


def test_member_budget_counts_skipped_members_too() -> None:
    data = _tarball([(f"node_modules/m{i}.js", b"x") for i in range(30)] + [("late.py", b"x")])
    snap = snapshot_from_tarball(
        data, commit="c" * 40, limits=SnapshotLimits(max_archive_members=20)
    )
    assert [s.reason for s in snap.skipped].count(SkipReason.ARCHIVE_MEMBERS) == 1
    assert "late.py" not in snap.all_paths
    assert len([s for s in snap.skipped if s.reason == SkipReason.VENDORED]) == 20


def test_default_budgets_read_an_ordinary_tarball_whole() -> None:
    members = [(f"src/m{i}.py", f"x = {i}\n".encode()) for i in range(500)]
    snap = snapshot_from_tarball(_tarball(members), commit="c" * 40)
    assert len(snap.paths()) == 500 and not snap.skipped


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_tarball_raises_an_archive_error_for_the_caller_to_retry(cut: float) -> None:
    data = _tarball([(f"f{i}.py", os.urandom(20_000)) for i in range(20)])
    with pytest.raises((EOFError, tarfile.TarError, zlib.error, gzip.BadGzipFile)):
        snapshot_from_tarball(data[: int(len(data) * cut)], commit="c" * 40)


async def test_tarball_is_inflated_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.scan import snapshot as snapshots

    data = _tarball([("app.py", b"import os\n")])
    threads: list[threading.Thread] = []
    real = snapshots.snapshot_from_tarball

    def observed(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    class Clients:
        async def download(self, gh: object, url: str, *, max_bytes: int) -> bytes:
            return data

    monkeypatch.setattr(snapshots, "snapshot_from_tarball", observed)
    snap = await snapshots.tarball_snapshot(None, Clients(), "o", "r", "c" * 40)  # type: ignore[arg-type]
    assert snap.read("app.py") == b"import os\n"
    assert threads and threads[0] is not threading.main_thread()


# --------------------------------------------------------------------------- nesting, includes


def test_deep_toml_json_and_include_chains_crash_no_fixer() -> None:
    """A 3,000-deep array in pyproject.toml (and JSON manifests, and a 600-file `-r` chain)
    raised RecursionError in five fixers; now each is a bounded finding or note."""
    deep = 3_000
    files = {
        "pyproject.toml": "[project]\nname = 'x'\nversion = '1'\ndependencies = ['flask']\n"
        "[tool.x]\na = " + "[" * deep + "]" * deep + "\n",
        "package.json": "[" * deep + "]" * deep,
        "app.json": '{"env": ' + "[" * deep + "]" * deep + "}",
        "Pipfile.lock": '{"default": ' + "[" * deep + "]" * deep + "}",
        "fly.toml": "app = 'x'\n[build]\na = " + "{b = " * deep + "1" + "}" * deep + "\n",
        "requirements.txt": "-r req/r0.txt\n",
    }
    files |= {f"req/r{i}.txt": f"-r r{i + 1}.txt\nflask==3.0.0\n" for i in range(600)}
    result = _scan(files)
    assert not result.errors  # type: ignore[attr-defined]
    messages = {(f.path, f.rule): f.message for f in result.findings}  # type: ignore[attr-defined]
    assert "nesting budget" in messages[("pyproject.toml", "parse-error")]
    depth = [m for (path, rule), m in messages.items() if rule == "include-depth"]
    assert len(depth) == 1 and "include-depth budget (32)" in depth[0]


def test_nesting_budget_ignores_brackets_in_strings_and_comments() -> None:
    from fixers.nesting import json_loads, toml_loads

    brackets = "[" * 500
    assert toml_loads(f"a = \"{brackets}\"\nb = '{brackets}'\n# {brackets}\nc = [[1]]\n")["c"] == [
        [1]
    ]
    assert toml_loads(f'a = """\n{brackets}\n"""\n')["a"] == f"{brackets}\n"
    assert json_loads(f'{{"a": "{brackets}\\"", "b": [[1]]}}')["b"] == [[1]]
    with pytest.raises(ValueError, match="nesting budget"):
        json_loads("[" * 101 + "]" * 101)
    assert json_loads("[" * 100 + "]" * 100)


def test_symlink_loop_in_a_local_scan_is_skipped_and_named(tmp_path: Path) -> None:
    """`patchwell scan` died with a traceback on `ln -s self self`."""
    (tmp_path / "app.py").write_text("import os\n")
    (tmp_path / "self").symlink_to("self")
    (tmp_path / "one").symlink_to("two")
    (tmp_path / "two").symlink_to("one")
    snap = load_directory(tmp_path)
    loops = sorted(s.path for s in snap.skipped if s.reason == SkipReason.SYMLINK_LOOP)
    assert loops == ["one", "self", "two"]
    assert snap.read("app.py") == b"import os\n"
