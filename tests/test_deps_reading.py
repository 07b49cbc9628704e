"""Reading what people write: inline holds, templates, UTF-16/BOM files, binary options,
the deploy Python, families that move together and default grouping (issue 13)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from packaging.version import Version

from fixers.contract import Context, Finding, MemorySnapshot, Patch, Services
from fixers.dependencies import FIXER
from fixers.dependencies.holds import hold_from_comment
from fixers.dependencies.inventory import parse_snapshot
from fixers.dependencies.pythons import dockerfile_pythons, runtime_pythons, workflow_pythons
from fixers.dependencies.sources import StaticActionsCatalog, sources_from_env
from fixers.local import load_directory
from tests.fakeindex.server import FakeIndex, FakeRelease, FakeVuln

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def ctx(index: FakeIndex, options: Mapping[str, Any] | None = None, actions: Any = None) -> Context:
    idx, adv = sources_from_env(index.env(), cache_dir=None)
    return Context(
        services=Services(index=idx, advisories=adv, clock=lambda: NOW, actions=actions),
        options=dict(options or {}),
    )


def snap(files: Mapping[str, str | bytes]) -> MemorySnapshot:
    return MemorySnapshot({k: v if isinstance(v, bytes) else v.encode() for k, v in files.items()})


def run(s: MemorySnapshot, c: Context) -> tuple[list[Finding], list[Patch]]:
    findings = FIXER.detect(s, c)
    return findings, FIXER.fix(s, findings, c)


def by_rule(findings: list[Finding], rule: str) -> dict[str, Finding]:
    return {str(f.data.get("package")): f for f in findings if f.rule == rule}


def test_hold_comments_are_a_small_documented_set() -> None:
    cap = hold_from_comment("# pyup: < 6.1", "r.txt:1")
    assert cap is not None and cap.kind == "cap" and cap.spec == "<6.1"
    assert not cap.allows(Version("6.1.0")) and cap.allows(Version("6.0.9"))
    for text in (
        "# pyup: ignore",
        "# patchwell: ignore",
        "# pin",
        "# pinned: breaks on 5",
        "# noqa",
    ):
        hold = hold_from_comment(text, "r.txt:1")
        assert hold is not None and hold.kind == "ignore", text
    for text in ("# web framework", "# pinning is good", "# pyup: update minor", None):
        assert hold_from_comment(text, "r.txt:1") is None, text


def test_inline_cap_and_ignore_are_honoured(fake_index: FakeIndex) -> None:
    fake_index.add_project(
        "django",
        [FakeRelease(v, ago(100 - i)) for i, v in enumerate(["6.0.8", "6.0.9", "6.1.0", "6.2.0"])],
    )
    fake_index.add_project(
        "requests", [FakeRelease("2.30.0", ago(400)), FakeRelease("2.32.0", ago(50))]
    )
    fake_index.add_project("flask", [FakeRelease("2.3.0", ago(400)), FakeRelease("3.0.0", ago(50))])
    fake_index.add_vuln(FakeVuln("GHSA-fl01", "flask", [("0", "3.0.0")], [], "bad", "HIGH"))
    s = snap(
        {
            "requirements.txt": "django==6.0.8  # pyup: < 6.1\nrequests==2.30.0  # pin\n"
            "flask==2.3.0  # pyup: ignore\n",
            "pyproject.toml": '[project]\nname = "x"\nversion = "1"\n'
            'dependencies = [\n  "requests==2.30.0",  # patchwell: ignore\n]\n',
        }
    )
    findings, patches = run(s, ctx(fake_index))
    outdated = by_rule(findings, "outdated")
    assert outdated["django"].data["target"] == "6.0.9"  # the old code offered 6.2.0
    assert "pyup: < 6.1" in outdated["django"].message
    assert "requests" not in outdated and "flask" not in outdated
    vuln = by_rule(findings, "vulnerable")["flask"]
    assert vuln.data["target"] is None and "pyup: ignore" in vuln.message
    assert [p.key for p in patches] == ["pip-django"]
    assert b"django==6.0.9  # pyup: < 6.1\n" in patches[0].edits[0].content  # type: ignore[operator]


def test_templated_files_are_skipped_with_a_reason(fake_index: FakeIndex) -> None:
    s = snap(
        {
            "{{cookiecutter.project_slug}}/requirements.txt": "django=={{ cookiecutter.v }}\n",
            "{{cookiecutter.project_slug}}/pyproject.toml": '[project]\nname = "{{x}}"\n',
            "requirements/base.txt": '{% if cookiecutter.use_celery == "y" %}\ncelery==5.3\n'
            "{% endif %}\n",
            "requirements.txt": "-r requirements/base.txt\n",
        }
    )
    parsed = parse_snapshot(s)
    assert sorted(p for p, _r in parsed.skipped) == [
        "requirements/base.txt",
        "{{cookiecutter.project_slug}}/pyproject.toml",
        "{{cookiecutter.project_slug}}/requirements.txt",
    ]
    assert all("templated" in r for _p, r in parsed.skipped)
    findings = FIXER.detect(s, ctx(fake_index))
    assert not [f for f in findings if f.rule == "parse-error"], findings
    # Found on cookiecutter-django: GitHub's ${{ }} and a glob naming the template
    # directory inside a real manifest are not templates.
    real = snap(
        {
            ".github/workflows/ci.yml": "jobs:\n  t:\n    runs-on: ${{ matrix.os }}\n"
            "    steps:\n      - uses: actions/checkout@v4\n",
            "pyproject.toml": '[project]\nname = "x"\nversion = "1"\ndependencies = ["six==1.0"]\n'
            '[tool.ruff]\nextend-exclude = ["{{cookiecutter.project_slug}}/*"]\n',
            "{{cookiecutter.project_slug}}/.python-version": "3.8\n",
        }
    )
    parsed = parse_snapshot(real)
    assert [p for p, _r in parsed.skipped] == ["{{cookiecutter.project_slug}}/.python-version"]
    assert {d.name for d in parsed.dependencies} == {"six", "actions/checkout"}
    from fixers.dependencies.detect import targets_of

    assert targets_of(real, parsed).deploy is None  # the template's 3.8 is not the repo's


def test_utf16_and_bom_requirements_are_read_and_edited_in_their_encoding(
    fake_index: FakeIndex, tmp_path: Path
) -> None:
    fake_index.add_project(
        "requests", [FakeRelease("2.30.0", ago(400)), FakeRelease("2.32.0", ago(50))]
    )
    text = "# pip freeze\r\nrequests==2.30.0\r\n"
    (tmp_path / "requirements.txt").write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "requirements.txt").write_bytes(b"\xef\xbb\xbf" + text.encode())
    loaded = load_directory(tmp_path)
    assert not loaded.skipped
    assert set(loaded.paths()) == {"requirements.txt", "dev/requirements.txt"}
    _f, patches = run(loaded, ctx(fake_index))
    edits = {e.path: e.content for p in patches for e in p.edits}
    assert edits["requirements.txt"] == b"\xff\xfe" + text.replace("2.30.0", "2.32.0").encode(
        "utf-16-le"
    )
    assert (
        edits["dev/requirements.txt"] == b"\xef\xbb\xbf" + text.replace("2.30.0", "2.32.0").encode()
    )


def test_only_binary_and_prefer_binary_pick_releases_with_wheels(fake_index: FakeIndex) -> None:
    sdist_only = ("lxml-5.1.0.tar.gz",)
    fake_index.add_project(
        "lxml",
        [
            FakeRelease("4.9.0", ago(400)),
            FakeRelease("5.0.0", ago(100)),
            FakeRelease("5.1.0", ago(50), filenames=sdist_only),
        ],
    )
    for option in ("--only-binary :all:", "--only-binary=lxml", "--prefer-binary"):
        s = snap({"requirements.txt": f"{option}\nlxml==4.9.0\n"})
        outdated = by_rule(FIXER.detect(s, ctx(fake_index)), "outdated")
        assert outdated["lxml"].data["target"] == "5.0.0", option
    s = snap({"requirements.txt": "lxml==4.9.0\n"})
    assert by_rule(FIXER.detect(s, ctx(fake_index)), "outdated")["lxml"].data["target"] == "5.1.0"


def test_python_sources_are_read() -> None:
    docker = "ARG PY=3.10\nFROM python:${PY}-slim AS build\nFROM docker.io/library/python:3.9.18\n"
    assert dockerfile_pythons(docker) == [Version("3.10"), Version("3.9")]
    assert dockerfile_pythons("FROM node:20\nFROM python\n") == []
    assert runtime_pythons("runtime.txt", "python-3.11.7\n") == [Version("3.11")]
    assert runtime_pythons(".python-version", "3.12\n3.10.4\n") == [
        Version("3.12"),
        Version("3.10"),
    ]
    wf = (
        "jobs:\n  t:\n    strategy:\n      matrix:\n"
        "        python-version: ['3.9', \"3.10\", 3.12]\n"
        "    steps:\n      - uses: actions/setup-python@v5\n        with:\n"
        "          python-version: ${{ matrix.python-version }}\n"
        "  u:\n    strategy:\n      matrix:\n        python:\n"
        "          - '3.13'\n          - pypy3.10\n"
    )
    assert workflow_pythons(wf) == [
        Version("3.9"),
        Version("3.10"),
        Version("3.12"),
        Version("3.13"),
    ]


def test_candidates_respect_the_deploy_python(fake_index: FakeIndex) -> None:
    fake_index.add_project(
        "django",
        [
            FakeRelease("4.2.1", ago(500)),
            FakeRelease("4.2.20", ago(50), requires_python=">=3.8"),
            FakeRelease("5.1.0", ago(40), requires_python=">=3.10"),
        ],
    )
    # The app ships on python:3.9-slim and says nothing else: 5.1.0 (>=3.10) is not offered.
    files = {"requirements.txt": "django==4.2.1\n", "Dockerfile": "FROM python:3.9-slim\n"}
    outdated = by_rule(FIXER.detect(snap(files), ctx(fake_index)), "outdated")["django"]
    assert outdated.data["target"] == "4.2.20" and outdated.data["python"] == ["3.9"]
    assert "installs on Python 3.9 (Dockerfile)" in outdated.message
    # The lowest of everything stated counts: requires-python >=3.8 lowers it again.
    files["pyproject.toml"] = '[project]\nname = "x"\nversion = "1"\nrequires-python = ">=3.8"\n'
    outdated = by_rule(FIXER.detect(snap(files), ctx(fake_index)), "outdated")["django"]
    assert outdated.data["python"] == ["3.8"] and "(pyproject.toml)" in outdated.message
    # With only a newer deploy Python, 5.1.0 is offered.
    files["Dockerfile"] = "FROM python:3.12-slim\n"
    files["pyproject.toml"] = '[project]\nname = "x"\nversion = "1"\nrequires-python = ">=3.11"\n'
    outdated = by_rule(FIXER.detect(snap(files), ctx(fake_index)), "outdated")["django"]
    assert outdated.data["target"] == "5.1.0"
    # A CI job on a Python the release excludes holds it back too.
    fake_index.add_project(
        "numpy",
        [
            FakeRelease("1.26.0", ago(400)),
            FakeRelease("1.26.4", ago(100)),
            FakeRelease("1.27.0", ago(50), requires_python=">=3.11,<3.13"),
        ],
    )
    files = {
        "requirements.txt": "numpy==1.26.0\n",
        ".python-version": "3.11\n",
        ".github/workflows/ci.yml": "jobs:\n  t:\n    steps:\n"
        "      - uses: actions/setup-python@v5\n"
        "        with:\n          python-version: '3.13'\n",
    }
    outdated = by_rule(FIXER.detect(snap(files), ctx(fake_index)), "outdated")["numpy"]
    assert outdated.data["python"] == ["3.11", "3.13"] and outdated.data["target"] == "1.26.4"


def _minor_bumps(index: FakeIndex, names: list[str]) -> None:
    for name in names:
        index.add_project(name, [FakeRelease("1.0.0", ago(400)), FakeRelease("1.1.0", ago(50))])


def test_family_members_move_together(fake_index: FakeIndex) -> None:
    _minor_bumps(fake_index, ["boto3", "botocore", "requests"])
    s = snap({"requirements.txt": "boto3==1.0.0\nbotocore==1.0.0\nrequests==1.0.0\n"})
    _f, patches = run(s, ctx(fake_index))
    assert sorted(p.key for p in patches) == ["family-aws-sdk", "pip-requests"]
    family = next(p for p in patches if p.key == "family-aws-sdk")
    assert b"boto3==1.1.0\nbotocore==1.1.0\n" in family.edits[0].content  # type: ignore[operator]
    assert "move together" in family.explanation.markdown()


def test_artifact_actions_move_in_one_pr(fake_index: FakeIndex) -> None:
    catalog = StaticActionsCatalog(
        {
            "actions/upload-artifact": [("v3", "1" * 40), ("v4", "2" * 40), ("v4.4.0", "2" * 40)],
            "actions/download-artifact": [("v3", "3" * 40), ("v4", "4" * 40), ("v4.1.8", "4" * 40)],
        }
    )
    wf = (
        "jobs:\n  a:\n    steps:\n      - uses: actions/upload-artifact@v3\n"
        "  b:\n    steps:\n      - uses: actions/download-artifact@v3\n"
    )
    _f, patches = run(snap({".github/workflows/ci.yml": wf}), ctx(fake_index, actions=catalog))
    assert [p.key for p in patches] == ["family-artifact-actions"]
    assert patches[0].edits[0].content == wf.replace("@v3", "@v4").encode()


def test_many_outdated_pins_are_grouped_by_default(fake_index: FakeIndex) -> None:
    names = [f"lib{i}" for i in range(8)]
    _minor_bumps(fake_index, names)
    fake_index.add_project("big", [FakeRelease("1.0.0", ago(400)), FakeRelease("2.0.0", ago(50))])
    s = snap({"requirements.txt": "".join(f"{n}==1.0.0\n" for n in [*names, "big"])})
    _f, patches = run(s, ctx(fake_index))
    assert sorted(p.key for p in patches) == ["group-python-dependencies", "pip-big"]
    group = next(p for p in patches if p.key == "group-python-dependencies")
    assert group.title.endswith("(8 packages)")
    # A configured ``groups`` replaces the default: one PR per package again.
    _f, patches = run(s, ctx(fake_index, {"groups": []}))
    assert len(patches) == 9
    # A handful or fewer stay separate.
    s = snap({"requirements.txt": "".join(f"{n}==1.0.0\n" for n in names[:5])})
    _f, patches = run(s, ctx(fake_index))
    assert len(patches) == 5


def test_many_major_updates_share_one_pr_by_default(fake_index: FakeIndex) -> None:
    names = [f"maj{i}" for i in range(6)]
    for name in names:
        releases = [FakeRelease("1.0.0", ago(400)), FakeRelease("2.0.0", ago(50))]
        fake_index.add_project(name, releases)
    s = snap({"requirements.txt": "".join(f"{n}==1.0.0\n" for n in names)})
    _f, patches = run(s, ctx(fake_index))
    assert [p.key for p in patches] == ["group-major-updates"]
    assert "Major version bump" in patches[0].explanation.markdown()
