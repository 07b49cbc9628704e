"""What the dependency fixer may ask of the real resolver, as plain data.

The fixer never runs a resolver itself: it hands a :class:`CompileRequest` (``uv pip
compile`` over requirement files) or a :class:`LockRequest` (``uv lock`` over a
``pyproject.toml`` and its ``uv.lock``) to the injected ``Services.resolver``, which
runs it in a sandbox (``fixers/dependencies/uvrunner.py``). Requests hold file
*contents*, never paths on the worker, and typed options, never command-line text, so
the runner alone decides which flags reach the tool.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CompileRequest:
    """``uv pip compile`` of ``inputs`` (requirement files among ``files``).

    ``output`` names the compiled file; its current content in ``files`` is read by uv
    as the preferred pins, so only ``upgrade`` packages (requirement strings such as
    ``flask==3.0.0``) and what they must drag along change.
    """

    files: tuple[tuple[str, bytes], ...]
    inputs: tuple[str, ...]
    python_version: str
    output: str | None = None
    upgrade: tuple[str, ...] = ()
    #: Names whose index pages must be fetched fresh (the proposed releases may be newer
    #: than uv's cached copy of the page).
    refresh: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    generate_hashes: bool = False
    only_binary: tuple[str, ...] = ()
    no_binary: tuple[str, ...] = ()
    prerelease: bool = False
    strip_extras: bool | None = None  # None: the tool's default
    annotate: bool = True
    annotation_style: str | None = None  # "line" | "split"
    header: bool = True
    emit_markers: bool = False
    allow_unsafe: bool = False
    universal: bool = False
    header_command: str | None = None  # shown as "the following command" in the header
    platform: str = "linux"
    #: RFC 3339 moment: releases uploaded later are ignored (``--uploaded-prior-to``).
    exclude_newer: str | None = None


@dataclass(frozen=True, slots=True)
class LockRequest:
    """``uv lock`` of a project: ``files`` holds ``pyproject.toml`` and ``uv.lock``.

    ``upgrade`` lists the packages allowed to move (``name`` or ``name==version``);
    everything else keeps its locked version. ``check`` only asks whether the lock is
    up to date (``uv lock --check``).
    """

    files: tuple[tuple[str, bytes], ...]
    upgrade: tuple[str, ...] = ()
    check: bool = False


@dataclass(frozen=True, slots=True)
class ToolLockRequest:
    """Another tool's lock (``tool``: ``"poetry"``) over its manifest and lock file.

    ``update`` names the packages whose locked versions may move (Poetry: ``poetry
    update --lock NAME...``, everything else stays as locked); ``check`` only asks
    whether the lock matches the manifest (``poetry check --lock``).
    """

    tool: str
    files: tuple[tuple[str, bytes], ...]
    update: tuple[str, ...] = ()
    check: bool = False
    #: Ask the index afresh (Poetry: ``--no-cache``): its cached pages may predate the
    #: release being proposed.
    refresh: bool = False


@dataclass(frozen=True, slots=True)
class ResolveResult:
    """What came back: ``ok``, the files the tool wrote (``outputs``), and a message.

    ``refused`` is set when the sandbox would not run the request at all (a repository
    index setting, a dynamic-metadata project, a URL requirement ...): the reason is
    user-facing, never contains a credential, and the tool never started.
    ``message`` is the tool's own error text on failure, scrubbed and bounded.
    """

    ok: bool
    outputs: Mapping[str, bytes] = field(default_factory=dict)
    message: str = ""
    refused: str | None = None
    seconds: float = 0.0
    unavailable: bool = False  # the tool or the index could not be reached: not a verdict


class Resolver(Protocol):
    """``Services.resolver``: the sandboxed real resolver."""

    def compile(self, request: CompileRequest) -> ResolveResult: ...

    def lock(self, request: LockRequest) -> ResolveResult: ...


def tool_locker(resolver: object | None, tool: str) -> object | None:
    """``resolver`` when it can run ``tool``'s own locker (``tool_lock``), else ``None``.

    Optional on purpose: a resolver without Poetry (the optional extra not installed)
    still serves uv, and the fixer then reports the command instead."""
    tools = getattr(resolver, "tools", ()) or ()
    return resolver if tool in tools and hasattr(resolver, "tool_lock") else None
