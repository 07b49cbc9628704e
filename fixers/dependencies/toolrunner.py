"""Poetry's own locker, run under the uv runner's sandbox (``uvrunner.UvResolver``).

``poetry.lock`` is only right when Poetry writes it, so with the optional ``poetry``
extra installed the runner runs ``poetry update --lock NAME...`` (only the named
packages move; everything else keeps its locked version) and ``poetry check --lock``,
with the same rules as uv:

* a scratch directory holding ``pyproject.toml`` and ``poetry.lock`` only (no
  ``poetry.toml``, no source tree), ``HOME``/config/data directories inside it,
  ``virtualenvs.create`` off and keyring off (nothing installed, no system secrets);
* **refused before Poetry starts**: repository sources (``[[tool.poetry.source]]``,
  ``[tool.uv]`` index settings), path/git/URL/``develop`` dependencies (Poetry would
  clone or build them), dependencies pinned to a named ``source``, and
  ``requires-plugins`` (Poetry 2 installs those itself);
* **no builds**: ``poetry_shim.py`` makes Poetry's build entry points raise (it would
  otherwise build an sdist whose metadata the index does not give);
* **the operator's index only**, Poetry's PyPI repository pointed at it; credentials
  through Poetry's ``POETRY_HTTP_BASIC_PYPI_*`` variables, never a URL or argument;
* the same timeout, CPU and address-space budget (``prlimit``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fixers.dependencies.resolution import ResolveResult, ToolLockRequest
from fixers.dependencies.uvrunner import MAX_REQUEST_BYTES, Refused

if TYPE_CHECKING:
    from fixers.dependencies.uvrunner import UvResolver

SHIM = Path(__file__).with_name("poetry_shim.py")
POETRY_FILES = ("pyproject.toml", "poetry.lock")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")
_SOURCE_KEYS = ("path", "git", "url", "file", "develop", "source")
# A PEP 508 direct reference (`name @ https://...`, `name @ file:...`).
_DIRECT = re.compile(r"^[^;]*\s@\s*\S")
# `poetry check --lock` lines that judge the lock itself (the rest are about the
# pyproject: a README the scratch directory does not have, deprecated keys...).
_LOCK_ERRORS = ("poetry.lock was not found", "changed significantly since poetry.lock")


@dataclass(frozen=True)
class ToolCommand:
    """What ``UvResolver._run`` starts instead of uv."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    credentials: tuple[str, str] | None = field(default=None, repr=False)
    stdout_is_message: bool = True

    def env_for(self, home: Path) -> dict[str, str]:
        env = {
            **self.env,
            "POETRY_CONFIG_DIR": str(home / "poetry-config"),
            "POETRY_DATA_DIR": str(home / "poetry-data"),
        }
        if self.credentials is not None:
            env["POETRY_HTTP_BASIC_PYPI_USERNAME"] = self.credentials[0]
            env["POETRY_HTTP_BASIC_PYPI_PASSWORD"] = self.credentials[1]
        return env


# --------------------------------------------------------------------------- refusals


def _dependency_tables(doc: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    poetry = (doc.get("tool") or {}).get("poetry") or {}
    tables: list[tuple[str, Mapping[str, Any]]] = []
    for key in ("dependencies", "dev-dependencies"):
        if isinstance(poetry.get(key), Mapping):
            tables.append((f"[tool.poetry.{key}]", poetry[key]))
    groups = poetry.get("group")
    if isinstance(groups, Mapping):
        for name, group in groups.items():
            deps = group.get("dependencies") if isinstance(group, Mapping) else None
            if isinstance(deps, Mapping):
                tables.append((f"[tool.poetry.group.{name}.dependencies]", deps))
    return tables


def _pep508_strings(doc: Mapping[str, Any]) -> list[str]:
    project = doc.get("project") or {}
    found: list[Any] = list(project.get("dependencies") or [])
    for extra in (project.get("optional-dependencies") or {}).values():
        found += list(extra or [])
    for group in (doc.get("dependency-groups") or {}).values():
        found += [g for g in group or [] if isinstance(g, str)]
    return [s for s in found if isinstance(s, str)]


def validate_poetry(files: Sequence[tuple[str, bytes]]) -> None:
    """Everything refused before Poetry starts (raises ``uvrunner.Refused``)."""
    if sum(len(d) for _p, d in files) > MAX_REQUEST_BYTES:
        raise Refused("request too large")
    paths = [p for p, _d in files]
    if sorted(set(paths)) != sorted(paths) or not set(paths) <= set(POETRY_FILES):
        raise Refused("only pyproject.toml and poetry.lock are given to Poetry")
    data = dict(files).get("pyproject.toml")
    if data is None:
        raise Refused("no pyproject.toml")
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise Refused(f"pyproject.toml does not parse ({type(exc).__name__})") from None
    tool = doc.get("tool") if isinstance(doc.get("tool"), Mapping) else {}
    poetry = tool.get("poetry") if isinstance(tool.get("poetry"), Mapping) else {}
    if "source" in poetry:
        raise Refused(
            "pyproject.toml sets [[tool.poetry.source]]: the repository's own index "
            "settings are not followed"
        )
    if "requires-plugins" in poetry:
        raise Refused(
            "pyproject.toml sets [tool.poetry.requires-plugins]: Poetry would install them"
        )
    for table, deps in _dependency_tables(doc):
        for name, spec in deps.items():
            specs = spec if isinstance(spec, list) else [spec]
            keys = {k for s in specs if isinstance(s, Mapping) for k in s}
            named = sorted(keys & set(_SOURCE_KEYS))
            if named:
                raise Refused(
                    f"{table} {str(name)[:60]} is a {'/'.join(named)} dependency: Poetry would "
                    "fetch or build it outside the operator's index"
                )
    for requirement in _pep508_strings(doc):
        if _DIRECT.match(requirement):
            raise Refused(f"{requirement[:80]!r} is a direct URL/path reference")


# --------------------------------------------------------------------------- running


def _base_url(simple_url: str) -> str | None:
    """Poetry's PyPI base (``/simple/`` and ``/pypi/`` below it) for the operator's
    simple index, or ``None`` when the index is not laid out like PyPI."""
    url = simple_url.rstrip("/")
    return url[: -len("/simple")] if url.endswith("/simple") else None


def poetry_command(resolver: UvResolver, request: ToolLockRequest, base: str) -> ToolCommand:
    python = resolver.poetry_python or resolver.python
    args = ["check", "--lock"] if request.check else ["update", "--lock", *request.update]
    args += ["--no-interaction", "--no-ansi", "--no-plugins"]
    if request.refresh:
        args.append("--no-cache")
    env = {
        "POETRY_CACHE_DIR": str(Path(resolver.cache_dir) / "poetry"),
        "POETRY_VIRTUALENVS_CREATE": "false",
        "POETRY_KEYRING_ENABLED": "false",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
        "POETRY_NO_INTERACTION": "1",
        "POETRY_REQUESTS_TIMEOUT": "30",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    # Poetry talks HTTPS through requests, which ignores SSL_CERT_FILE and trusts certifi's
    # bundle alone: an operator's CA (a TLS-inspecting proxy, a private index) reaches it
    # as REQUESTS_CA_BUNDLE (found against PyPI behind such a proxy: every lock failed
    # with CERTIFICATE_VERIFY_FAILED, which Poetry reports as "cannot be resolved by DNS").
    bundle = resolver.pass_env.get("REQUESTS_CA_BUNDLE") or resolver.pass_env.get("SSL_CERT_FILE")
    if bundle:
        env["REQUESTS_CA_BUNDLE"] = bundle
    return ToolCommand(
        name="Poetry",
        argv=(python, "-I", str(SHIM), base, *args),
        env=env,
        credentials=resolver.credentials,
    )


def run_tool_lock(resolver: UvResolver, request: ToolLockRequest) -> ResolveResult:
    if request.tool != "poetry" or resolver.poetry_python is None:
        return ResolveResult(ok=False, refused=f"{request.tool} is not installed for Patchwell")
    try:
        validate_poetry(request.files)
        for name in request.update:
            if not _NAME.match(name):
                raise Refused(f"{name[:60]!r} is not a package name")
    except Refused as exc:
        return ResolveResult(ok=False, refused=str(exc))
    base = _base_url(resolver.index_url)
    if base is None:
        return ResolveResult(
            ok=False, refused="the operator's index is not laid out like PyPI (…/simple)"
        )
    command = poetry_command(resolver, request, base)
    wanted = () if request.check else ("poetry.lock",)
    result = resolver._run([], request.files, wanted, tool=command)
    if request.check and not result.ok and not result.unavailable:
        return _judge_check(result)
    return result


def _judge_check(result: ResolveResult) -> ResolveResult:
    """``poetry check --lock`` fails on pyproject complaints too; only its lock verdict
    counts here (the other errors are kept in the message)."""
    errors = [ln for ln in result.message.splitlines() if ln.startswith("Error:")]
    about_lock = [ln for ln in errors if any(s in ln for s in _LOCK_ERRORS)]
    if errors and not about_lock:
        return ResolveResult(ok=True, message=result.message, seconds=result.seconds)
    return result
