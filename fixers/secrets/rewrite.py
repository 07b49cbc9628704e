"""Replacing a literal credential with an environment lookup, in the file's own language.

Every rewrite is checked by parsing the result (Python ``ast``, YAML via ruamel, JSON,
TOML via tomlkit); a rewrite that would not parse is refused and the finding stays
report-only. Bytes outside the replaced spans are never touched.
"""

from __future__ import annotations

import ast
import io
import json
import tokenize
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import tomlkit
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from fixers.secrets.engine import Hit

Language = str  # "python" | "javascript" | "yaml" | "json" | "toml"

_SUFFIXES: dict[str, Language] = {
    ".py": "python",
    ".pyw": "python",
    ".js": "javascript",
    ".jsx": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".ts": "javascript",
    ".tsx": "javascript",
    ".mts": "javascript",
    ".cts": "javascript",
    ".yml": "yaml",
    ".yaml": "yaml",
    ".json": "json",
    ".toml": "toml",
}


def language_of(path: str) -> Language | None:
    name = path.rsplit("/", 1)[-1].lower()
    dot = name.rfind(".")
    return _SUFFIXES.get(name[dot:]) if dot >= 0 else None


@dataclass(frozen=True, slots=True)
class Target:
    hit: Hit
    env: str


@dataclass(frozen=True, slots=True)
class Rewrite:
    content: bytes
    done: tuple[Target, ...]
    # How the literal was replaced, for the PR body ("os.environ[...]", "removed", ...).
    how: str


@dataclass(frozen=True, slots=True)
class _Edit:
    start: int  # character offsets into the decoded text
    end: int
    text: str
    target: Target | None


_Rewriter = Callable[[str, bytes, Sequence[Target]], list[_Edit]]


def _apply(text: str, edits: Sequence[_Edit]) -> str:
    out = text
    for e in sorted(edits, key=lambda e: e.start, reverse=True):
        out = out[: e.start] + e.text + out[e.end :]
    return out


def _overlapping(edits: Sequence[_Edit], start: int, end: int) -> bool:
    return any(not (end <= e.start or start >= e.end) for e in edits)


def _char_span(data: bytes, hit: Hit) -> tuple[int, int]:
    start = len(data[: hit.span_start].decode("utf-8"))
    return start, start + len(data[hit.span_start : hit.span_end].decode("utf-8"))


def _odd_backslashes(s: str) -> bool:
    return (len(s) - len(s.rstrip("\\"))) % 2 == 1


# -- Python ---------------------------------------------------------------------------


def _py_tokens(text: str) -> list[tuple[int, int, int, str]]:
    """(type, start, end, string) with absolute character offsets."""
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type in (tokenize.STRING, tokenize.COMMENT):
            (sr, sc), (er, ec) = tok.start, tok.end
            out.append((tok.type, starts[sr - 1] + sc, starts[er - 1] + ec, tok.string))
    return out


def _py_string_edit(tok: str, ts: int, s: int, e: int, env: str) -> str | None:
    """The replacement for the whole string token ``tok`` (at ``ts``), or ``None``."""
    prefix = tok[: len(tok) - len(tok.lstrip("rRbBuUfF"))]
    body = tok[len(prefix) :]
    quote = body[:3] if body[:3] in ('"""', "'''") else body[:1]
    c_start, c_end = ts + len(prefix) + len(quote), ts + len(tok) - len(quote)
    flags = prefix.lower()
    if "f" in flags or not (c_start <= s and e <= c_end):
        return None
    expr = f'os.environ["{env}"]' + (".encode()" if "b" in flags else "")
    if (s, e) == (c_start, c_end):
        return expr
    if len(quote) == 3 or "b" in flags:
        return None
    before, after = tok[len(prefix) + 1 : s - ts], tok[e - ts : len(tok) - 1]
    if "r" not in flags and _odd_backslashes(before):
        return None
    parts = [f"{prefix}{quote}{before}{quote}"] if before else []
    parts.append(expr)
    if after:
        parts.append(f"{prefix}{quote}{after}{quote}")
    return "(" + " + ".join(parts) + ")"


def _needs_import_at(text: str, tree: ast.Module) -> int | None:
    """Character offset to insert ``import os`` at, or ``None`` when already imported."""
    for node in tree.body:
        if isinstance(node, ast.Import) and any(
            a.name == "os" and a.asname is None for a in node.names
        ):
            return None
    after = 0
    for i, node in enumerate(tree.body):
        is_doc = (
            i == 0
            and isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        )
        is_future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
        if isinstance(node, ast.Import | ast.ImportFrom) and not is_future:
            # Join the existing import block rather than opening a new one.
            after = node.lineno - 1
            break
        if not (is_doc or is_future):
            break
        after = node.end_lineno or after
    lines = text.splitlines(keepends=True)
    if after == 0:
        # Keep a shebang / encoding / licence comment block first.
        while after < len(lines) and lines[after].startswith("#"):
            after += 1
    return sum(len(line) for line in lines[:after])


def _python(text: str, data: bytes, targets: Sequence[Target]) -> list[_Edit]:
    try:
        tree = ast.parse(text)
        tokens = _py_tokens(text)
    except (SyntaxError, tokenize.TokenError, ValueError):
        return []
    edits: list[_Edit] = []
    for target in targets:
        s, e = _char_span(data, target.hit)
        tok = next((t for t in tokens if t[1] <= s and e <= t[2]), None)
        if tok is None or _overlapping(edits, tok[1], tok[2]):
            continue
        if tok[0] == tokenize.COMMENT:
            edits.append(_Edit(s, e, f"${target.env}", target))
            continue
        new = _py_string_edit(tok[3], tok[1], s, e, target.env)
        if new is not None:
            edits.append(_Edit(tok[1], tok[2], new, target))
    if any("os.environ" in e.text for e in edits):
        at = _needs_import_at(text, tree)
        if at is not None:
            edits.append(_Edit(at, at, "import os\n", None))
    return edits


def _python_ok(text: str) -> bool:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return True


# -- JavaScript / TypeScript ------------------------------------------------------------


def _js_literals(line: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, kind) of string literals and comments on one line.

    A deliberately small lexer: enough to know whether a span sits in a string, a
    template or a comment. An unterminated literal (a multi-line template, or a quote
    the lexer misread) ends the line as kind ``"open"``.
    """
    i = 0
    while i < len(line):
        c = line[i]
        if c in "\"'`":
            j = i + 1
            while j < len(line) and line[j] != c:
                j += 2 if line[j] == "\\" else 1
            if j >= len(line):
                yield i, len(line), "open"
                return
            yield i, j + 1, c
            i = j + 1
        elif line.startswith("//", i):
            yield i, len(line), "//"
            return
        elif line.startswith("/*", i):
            j = line.find("*/", i + 2)
            if j < 0:
                yield i, len(line), "open"
                return
            yield i, j + 2, "/*"
            i = j + 2
        else:
            i += 1


def _javascript(text: str, data: bytes, targets: Sequence[Target]) -> list[_Edit]:
    edits: list[_Edit] = []
    for target in targets:
        s, e = _char_span(data, target.hit)
        ls = text.rfind("\n", 0, s) + 1
        le = text.find("\n", s)
        le = len(text) if le < 0 else le
        if e > le:
            continue
        line = text[ls:le]
        lit = next(
            ((a, b, k) for a, b, k in _js_literals(line) if a <= s - ls and e - ls <= b), None
        )
        if lit is None or lit[2] == "open":
            continue
        a, b, kind = lit[0] + ls, lit[1] + ls, lit[2]
        expr = f"process.env.{target.env}"
        if kind in ("//", "/*"):
            edit = _Edit(s, e, f"${target.env}", target)
        elif (s, e) == (a + 1, b - 1):
            edit = _Edit(a, b, expr, target)
        elif kind == "`":
            edit = _Edit(s, e, "${" + expr + "}", target)
        else:
            before, after = text[a + 1 : s], text[e : b - 1]
            if _odd_backslashes(before):
                continue
            parts = [f"{kind}{before}{kind}"] if before else []
            parts += [expr] + ([f"{kind}{after}{kind}"] if after else [])
            edit = _Edit(a, b, "(" + " + ".join(parts) + ")", target)
        if not _overlapping(edits, edit.start, edit.end):
            edits.append(edit)
    return edits


def _js_open_lines(text: str) -> int:
    return sum(
        1 for line in text.splitlines() if any(k == "open" for _a, _b, k in _js_literals(line))
    )


# -- YAML, JSON, TOML -------------------------------------------------------------------


def _in_place(replacement: Callable[[Target], str]) -> _Rewriter:
    def rewrite(text: str, data: bytes, targets: Sequence[Target]) -> list[_Edit]:
        edits: list[_Edit] = []
        for target in targets:
            s, e = _char_span(data, target.hit)
            if not _overlapping(edits, s, e):
                edits.append(_Edit(s, e, replacement(target), target))
        return edits

    return rewrite


def _yaml_ok(text: str) -> bool:
    try:
        for _doc in YAML(typ="safe", pure=True).load_all(text):
            pass
    except (YAMLError, ValueError):
        return False
    return True


def _json_ok(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _toml_ok(text: str) -> bool:
    try:
        tomlkit.parse(text)
    except Exception:  # tomlkit raises its own hierarchy, not all ValueError
        return False
    return True


def _workflow(path: str) -> bool:
    return path.startswith(".github/workflows/")


def rewrite_file(path: str, data: bytes, targets: Sequence[Target]) -> Rewrite | None:
    """Replace each target's literal; ``None`` when nothing could be safely replaced."""
    lang = language_of(path)
    if lang is None or not targets:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    rewriters: dict[Language, tuple[_Rewriter, Callable[[str], bool], str]] = {
        "python": (_python, _python_ok, 'os.environ["NAME"]'),
        "javascript": (_javascript, lambda _text: True, "process.env.NAME"),
        "yaml": (
            _in_place(
                (lambda t: "${{ secrets." + t.env + " }}")
                if _workflow(path)
                else (lambda t: "${" + t.env + "}")
            ),
            _yaml_ok,
            "${{ secrets.NAME }}" if _workflow(path) else "${NAME}",
        ),
        "json": (_in_place(lambda t: ""), _json_ok, "removed"),
        "toml": (_in_place(lambda t: ""), _toml_ok, "removed"),
    }
    make, ok, how = rewriters[lang]
    if not ok(text):
        return None  # we cannot prove a rewrite keeps a file we cannot parse valid
    edits = make(text, data, targets)
    done = tuple(e.target for e in sorted(edits, key=lambda e: e.start) if e.target is not None)
    if not done:
        return None
    new = _apply(text, edits)
    if not ok(new):
        return None
    if lang == "javascript" and _js_open_lines(new) > _js_open_lines(text):
        return None  # no JS parser in-process: at least every edited line must still lex
    return Rewrite(content=new.encode("utf-8"), done=done, how=how)
