"""The sandboxed resolver: the real ``uv`` run on manifest files alone.

This is the one place Patchwell starts a resolver; the engine builds it
(:func:`resolver_from_env`) and hands it to fixers as ``Services.resolver``. Each
request runs in a fresh scratch directory that holds only the manifest files the
request carries -- never repository code -- with:

* **no builds**: ``--no-build``; a project whose metadata is dynamic (``dynamic =
  ["version"]``, dependencies from a build backend) is refused with a reason, because
  uv would run its build backend to learn it;
* **only the operator's index**: ``--no-config`` (no ``uv.toml``, no user or system
  config), ``--default-index`` set to the operator's index, ``--no-python-downloads``,
  and requests naming any other source are refused before uv starts: index options in
  requirement files (``--index-url``, ``--extra-index-url``, ``--find-links``,
  ``--trusted-host``), ``[[tool.uv.index]]``/``[tool.uv.sources]``/``index-url`` in a
  ``pyproject.toml``, URL, VCS, path and editable requirements. uv honours
  ``[tool.uv.sources]`` and ``[[tool.uv.index]]`` even under ``--no-config``, so this
  check is what keeps a repository from pointing uv at a host of its choosing;
* **a budget**: wall-clock timeout, CPU seconds and address space (``prlimit``), the
  process group killed on timeout;
* **a clean environment**: ``HOME`` in the scratch directory, no ``UV_*`` or ``PIP_*``
  variable from the worker but the ones set here; index credentials go to uv in a
  ``.netrc`` file in the scratch directory (``NETRC``), never in a URL, an argument, a
  lock file or a log, and any echo of them in uv's output is masked.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import posixpath
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from fixers.dependencies.model import scrub_url
from fixers.dependencies.resolution import (
    CompileRequest,
    LockRequest,
    ResolveResult,
    ToolLockRequest,
)
from fixers.nesting import toml_loads

if TYPE_CHECKING:
    from fixers.dependencies.toolrunner import ToolCommand

DEFAULT_TIMEOUT = 120.0
DEFAULT_CPU_SECONDS = 120
DEFAULT_MEMORY_BYTES = 4 * 1024**3
MAX_REQUEST_BYTES = 16 * 1024 * 1024
MAX_FILES = 200
MAX_MESSAGE = 1500
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_.+-]+(?:/[A-Za-z0-9_.+-]+)*$")
# Requirement-file lines that name a source other than the operator's index.
_SOURCE_OPTION = re.compile(
    r"^\s*(?:-i\b|--index-url\b|--extra-index-url\b|-f\b|--find-links\b|--no-index\b|"
    r"--trusted-host\b|-e\b|--editable\b)",
    re.IGNORECASE,
)
_INCLUDE = re.compile(r"^\s*(?:-r|--requirement|-c|--constraint)(?:=|\s+)(\S+)", re.IGNORECASE)
_OTHER_OPTION = re.compile(r"^\s*-")
_DIRECT = re.compile(r"(?:^|\s|@)(?:[A-Za-z][A-Za-z0-9+.-]*://|\.{1,2}/|/|~)")
_UV_SOURCE_KEYS = ("index", "index-url", "extra-index-url", "find-links", "no-index", "sources")
_DYNAMIC_BLOCKERS = ("version", "dependencies", "optional-dependencies")
# uv's notes that say nothing about the request (we resolve for a target version
# without that interpreter on purpose: nothing is built).
_NOISE = re.compile(r"^warning: The requested Python version .* is not available")
PASS_ENV = (
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "TZ",
    "UV_PYTHON_INSTALL_DIR",  # the operator's `uv python install` Pythons (see lock)
)


class Refused(Exception):
    """The request names something the sandbox will not run (message is user-facing)."""


def _check_path(path: str) -> str:
    if not _SAFE_PATH.match(path) or any(p in ("..", ".") for p in path.split("/")):
        raise Refused(f"file name {path[:80]!r} is not a plain relative path")
    return path


def _requirement_text(path: str, data: bytes, known: set[str]) -> None:
    """Refuse requirement files that would send uv anywhere but the operator's index."""
    text = data.decode("utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        body = line.split(" #", 1)[0].strip()
        if not body or body.startswith("#"):
            continue
        if _SOURCE_OPTION.match(body):
            option = body.split()[0].split("=")[0]
            raise Refused(
                f"{path} line {number} sets `{option}`: the repository's own index or "
                "local source settings are not followed"
            )
        include = _INCLUDE.match(body)
        if include:
            target = posixpath.normpath(posixpath.join(posixpath.dirname(path), include.group(1)))
            if target not in known:
                raise Refused(f"{path} line {number} includes a file outside the request")
            continue
        if _OTHER_OPTION.match(body):
            continue  # --hash continuation lines and binary options: harmless
        if _DIRECT.search(body.split(";", 1)[0]):
            raise Refused(f"{path} line {number} is a URL, VCS or path requirement")


def _pyproject(data: bytes) -> None:
    """Refuse projects uv would have to build, or that name their own package sources."""
    try:
        doc = toml_loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise Refused(f"pyproject.toml does not parse ({type(exc).__name__})") from None
    project = doc.get("project")
    if not isinstance(project, Mapping):
        raise Refused("pyproject.toml has no [project] table (static PEP 621 metadata)")
    dynamic = project.get("dynamic") or []
    blocked = sorted(set(dynamic) & set(_DYNAMIC_BLOCKERS)) if isinstance(dynamic, list) else []
    if blocked:
        raise Refused(
            f"pyproject.toml declares dynamic {', '.join(blocked)}: resolving would run the "
            "project's build backend, which Patchwell never does"
        )
    tool = doc.get("tool")
    uv = tool.get("uv") if isinstance(tool, Mapping) else None
    if isinstance(uv, Mapping):
        named = [k for k in _UV_SOURCE_KEYS if k in uv]
        if named:
            raise Refused(
                f"pyproject.toml sets [tool.uv] {', '.join(named)}: the repository's own "
                "index and source settings are not followed"
            )
        if "workspace" in uv:
            raise Refused("uv workspaces are not supported yet")


def validate(files: Sequence[tuple[str, bytes]], kind: str) -> None:
    """Everything the sandbox checks before uv starts (raises :class:`Refused`)."""
    if len(files) > MAX_FILES or sum(len(d) for _p, d in files) > MAX_REQUEST_BYTES:
        raise Refused("request too large")
    known = {_check_path(p) for p, _d in files}
    for path, data in files:
        base = posixpath.basename(path)
        if kind == "lock":
            if path not in ("pyproject.toml", "uv.lock"):
                raise Refused(f"{path} is not a file uv lock needs")
            if path == "pyproject.toml":
                _pyproject(data)
        elif base.endswith((".txt", ".in")):
            _requirement_text(path, data, known)
        else:
            raise Refused(f"{path} is not a requirements file")


@dataclass(frozen=True)
class UvResolver:
    """``Services.resolver``: runs ``uv`` under the rules in the module docstring.

    Plain data (paths, numbers, strings), so it can be pickled into a fixer child
    process. ``credentials`` never appear in ``repr``.
    """

    uv: str
    index_url: str  # the operator's simple index, credentials split off
    cache_dir: str
    credentials: tuple[str, str] | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    cpu_seconds: int = DEFAULT_CPU_SECONDS
    memory_bytes: int = DEFAULT_MEMORY_BYTES
    python: str = sys.executable
    pass_env: Mapping[str, str] = field(default_factory=dict)
    #: More interpreters uv may lock with (``PATCHWELL_RESOLVER_PYTHONS``): a project whose
    #: ``requires-python`` excludes the worker's Python needs one of them.
    extra_pythons: tuple[str, ...] = ()
    #: An interpreter that imports Poetry (the optional ``poetry`` extra), or ``None``.
    poetry_python: str | None = None

    @property
    def tools(self) -> frozenset[str]:
        """Lockers besides uv this resolver can run (see ``toolrunner``)."""
        return frozenset(["poetry"] if self.poetry_python else [])

    # ----------------------------------------------------------------- public
    def compile(self, request: CompileRequest) -> ResolveResult:
        try:
            validate(request.files, "compile")
            for path in (*request.inputs, *request.constraints, request.output):
                if path is not None:
                    _check_path(path)
        except Refused as exc:
            return ResolveResult(ok=False, refused=str(exc))
        args = ["pip", "compile", *request.inputs, "--python-version", request.python_version]
        args += ["--python-platform", request.platform]
        if request.output:
            args += ["-o", request.output]
        for c in request.constraints:
            args += ["-c", c]
        for spec in request.upgrade:
            args += ["--upgrade-package", spec]
        for name in request.refresh:
            args += ["--refresh-package", name]
        for name in request.only_binary:
            args += ["--only-binary", name]
        for name in request.no_binary:
            args += ["--no-binary", name]
        flags = {
            "--generate-hashes": request.generate_hashes,
            "--no-annotate": not request.annotate,
            "--no-header": not request.header,
            "--emit-marker-expression": request.emit_markers,
            "--universal": request.universal,
            "--strip-extras": request.strip_extras is True,
            "--no-strip-extras": request.strip_extras is False,
        }
        args += [flag for flag, on in flags.items() if on]
        if request.prerelease:
            args += ["--prerelease", "allow"]
        if request.exclude_newer and re.fullmatch(r"[0-9TZ:.+-]{10,40}", request.exclude_newer):
            args += ["--exclude-newer", request.exclude_newer]
        if request.annotation_style in ("line", "split"):
            args += ["--annotation-style", request.annotation_style]
        if request.header_command:
            args += ["--custom-compile-command", request.header_command[:300]]
        wanted = (request.output,) if request.output else ()
        return self._run(args, request.files, wanted, stdout_as=None if wanted else "-")

    def lock(self, request: LockRequest) -> ResolveResult:
        try:
            validate(request.files, "lock")
        except Refused as exc:
            return ResolveResult(ok=False, refused=str(exc))
        args = ["lock", *self._lock_python(request.files)]
        if request.check:
            args.append("--check")
        for spec in request.upgrade:
            args += ["--upgrade-package", spec]
        result = self._run(args, request.files, () if request.check else ("uv.lock",))
        if not result.ok and "No interpreter found for Python" in result.message:
            # uv locks only with an interpreter that requires-python admits; the worker
            # lacking one says nothing about the project (found on djangopackages,
            # requires-python >=3.12, on a 3.11 worker).
            wanted = _requires_python(request.files) or "the project's requires-python"
            return dataclasses.replace(
                result,
                unavailable=True,
                message=(
                    f"uv locks only with a Python matching `{wanted[:60]}`, and Patchwell's "
                    "worker has none (operator: `uv python install` one with "
                    "UV_PYTHON_INSTALL_DIR set, or list interpreters in "
                    "PATCHWELL_RESOLVER_PYTHONS)"
                ),
            )
        return result

    def _lock_python(self, files: Sequence[tuple[str, bytes]]) -> list[str]:
        """``--python`` for ``uv lock``: the worker's own interpreter when the project's
        ``requires-python`` admits it; otherwise none, so uv picks a compatible one of
        ``extra_pythons`` (on PATH) or the operator's installed Pythons (downloads off)."""
        wanted = _requires_python(files)
        if wanted is None or self.python != sys.executable:
            return ["--python", self.python]
        try:
            here = ".".join(str(n) for n in sys.version_info[:3])
            admits = SpecifierSet(wanted).contains(here, prereleases=True)
        except InvalidSpecifier:
            admits = True
        return ["--python", self.python] if admits else []

    def tool_lock(self, request: ToolLockRequest) -> ResolveResult:
        """Poetry's own locker under the same sandbox (``toolrunner``)."""
        from fixers.dependencies.toolrunner import run_tool_lock

        return run_tool_lock(self, request)

    # ----------------------------------------------------------------- running
    def _env(self, scratch: Path) -> dict[str, str]:
        home = scratch / ".home"
        home.mkdir()
        env = {
            "PATH": os.pathsep.join(
                dict.fromkeys(
                    [
                        str(Path(self.python).parent),
                        *(str(Path(p).parent) for p in self.extra_pythons),
                        "/usr/bin",
                        "/bin",
                    ]
                )
            ),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "UV_CACHE_DIR": self.cache_dir,
            "UV_NO_CONFIG": "1",
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_NO_PROGRESS": "1",
            "UV_CONCURRENT_DOWNLOADS": "8",
            "UV_HTTP_TIMEOUT": "30",
            "NO_COLOR": "1",
            **{k: v for k, v in self.pass_env.items() if k in PASS_ENV},
        }
        if self.credentials is not None:
            netrc = home / ".netrc"
            host = urllib.parse.urlsplit(self.index_url).hostname or ""
            user, password = self.credentials
            netrc.write_text(f"machine {host}\nlogin {user}\npassword {password}\n")
            netrc.chmod(0o600)
            env["NETRC"] = str(netrc)
        return env

    def _common(self) -> list[str]:
        return [
            "--no-config",
            "--no-build",
            "--no-python-downloads",
            "--default-index",
            self.index_url,
            "--color",
            "never",
        ]

    def _run(
        self,
        args: list[str],
        files: Sequence[tuple[str, bytes]],
        wanted: Sequence[str],
        stdout_as: str | None = None,
        tool: ToolCommand | None = None,
    ) -> ResolveResult:
        """Run uv (or ``tool``: another resolver under the same rules) in a scratch dir."""
        start = time.monotonic()
        scratch = Path(tempfile.mkdtemp(prefix="patchwell-resolve-"))
        name = tool.name if tool else "uv"
        try:
            for path, data in files:
                target = scratch / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            before = {p: d for p, d in files}
            env = self._env(scratch)
            if tool is None:
                cmd = [self.uv, *args, *self._common()]
            else:
                cmd = list(tool.argv)
                env = {**env, **tool.env_for(scratch / ".home")}
            proc = self._spawn(cmd, scratch, env)
            try:
                out, err = proc.communicate(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                _kill(proc)
                return ResolveResult(
                    ok=False,
                    message=f"{name} took longer than {self.timeout:g} s and was stopped",
                    seconds=time.monotonic() - start,
                    unavailable=True,
                )
            seconds = time.monotonic() - start
            text = err.decode("utf-8", errors="replace")
            if tool is not None and tool.stdout_is_message:
                text = out.decode("utf-8", errors="replace") + "\n" + text
            message = self._clean(text, tail=tool is not None)
            if proc.returncode != 0:
                return ResolveResult(
                    ok=False,
                    message=message,
                    seconds=seconds,
                    unavailable=_looks_unreachable(message) or proc.returncode < 0,
                )
            outputs: dict[str, bytes] = {}
            for path in wanted:
                produced = scratch / path
                if produced.is_file():
                    data = produced.read_bytes()
                    if data != before.get(path):
                        outputs[path] = data
            if stdout_as:
                outputs[stdout_as] = out
            return ResolveResult(ok=True, outputs=outputs, message=message, seconds=seconds)
        except OSError as exc:
            return ResolveResult(
                ok=False, message=f"{name} could not run ({type(exc).__name__})", unavailable=True
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _spawn(self, cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: a timeout kills every child
        )
        # Limits set from outside (no preexec_fn: not safe in a threaded worker). uv's
        # own children (the interpreter query) are started after this and inherit them.
        with contextlib.suppress(OSError, ValueError):
            resource.prlimit(proc.pid, resource.RLIMIT_CPU, (self.cpu_seconds,) * 2)
            resource.prlimit(proc.pid, resource.RLIMIT_AS, (self.memory_bytes,) * 2)
        return proc

    def _clean(self, text: str, *, tail: bool = False) -> str:
        """uv's message without colour codes, credentials or worker paths, bounded
        (``tail``: keep the end -- Poetry says what went wrong last)."""
        text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)
        text = scrub_url(text)
        if self.credentials is not None:
            for secret in self.credentials:
                if len(secret) >= 4:
                    text = text.replace(secret, "****")
        text = text.replace(self.cache_dir, "<cache>")
        text = re.sub(r"/tmp/patchwell-resolve-[A-Za-z0-9_]+/?", "", text)
        lines = [
            ln
            for ln in text.splitlines()
            if ln.strip() and not ln.startswith("Using ") and not _NOISE.match(ln)
        ]
        out = "\n".join(lines)
        if len(out) <= MAX_MESSAGE:
            return out
        return "…" + out[-(MAX_MESSAGE - 1) :] if tail else out[: MAX_MESSAGE - 1] + "…"


def _requires_python(files: Sequence[tuple[str, bytes]]) -> str | None:
    data = dict(files).get("pyproject.toml")
    if data is None:
        return None
    try:
        value = toml_loads(data.decode("utf-8")).get("project", {}).get("requires-python")
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.communicate(timeout=5)


def _looks_unreachable(message: str) -> bool:
    lowered = message.lower()
    return any(
        s in lowered
        for s in ("failed to fetch", "connection refused", "error sending request", "dns error")
    )


def find_uv(env: Mapping[str, str]) -> str | None:
    """``PATCHWELL_UV``, else the ``uv`` the ``uv`` package installed, else ``uv`` on PATH."""
    explicit = env.get("PATCHWELL_UV")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    try:
        from uv import find_uv_bin  # the pinned dependency from the package index
    except ImportError:
        return shutil.which("uv")
    try:
        return find_uv_bin()
    except FileNotFoundError:
        return shutil.which("uv")


def find_poetry(env: Mapping[str, str]) -> str | None:
    """The interpreter that runs Poetry: ``PATCHWELL_POETRY_PYTHON``, else this one when
    the optional ``poetry`` extra is installed; ``PATCHWELL_POETRY=off`` turns it off."""
    if env.get("PATCHWELL_POETRY", "").lower() in ("off", "0", "false", "no"):
        return None
    explicit = env.get("PATCHWELL_POETRY_PYTHON")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    import importlib.util

    try:
        found = importlib.util.find_spec("poetry.console.application") is not None
    except (ImportError, ValueError):
        found = False
    return sys.executable if found else None


def resolver_from_env(
    env: Mapping[str, str],
    *,
    index_url: str,
    credentials: tuple[str, str] | None,
    cache_dir: Path | None,
) -> UvResolver | None:
    """The resolver for the operator's index, or ``None`` (``PATCHWELL_RESOLVER=off``,
    or no ``uv`` binary): fixers then skip resolution and say so."""
    if env.get("PATCHWELL_RESOLVER", "").lower() in ("off", "0", "false", "no"):
        return None
    uv = find_uv(env)
    if uv is None:
        return None
    base = cache_dir if cache_dir is not None else Path(tempfile.gettempdir())
    cache = base / f"patchwell-uv-{os.getuid()}"
    cache.mkdir(parents=True, exist_ok=True)
    return UvResolver(
        uv=uv,
        index_url=index_url,
        cache_dir=str(cache),
        credentials=credentials,
        timeout=_number(env.get("PATCHWELL_RESOLVER_TIMEOUT"), DEFAULT_TIMEOUT),
        cpu_seconds=int(_number(env.get("PATCHWELL_RESOLVER_CPU_SECONDS"), DEFAULT_CPU_SECONDS)),
        pass_env={k: v for k, v in env.items() if k in PASS_ENV},
        poetry_python=find_poetry(env),
        extra_pythons=tuple(
            p for p in env.get("PATCHWELL_RESOLVER_PYTHONS", "").split(os.pathsep) if p
        ),
    )


def _number(text: Any, default: float) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return default
    return value if value > 0 else default
