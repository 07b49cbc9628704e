"""Plain data shared by the dependency parsers, detectors and fixes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from packaging.utils import canonicalize_name

Ecosystem = Literal["pypi", "actions"]

# Source kinds: which manifest format a dependency came from. Used for the
# inventory and to decide how a file is edited.
SOURCE_REQUIREMENTS = "requirements"
SOURCE_PEP621 = "pep621"
SOURCE_PEP735 = "pep735"
SOURCE_POETRY = "poetry"
SOURCE_SETUP_CFG = "setup.cfg"
SOURCE_PIPFILE = "pipfile"
SOURCE_WORKFLOW = "workflow"

# The lookbehind makes a scheme start only at the beginning of a word, so the scan
# stays linear on long hostile lines (no retry from every letter).
_CREDENTIALS_IN_URL = re.compile(
    r"(?<![a-zA-Z0-9+.-])(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*+://)[^/@\s]++@"
)
MAX_SCRUB = 4000
MAX_COMMENT = 200

# Requirement files written by Windows tools (PowerShell's ``pip freeze > r.txt``) are
# UTF-16 with a byte-order mark; Notepad writes UTF-8 with one. pip reads both.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8-bom"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
_BOM_OF = {codec: bom for bom, codec in _BOMS}


def decode_manifest(raw: bytes) -> tuple[str, str]:
    """``(text, codec)`` of a manifest: UTF-8 (undecodable bytes kept through
    ``surrogateescape``), or the UTF-8/UTF-16 byte-order-marked forms pip also reads.

    Offsets (:class:`Span`) are always in the decoded text; :func:`encode_manifest`
    writes an edit back in the very same encoding and BOM.
    """
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            body = raw[len(bom) :]
            if codec == "utf-8-bom":
                return body.decode("utf-8", errors="surrogateescape"), codec
            try:
                return body.decode(codec), codec
            except UnicodeDecodeError:
                break  # not really UTF-16: read it like any other file
    return raw.decode("utf-8", errors="surrogateescape"), "utf-8"


def encode_manifest(text: str, codec: str) -> bytes:
    """The inverse of :func:`decode_manifest`."""
    if codec == "utf-8":
        return text.encode("utf-8", errors="surrogateescape")
    if codec == "utf-8-bom":
        return _BOM_OF[codec] + text.encode("utf-8", errors="surrogateescape")
    return _BOM_OF[codec] + text.encode(codec)


# PEP 508's name: letters, digits and ``._-`` inside, alphanumeric at both ends.
_PROJECT_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,198}[A-Za-z0-9])?")


def valid_project_name(name: str) -> bool:
    """Whether ``name`` is a PEP 508 project name (what may go into an index URL)."""
    return isinstance(name, str) and _PROJECT_NAME.fullmatch(name) is not None


def normalize(name: str) -> str:
    """PEP 503 name normalisation (``Foo_Bar`` and ``foo.bar`` are ``foo-bar``)."""
    return canonicalize_name(name)


def scrub_url(text: str) -> str:
    """Hide credentials embedded in URLs (``https://user:token@host``).

    Requirements files put index tokens and VCS tokens in URLs; the inventory and
    findings must never echo them.
    """
    return _CREDENTIALS_IN_URL.sub(lambda m: m.group("scheme") + "****@", text[:MAX_SCRUB])


def strip_comment(text: str) -> str:
    r"""Text before a ``#`` that starts the line or follows whitespace (pip's rule).

    A plain scan, not the ``(^|\s+)#`` regex: that one is quadratic on long runs
    of whitespace, and requirements files are untrusted input.
    """
    i = text.find("#")
    while i > 0 and not text[i - 1].isspace():
        i = text.find("#", i + 1)
    return text if i < 0 else text[:i]


@dataclass(frozen=True, slots=True)
class Span:
    """Character offsets ``[start, end)`` of the version text in a file's decoded text."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Dependency:
    """One dependency declaration exactly as written at one place in one file."""

    file: str
    line: int
    name: str  # PEP 503 normalised
    specifier: str
    source: str
    ecosystem: Ecosystem = "pypi"
    raw_name: str = ""
    pinned: str | None = None
    extras: tuple[str, ...] = ()
    markers: str | None = None
    group: str | None = None
    development: bool = False
    managed: bool = True
    reason: str | None = None  # why not managed
    hashes: tuple[str, ...] = ()
    span: Span | None = field(default=None, compare=False)
    ref_comment: str | None = None  # actions: the ``# v1.2.3`` comment after a SHA
    #: The comment on the declaration's line (``# pyup: < 6.1``, ``# pin``), bounded.
    comment: str | None = field(default=None, compare=False)

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "ecosystem": self.ecosystem,
            "name": self.name,
            "specifier": self.specifier,
            "pinned": self.pinned,
            "extras": list(self.extras),
            "markers": self.markers,
            "group": self.group,
            "development": self.development,
            "source": self.source,
            "managed": self.managed,
            "reason": self.reason,
            "hashes": len(self.hashes),
            "comment": self.comment,
        }


@dataclass(frozen=True, slots=True)
class ParseIssue:
    """Something a parser could not take in; reported as a finding, never raised."""

    file: str
    line: int | None
    rule: str
    message: str


@dataclass(slots=True)
class ParseResult:
    """Everything parsed from a set of manifests."""

    dependencies: list[Dependency] = field(default_factory=list)
    issues: list[ParseIssue] = field(default_factory=list)
    requires_python: dict[str, str] = field(default_factory=dict)  # file -> specifier
    #: Files not parsed on purpose, and why (templates): shown by ``patchwell deps``.
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: Per requirements file, the install options pip honours there that change which
    #: release is picked (``--only-binary``, ``--prefer-binary``, ``--pre``).
    install_options: dict[str, InstallOptions] = field(default_factory=dict)
    #: requirements file -> the files it includes, as (path, is_constraint).
    includes: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)
    #: Package-index settings the repository makes for itself, as (file, line, setting
    #: name): never followed (Patchwell uses its operator's index), always reported.
    #: The setting's value is never kept: it can hold a token.
    index_settings: list[tuple[str, int | None, str]] = field(default_factory=list)

    def extend(self, other: ParseResult) -> None:
        self.dependencies.extend(other.dependencies)
        self.issues.extend(other.issues)
        self.requires_python.update(other.requires_python)
        self.skipped.extend(other.skipped)
        self.install_options.update(other.install_options)
        for path, targets in other.includes.items():
            self.includes.setdefault(path, []).extend(targets)
        self.index_settings.extend(other.index_settings)


@dataclass(frozen=True, slots=True)
class InstallOptions:
    """pip options in a requirements file that narrow which release installs.

    ``only_binary``/``no_binary`` hold normalised names, or ``":all:"``.
    """

    only_binary: frozenset[str] = frozenset()
    no_binary: frozenset[str] = frozenset()
    prefer_binary: bool = False
    pre: bool = False

    def needs_wheel(self, name: str) -> bool:
        return ":all:" in self.only_binary or name in self.only_binary

    def merged(self, other: InstallOptions) -> InstallOptions:
        return InstallOptions(
            self.only_binary | other.only_binary,
            self.no_binary | other.no_binary,
            self.prefer_binary or other.prefer_binary,
            self.pre or other.pre,
        )
