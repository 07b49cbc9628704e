"""`patchwell scan`: exit codes, the three formats, diffs, masking, SARIF schema validity.

The bundled example app is scanned through a real subprocess with the registered
fixers; toy fixers (defined here, computing from the files they read) pin down
the exact shapes.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import jsonschema
import pytest

from bot.cli_scan import (
    EXIT_CLEAN,
    EXIT_FINDINGS,
    EXIT_USAGE,
    ProgressBar,
    add_scan_parser,
    build_parser,
    run_scan,
)
from fixers.contract import (
    Context,
    Explanation,
    FileEdit,
    Finding,
    Fixer,
    Patch,
    Severity,
    Snapshot,
    fingerprint,
)

REPO = Path(__file__).resolve().parent.parent
VIBE = REPO / "examples" / "vibe-app"
SARIF_SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
EXPLAIN = Explanation("found", "why", "changes", "verify", "rollback")
FAKE_KEY = "sk_live_" + "Zq8" * 8  # built at run time: a toy "leaked" key


@cache
def sarif_validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def vibe_secret_values() -> list[str]:
    """The secret values committed in the example app (read from it, never printed)."""
    values = []
    for line in (VIBE / ".env").read_text().splitlines():
        key, _, value = line.partition("=")
        if key in {"SECRET_KEY"}:
            values.append(value)
        if key == "DATABASE_URL":
            values.append(value.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1])
    app = (VIBE / "app.py").read_text()
    start = app.index("sk_live_")
    values.append(app[start : app.index('"', start)])
    assert all(len(v) >= 16 for v in values)
    return values


# --------------------------------------------------------------------------- toy fixers


@dataclass
class KeyFixer:
    """Finds lines assigning a sk_live_ key; its patch reads the key from the environment."""

    name: str = "toykey"
    patterns: tuple[str, ...] = ("**/*.py",)
    scope: Literal["file", "repo"] = "file"

    def detect(self, snapshot: Snapshot, ctx: Context) -> list[Finding]:
        out = []
        for path in snapshot.paths():
            text = (snapshot.read(path) or b"").decode()
            for no, line in enumerate(text.splitlines(), start=1):
                if "sk_live_" in line:
                    value = line.split('"')[1]
                    out.append(
                        Finding(
                            self.name,
                            "live-key",
                            Severity.LEAKED_SECRET,
                            f"Live key {value[:4]}**** committed",
                            fingerprint(self.name, path, str(len(value))),
                            path=path,
                            line=no,
                            title="Live API key in code",
                        )
                    )
        return out

    def fix(self, snapshot: Snapshot, findings: Sequence[Finding], ctx: Context) -> list[Patch]:
        patches = []
        for f in findings:
            assert f.path
            lines = (snapshot.read(f.path) or b"").decode().splitlines(keepends=True)
            lines[f.line - 1] = 'KEY = os.environ["KEY"]\n'  # type: ignore[operator]
            patches.append(
                Patch(
                    self.name,
                    "live-key",
                    "Read the API key from the environment",
                    (FileEdit(f.path, "modify", "".join(lines).encode()),),
                    EXPLAIN,
                    Severity.LEAKED_SECRET,
                    (f.fingerprint,),
                )
            )
        return patches


@dataclass
class ReadmeFixer:
    """Repository-wide finding without a line: README missing."""

    name: str = "toyreadme"
    patterns: tuple[str, ...] = ("README*",)
    scope: Literal["file", "repo"] = "repo"

    def detect(self, snapshot: Snapshot, ctx: Context) -> list[Finding]:
        if any(p.startswith("README") for p in snapshot.all_paths):
            return []
        return [Finding(self.name, "no-readme", Severity.HYGIENE, "No README", "fp-readme")]

    def fix(self, snapshot: Snapshot, findings: Sequence[Finding], ctx: Context) -> list[Patch]:
        edit = FileEdit("README.md", "create", b"# Project\n")
        return [
            Patch(
                self.name,
                "readme",
                "Add a README",
                (edit,),
                EXPLAIN,
                Severity.HYGIENE,
                ("fp-readme",),
            )
        ]


TOYS: list[Fixer] = [KeyFixer(), ReadmeFixer()]


def make_repo(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def scan(
    argv: list[str], fixers: Sequence[Fixer] = TOYS, stderr: io.StringIO | None = None
) -> tuple[int, str, str]:
    out, err = io.StringIO(), stderr or io.StringIO()
    code = run_scan(build_parser().parse_args(argv), fixers=fixers, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


LEAKY = {"app.py": f'import os\n\nKEY = "{FAKE_KEY}"\nprint(KEY)\n'}


# --------------------------------------------------------------------------- function API


def test_clean_repo_exits_zero(tmp_path: Path) -> None:
    make_repo(tmp_path, {"README.md": "# hi\n", "app.py": "print(1)\n"})
    code, out, _ = scan([str(tmp_path)])
    assert code == EXIT_CLEAN
    assert "0 findings" in out


def test_findings_exit_one_and_text_lists_them(tmp_path: Path) -> None:
    make_repo(tmp_path, LEAKY)
    code, out, _ = scan([str(tmp_path)])
    assert code == EXIT_FINDINGS
    assert "2 findings, 2 patches" in out
    assert "leaked-secret" in out and "app.py:3" in out and "toykey/live-key [patch]" in out
    assert "(repository)" in out and "toyreadme/no-readme" in out
    assert FAKE_KEY not in out


@pytest.mark.parametrize(
    "argv",
    [
        ["{root}/missing"],
        ["{root}/file.txt"],
        ["{root}", "--only", "nope"],
        ["{root}", "--only", "toykey,nope"],
        ["{root}", "--config", "{root}/absent.yml"],
    ],
)
def test_usage_errors_exit_two(tmp_path: Path, argv: list[str]) -> None:
    make_repo(tmp_path, {"file.txt": "x"})
    code, out, err = scan([a.format(root=tmp_path) for a in argv])
    assert code == EXIT_USAGE
    assert out == ""
    assert err.startswith("patchwell scan: ")


def test_argparse_usage_errors_exit_two(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([str(tmp_path), "--format", "xml"])
    assert exc.value.code == EXIT_USAGE


def test_add_scan_parser_mounts_on_a_parent_cli(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="patchwell")
    add_scan_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["scan", str(tmp_path), "--format", "json", "--only", "toykey"])
    assert args.func is run_scan
    out = io.StringIO()
    assert args.func(args, fixers=TOYS, stdout=out, stderr=io.StringIO()) == EXIT_CLEAN
    assert json.loads(out.getvalue())["fixers"]["run"] == ["toykey"]


def test_only_runs_the_named_fixer(tmp_path: Path) -> None:
    make_repo(tmp_path, LEAKY)
    code, out, _ = scan([str(tmp_path), "--format", "json", "--only", "toyreadme"])
    data = json.loads(out)
    assert code == EXIT_FINDINGS
    assert [f["rule"] for f in data["findings"]] == ["no-readme"]


def test_json_shape_is_stable(tmp_path: Path) -> None:
    make_repo(tmp_path, {**LEAKY, "logo.png": "\x00PNG"})
    code, out, _ = scan([str(tmp_path), "--format", "json"])
    data = json.loads(out)
    assert code == EXIT_FINDINGS
    assert set(data) == {
        "version",
        "tool",
        "root",
        "commit",
        "findings",
        "patches",
        "skipped",
        "errors",
        "config_problems",
        "fixers",
        "source",
        "not_checked",
    }
    assert data["version"] == 1
    first = data["findings"][0]
    assert first == {
        "fixer": "toykey",
        "rule": "live-key",
        "severity": "leaked-secret",
        "severity_rank": 5,
        "path": "app.py",
        "line": 3,
        "end_line": None,
        "title": "Live API key in code",
        "message": "Live key sk_l**** committed",
        "fingerprint": fingerprint("toykey", "app.py", str(len(FAKE_KEY))),
        "has_patch": True,
    }
    assert data["findings"][1]["path"] is None and data["findings"][1]["has_patch"] is True
    patch = data["patches"][0]
    assert patch["branch"] == "patchwell/toykey/live-key"
    assert patch["opens_pr"] is True and patch["mode"] == "fix"
    assert patch["files"] == [{"path": "app.py", "action": "modify"}]
    assert "diff" not in patch
    assert data["skipped"] == {
        "total": 1,
        "by_reason": {"binary": 1},
        "files": [{"path": "logo.png", "reason": "binary"}],
    }
    assert data["errors"] == [] and data["config_problems"] == []


def test_diff_shows_each_patch_and_masks_the_removed_secret(tmp_path: Path) -> None:
    make_repo(tmp_path, LEAKY)
    for fmt in ("text", "json"):
        code, out, _ = scan([str(tmp_path), "--diff", "--format", fmt])
        assert code == EXIT_FINDINGS
        assert FAKE_KEY not in out
        body = out if fmt == "text" else "".join(p["diff"] for p in json.loads(out)["patches"])
        assert "--- a/app.py\n+++ b/app.py\n" in body
        assert '+KEY = os.environ["KEY"]\n' in body
        assert "-KEY ****  [masked by patchwell: may hold a secret]\n" in body
        assert "--- /dev/null\n+++ b/README.md\n" in body and "+# Project\n" in body


def test_text_output_escapes_terminal_control_characters(tmp_path: Path) -> None:
    make_repo(tmp_path, {"evil\x1b[2J.py": f'K = "{FAKE_KEY}"\r\n\x1b]0;pwned\x07\r\n'})
    _, out, _ = scan([str(tmp_path), "--diff"])
    assert "evil\\x1b[2J.py:1" in out
    assert "\x1b" not in out and "\x07" not in out
    assert "\r\n" in out  # CRLF line ends are left alone


def test_report_mode_patches_are_shown_but_not_opened(tmp_path: Path) -> None:
    make_repo(tmp_path, {**LEAKY, ".github/patchwell.yml": "fixers:\n  toykey: report\n"})
    _, out, _ = scan([str(tmp_path), "--diff"])
    assert "branch patchwell/toykey/live-key (report mode: no PR)" in out
    _, out, _ = scan([str(tmp_path), "--format", "json"])
    by_fixer = {p["fixer"]: p for p in json.loads(out)["patches"]}
    assert by_fixer["toykey"]["opens_pr"] is False
    assert by_fixer["toyreadme"]["opens_pr"] is True


def test_config_problems_are_reported_and_the_scan_goes_on(tmp_path: Path) -> None:
    config = "labels: [ok]\nfixers:\n  toykey: offf\n  ghost: fix\n"
    make_repo(tmp_path, {**LEAKY, ".github/patchwell.yml": config})
    code, out, err = scan([str(tmp_path), "--format", "json"])
    assert code == EXIT_FINDINGS
    problems = json.loads(out)["config_problems"]
    assert [(p["line"], p["path"]) for p in problems] == [
        (3, ".github/patchwell.yml"),
        (4, ".github/patchwell.yml"),
    ]
    assert "offf" in problems[0]["message"] and "unknown fixer" in problems[1]["message"]
    assert ".github/patchwell.yml:3:" in err
    # The bad mode fell back to the default (fix), so the fixer still ran.
    assert any(f["fixer"] == "toykey" for f in json.loads(out)["findings"])


def test_explicit_config_file_and_off(tmp_path: Path) -> None:
    make_repo(tmp_path, {"repo/" + k: v for k, v in LEAKY.items()})
    (tmp_path / "cfg.yml").write_text("fixers:\n  toykey: off\n  toyreadme: off\n")
    code, out, _ = scan([str(tmp_path / "repo"), "--config", str(tmp_path / "cfg.yml")])
    assert code == EXIT_CLEAN
    assert "fixers off by config: toykey, toyreadme" in out


def test_ignore_paths_apply(tmp_path: Path) -> None:
    files = {"vendor_src/" + k: v for k, v in LEAKY.items()}
    files[".github/patchwell.yml"] = 'ignore-paths: ["vendor_src/**"]\n'
    files["README.md"] = "hi\n"
    make_repo(tmp_path, files)
    code, _, _ = scan([str(tmp_path)])
    assert code == EXIT_CLEAN


class TTYStream(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_for_large_trees(tmp_path: Path) -> None:
    make_repo(tmp_path, {f"d/f{i}.txt": "x" for i in range(600)} | {"README.md": "x"})
    err = TTYStream()
    scan([str(tmp_path)], stderr=err)
    drawn = err.getvalue()
    assert "\rreading [" in drawn and "601/601 files\n" in drawn
    assert drawn.count("\r") <= 102  # redrawn per percent, not per file
    quiet = TTYStream()
    scan([str(tmp_path), "--no-progress"], stderr=quiet)
    assert "reading" not in quiet.getvalue()
    piped = io.StringIO()
    scan([str(tmp_path)], stderr=piped)
    assert "reading" not in piped.getvalue()  # not a terminal and under 5,000 files


def test_progress_bar_without_terminal_prints_few_lines() -> None:
    err = io.StringIO()
    bar = ProgressBar(err, enabled=True, tty=False)
    for done in range(1, 6001):
        bar(done, 6000)
    lines = err.getvalue().splitlines()
    assert lines[-1] == "reading 6000/6000 files"
    assert 4 <= len(lines) <= 5


# --------------------------------------------------------------------------- sarif


def test_sarif_is_valid_and_what_github_needs(tmp_path: Path) -> None:
    make_repo(tmp_path, {**LEAKY, "sub dir/x.py": f'K = "{FAKE_KEY}"\n'})
    code, out, _ = scan([str(tmp_path), "--format", "sarif"])
    assert code == EXIT_FINDINGS
    log = json.loads(out)
    sarif_validator().validate(log)
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["toykey/live-key", "toyreadme/no-readme"]
    assert rules[0]["properties"]["security-severity"] == "9.0"
    assert len(run["results"]) == 3
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in {"error", "warning", "note"}
        location = result["locations"][0]["physicalLocation"]
        assert not location["artifactLocation"]["uri"].startswith("/")
        assert location["region"]["startLine"] >= 1
        assert result["partialFingerprints"]["patchwell/v1"]
    uris = [
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]
    ]
    assert "sub%20dir/x.py" in uris
    assert FAKE_KEY not in out


@dataclass
class Boom:
    """Crashes (module level: the scan process gets its fixers pickled)."""

    name: str = "boom"
    patterns: tuple[str, ...] = ("*",)
    scope: Literal["file", "repo"] = "repo"

    def detect(self, snapshot: Snapshot, ctx: Context) -> list[Finding]:
        raise RuntimeError("secret-bearing text")

    def fix(self, snapshot: Snapshot, findings: Sequence[Finding], ctx: Context) -> list:
        return []


def test_sarif_reports_fixer_crashes_as_notifications(tmp_path: Path) -> None:
    make_repo(tmp_path, {"README.md": "x"})
    code, out, _ = scan([str(tmp_path), "--format", "sarif"], fixers=[Boom()])
    log = json.loads(out)
    sarif_validator().validate(log)
    invocation = log["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"][0]["message"]["text"] == (
        "boom: detect raised RuntimeError"
    )
    assert code == EXIT_FINDINGS  # the crash is itself a finding: never a silent "clean"
    assert "secret-bearing" not in out


# --------------------------------------------------------------------------- the example app


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli_scan", str(VIBE), "--offline", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def vibe_outputs() -> dict[str, str]:
    """Every registered fixer over the example app, scanned once, rendered three ways.

    One scan rather than one per format: the registry's fixers are what is
    under test here, and some are costly to start (the secrets engine compiles
    its pattern database once per process).
    """
    outputs: dict[str, str] = {}
    for fmt, extra in (("json", ["--diff"]), ("text", ["--diff"]), ("sarif", [])):
        out, err = io.StringIO(), io.StringIO()
        args = build_parser().parse_args([str(VIBE), "--offline", "--format", fmt, *extra])
        assert run_scan(args, stdout=out, stderr=err) == EXIT_FINDINGS, err.getvalue()
        outputs[fmt], outputs[fmt + "-stderr"] = out.getvalue(), err.getvalue()
    return outputs


def test_vibe_app_in_all_three_formats(vibe_outputs: dict[str, str]) -> None:
    data = json.loads(vibe_outputs["json"])
    assert data["findings"], "the example app must have findings"
    for finding in data["findings"]:
        assert {"fixer", "rule", "severity", "path", "line", "message", "fingerprint"} <= set(
            finding
        )
        assert isinstance(finding["has_patch"], bool)
    assert data["errors"] == [], data["errors"]
    assert f"{len(data['findings'])} findings" in vibe_outputs["text"]
    log = json.loads(vibe_outputs["sarif"])
    sarif_validator().validate(log)
    assert len(log["runs"][0]["results"]) == len(data["findings"])


def test_vibe_app_outputs_never_echo_its_secrets(vibe_outputs: dict[str, str]) -> None:
    secrets = vibe_secret_values()
    for text in vibe_outputs.values():
        for value in secrets:
            assert value not in text


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_cli_subprocess_on_the_example_app(fmt: str) -> None:
    # A cheap real fixer keeps the three process starts quick.
    proc = run_cli("--format", fmt, "--only", "runtime-defaults")
    assert proc.returncode == EXIT_FINDINGS, proc.stderr
    if fmt == "json":
        rules = {f["rule"] for f in json.loads(proc.stdout)["findings"]}
        assert "requests-no-timeout" in rules
    elif fmt == "sarif":
        sarif_validator().validate(json.loads(proc.stdout))
    else:
        assert "app.py:" in proc.stdout


def test_patchwell_cli_dispatches_scan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    make_repo(tmp_path, {"README.md": "x"})
    assert main(["scan", str(tmp_path), "--offline", "--format", "json", "--only", "nope"]) == 2
    assert "unknown fixer" in capsys.readouterr().err


@dataclass
class ServicesProbe:
    """Says which services it is handed, as one finding per service (it runs in the scan
    process, so it reports through its findings like every fixer)."""

    name: str = "probe"
    patterns: tuple[str, ...] = ("*",)
    scope: Literal["file", "repo"] = "repo"

    def detect(self, snapshot: Snapshot, ctx: Context) -> list[Finding]:
        present = [n for n in ("index", "advisories") if getattr(ctx.services, n) is not None]
        return [
            Finding(self.name, f"has-{n}", Severity.HYGIENE, n, fingerprint(n)) for n in present
        ]

    def fix(self, snapshot: Snapshot, findings: Sequence[Finding], ctx: Context) -> list[Patch]:
        return []


def test_services_come_from_the_environment_unless_offline(tmp_path: Path) -> None:
    pytest.importorskip("fixers.dependencies.sources")
    # An index nobody listens on: the clients are built, never called by the probe.
    env = {"PATCHWELL_INDEX_URL": "http://127.0.0.1:9/pypi", "HOME": str(tmp_path)}
    seen: list[set[str]] = []
    for argv in ([str(tmp_path)], [str(tmp_path), "--offline"]):
        args = build_parser().parse_args([*argv, "--format", "json"])
        out = io.StringIO()
        run_scan(args, fixers=[ServicesProbe()], stdout=out, stderr=io.StringIO(), env=env)
        seen.append({f["rule"] for f in json.loads(out.getvalue())["findings"]})
    online, offline = seen
    assert online == {"has-index", "has-advisories"}
    assert offline == set()


def test_the_registry_names_its_fixers_and_loads_only_those_asked_for() -> None:
    from fixers.registry import all_fixers, fixer_names, fixers_named

    assert fixer_names() == [f.name for f in all_fixers()]
    assert [f.name for f in fixers_named(["dependencies", "secrets", "nope"])] == [
        "secrets",
        "dependencies",
    ]


_ONLY_SECRETS = """
import io, json, sys
import bot.cli  # what the `patchwell` command loads
from bot.cli_scan import build_parser, run_scan

args = build_parser().parse_args([sys.argv[1], "--only", "secrets", "--format", "json"])
out = io.StringIO()
code = run_scan(args, stdout=out, stderr=io.StringIO())
heavy = ("fixers.", "pip_audit", "aiohttp", "asyncio", "jsonschema", "tomlkit")
loaded = sorted(m for m in sys.modules if m.startswith(heavy))
print(json.dumps({"code": code, "report": json.loads(out.getvalue()), "loaded": loaded}))
"""


def test_a_secrets_only_scan_imports_no_other_fixer(tmp_path: Path) -> None:
    """``patchwell scan --only secrets`` (what a pre-commit hook or CI step runs) neither
    imports the other fixers nor builds the package-index clients: about half a second
    of its start-up."""
    import random

    from fixers.secrets.samples import sample

    leak = sample("generic-password-assignment", random.Random(15))
    (tmp_path / f"settings{leak.suffix}").write_text(leak.text + "\n")
    done = subprocess.run(
        [sys.executable, "-c", _ONLY_SECRETS, str(tmp_path)],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    said = json.loads(done.stdout)
    assert said["code"] == EXIT_FINDINGS
    assert {f["fixer"] for f in said["report"]["findings"]} == {"secrets"}
    assert said["report"]["not_checked"] == []
    loaded = said["loaded"]
    assert "fixers.secrets.fixer" in loaded
    for other in ("fixers.dependencies", "fixers.production.prod_contract", "pip_audit"):
        assert other not in loaded
    # Nor what only other commands or a config file need (an event loop, the schema).
    assert "asyncio" not in loaded and "jsonschema" not in loaded
