"""Replacing a literal credential with an environment lookup, in the file's own language.

Every rewrite is checked by parsing the result (Python ``ast``, YAML via ruamel, JSON,
TOML via tomlkit); a rewrite that would not parse is refused and the finding stays
report-only. Bytes outside the replaced spans are never touched.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from fixers.nesting import json_loads, tomlkit_parse
from fixers.secrets.engine import Hit
from fixers.yaml_budget import check_yaml

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
    # What ``text`` stands for once parsed, when that differs (a quoted YAML scalar).
    meaning: str | None = None


_Rewriter = Callable[[str, bytes, Sequence[Target]], list[_Edit]]
# (original text, new text, edits) -> is the new text still valid and equivalent?
_Check = Callable[[str, str, Sequence[_Edit]], bool]


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
    except (SyntaxError, tokenize.TokenError, ValueError, RecursionError, MemoryError):
        return []
    edits: list[_Edit] = []
    for target in targets:
        s, e = _char_span(data, target.hit)
        if target.hit.rule.fallback:
            # `os.getenv("X", "dev")` -> `os.environ["X"]`: a KeyError at start-up names the
            # missing variable instead of running on the committed stand-in.
            if not _overlapping(edits, s, e):
                edits.append(_Edit(s, e, f'os.environ["{target.env}"]', target))
            continue
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
    except (SyntaxError, ValueError, RecursionError, MemoryError):
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


_JS_OPENER = re.compile(r"""/[/*]|["'`]""")


def js_block_comments(text: str) -> list[tuple[int, int]]:
    """(start, end) of the block comments that span lines (`/** ... */` doc blocks): a
    line inside one reads like code (` *   headers.Authorization = 'Basic ...'`) but is
    text. Strings end at their line (a quote the lexer misreads cannot swallow the file),
    templates may span lines; linear: each opener is closed by one `find`."""
    spans: list[tuple[int, int]] = []
    i = 0
    while (m := _JS_OPENER.search(text, i)) is not None:
        at, tok = m.start(), m.group(0)
        if tok == "//":
            nl = text.find("\n", at)
            i = len(text) if nl < 0 else nl + 1
        elif tok == "/*":
            end = text.find("*/", at + 2)
            end = len(text) if end < 0 else end + 2
            if "\n" in text[at:end]:
                spans.append((at, end))
            i = end
        else:
            i = _string_end(text, at + 1, tok)
    return spans


# The rest of a string after its opening quote: escapes and other characters (disjoint
# first characters, so linear), then the closing quote, or the line's end for a quote
# string (a template runs on over lines).
_STRING_REST = {
    '"': re.compile(r'(?:[^"\\\n]|\\.)*(?:"|\n)?', re.S),
    "'": re.compile(r"(?:[^'\\\n]|\\.)*(?:'|\n)?", re.S),
    "`": re.compile(r"(?:[^`\\]|\\.)*`?", re.S),
}


def _string_end(text: str, j: int, quote: str) -> int:
    """Where a string or template opened just before ``j`` ends."""
    m = _STRING_REST[quote].match(text, j)
    return len(text) if m is None else m.end()


_JSX_ATTRIBUTE = re.compile(r"<[A-Za-z][\w.]*(?:\s[^<>]*)?\s[\w:-]+=$")


def _javascript(text: str, data: bytes, targets: Sequence[Target]) -> list[_Edit]:
    edits: list[_Edit] = []
    blocks: list[tuple[int, int]] | None = None
    for target in targets:
        s, e = _char_span(data, target.hit)
        if target.hit.rule.fallback:
            name = target.env
            fail = f'(() => {{ throw new Error("{name} is not set"); }})()'
            if not _overlapping(edits, s, e):
                edits.append(_Edit(s, e, f"(process.env.{name} ?? {fail})", target))
            continue
        ls = text.rfind("\n", 0, s) + 1
        le = text.find("\n", s)
        le = len(text) if le < 0 else le
        if e > le:
            continue
        if blocks is None:
            blocks = js_block_comments(text)
        if any(a <= s and e <= b for a, b in blocks):
            # Inside a doc block: the value is text, so it gives way to the name as text,
            # like a comment on a code line (never code written into a comment).
            if not _overlapping(edits, s, e):
                edits.append(_Edit(s, e, f"${target.env}", target))
            continue
        line = text[ls:le]
        lit = next(
            ((a, b, k) for a, b, k in _js_literals(line) if a <= s - ls and e - ls <= b), None
        )
        if lit is None or lit[2] == "open":
            continue
        a, b, kind = lit[0] + ls, lit[1] + ls, lit[2]
        expr = f"process.env.{target.env}"
        # A JSX attribute value (`<Pay apiKey="..." />`) takes an expression only in braces.
        jsx = kind in "\"'" and bool(_JSX_ATTRIBUTE.search(text[ls:a]))
        if kind in ("//", "/*"):
            edit = _Edit(s, e, f"${target.env}", target)
        elif (s, e) == (a + 1, b - 1):
            edit = _Edit(a, b, "{" + expr + "}" if jsx else expr, target)
        elif kind == "`":
            edit = _Edit(s, e, "${" + expr + "}", target)
        else:
            before, after = text[a + 1 : s], text[e : b - 1]
            if _odd_backslashes(before):
                continue
            parts = [f"{kind}{before}{kind}"] if before else []
            parts += [expr] + ([f"{kind}{after}{kind}"] if after else [])
            joined = "(" + " + ".join(parts) + ")"
            edit = _Edit(a, b, "{" + joined + "}" if jsx else joined, target)
        if not _overlapping(edits, edit.start, edit.end):
            edits.append(edit)
    return edits


def _js_open_lines(text: str, known: dict[str, bool]) -> int:
    """Lines of ``text`` the lexer leaves open; ``known`` remembers each line's answer
    (a rewrite leaves most lines as they were)."""
    count = 0
    for line in text.splitlines():
        opens = known.get(line)
        if opens is None:
            # Only a quote or a block comment can open (a quick test: most lines have none).
            opens = known[line] = ("/*" in line or any(q in line for q in "\"'`")) and any(
                k == "open" for _a, _b, k in _js_literals(line)
            )
        count += opens
    return count


# -- YAML, JSON, TOML -------------------------------------------------------------------


_TOKEN_TAIL = re.compile(r"[^\s'\",\]}#]*")


def _in_place(replacement: Callable[[Target], str], *, quote: bool = False) -> _Rewriter:
    """Swap the literal for ``replacement`` where it stands; with ``quote``, a bare
    (unquoted) literal becomes a double-quoted scalar."""

    def rewrite(text: str, data: bytes, targets: Sequence[Target]) -> list[_Edit]:
        edits: list[_Edit] = []
        for target in targets:
            s, e = _char_span(data, target.hit)
            # The rule's value may stop short of the token (`SECRET_KEY=ab=cd` stops at the
            # second `=`): replace through the token's end, never leave a tail of the secret.
            e += len(_TOKEN_TAIL.match(text, e).group(0))
            new = meaning = replacement(target)
            if quote and text[s - 1 : s] not in ("'", '"'):
                new = f'"{meaning}"'
            if not _overlapping(edits, s, e):
                edits.append(_Edit(s, e, new, target, meaning))
        return edits

    return rewrite


_UNPARSED = object()


def _load_yaml(text: str) -> Any:
    """The documents, or _UNPARSED; never a document over the node budget: comparing or
    substituting into an alias bomb expands it (a 400-byte file, 2.3 GB)."""
    try:
        check_yaml(text)
        return list(YAML(typ="safe", pure=True).load_all(text))
    except (YAMLError, ValueError, RecursionError):
        return _UNPARSED


def _load_json(text: str) -> Any:
    try:
        return json_loads(text)
    except (ValueError, RecursionError):
        return _UNPARSED


def _load_toml(text: str) -> Any:
    try:
        return tomlkit_parse(text).unwrap()
    except Exception:  # tomlkit raises its own hierarchy, not all ValueError
        return _UNPARSED


def _substitute(obj: Any, pairs: Sequence[tuple[str, str]]) -> Any:
    """``obj`` with every replaced literal swapped inside its strings (keys included)."""
    if isinstance(obj, dict):
        return {_substitute(k, pairs): _substitute(v, pairs) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_substitute(v, pairs) for v in obj]
    if obj is None or isinstance(obj, bool):
        return obj
    text = obj if isinstance(obj, str) else str(obj)
    if not any(old in text for old, _new in pairs):
        return obj
    for old, new in pairs:
        text = text.replace(old, new)
    return text


def _same_shape(
    load: Callable[[str], Any], old: str, new: str, edits: Sequence[_Edit], before: Any
) -> bool:
    """The edited document equals the original (``before``, ``old`` loaded) with only the
    literals replaced: a YAML flow mapping split by `}` or a JSON key swallowed by an edit
    would not."""
    after = load(new)
    if before is _UNPARSED or after is _UNPARSED:
        return False
    pairs = [
        (old[e.start : e.end], e.text if e.meaning is None else e.meaning)
        for e in edits
        if e.target is not None
    ]
    return _substitute(before, pairs) == after


def _python_parses(old: str, new: str, edits: Sequence[_Edit]) -> bool:
    return _python_ok(new)


def _js_lexes(old: str, new: str, edits: Sequence[_Edit]) -> bool:
    """No JS parser in-process: at least no line may be left with an open literal."""
    known: dict[str, bool] = {}
    return _js_open_lines(new, known) <= _js_open_lines(old, known)


def _workflow(path: str) -> bool:
    return path.startswith(".github/workflows/")


# A YAML file that already reads the environment through ERB (Rails' `config/*.yml`:
# `<%= ENV["SECRET_KEY_BASE"] %>`) is rendered by ERB, not by a shell-style expander: a
# `${NAME}` there would reach the app as those very characters.
_ERB_ENV = re.compile(r"<%=[ \t]*ENV(?:\[|\.fetch\()")


def _yaml_reference(
    path: str, text: str
) -> tuple[tuple[Callable[[Target], str], Callable[[Target], str]], str]:
    """How a YAML file refers to a variable: (plain, inside double quotes), and the form
    the PR names. Workflows take a repository secret; a file that reads the environment
    through ERB takes ERB; anything else `${NAME}` (Docker Compose and most loaders)."""
    if _workflow(path):
        ref: Callable[[Target], str] = lambda t: "${{ secrets." + t.env + " }}"  # noqa: E731
        return (ref, ref), "${{ secrets.NAME }}"
    if _ERB_ENV.search(text):
        return (
            (lambda t: f'<%= ENV["{t.env}"] %>', lambda t: f"<%= ENV['{t.env}'] %>"),
            '<%= ENV["NAME"] %>',
        )
    ref = lambda t: "${" + t.env + "}"  # noqa: E731
    return (ref, ref), "${NAME}"


def rewrite_file(path: str, data: bytes, targets: Sequence[Target]) -> Rewrite | None:
    """Replace each target's literal; ``None`` when nothing could be safely replaced."""
    lang = language_of(path)
    if lang is None or not targets:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    loaders: dict[Language, Callable[[str], Any]] = {
        "yaml": _load_yaml,
        "json": _load_json,
        "toml": _load_toml,
    }
    checks: dict[Language, tuple[Callable[[str], bool], _Check]] = {
        "python": (_python_ok, _python_parses),
        "javascript": (lambda _text: True, _js_lexes),
    }
    if lang in loaders:
        # Loaded once: the original is what every way of rewriting it is compared with.
        load, before = loaders[lang], loaders[lang](text)
        checks[lang] = (
            lambda _t: before is not _UNPARSED,
            lambda a, b, e: _same_shape(load, a, b, e, before),
        )
    yaml_ref, yaml_how = _yaml_reference(path, text)
    # Each language's ways to rewrite, tried in order until one passes the checks (YAML:
    # plain first, keeping the file's style; quoted when a flow collection needs it).
    makers: dict[Language, tuple[list[_Rewriter], str]] = {
        "python": ([_python], 'os.environ["NAME"]'),
        "javascript": ([_javascript], "process.env.NAME"),
        "yaml": (
            [_in_place(yaml_ref[0]), _in_place(yaml_ref[1], quote=True)],
            yaml_how,
        ),
        "json": ([_in_place(lambda t: "")], "removed"),
        "toml": ([_in_place(lambda t: "")], "removed"),
    }
    parses, still_valid = checks[lang]
    ways, how = makers[lang]
    if not parses(text):
        return None  # we cannot prove a rewrite keeps a file we cannot parse valid
    for make in ways:
        edits = make(text, data, targets)
        done = tuple(e.target for e in sorted(edits, key=lambda e: e.start) if e.target is not None)
        new = _apply(text, edits)
        if done and still_valid(text, new, edits):
            return Rewrite(content=new.encode("utf-8"), done=done, how=how)
    return None
