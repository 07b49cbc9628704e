"""A real-world yardstick: ``patchwell scan`` over checkouts of public repositories.

For each directory given, runs ``python -m bot.cli_scan DIR --format json --diff``
(offline unless ``--online``), then for every patch:

* ``git apply --check`` against the checkout's own files (each patch alone: each
  is a separate pull request on the same base);
* applies it to a scratch copy of the files it touches and parses every edited
  file (Python, YAML, TOML, JSON; other text must decode as UTF-8).

It prints, per repository: findings by fixer, patches, patches that apply,
patches whose edited files parse, and the findings and patches judged wrong in
``benchmarks/realworld_labels.json`` (``--labels``). Unlabelled findings and
patches are counted, so a label file that no longer covers a scan shows it.

A label is ``{"repository", "commit", "path", "rule", "verdict", "why"}``;
``rule`` is ``fixer/rule`` for a finding, ``fixer/key`` with ``"kind": "patch"``
for a patch; ``verdict`` is ``right`` or ``wrong``. A directory's repository is
``owner/name`` from its basename (``owner+name``, as ``fetch`` names mirrors) or
from ``DIR=owner/name``. Fetched code is never committed: directories are
arguments. Run:

    .venv/bin/python benchmarks/realworld.py /tmp/rw/*  [--json] [--online]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LABELS = ROOT / "benchmarks" / "realworld_labels.json"


@dataclass
class PatchCheck:
    fixer: str
    key: str
    files: list[str]
    applies: bool
    parses: bool
    problem: str = ""
    masked: bool = False  # a secret's lines are hidden: not applicable by design


@dataclass
class RepoResult:
    repository: str
    directory: str
    commit: str | None
    findings_by_fixer: Counter[str] = field(default_factory=Counter)
    findings: list[dict[str, Any]] = field(default_factory=list)
    patches: list[PatchCheck] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    unlabelled: int = 0
    errors: list[str] = field(default_factory=list)


def repository_of(arg: str) -> tuple[Path, str]:
    path, sep, name = arg.partition("=")
    directory = Path(path)
    if sep:
        return directory, name
    base = directory.resolve().name
    return directory, base.replace("+", "/", 1) if "+" in base else base


def _git_env(directory: Path) -> dict[str, str]:
    # Never let git discover a repository above the checkout (paths would shift).
    env = dict(os.environ)
    env["GIT_CEILING_DIRECTORIES"] = str(directory.resolve().parent)
    return env


def scan(directory: Path, online: bool) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bot.cli_scan", str(directory), "--format", "json", "--diff",
           "--no-progress"]  # fmt: skip
    if not online:
        cmd.append("--offline")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"scan exited {proc.returncode}: {proc.stderr.strip()[-400:]}")
    return json.loads(proc.stdout)


def _parse(path: Path) -> str:
    """``""`` when the file parses as what its name says, else the problem."""
    data = path.read_bytes()
    name = path.name
    try:
        text = data.decode("utf-8")
        if name.endswith(".py"):
            ast.parse(data)
        elif name.endswith((".yml", ".yaml")):
            YAML(typ="safe").load(text)
        elif name.endswith(".toml"):
            tomllib.loads(text)
        elif name.endswith(".json"):
            json.loads(text)
    except Exception as exc:  # any failure to parse is what this reports
        return f"{name}: {type(exc).__name__}"
    return ""


def check_patch(directory: Path, patch: dict[str, Any]) -> PatchCheck:
    files = [f["path"] for f in patch["files"]]
    check = PatchCheck(patch["fixer"], patch["key"], files, applies=False, parses=False)
    if patch.get("diff_masked"):
        check.masked = True
        return check
    diff = patch.get("diff") or ""
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "tree"
        scratch.mkdir()
        for rel in files:
            source = directory / rel
            if source.is_file():
                (scratch / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, scratch / rel)
        diff_file = Path(tmp) / "patch.diff"
        diff_file.write_text(diff, encoding="utf-8", newline="")
        env = _git_env(scratch)
        proc = subprocess.run(["git", "apply", "--check", str(diff_file)], cwd=scratch, env=env,
                              capture_output=True, text=True)  # fmt: skip
        if proc.returncode != 0:
            check.problem = proc.stderr.strip().splitlines()[0] if proc.stderr.strip() else "?"
            return check
        check.applies = True
        subprocess.run(["git", "apply", str(diff_file)], cwd=scratch, env=env, check=True,
                       capture_output=True)  # fmt: skip
        problems = [
            p for rel in files if (scratch / rel).is_file() and (p := _parse(scratch / rel))
        ]
        check.parses = not problems
        check.problem = "; ".join(problems)
    return check


def load_labels(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    data = json.loads(path.read_text("utf-8"))
    return list(data["labels"] if isinstance(data, dict) else data)


def _label_for(
    labels: list[dict[str, Any]], repository: str, kind: str, rule: str, path: str | None
) -> dict[str, Any] | None:
    for label in labels:
        if (
            label["repository"] == repository
            and label.get("kind", "finding") == kind
            and label["rule"] == rule
            and label.get("path") == path
        ):
            return label
    return None


def run_one(arg: str, labels: list[dict[str, Any]], online: bool) -> RepoResult:
    directory, repository = repository_of(arg)
    report = scan(directory, online)
    result = RepoResult(repository, str(directory), report.get("commit"))
    result.errors = [f"{e['fixer']}: {e['message']}" for e in report["errors"]]
    for f in report["findings"]:
        result.findings_by_fixer[f["fixer"]] += 1
        rule = f"{f['fixer']}/{f['rule']}"
        result.findings.append({"rule": rule, "path": f["path"], "line": f["line"]})
        label = _label_for(labels, repository, "finding", rule, f["path"])
        if label is None:
            result.unlabelled += 1
        elif label["verdict"] == "wrong":
            result.wrong.append(f"{rule} {f['path'] or '(repo)'}: {label['why']}")
    for p in report["patches"]:
        check = check_patch(directory, p)
        result.patches.append(check)
        rule = f"{p['fixer']}/{p['key']}"
        path = check.files[0] if check.files else None
        label = _label_for(labels, repository, "patch", rule, path)
        if label is None:
            result.unlabelled += 1
        elif label["verdict"] == "wrong":
            result.wrong.append(f"patch {rule}: {label['why']}")
    return result


def render_table(results: list[RepoResult]) -> str:
    head = (
        "| repository | findings by fixer | patches | apply | masked (secret) | parse "
        "| judged wrong | unlabelled |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in results:
        by_fixer = ", ".join(f"{k} {v}" for k, v in sorted(r.findings_by_fixer.items())) or "—"
        applies = sum(p.applies for p in r.patches)
        parses = sum(p.parses for p in r.patches)
        wrong = str(len(r.wrong))  # which, and why: listed under the table
        lines.append(
            f"| {r.repository} | {by_fixer} | {len(r.patches)} | {applies} | "
            f"{sum(p.masked for p in r.patches)} | {parses} | {wrong} | {r.unlabelled} |"
        )
    total_p = sum(len(r.patches) for r in results)
    total_a = sum(sum(p.applies for p in r.patches) for r in results)
    total_f = sum(sum(r.findings_by_fixer.values()) for r in results)
    total_w = sum(len(r.wrong) for r in results)
    lines.append(
        f"| **total ({len(results)})** | {total_f} findings | {total_p} | {total_a} | "
        f"{sum(sum(p.masked for p in r.patches) for r in results)} | "
        f"{sum(sum(p.parses for p in r.patches) for r in results)} | {total_w} | "
        f"{sum(r.unlabelled for r in results)} |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="+", help="checkouts (DIR or DIR=owner/name)")
    parser.add_argument("--labels", type=Path, default=LABELS)
    parser.add_argument("--online", action="store_true", help="allow package-index lookups")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    labels = load_labels(args.labels)
    results = [run_one(d, labels, args.online) for d in args.dirs]
    if args.json:
        out = [
            {
                "repository": r.repository,
                "commit": r.commit,
                "findings": r.findings,
                "findings_by_fixer": dict(r.findings_by_fixer),
                "patches": [p.__dict__ for p in r.patches],
                "wrong": r.wrong,
                "unlabelled": r.unlabelled,
                "errors": r.errors,
            }
            for r in results
        ]
        print(json.dumps(out, indent=2))
    else:
        print(render_table(results))
        for r in results:
            for why in r.wrong:
                print(f"{r.repository}: judged wrong: {why}")
            for p in r.patches:
                if not p.masked and not (p.applies and p.parses):
                    print(f"{r.repository}: {p.fixer}/{p.key}: {p.problem}")
            for e in r.errors:
                print(f"{r.repository}: error: {e}")
    failed = any(not p.masked and not (p.applies and p.parses) for r in results for p in r.patches)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
