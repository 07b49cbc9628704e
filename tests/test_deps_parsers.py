"""Parsers over real-world manifest shapes: includes, cycles, markers, hashes, extras,
continuations, Poetry, PEP 735, Pipfile, setup.cfg, workflows, malformed input."""

from __future__ import annotations

import json

import pytest

from fixers.contract import MemorySnapshot
from fixers.dependencies.inventory import extract, parse_snapshot, render
from fixers.dependencies.model import Dependency


def snap(files: dict[str, str], **kw: object) -> MemorySnapshot:
    return MemorySnapshot({k: v.encode("utf-8", "surrogateescape") for k, v in files.items()}, **kw)  # type: ignore[arg-type]


def by_name(deps: list[Dependency], name: str) -> list[Dependency]:
    return [d for d in deps if d.name == name]


def version_text(files: dict[str, str], dep: Dependency) -> str:
    assert dep.span is not None
    return files[dep.file][dep.span.start : dep.span.end]


REQS = (
    "# production pins\n"
    "--index-url https://user:s3cr3t-token@private.example/simple\n"
    "-r base.txt\n"
    "-c constraints.txt\n"
    "Requests[security,socks]==2.31.0 ; python_version >= '3.8'  # http\n"
    "requests==2.31.0 ; python_version < '3.8'\n"
    "urllib3==2.0.7 \\\n"
    "    --hash=sha256:aaaa \\\n"
    "    --hash=sha256:bbbb\n"
    "zope.interface == 6.0\n"
    "flask>=2.0,<3\n"
    "-e git+https://tok3n@github.com/org/lib.git#egg=orglib\n"
    "git+https://github.com/org/other.git@v1#egg=other\n"
    "./vendor/pkg.whl\n"
    "pkg @ https://example.com/pkg-1.0.tar.gz\n"
    "this is not a requirement\n"
    "--bogus-option\n"
    "django==4.2.*\n"
    "gunicorn\n"
)


def test_requirements_shapes() -> None:
    files = {
        "requirements.txt": REQS,
        "base.txt": "-r requirements.txt\nDjango==4.2.1\n",
        "constraints.txt": "certifi==2023.7.22\n",
    }
    result = parse_snapshot(snap(files))
    deps = result.dependencies
    requests = by_name(deps, "requests")
    assert [d.line for d in requests] == [5, 6]
    assert requests[0].extras == ("security", "socks")
    assert requests[0].markers == 'python_version >= "3.8"'
    assert requests[0].pinned == "2.31.0"
    assert version_text(files, requests[0]) == "2.31.0"
    urllib3 = by_name(deps, "urllib3")[0]
    assert urllib3.hashes == ("sha256:aaaa", "sha256:bbbb")
    assert urllib3.line == 7 and version_text(files, urllib3) == "2.0.7"
    zope = by_name(deps, "zope-interface")[0]
    assert zope.pinned == "6.0" and version_text(files, zope) == "6.0"
    assert by_name(deps, "flask")[0].pinned is None
    assert by_name(deps, "django")[0].pinned == "4.2.1"  # the wildcard is not a pin
    assert [d.pinned for d in by_name(deps, "django")] == ["4.2.1", None]
    assert by_name(deps, "certifi")[0].pinned == "2023.7.22"
    unmanaged = {d.name: d.reason for d in deps if not d.managed}
    assert unmanaged == {
        "orglib": "editable install",
        "other": "VCS requirement",
        "": "local path",
        "pkg": "direct URL reference",
    }
    messages = [(i.rule, i.line, i.message) for i in result.issues]
    assert ("parse-error", 16, messages[0][2]) in messages
    assert messages[0][2].startswith("cannot parse line 16: ")
    assert any(
        r == "parse-error" and line == 17 and "unknown option" in m for r, line, m in messages
    )
    assert any(r == "include-cycle" for r, _line, _m in messages)
    # keeps going past the bad lines
    assert by_name(deps, "gunicorn")[0].line == 19
    # never echo credentials
    text = render(deps, "text") + render(deps, "json") + repr(result.issues)
    assert "s3cr3t" not in text and "tok3n" not in text


def test_include_cycle_is_reported_once_and_terminates() -> None:
    files = {
        "requirements.txt": "-r a.txt\n",
        "a.txt": "-r b.txt\nx==1\n",
        "b.txt": "-r a.txt\n-r requirements.txt\ny==2\n",
    }
    result = parse_snapshot(snap(files))
    assert sorted(d.name for d in result.dependencies) == ["x", "y"]
    cycles = [i for i in result.issues if i.rule == "include-cycle"]
    assert cycles and len(cycles) == len({(i.file, i.line) for i in cycles})


def test_remote_missing_and_outside_includes() -> None:
    files = {
        "requirements.txt": "-r https://example.com/r.txt\n-r nope.txt\n-r ../../etc/passwd\n"
        "--requirement=sub/more.txt\n",
        "sub/more.txt": "-r ../shared.txt\nclick==8.0.0\n",
        "shared.txt": "rich==13.0.0\n",
    }
    result = parse_snapshot(snap(files, all_paths=[*files, "nope.txt"]))
    rules = [(i.rule, i.line) for i in result.issues]
    assert ("remote-include", 1) in rules
    assert ("include-not-read", 2) in rules and ("missing-include", 3) in rules
    assert "not read" in next(i.message for i in result.issues if i.line == 2)
    assert {d.name for d in result.dependencies} == {"click", "rich"}


def test_crlf_and_continuation_spans() -> None:
    files = {"requirements.txt": "a==1.0\r\nb==2.0 \\\r\n  --hash=sha256:ff\r\nc==3.0"}
    deps = extract(snap(files))
    assert [(d.name, d.line, version_text(files, d)) for d in deps] == [
        ("a", 1, "1.0"),
        ("b", 2, "2.0"),
        ("c", 4, "3.0"),
    ]


def test_pyproject_pep621_pep735_poetry() -> None:
    text = (
        "[project]\n"
        'name = "app"\n'
        'requires-python = ">=3.10"\n'
        "dependencies = [\n"
        '    "fastapi==0.110.0",  # web\n'
        "    'pydantic[email]>=2',\n"
        "    \"uvicorn==0.29.0; sys_platform != 'win32'\",\n"
        '    "not valid ((",\n'
        "]\n"
        "[project.optional-dependencies]\n"
        'test = ["pytest==8.1.0"]\n'
        'postgres = ["psycopg==3.1.18"]\n'
        "[dependency-groups]\n"
        'lint = ["ruff==0.4.0"]\n'
        'dev = [{include-group = "lint"}, "pytest==8.1.0"]\n'
        "[tool.poetry.dependencies]\n"
        'python = "^3.10"\n'
        'numpy = "1.26.4"\n'
        'pandas = {version = "^2.2", extras = ["performance"]}\n'
        "scipy = [\n"
        '  {version = "==1.11.0", python = "<3.12"},\n'
        '  {version = "==1.13.0", python = ">=3.12"},\n'
        "]\n"
        'mylib = {path = "../mylib", develop = true}\n'
        "[tool.poetry.group.dev.dependencies]\n"
        'black = "24.3.0"\n'
    )
    files = {"pyproject.toml": text}
    result = parse_snapshot(snap(files))
    deps = result.dependencies
    fastapi = by_name(deps, "fastapi")[0]
    assert (fastapi.line, fastapi.group, fastapi.development) == (5, None, False)
    assert version_text(files, fastapi) == "0.110.0"
    assert by_name(deps, "uvicorn")[0].markers == 'sys_platform != "win32"'
    assert by_name(deps, "pydantic")[0].extras == ("email",)
    pytests = by_name(deps, "pytest")
    assert [(d.group, d.development, d.line) for d in pytests] == [
        ("test", True, 11),
        ("dev", True, 15),
    ]
    assert by_name(deps, "psycopg")[0].development is False
    assert by_name(deps, "ruff")[0].group == "lint"
    numpy = by_name(deps, "numpy")[0]
    assert (numpy.pinned, numpy.specifier, numpy.line) == ("1.26.4", "==1.26.4", 18)
    assert version_text(files, numpy) == "1.26.4"
    assert by_name(deps, "pandas")[0].specifier == ">=2.2,<3"
    scipy = by_name(deps, "scipy")
    assert [version_text(files, d) for d in scipy] == ["1.11.0", "1.13.0"]
    assert [d.line for d in scipy] == [21, 22]
    assert not by_name(deps, "mylib")[0].managed
    black = by_name(deps, "black")[0]
    assert black.development and version_text(files, black) == "24.3.0"
    assert [i.line for i in result.issues if i.rule == "parse-error"] == [8]
    assert result.requires_python["pyproject.toml"] in (">=3.10", ">=3.10,<4")


def test_broken_toml_is_one_finding() -> None:
    result = parse_snapshot(snap({"pyproject.toml": "[project\ndependencies = ["}))
    assert [i.rule for i in result.issues] == ["parse-error"]
    assert result.dependencies == []


def test_setup_cfg_and_pipfile() -> None:
    files = {
        "setup.cfg": "[metadata]\nname = x\n[options]\npython_requires = >=3.9\n"
        "install_requires =\n    click==8.1.7\n    # comment\n    rich>=13 ; python_version>'3.8'\n"
        "[options.extras_require]\ntest =\n    pytest==8.0.0\n",
        "Pipfile": '[[source]]\nurl = "https://pypi.org/simple"\n[packages]\n'
        'requests = "==2.31.0"\nflask = "*"\nrich = {version = "==13.7.0", extras = ["jupyter"]}\n'
        'lib = {git = "https://github.com/o/lib.git"}\n'
        '[dev-packages]\npytest = "==8.0.0"\n[requires]\npython_version = "3.11"\n',
    }
    result = parse_snapshot(snap(files))
    deps = result.dependencies
    click = by_name(deps, "click")[0]
    assert (click.file, click.line, version_text(files, click)) == ("setup.cfg", 6, "8.1.7")
    cfg_rich = next(d for d in by_name(deps, "rich") if d.file == "setup.cfg")
    assert cfg_rich.markers == 'python_version > "3.8"'
    cfg_pytest = next(d for d in by_name(deps, "pytest") if d.file == "setup.cfg")
    assert cfg_pytest.group == "test" and cfg_pytest.development
    pip_requests = next(d for d in deps if d.file == "Pipfile" and d.name == "requests")
    assert version_text(files, pip_requests) == "2.31.0" and pip_requests.line == 4
    pip_rich = next(d for d in deps if d.file == "Pipfile" and d.name == "rich")
    assert pip_rich.extras == ("jupyter",) and version_text(files, pip_rich) == "13.7.0"
    pip_pytest = next(d for d in deps if d.file == "Pipfile" and d.name == "pytest")
    assert pip_pytest.development
    assert not next(d for d in deps if d.name == "lib").managed
    assert result.requires_python == {"setup.cfg": ">=3.9", "Pipfile": ">=3.11"}


def test_workflow_uses() -> None:
    text = (
        "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v3\n"
        "      - uses: actions/setup-python@0123456789abcdef0123456789abcdef01234567 # v4.7.0\n"
        "      - uses: ./.github/actions/local\n"
        "      - uses: docker://alpine:3\n"
        "      - uses: github/codeql-action/init@main\n"
        "  reuse:\n    uses: org/workflows/.github/workflows/ci.yml@v1\n"
    )
    files = {".github/workflows/ci.yml": text}
    deps = extract(snap(files))
    managed = [(d.raw_name, d.pinned, d.line, d.ref_comment) for d in deps if d.managed]
    assert managed == [
        ("actions/checkout", "v3", 6, None),
        ("actions/setup-python", "0123456789abcdef0123456789abcdef01234567", 7, "v4.7.0"),
        ("github/codeql-action/init", "main", 10, None),
        ("org/workflows/.github/workflows/ci.yml", "v1", 12, None),
    ]
    assert all(version_text(files, d) == d.pinned for d in deps if d.managed)
    assert {d.reason for d in deps if not d.managed} == {"local action", "docker image"}


@pytest.mark.parametrize(
    "text",
    [
        "jobs: [unclosed\n",
        "\x00\x01\x02",
        "jobs:\n  a: &x\n    b: *x\n  c: !!python/object:os.system {}\n",
        "- just\n- a list\n",
    ],
)
def test_hostile_workflow_never_crashes(text: str) -> None:
    result = parse_snapshot(snap({".github/workflows/x.yml": text}))
    assert all(i.rule == "parse-error" for i in result.issues)


@pytest.mark.parametrize(
    "text",
    [
        "a" * 100_000,
        "==1.0\n" * 50,
        "\\\n" * 100,
        "requests===\n",
        "-r\n",
        "name[extra\n",
        "x ; python_version >>> '3'\n",
        "\udcff\n",
    ],
)
def test_hostile_requirements_lines_are_bounded(text: str) -> None:
    result = parse_snapshot(snap({"requirements.txt": text}))
    for issue in result.issues:
        assert len(issue.message) < 200
        assert issue.line is not None


def test_manifest_in_and_other_in_files_are_not_requirements() -> None:
    files = {"MANIFEST.in": "include README\n", "config.h.in": "#define X\n", "dev.in": "ruff\n"}
    deps = extract(snap(files))
    assert [(d.file, d.name, d.development) for d in deps] == [("dev.in", "ruff", True)]


def test_render_text_and_json() -> None:
    files = {"requirements.txt": "a==1\nb>=2 ; python_version < '3.12'\n-e ./local\n"}
    deps = extract(snap(files))
    doc = json.loads(render(deps, "json"))
    assert doc[0] == {
        "file": "requirements.txt",
        "line": 1,
        "ecosystem": "pypi",
        "name": "a",
        "specifier": "==1",
        "pinned": "1",
        "extras": [],
        "markers": None,
        "group": None,
        "development": False,
        "source": "requirements",
        "managed": True,
        "reason": None,
        "hashes": 0,
        "comment": None,
    }
    text = render(deps, "text").splitlines()
    assert text[0].split() == ["requirements.txt:1", "a", "==1", "main", "managed"]
    assert "unmanaged (editable install)" in text[2]
    with pytest.raises(ValueError):
        render(deps, "xml")
    assert render([], "text") == "no dependencies found\n"
