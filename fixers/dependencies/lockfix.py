"""Lock files in the same PR, written by the real tools (through ``Services.resolver``).

For one patch's manifest edits and version changes:

* a ``requirements*.txt`` compiled by pip-compile or ``uv pip compile`` is re-compiled
  with ``uv pip compile`` and the options its header records (``--generate-hashes``
  kept), its current pins as preferences and ``--upgrade-package name==version`` for
  exactly the packages this PR moves: nothing else in it changes. Its header is kept
  byte for byte;
* a ``uv.lock`` beside an edited ``pyproject.toml`` is updated with ``uv lock
  --upgrade-package name==version`` (never a full relock);
* a ``poetry.lock`` is updated by Poetry itself when the optional ``poetry`` extra is
  installed (``poetry update --lock NAME...``, checked with ``poetry check --lock``;
  see ``poetrylock``); without it, and for ``pdm.lock`` and ``Pipfile.lock``, the PR
  says the lock was not updated and gives the exact command.

Every lock written is read back: each moved package must be at its new version. A lock
or compiled file that could not be brought along (no resolver, a tool Patchwell does not
run, a lock format it will not rewrite, an sdist it would have to build, a set that does
not resolve) is a :class:`LockFailure`: the caller opens no PR for that patch, because a
manifest edited without its lock fails ``uv lock --check`` / ``poetry install`` on the
branch. Each failure carries the command the maintainer can run instead.
"""

from __future__ import annotations

import posixpath
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fixers.contract import FileEdit, Snapshot
from fixers.dependencies.conventions import load_conventions
from fixers.dependencies.installable import DEFAULT_PYTHON, first_lines, sdist_only
from fixers.dependencies.locks import Compiled, compiled_header, parse_lock
from fixers.dependencies.model import ParseResult, decode_manifest, encode_manifest
from fixers.dependencies.poetrylock import update_poetry_lock
from fixers.dependencies.pythons import PythonTargets
from fixers.dependencies.requirements import parse_requirements_text
from fixers.dependencies.resolution import (
    CompileRequest,
    LockRequest,
    Resolver,
    ResolveResult,
    tool_locker,
)

_OTHER_TOOLS = {
    "poetry.lock": ("pyproject.toml", "Poetry", "poetry update --lock {names}"),
    "pdm.lock": ("pyproject.toml", "PDM", "pdm update --no-sync {names}"),
    "Pipfile.lock": ("Pipfile", "Pipenv", "pipenv upgrade {names}"),
}


@dataclass(frozen=True, slots=True)
class LockFailure:
    """A lock or compiled file this patch implies but could not update consistently."""

    path: str
    why: str  # one sentence, no trailing period
    command: str  # what the maintainer can run on the branch instead
    compiled: bool = False  # a compiled requirements file (else a lock beside a manifest)


@dataclass(slots=True)
class LockOutcome:
    edits: list[FileEdit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    failed: list[LockFailure] = field(default_factory=list)
    seconds: float = 0.0

    def fail(self, path: str, why: str, command: str, *, compiled: bool = False) -> None:
        self.failed.append(LockFailure(path, why.rstrip("."), command, compiled))


def lock_edits(
    snapshot: Snapshot,
    parsed: ParseResult,
    edits: Sequence[FileEdit],
    changes: Mapping[str, str],
    resolver: Resolver | None,
    targets: PythonTargets,
    *,
    now: datetime | None = None,
) -> LockOutcome:
    """``edits`` with every affected lock or compiled file brought along (see module doc)."""
    out = LockOutcome(edits=list(edits))
    _compiled(snapshot, parsed, out, changes, resolver, targets, now or datetime.now(UTC))
    _uv_locks(snapshot, out, changes, resolver)
    _other_locks(snapshot, out, changes, resolver)
    return out


def _content(out: LockOutcome, snapshot: Snapshot, path: str) -> bytes | None:
    for e in out.edits:
        if e.path == path:
            return e.content
    return snapshot.read(path)


def _replace(out: LockOutcome, path: str, content: bytes) -> None:
    out.edits = [e for e in out.edits if e.path != path]
    out.edits.append(FileEdit(path, "modify", content))
    out.edits.sort(key=lambda e: e.path)


def _names(changes: Mapping[str, str]) -> str:
    return " ".join(sorted(changes))


# --------------------------------------------------------------------------- compiled


def _compiled(
    snapshot: Snapshot,
    parsed: ParseResult,
    out: LockOutcome,
    changes: Mapping[str, str],
    resolver: Resolver | None,
    targets: PythonTargets,
    now: datetime,
) -> None:
    edited = {e.path for e in out.edits}
    files = sorted({d.file for d in parsed.dependencies if d.source == "requirements"})
    for path in files:
        raw = snapshot.read(path)
        if raw is None:
            continue
        text, codec = decode_manifest(raw)
        compiled = compiled_header(path, text)
        if compiled is None:
            continue
        pins = {d.name for d in parsed.dependencies if d.file == path and d.pinned}
        moving = {n: v for n, v in changes.items() if n in pins}
        if not moving and path not in edited and not edited & set(compiled.inputs):
            continue
        if resolver is None or compiled.problem:
            why = compiled.problem or "no resolver is configured"
            out.fail(
                path,
                f"`{path}` is compiled by {compiled.tool} and could not be re-compiled here "
                f"({why})",
                _recompile_command(compiled, moving or changes),
                compiled=True,
            )
            continue
        window = compiled.upload_cutoff(now)
        _recompile(snapshot, parsed, out, compiled, text, codec, moving, resolver, targets, window)


def _recompile_command(compiled: Compiled, moving: Mapping[str, str]) -> str:
    """The file's own compile command with ``--upgrade-package`` for the moved packages."""
    upgrades = " ".join(f"--upgrade-package {n}=={v}" for n, v in sorted(moving.items()))
    return f"{compiled.command[:200]} {upgrades}".strip()


def _closure(parsed: ParseResult, roots: Sequence[str]) -> list[str]:
    seen: list[str] = []
    stack = list(roots)
    while stack:
        path = stack.pop()
        if path in seen:
            continue
        seen.append(path)
        stack += [t for t, _c in parsed.includes.get(path, [])]
    return seen


def _recompile(
    snapshot: Snapshot,
    parsed: ParseResult,
    out: LockOutcome,
    compiled: Compiled,
    text: str,
    codec: str,
    moving: Mapping[str, str],
    resolver: Resolver,
    targets: PythonTargets,
    window: datetime | None = None,
) -> None:
    path = compiled.path
    base = posixpath.dirname(path)
    command = _recompile_command(compiled, moving)
    files: dict[str, bytes] = {}
    for repo_path in _closure(parsed, [*compiled.inputs, *compiled.constraints]):
        data = _content(out, snapshot, repo_path)
        if data is None:
            out.fail(
                path,
                f"`{path}`: its input `{repo_path}` is not in the repository",
                command,
                compiled=True,
            )
            return
        files[_relative(repo_path, base)] = encode_manifest(decode_manifest(data)[0], "utf-8")
    rel_out = _relative(path, base)
    files[rel_out] = text.encode("utf-8", errors="surrogateescape")  # the current pins
    if any(k.startswith("../") for k in files):
        out.fail(path, f"`{path}` has inputs outside its directory", command, compiled=True)
        return
    python = compiled.python or (str(targets.deploy) if targets.deploy else DEFAULT_PYTHON)
    request = CompileRequest(
        files=tuple(sorted(files.items())),
        inputs=tuple(_relative(p, base) for p in compiled.inputs),
        output=rel_out,
        python_version=python,
        upgrade=tuple(f"{n}=={v}" for n, v in sorted(moving.items())),
        constraints=tuple(_relative(p, base) for p in compiled.constraints),
        generate_hashes=compiled.generate_hashes,
        only_binary=compiled.only_binary,
        no_binary=compiled.no_binary,
        prerelease=compiled.prerelease,
        strip_extras=compiled.strip_extras,
        annotate=compiled.annotate,
        annotation_style=compiled.annotation_style,
        header=compiled.emit_header,
        universal=compiled.universal,
        header_command=compiled.command if compiled.tool == "uv" else None,
        exclude_newer=window.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if window else None,
    )
    result = resolver.compile(request)
    out.seconds += result.seconds
    produced = result.outputs.get(rel_out)
    if not result.ok or produced is None:
        why = f"`{path}` could not be re-compiled with uv ({_why(result)})"
        out.fail(path, why, command, compiled=True)
        return
    new_text = compiled.header + _body(produced.decode("utf-8", errors="replace"))
    after = parse_requirements_text(path, new_text, load_conventions()).dependencies
    pinned = {d.name: d.pinned for d in after}
    wrong = sorted(n for n, v in moving.items() if pinned.get(n) != v)
    if wrong:
        out.fail(
            path,
            f"`{path}`: re-compiling did not pin {', '.join(wrong)} as planned",
            command,
            compiled=True,
        )
        return
    _replace(out, path, encode_manifest(new_text, codec))
    out.updated.append(path)
    before = {d.name: d.pinned for d in parsed.dependencies if d.file == path}
    dragged = sorted(n for n in pinned if n not in moving and before.get(n) != pinned[n])
    extra = f" ({', '.join(dragged)} had to move too)" if dragged else ""
    out.notes.append(
        f"`{path}` was re-compiled with `uv pip compile` using the options its header "
        f"records{' (hashes regenerated)' if compiled.generate_hashes else ''}; only "
        f"{', '.join(sorted(moving))} moved{extra}."
    )


def _why(result: ResolveResult) -> str:
    """The tool's reason in one bounded line: a refusal, or its "because ..." chain."""
    why = (result.refused or first_lines(result.message) or "no output").rstrip(".")
    return why if len(why) <= 300 else why[:299] + "…"


def _relative(path: str, base: str) -> str:
    return posixpath.relpath(path, base or ".")


def _body(text: str) -> str:
    """A compiled file without its leading comment block (uv's header)."""
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines) and lines[i].startswith("#"):
        i += 1
    return "".join(lines[i:])


# --------------------------------------------------------------------------- uv.lock


def _uv_locks(
    snapshot: Snapshot, out: LockOutcome, changes: Mapping[str, str], resolver: Resolver | None
) -> None:
    for edit in list(out.edits):
        if posixpath.basename(edit.path) != "pyproject.toml" or edit.content is None:
            continue
        lock_path = posixpath.join(posixpath.dirname(edit.path), "uv.lock")
        lock_raw = snapshot.read(lock_path)
        if lock_raw is None:
            continue
        ups = " ".join(f"--upgrade-package {n}=={v}" for n, v in sorted(changes.items()))
        command = f"uv lock {ups}"
        if resolver is None:
            out.fail(
                lock_path, f"`{lock_path}` cannot be updated: no resolver is configured", command
            )
            continue
        lock = parse_lock(lock_path, lock_raw.decode("utf-8", errors="replace"))
        ours = _host(getattr(resolver, "index_url", "") or "")
        foreign = sorted({_host(p.registry) for p in lock.packages.values() if p.registry} - {ours})
        if foreign and ours:
            out.fail(
                lock_path,
                f"`{lock_path}` locks packages from {', '.join(foreign[:3])}, not from the "
                "index Patchwell resolves against",
                command,
            )
            continue
        request = LockRequest(
            files=(("pyproject.toml", edit.content), ("uv.lock", lock_raw)),
            upgrade=tuple(f"{n}=={v}" for n, v in sorted(changes.items())),
        )
        result = resolver.lock(request)
        out.seconds += result.seconds
        produced = result.outputs.get("uv.lock")
        if not result.ok or produced is None:
            out.fail(lock_path, _uv_lock_why(lock_path, result), command)
            continue
        locked = parse_lock(lock_path, produced.decode("utf-8", errors="replace")).packages
        wrong = sorted(n for n, v in changes.items() if n in locked and locked[n].version != v)
        check = resolver.lock(
            LockRequest(files=(("pyproject.toml", edit.content), ("uv.lock", produced)), check=True)
        )
        out.seconds += check.seconds
        if not check.ok:
            out.fail(
                lock_path, f"`{lock_path}`: the updated lock failed `uv lock --check`", command
            )
            continue
        if wrong:
            out.fail(
                lock_path, f"`{lock_path}`: uv did not lock {', '.join(wrong)} as planned", command
            )
            continue
        _replace(out, lock_path, produced)
        out.updated.append(lock_path)
        out.notes.append(
            f"`{lock_path}` was updated with `uv lock --upgrade-package` for "
            f"{', '.join(sorted(changes))} only (checked: `uv lock --check` passes on this branch)."
        )


def _uv_lock_why(lock_path: str, result: ResolveResult) -> str:
    """Why ``uv lock`` failed, said plainly when it is the sandbox's no-build rule."""
    name = sdist_only(result.message)
    if name is not None:
        return (
            f"`{lock_path}` could not be updated: {name} publishes only an sdist, and "
            "Patchwell never builds a package to learn its dependencies (its sandbox runs "
            "`uv lock` with `--no-build`)"
        )
    return f"`{lock_path}` could not be updated with `uv lock` ({_why(result)})"


def _host(url: str | None) -> str:
    return (urllib.parse.urlsplit(url or "").netloc or "").lower()


# --------------------------------------------------------------------------- other tools


def _other_locks(
    snapshot: Snapshot, out: LockOutcome, changes: Mapping[str, str], resolver: Resolver | None
) -> None:
    for edit in list(out.edits):
        folder, base = posixpath.split(edit.path)
        for lock_name, (manifest, tool, command) in _OTHER_TOOLS.items():
            lock_path = posixpath.join(folder, lock_name)
            if base != manifest or lock_path not in snapshot.all_paths:
                continue
            runner = tool_locker(resolver, "poetry") if lock_name == "poetry.lock" else None
            if runner is not None and edit.content is not None:
                _poetry_lock(snapshot, out, edit.content, lock_path, changes, runner)
                continue
            why = (
                "Patchwell's Poetry is not installed or is turned off (`PATCHWELL_POETRY`)"
                if lock_name == "poetry.lock"
                else f"Patchwell does not run {tool}"
            )
            out.fail(
                lock_path,
                f"`{lock_path}` cannot be updated here: {why}",
                command.format(names=_names(changes)),
            )


def _poetry_lock(
    snapshot: Snapshot,
    out: LockOutcome,
    pyproject: bytes,
    lock_path: str,
    changes: Mapping[str, str],
    runner: object,
) -> bool:
    """Update ``lock_path`` with Poetry (True), or leave it with a note saying why."""
    lock = snapshot.read(lock_path)
    command = f"poetry update --lock {_names(changes)}"
    if lock is None:
        out.fail(lock_path, f"`{lock_path}` could not be read", command)
        return False
    done = update_poetry_lock(runner, pyproject, lock, changes)
    out.seconds += done.seconds
    if done.lock is None:
        out.fail(lock_path, f"`{lock_path}` could not be updated: {done.why}", command)
        return False
    _replace(out, lock_path, done.lock)
    out.updated.append(lock_path)
    newer = sorted(n for n, v in (done.versions or {}).items() if changes.get(n) != v)
    extra = "".join(
        f" Poetry locked {n} {(done.versions or {})[n]}, the newest release the new "
        f"requirement allows."
        for n in newer
    )
    if done.rewritten:
        extra += f" The entries of {', '.join(done.rewritten)} changed with them (markers)."
    out.notes.append(
        f"`{lock_path}` was updated by Poetry with `{command}` (only these packages and what "
        f"they require moved; checked: `poetry check --lock` passes on this branch).{extra}"
    )
    return True
