"""How a repository really runs its tests, read from its own files -- or why we cannot tell.

``ci-tests`` proposes a workflow only when the command is certain; everything
here answers either a :class:`Runner` (the command and why we believe it) or an
:class:`Unsure` naming what was found, which becomes the report-only finding's
text. Never a guess: ``python -m pytest`` over ``tests.py`` collects nothing,
and ``manage.py test`` on a click CLI is not a command.

Rules, in order:

* pytest -- configured (``[tool.pytest.ini_options]``, ``pytest.ini``,
  ``setup.cfg``/``tox.ini`` ``[pytest]``) *and* declared as a dependency, or
  declared with ``test_*.py``/``*_test.py`` files (pytest-django included);
* Django -- a Django ``manage.py`` (``execute_from_command_line``) with tests that
  import ``django.test`` and no pytest: ``python manage.py test``;
* unittest -- a root ``tests.py`` that calls ``unittest.main()``, or a ``tests/``
  package whose files all import ``unittest`` and none ``pytest``;
* anything else -- unsure.

Before any of these, the project's *own* test command wins when it is plain: a
Makefile or justfile ``test`` target, or a ``scripts/test*.sh`` script, whose
recipe is one known test command (``pytest -x tests/``) and nothing we cannot
reproduce (variables, a virtualenv path, docker). tox and nox are reported, not
proposed: they install their environments themselves, unpinned.

And a command that imports the app is only proposed when importing it cannot
crash on an unset variable: a read at module or class level with no default
(``os.environ["X"]``, ``os.environ.get("X").split()``, ``int(os.getenv("X"))``,
a required pydantic field, Django's ``SECRET_KEY`` from a bare ``.get``) makes
the runner :class:`Unsure`, naming the variables -- unless the tests set them.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fixers.contract import Snapshot, matches_any
from fixers.production.facts import (
    ImportMap,
    Note,
    env_reads_in_python,
    is_production_path,
    is_vendored,
    parse_python,
)

__all__ = [
    "Runner",
    "Unsure",
    "crashing_reads",
    "declared_text",
    "find_runner",
    "has_tests",
    "names_the_tests_set",
    "windows_only",
]

MAX_BYTES = 256 * 1024
_TEST_FILE = re.compile(r"(?:^|/)(?:test_[^/]*|[^/]*_test|tests)\.py$")
# Packages with no Linux build: a requirements line naming one without a platform
# marker makes `pip install -r` fail on ubuntu-latest.
_WINDOWS_ONLY = frozenset({"pywin32", "pypiwin32", "pywinpty", "winshell", "wmi", "windows-curses"})
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True, slots=True)
class Runner:
    kind: str  # "pytest", "django", "unittest"
    command: str  # without the tool prefix (`uv run`, `poetry run`)
    evidence: str


@dataclass(frozen=True, slots=True)
class Unsure:
    reason: str


def _read(snapshot: Snapshot, path: str) -> str | None:
    data = snapshot.read(path)
    if data is None or len(data) > MAX_BYTES:
        return None
    return data.decode("utf-8", errors="replace")


def declared_text(snapshot: Snapshot, pyproject: Mapping[str, Any], files: Sequence[str]) -> str:
    """Every dependency declaration, lower-cased, to ask "is X declared?"."""
    parts = [_read(snapshot, f) or "" for f in files]
    parts.append(repr(pyproject.get("project", {})))
    parts.append(repr(pyproject.get("dependency-groups", {})))
    tool = pyproject.get("tool", {})
    parts.append(repr(tool.get("poetry", {}) if isinstance(tool, Mapping) else {}))
    parts.append(_read(snapshot, "uv.lock") or "")
    parts.append(_read(snapshot, "poetry.lock") or "")
    parts.append(_read(snapshot, "Pipfile") or "")
    return "\n".join(parts).lower()


def _declares(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])", text) is not None


def windows_only(snapshot: Snapshot, files: Sequence[str]) -> str | None:
    """``path:line`` of a Windows-only requirement without a platform marker."""
    for path in files:
        for number, line in enumerate((_read(snapshot, path) or "").splitlines(), start=1):
            m = _REQ_NAME.match(line.split("#", 1)[0])
            if m and m.group(1).lower() in _WINDOWS_ONLY and ";" not in line:
                return f"{path}:{number}"
    return None


def _test_files(snapshot: Snapshot) -> list[str]:
    return [p for p in snapshot.paths() if _TEST_FILE.search(p)]


def _django_manage(snapshot: Snapshot) -> bool:
    text = _read(snapshot, "manage.py") or ""
    return "execute_from_command_line" in text and "DJANGO_SETTINGS_MODULE" in text


_SETTINGS = re.compile(r"""setdefault\(\s*["']DJANGO_SETTINGS_MODULE["']\s*,\s*["']([\w.]+)["']""")
_PYTEST_DJANGO_SETTINGS = re.compile(r"^\s*DJANGO_SETTINGS_MODULE\s*=\s*([\w.]+)\s*$", re.M)
_GETTERS = frozenset({"os.environ.get", "os.getenv"})
_CASTS = frozenset({"int", "float", "bool", "Path", "pathlib.Path", "json.loads"})
# Folders whose modules the tests do not import: a crash there never reaches them.
_NOT_IMPORTED = ("scripts/**", "bin/**", "**/migrations/**", "alembic/**", "**/alembic/**",
                 "setup.py", "manage.py", "noxfile.py", "fabfile.py", "**/gunicorn*.py",
                 "**/wsgi.py", "**/asgi.py", "docker/**", "deploy/**")  # fmt: skip


def _import_time_nodes(tree: ast.Module) -> list[ast.AST]:
    """Every node that runs when the module is imported: module and class bodies, not the
    bodies of functions or lambdas (they run later, if ever)."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        out.append(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                out.extend(child.decorator_list if not isinstance(child, ast.Lambda) else [])
                continue
            stack.append(child)
    return out


def _getter_name(node: ast.AST, imports: ImportMap) -> str | None:
    """``X`` for ``os.environ.get("X")`` / ``os.getenv("X")`` with no default, else None."""
    if not isinstance(node, ast.Call) or imports.resolve(node.func) not in _GETTERS:
        return None
    if len(node.args) > 1 or any(kw.arg == "default" for kw in node.keywords):
        return None
    key = node.args[0] if node.args else None
    return key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else None


def _callee(call: ast.Call, imports: ImportMap) -> str:
    """``int`` for a builtin, the qualified name for an import (``pathlib.Path``)."""
    if isinstance(call.func, ast.Name) and call.func.id not in imports.names:
        return call.func.id
    return imports.resolve(call.func) or ""


def crashing_reads(path: str, tree: ast.Module, *, django_settings: bool = False) -> list[str]:
    """Names whose absence makes importing this module raise (see the module docstring)."""
    nodes = _import_time_nodes(tree)
    imports = ImportMap.of(tree)
    names = {r.name for r in env_reads_in_python(path, tree, imports, nodes)
             if r.requirement == "required"}  # fmt: skip
    for node in nodes:
        if isinstance(node, ast.Attribute) and (name := _getter_name(node.value, imports)):
            names.add(name)  # os.environ.get("HOSTS").split(" ") on None
        elif isinstance(node, ast.Call) and _callee(node, imports) in _CASTS:
            for arg in node.args[:1]:
                if name := _getter_name(arg, imports):
                    names.add(name)  # int(os.getenv("PORT")) on None
        elif django_settings and isinstance(node, ast.Assign):
            # Django refuses to start with an empty SECRET_KEY (ImproperlyConfigured).
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if "SECRET_KEY" in targets and (name := _getter_name(node.value, imports)):
                names.add(name)
    return sorted(names)


_SETENV = re.compile(
    r"""(?:os\.environ\[\s*["']([A-Za-z_]\w*)["']\s*\]\s*=(?!=)"""
    r"""|(?:setenv|setdefault|putenv)\(\s*["']([A-Za-z_]\w*)["'])"""
)


def names_the_tests_set(snapshot: Snapshot) -> set[str]:
    """Names a test module, conftest or pytest's ``env =`` option sets for the tests."""
    names: set[str] = set()
    for path in snapshot.paths():
        if path.endswith(".py") and not is_production_path(path):
            for m in _SETENV.finditer(_read(snapshot, path) or ""):
                names.add(m.group(1) or m.group(2))
    for path in ("pytest.ini", "setup.cfg", "tox.ini", "pyproject.toml"):
        text = _read(snapshot, path) or ""
        for m in re.finditer(r"^\s*(?:D:|R:)?\s*([A-Z_][A-Z0-9_]*)\s*=", text, re.M):
            names.add(m.group(1))  # pytest-env lines, tox setenv; a superset is harmless
    return names


def has_tests(snapshot: Snapshot) -> bool:
    """Whether the repository has test modules (``test_*.py``, ``tests.py``, ``tests/``)."""
    return any(
        p.endswith(".py") and (_TEST_FILE.search(p) or p.startswith(("tests/", "test/")))
        for p in snapshot.all_paths
        if not is_vendored(p)
    )


def _modules(snapshot: Snapshot, paths: list[str]) -> list[tuple[str, ast.Module]]:
    out = []
    for path in paths:
        data = snapshot.read(path)
        if data is None or len(data) > MAX_BYTES:
            continue
        tree = parse_python(path, data)
        if not isinstance(tree, Note):
            out.append((path, tree))
    return out


def _django_settings_path(snapshot: Snapshot) -> str | None:
    m = _PYTEST_DJANGO_SETTINGS.search(_read(snapshot, "pytest.ini") or "")
    m = m or _SETTINGS.search(_read(snapshot, "manage.py") or "")
    if m is None:
        return None
    module = m.group(1)
    base = module.replace(".", "/")
    return next((p for p in (f"{base}.py", f"{base}/__init__.py") if snapshot.read(p)), None)


def import_crashes(snapshot: Snapshot, *, django: bool) -> list[tuple[str, str]]:
    """``(name, path:line-less path)`` for each variable whose absence crashes the import
    of code the tests load: the Django settings module, or every production module."""
    if django:
        settings = _django_settings_path(snapshot)
        paths = [settings] if settings else []
    else:
        paths = [
            p
            for p in snapshot.paths()
            if p.endswith(".py")
            and is_production_path(p)
            and not is_vendored(p)
            and not matches_any(p, _NOT_IMPORTED)
        ]
    found: dict[str, str] = {}
    for path, tree in _modules(snapshot, paths[:400]):
        try:
            names = crashing_reads(path, tree, django_settings=django)
        except RecursionError:
            continue
        for name in names:
            found.setdefault(name, path)
    told = names_the_tests_set(snapshot)
    return sorted((n, p) for n, p in found.items() if n not in told)


def _crash_reason(crashes: list[tuple[str, str]], command: str) -> Unsure:
    shown = ", ".join(f"`{n}` (`{p}`)" for n, p in crashes[:5])
    more = f" and {len(crashes) - 5} more" if len(crashes) > 5 else ""
    return Unsure(
        f"importing the code reads {shown}{more} from the environment with no default, so "
        f"`{command}` crashes until CI sets them (which values suit the tests is yours to say)"
    )


def _unittest_only(snapshot: Snapshot, files: Sequence[str]) -> bool:
    texts = [_read(snapshot, f) or "" for f in files]
    return bool(texts) and all(
        re.search(r"^\s*(?:import unittest|from unittest\b)", t, re.M)
        and not re.search(r"^\s*(?:import pytest|from pytest\b)", t, re.M)
        for t in texts
    )


# A recipe line we can run as written: a known runner, its flags and paths, nothing else.
_PLAIN_TEST = re.compile(
    r"^(?:(?:uv|poetry|pdm|hatch)\s+run\s+)?(?:python\d?(?:\.\d+)?\s+-m\s+)?"
    r"(?P<tool>pytest|py\.test|unittest|manage\.py\s+test|coverage\s+run\s+-m\s+(?:pytest|unittest))"
    r"(?P<args>(?:\s+[\w./:=,\-\[\]]+)*)\s*$"
)
_RECIPE_NOISE = re.compile(r"^(?:@?echo\b|@?printf\b|set\s+-[euxo]+|#|:$)")
_TEST_TARGETS = ("test", "tests")
_TEST_SCRIPT = re.compile(r"scripts?/(?:run[-_])?tests?\w*\.sh$")


def _plain_command(line: str) -> str | None:
    """``pytest -x tests/`` from a recipe line when it needs nothing but the install."""
    line = line.strip().lstrip("@-").strip()
    line = re.sub(r"^python(\d(?:\.\d+)?)?\s+manage\.py", "python manage.py", line)
    if "$" in line or "`" in line:
        return None  # make variables, shell expansion: not reproducible as written
    m = _PLAIN_TEST.match(line.replace("python manage.py test", "manage.py test"))
    if m is None:
        return None
    prefix = re.match(r"^(?:uv|poetry|pdm|hatch)\s+run\s+", line)
    return line[prefix.end() :] if prefix else line


def _recipe(text: str, target: str, *, just: bool) -> tuple[int, list[str]] | None:
    """``(line, recipe lines)`` of ``target`` in a Makefile (tab-indented) or justfile."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        m = re.match(rf"^{target}(?:\s+[^:=]*)?\s*:(?![=:])(.*)$", line)
        if m is None:
            continue
        prereqs = m.group(1).strip()
        if prereqs and not just:
            return None  # `test: install venv`: prerequisites we would have to reproduce
        body: list[str] = []
        for raw in lines[index + 1 :]:
            if (just and raw[:1] in (" ", "\t")) or (not just and raw.startswith("\t")):
                if raw.strip():
                    body.append(raw.strip())
            elif raw.strip() and not raw.lstrip().startswith("#"):
                break
        return index + 1, body
    return None


def _own_command(snapshot: Snapshot) -> Runner | Unsure | None:
    """The test command the project wrote down for itself, or why it cannot be reproduced."""
    for path, just in (("Makefile", False), ("justfile", True), ("Justfile", True)):
        text = _read(snapshot, path)
        if text is None:
            continue
        for target in _TEST_TARGETS:
            found = _recipe(text, target, just=just)
            if found is None:
                continue
            line, body = found
            commands = [c for c in body if not _RECIPE_NOISE.match(c)]
            plain = [_plain_command(c) for c in commands]
            if len(commands) == 1 and plain[0]:
                kind = "django" if "manage.py test" in plain[0] else "own"
                return Runner(kind, plain[0], f"`{path}:{line}` (target `{target}`)")
            if commands:
                return Unsure(
                    f"`{path}:{line}` runs the tests with `make {target}` / `just {target}`, "
                    "whose recipe needs more than the project's install "
                    f"(`{commands[0][:80]}`): Patchwell does not guess how to reproduce it"
                )
    scripts = sorted(p for p in snapshot.paths() if _TEST_SCRIPT.match(p))
    for path in scripts:
        body = [c.strip() for c in (_read(snapshot, path) or "").splitlines()]
        commands = [c for c in body if c and not _RECIPE_NOISE.match(c)]
        if len(commands) == 1 and (plain := _plain_command(commands[0])):
            return Runner("own", plain, f"`{path}`")
        if commands:
            return Unsure(
                f"`{path}` runs the tests but also does more (`{commands[0][:80]}`): Patchwell "
                "does not guess how to reproduce it in a new workflow"
            )
    for path, tool in (("tox.ini", "tox"), ("noxfile.py", "nox")):
        if path in snapshot.paths():
            return Unsure(
                f"the project runs its tests with {tool} (`{path}`), which installs each "
                "environment itself, unpinned: run it from your own workflow, or pin its "
                "dependencies and Patchwell will propose one"
            )
    return None


def find_runner(
    snapshot: Snapshot, pyproject: Mapping[str, Any], configured: str | None, declared: str
) -> Runner | Unsure:
    """The project's test command; ``configured`` names pytest configuration when present."""
    runner = _find_runner(snapshot, pyproject, configured, declared)
    if isinstance(runner, Unsure):
        return runner
    django = runner.kind == "django" or bool(
        _PYTEST_DJANGO_SETTINGS.search(_read(snapshot, "pytest.ini") or "")
    )
    crashes = import_crashes(snapshot, django=django)
    return _crash_reason(crashes, runner.command) if crashes else runner


def _find_runner(
    snapshot: Snapshot, pyproject: Mapping[str, Any], configured: str | None, declared: str
) -> Runner | Unsure:
    own = _own_command(snapshot)
    if own is not None:
        return own
    files = _test_files(snapshot)
    pytest_declared = _declares(declared, "pytest") or _declares(declared, "pytest-django")
    if configured and pytest_declared:
        return Runner("pytest", "pytest", f"pytest is configured ({configured}) and declared")
    pytest_style = [f for f in files if not f.endswith("tests.py") or "/" in f]
    pytest_named = [f for f in files if re.search(r"(?:^|/)(?:test_[^/]*|[^/]*_test)\.py$", f)]
    if pytest_declared and pytest_named:
        return Runner("pytest", "pytest", f"pytest is declared and `{pytest_named[0]}` exists")
    django_tests = [
        f for f in files if re.search(r"^\s*from django\.test\b", _read(snapshot, f) or "", re.M)
    ]
    if _django_manage(snapshot) and django_tests and not pytest_declared:
        return Runner(
            "django", "python manage.py test", f"Django's `manage.py`, `{django_tests[0]}`"
        )
    root = _read(snapshot, "tests.py") or ""
    if "tests.py" in files and re.search(r"\bunittest\.main\(", root) and not pytest_declared:
        return Runner("unittest", "python -m unittest -v tests", "`tests.py` calls unittest.main()")
    package = [f for f in files if f.startswith("tests/")]
    if package and "tests/__init__.py" in snapshot.paths() and _unittest_only(snapshot, package):
        return Runner(
            "unittest", "python -m unittest discover -v", "`tests/` is a unittest package"
        )
    found = ", ".join(f"`{f}`" for f in (pytest_style or files)[:3]) or "no test files"
    what = [f"test files: {found}"]
    if configured:
        what.append(f"pytest configured in {configured} but no dependency file declares pytest")
    elif not pytest_declared:
        what.append("no dependency file declares pytest")
    if "manage.py" in snapshot.paths() and not _django_manage(snapshot):
        what.append("`manage.py` is not Django's, so `manage.py test` is not a command")
    return Unsure("how the tests run is not written down: " + "; ".join(what))
