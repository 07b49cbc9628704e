"""Which Python a project deploys on and tests on, read statically from its files.

The deploy Python is the **lowest** of what the repository states: a Dockerfile's
``FROM python:X``, ``runtime.txt`` (``python-3.9.18``), ``.python-version``, the CI
matrix (``python-version`` in workflows), and the lower bound of ``requires-python``.
An app on ``python:3.9-slim`` must not be offered a release that needs 3.10, whatever
its ``requires-python`` says. The CI Python (the highest a workflow runs) is checked
too when it differs: a release capped ``<3.13`` would break a 3.13 CI job.

Every read is bounded (lines, values); nothing here runs or fetches anything.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from fixers.contract import Snapshot, matches_any

DOCKERFILE_PATTERNS = ("**/Dockerfile", "**/Dockerfile.*", "**/*.Dockerfile", "**/Containerfile")
RUNTIME_PATTERNS = ("**/runtime.txt", "**/.python-version")
PATTERNS = DOCKERFILE_PATTERNS + RUNTIME_PATTERNS
WORKFLOW_GLOBS = (".github/workflows/*.yml", ".github/workflows/*.yaml")
MAX_LINES = 5000
MAX_VALUES = 50

_PY = re.compile(r"^(?:python-?|cpython-?)?(3)\.(\d{1,2})(?:\.\d+)?(?:[-.a-z0-9]*)?$", re.I)
_FROM = re.compile(
    r"^\s*FROM\s+(?:--platform=\S+\s+)?(?P<image>\S+)(?:\s+AS\s+\S+)?\s*$", re.IGNORECASE
)
_ARG = re.compile(r"^\s*ARG\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>\S+)\s*$", re.I)
_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
_KEY = re.compile(r"^(?P<indent>\s*)(?:-\s+)?(?P<key>python-version|python)\s*:\s*(?P<rest>.*)$")
_ITEM = re.compile(r"^(?P<indent>\s*)-\s*(?P<value>.*)$")


@dataclass(frozen=True, slots=True)
class PythonTargets:
    """The Pythons a candidate release must install on.

    ``deploy`` is the lowest stated anywhere; ``ci`` the highest a workflow tests on,
    kept only when it differs. ``sources`` lists (path, version) for the PR text.
    """

    deploy: Version | None = None
    ci: Version | None = None
    sources: tuple[tuple[str, str], ...] = ()

    @property
    def checked(self) -> tuple[Version, ...]:
        return tuple(v for v in (self.deploy, self.ci) if v is not None)

    def describe(self) -> str:
        """``Python 3.9 (Dockerfile; CI also 3.12)`` or ``the project's Python``."""
        if self.deploy is None:
            return "the project's Python"
        where = sorted({p for p, v in self.sources if _version(v) == self.deploy})
        text = f"Python {self.deploy}"
        if where:
            text += f" ({', '.join(where[:3])})"
        if self.ci is not None:
            text += f" and CI's Python {self.ci}"
        return text


def _version(text: str) -> Version | None:
    m = _PY.match(text.strip().strip("'\""))
    return Version(f"{m.group(1)}.{m.group(2)}") if m else None


@lru_cache(maxsize=256)
def lower_bound(requires_python: str) -> Version | None:
    """The oldest 3.x minor a ``requires-python`` specifier admits."""
    try:
        spec = SpecifierSet(requires_python)
    except InvalidSpecifier:
        return None
    for minor in range(0, 30):
        if Version(f"3.{minor}") in spec or Version(f"3.{minor}.99") in spec:
            return Version(f"3.{minor}")
    return None


def dockerfile_pythons(text: str) -> list[Version]:
    """``FROM python:3.9-slim`` (also ``library/python``, registries, ``ARG`` defaults)."""
    args: dict[str, str] = {}
    out = []
    for line in text.splitlines()[:MAX_LINES]:
        arg = _ARG.match(line)
        if arg:
            args[arg.group("name")] = arg.group("value").strip("'\"")
            continue
        m = _FROM.match(line)
        if not m:
            continue
        image = _VAR.sub(lambda v: args.get(v.group(1), ""), m.group("image"))
        name, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
        if name.split("/")[-1] != "python" or not tag:
            continue
        version = _version(tag.split("@")[0])
        if version is not None:
            out.append(version)
    return out


def runtime_pythons(path: str, text: str) -> list[Version]:
    """``runtime.txt`` (``python-3.9.18``) or ``.python-version`` (one version a line)."""
    out = []
    for line in text.splitlines()[:20]:
        line = line.split("#", 1)[0].strip()
        if line:
            version = _version(line)
            if version is not None:
                out.append(version)
            if posixpath.basename(path) == "runtime.txt":
                break
    return out


def workflow_pythons(text: str) -> list[Version]:
    """Every literal ``python-version`` (inline, flow list or block list) in a workflow."""
    out: list[Version] = []
    lines = text.splitlines()[:MAX_LINES]
    i = 0
    while i < len(lines) and len(out) < MAX_VALUES:
        m = _KEY.match(lines[i])
        i += 1
        if not m:
            continue
        rest = m.group("rest").split(" #", 1)[0].strip()
        if rest.startswith("["):
            values = rest.strip("[]").split(",")
        elif rest:
            values = [rest]
        else:  # a block list on the following lines
            values = []
            while i < len(lines) and (item := _ITEM.match(lines[i])) is not None:
                if len(item.group("indent")) < len(m.group("indent")):
                    break
                values.append(item.group("value").split(" #", 1)[0])
                i += 1
        for value in values[:MAX_VALUES]:
            version = _version(value.strip().strip("'\""))
            if version is not None:
                out.append(version)
    return out


def python_targets(
    snapshot: Snapshot,
    requires_python: Mapping[str, str],
    read: Callable[[str], str | None],
    ignored: Callable[[str], bool] = lambda _p: False,
) -> PythonTargets:
    """The deploy and CI Pythons of a snapshot (``read`` decodes a loaded file)."""
    stated: list[tuple[str, Version]] = []
    ci: list[Version] = []
    for path in snapshot.paths():
        if ignored(path):
            continue
        base = posixpath.basename(path)
        if matches_any(path, DOCKERFILE_PATTERNS):
            found = [(path, v) for v in dockerfile_pythons(read(path) or "")]
        elif base in ("runtime.txt", ".python-version"):
            found = [(path, v) for v in runtime_pythons(path, read(path) or "")]
        elif matches_any(path, WORKFLOW_GLOBS):
            versions = workflow_pythons(read(path) or "")
            ci += versions
            found = [(path, v) for v in versions]
        else:
            continue
        stated += found
    for path, text in requires_python.items():
        bound = lower_bound(text)
        if bound is not None:
            stated.append((path, bound))
    return targets_from(stated, ci)


def targets_from(stated: Iterable[tuple[str, Version]], ci: Iterable[Version]) -> PythonTargets:
    stated = list(stated)
    if not stated:
        return PythonTargets()
    deploy = min(v for _p, v in stated)
    highest_ci = max(ci, default=None)
    return PythonTargets(
        deploy=deploy,
        ci=highest_ci if highest_ci is not None and highest_ci != deploy else None,
        sources=tuple(sorted({(p, str(v)) for p, v in stated})),
    )
