"""Lock files and compiled requirement files, read statically.

* ``uv.lock``, ``poetry.lock``, ``pdm.lock`` (TOML ``[[package]]`` tables) and
  ``Pipfile.lock`` (JSON) give every locked ``name -> version`` and, where the format
  has it, who depends on whom -- for vulnerable *transitive* packages and for saying
  which direct dependency holds one back;
* a ``requirements*.txt`` whose header says ``pip-compile`` or ``uv pip compile``
  made it gives the command (inputs, output, options) to re-run it exactly.

Bounded like every parse of repository content; nothing is run.
"""

from __future__ import annotations

import posixpath
import re
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fixers.dependencies.model import normalize
from fixers.nesting import json_loads, toml_loads

MAX_PACKAGES = 5000
MAX_HEADER_LINES = 30
LOCK_NAMES = ("uv.lock", "poetry.lock", "pdm.lock", "Pipfile.lock")


@dataclass(frozen=True, slots=True)
class LockedPackage:
    name: str
    version: str
    requires: tuple[str, ...] = ()  # names it depends on (when the format says)
    registry: str | None = None  # uv.lock: the index it came from


@dataclass(frozen=True, slots=True)
class Lock:
    path: str
    tool: str  # "uv" | "poetry" | "pdm" | "pipenv"
    packages: Mapping[str, LockedPackage]
    roots: tuple[str, ...] = ()  # the project's own names (uv: editable/virtual sources)
    problem: str | None = None

    def parents(self, name: str) -> list[str]:
        """Locked packages that depend on ``name`` directly."""
        return sorted(p.name for p in self.packages.values() if name in p.requires)

    def chain(self, name: str, direct: set[str]) -> list[str]:
        """The direct dependencies through which ``name`` is installed (breadth first)."""
        seen, frontier, found = {name}, [name], []
        while frontier:
            nxt = []
            for n in frontier:
                for parent in self.parents(n):
                    if parent in seen:
                        continue
                    seen.add(parent)
                    if parent in direct:
                        found.append(parent)
                    else:
                        nxt.append(parent)
            frontier = nxt
        return sorted(set(found))


def parse_lock(path: str, text: str) -> Lock:
    base = posixpath.basename(path)
    try:
        if base == "Pipfile.lock":
            return _pipfile_lock(path, json_loads(text))
        doc = toml_loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        return Lock(path, _tool(base), {}, problem=f"cannot parse {path} ({type(exc).__name__})")
    packages: dict[str, LockedPackage] = {}
    roots = []
    for entry in (doc.get("package") or [])[:MAX_PACKAGES]:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            continue
        name = normalize(entry["name"])
        source = entry.get("source") if isinstance(entry.get("source"), Mapping) else {}
        if base == "uv.lock" and ("editable" in source or "virtual" in source):
            roots.append(name)
            requires = _uv_requires(entry)
            packages[name] = LockedPackage(name, str(entry.get("version", "")), requires)
            continue
        version = entry.get("version")
        if not isinstance(version, str):
            continue
        packages[name] = LockedPackage(
            name,
            version,
            _uv_requires(entry) if base == "uv.lock" else _other_requires(entry),
            source.get("registry") if isinstance(source.get("registry"), str) else None,
        )
    return Lock(path, _tool(base), packages, tuple(roots))


def _tool(base: str) -> str:
    return {"uv.lock": "uv", "poetry.lock": "poetry", "pdm.lock": "pdm"}.get(base, "pipenv")


def _uv_requires(entry: Mapping[str, Any]) -> tuple[str, ...]:
    names = [d.get("name") for d in entry.get("dependencies") or [] if isinstance(d, Mapping)]
    for group in (entry.get("optional-dependencies") or {}).values():
        names += [d.get("name") for d in group or [] if isinstance(d, Mapping)]
    for group in (entry.get("dev-dependencies") or {}).values():
        names += [d.get("name") for d in group or [] if isinstance(d, Mapping)]
    return tuple(sorted({normalize(n) for n in names if isinstance(n, str)}))


def _other_requires(entry: Mapping[str, Any]) -> tuple[str, ...]:
    deps = entry.get("dependencies")
    if isinstance(deps, Mapping):  # poetry: {name = "spec"}
        return tuple(sorted(normalize(str(n)) for n in deps))
    if isinstance(deps, list):  # pdm: ["name>=1"]
        names = [re.split(r"[\s\[<>=!~;(@]", str(d), maxsplit=1)[0] for d in deps]
        return tuple(sorted(normalize(n) for n in names if n))
    return ()


def _pipfile_lock(path: str, doc: Any) -> Lock:
    packages: dict[str, LockedPackage] = {}
    for section in ("default", "develop"):
        table = doc.get(section) if isinstance(doc, Mapping) else None
        for name, entry in (table or {}).items() if isinstance(table, Mapping) else ():
            version = entry.get("version") if isinstance(entry, Mapping) else None
            if isinstance(version, str) and version.startswith("=="):
                packages[normalize(name)] = LockedPackage(normalize(name), version[2:])
            if len(packages) >= MAX_PACKAGES:
                break
    return Lock(path, "pipenv", packages)


# --------------------------------------------------------------------------- compiled files


@dataclass(frozen=True, slots=True)
class Compiled:
    """A requirements file written by ``pip-compile`` or ``uv pip compile``."""

    path: str
    tool: str  # "pip-compile" | "uv"
    command: str  # as written in the header
    inputs: tuple[str, ...]  # repository paths
    header: str  # the leading comment block, kept byte for byte
    python: str | None = None  # "Python 3.11" in a pip-compile header, or --python-version
    generate_hashes: bool = False
    strip_extras: bool | None = None
    annotate: bool = True
    annotation_style: str | None = None
    emit_header: bool = True
    universal: bool = False
    constraints: tuple[str, ...] = ()
    only_binary: tuple[str, ...] = ()
    no_binary: tuple[str, ...] = ()
    prerelease: bool = False
    problem: str | None = None  # why it cannot be re-compiled here
    options: tuple[str, ...] = field(default=())
    #: ``--uploaded-prior-to=VALUE`` (pip-tools/pip: a date or an ISO 8601 duration such
    #: as ``P14D``) or uv's ``--exclude-newer=VALUE``: only releases uploaded before count.
    uploaded_prior_to: str | None = None

    def upload_cutoff(self, now: datetime) -> datetime | None:
        """The moment releases must predate for this file, or ``None``."""
        if not self.uploaded_prior_to:
            return None
        return upload_cutoff(self.uploaded_prior_to.partition("=")[2], now)


_DURATION = re.compile(
    r"^P(?:(?P<w>\d{1,4})W)?(?:(?P<d>\d{1,5})D)?"
    r"(?:T(?:(?P<h>\d{1,6})H)?(?:(?P<m>\d{1,7})M)?(?:(?P<s>\d{1,9})S)?)?$",
    re.IGNORECASE,
)


def upload_cutoff(value: str, now: datetime) -> datetime | None:
    """``P14D``/``PT12H``/``P2W`` before ``now``, or an absolute date/timestamp."""
    text = value.strip()[:40]
    m = _DURATION.match(text)
    if m and any(m.groupdict().values()):
        n = {k: int(v or 0) for k, v in m.groupdict().items()}
        span = timedelta(weeks=n["w"], days=n["d"], hours=n["h"], minutes=n["m"], seconds=n["s"])
        return now - span
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_PIP_TOOLS = re.compile(r"autogenerated by pip-compile(?: with Python (\d+\.\d+))?", re.I)
_UV = re.compile(r"autogenerated by uv via the following command", re.I)
_VALUE_OPTIONS = {
    "-o",
    "--output-file",
    "-c",
    "--constraint",
    "--python-version",
    "--annotation-style",
    "--only-binary",
    "--no-binary",
    "--prerelease",
    "--resolver",
    "--pip-args",
    "--python-platform",
    "--extra",
    "-P",
    "--upgrade-package",
    "--custom-compile-command",
    "--index-url",
    "-i",
    "--extra-index-url",
    "--find-links",
    "-f",
    "--trusted-host",
    "--cache-dir",
    "--unsafe-package",
    "--no-emit-package",
    "--uploaded-prior-to",
    "--exclude-newer",
}
_IGNORED = {
    "--resolver",
    "--pip-args",
    "--upgrade-package",
    "-P",
    "--cache-dir",
    "--upgrade",
    "-U",
    "--verbose",
    "-v",
    "--quiet",
    "-q",
    "--no-emit-index-url",
    "--emit-index-url",
    "--no-emit-trusted-host",
    "--emit-trusted-host",
    "--no-emit-find-links",
    "--emit-find-links",
    "--allow-unsafe",
    "--no-allow-unsafe",
    "--reuse-hashes",
    "--no-reuse-hashes",
    "--dry-run",
    "--rebuild",
    "--build-isolation",
    "--no-build-isolation",
    "--newline",
    "--no-config",
    "--no-build",
    "--no-python-downloads",
    "--color",
    "--python-platform",
    "--custom-compile-command",
}


def compiled_header(path: str, text: str) -> Compiled | None:
    """The compile command of a pip-compile/uv-compiled file, or ``None``."""
    lines = text.splitlines()[:MAX_HEADER_LINES]
    header_lines = []
    for line in lines:
        if not line.startswith("#"):
            break
        header_lines.append(line)
    head = "\n".join(header_lines)
    pip_tools, uv = _PIP_TOOLS.search(head), _UV.search(head)
    if not pip_tools and not uv:
        return None
    command = next(
        (
            ln.lstrip("#").strip()
            for ln in header_lines
            if re.match(r"^#\s+(pip-compile|uv pip compile)\b", ln)
        ),
        None,
    )
    header = "".join(line + "\n" for line in header_lines)
    tool = "uv" if uv else "pip-compile"
    python = pip_tools.group(1) if pip_tools and pip_tools.group(1) else None
    if command is None:
        return Compiled(path, tool, "", (), header, python, problem="the header names no command")
    return _from_command(path, tool, command, header, python)


def _from_command(path: str, tool: str, command: str, header: str, python: str | None) -> Compiled:
    try:
        words = shlex.split(command)
    except ValueError:
        return Compiled(path, tool, command, (), header, python, problem="unreadable command")
    words = words[3:] if words[:3] == ["uv", "pip", "compile"] else words[1:]
    opts: dict[str, list[str]] = {}
    inputs: list[str] = []
    flags: set[str] = set()
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word.startswith("-"):
            name, eq, value = word.partition("=")
            if name in _VALUE_OPTIONS and not eq and i < len(words):
                value, i = words[i], i + 1
            if name in _VALUE_OPTIONS:
                opts.setdefault(name, []).append(value)
            else:
                flags.add(name)
        else:
            inputs.append(word)
    here = _command_dir(path, (opts.get("-o") or opts.get("--output-file") or [None])[-1])
    if not inputs:  # pip-compile's default source
        inputs = ["requirements.in"]
    problem = None
    for name in ("--index-url", "-i", "--extra-index-url", "--find-links", "-f", "--trusted-host"):
        if name in opts:
            problem = f"compiled with `{name}`: the repository's own index is not followed"
    for name in ("--extra", "--all-extras"):
        if name in opts or name in flags:
            problem = "compiled from project metadata with extras: not re-compiled here"
    unknown = sorted(f for f in flags if f not in _KNOWN_FLAGS and f not in _IGNORED)
    if unknown and problem is None:
        problem = f"compiled with {', '.join(f'`{u}`' for u in unknown[:3])}, not re-run here"
    resolved = tuple(posixpath.normpath(posixpath.join(here, p)) for p in inputs)
    if problem is None and any(not p.endswith((".in", ".txt")) for p in resolved):
        problem = "compiled from project metadata (pyproject.toml/setup.py): not re-compiled here"
    python = (opts.get("--python-version") or [python])[-1]
    return Compiled(
        path=path,
        tool=tool,
        command=command,
        inputs=resolved,
        header=header,
        python=python,
        generate_hashes="--generate-hashes" in flags,
        strip_extras=True
        if "--strip-extras" in flags
        else (False if "--no-strip-extras" in flags else None),
        annotate="--no-annotate" not in flags,
        annotation_style=(opts.get("--annotation-style") or [None])[-1],
        emit_header="--no-header" not in flags,
        universal="--universal" in flags,
        constraints=tuple(
            posixpath.normpath(posixpath.join(here, c))
            for c in [*opts.get("-c", []), *opts.get("--constraint", [])]
        ),
        only_binary=tuple(opts.get("--only-binary", [])),
        no_binary=tuple(opts.get("--no-binary", [])),
        prerelease="--pre" in flags or (opts.get("--prerelease") or [""])[-1] == "allow",
        problem=problem,
        options=tuple(sorted(flags)),
        uploaded_prior_to=_window_option(opts),
    )


def _command_dir(path: str, output: str | None) -> str:
    """Where the compile command ran: its paths are relative to that directory. An
    ``--output-file`` naming this file from the repository root means the root
    (``pip-compile -o requirements/pip.txt requirements/pip.in``, found on
    readthedocs.org); otherwise the file's own directory."""
    here = posixpath.dirname(path)
    if output and here and posixpath.normpath(output) == path:
        return ""
    return here


def _window_option(opts: Mapping[str, list[str]]) -> str | None:
    for name in ("--uploaded-prior-to", "--exclude-newer"):
        if opts.get(name):
            return f"{name}={opts[name][-1]}"
    return None


_KNOWN_FLAGS = {
    "--generate-hashes",
    "--strip-extras",
    "--no-strip-extras",
    "--no-annotate",
    "--annotate",
    "--no-header",
    "--header",
    "--universal",
    "--pre",
    "--emit-marker-expression",
    "-o",
    "--output-file",
}
