"""``runtime-defaults``: defaults that are fine on a laptop and fragile in production.

Read with :mod:`ast` over production code only (tests, docs, examples and
benchmarks are skipped, see ``fixers/data/production_facts.toml``):

* ``requests-no-timeout`` -- a ``requests`` call, or a call on a
  ``requests.Session``, without ``timeout=``: requests waits *forever* by
  default, so one slow upstream pins a worker until the platform kills it.
  ``httpx`` is only reported when a timeout is explicitly disabled
  (``timeout=None``): httpx applies a 5 s default of its own, so an httpx call
  without ``timeout=`` is not fragile.
* ``tls-verify-disabled`` -- ``verify=False`` on a requests/httpx call (VULNERABILITY:
  a literal, precise signal that TLS certificates are not checked).
* ``debug-enabled`` -- module-level ``DEBUG = True`` or ``.run(debug=True)`` in a
  repository that deploys, outside dev-only settings modules (``settings/dev.py``,
  ``settings_dev.py``, ``local.py``...).

The PR adds ``timeout=<seconds>`` (option ``timeout-seconds``, default 10) to
each call where that is unambiguous: no ``*args``/``**kwargs`` that might already
carry a timeout, no generator argument. The insertion point comes from the
tokenizer, every other byte is kept, and the result must parse or no patch is made.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from fixers.contract import (
    Context,
    Explanation,
    FileEdit,
    Finding,
    Patch,
    Severity,
    Snapshot,
    fingerprint,
)
from fixers.production.facts import (
    FACT_PATTERNS,
    ImportMap,
    Note,
    Source,
    all_nodes,
    dotted,
    extract_facts,
    is_dev_settings,
    is_production_path,
    parse_python,
    readable_paths,
)

__all__ = [
    "FIXER",
    "CallIssue",
    "RuntimeDefaultsFixer",
    "TimeoutEdit",
    "add_timeouts",
    "scan_module",
]

NAME = "runtime-defaults"
DEFAULT_TIMEOUT = 10
# Findings listed per file; the rest are counted in one ``findings-truncated`` finding.
MAX_PER_FILE = 100
_HTTP_METHODS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "request"})
_SESSION_FACTORIES = frozenset(
    {"requests.Session", "requests.session", "requests.sessions.Session"}
)
_HTTPX_CLIENTS = frozenset({"httpx.Client", "httpx.AsyncClient"})
# ``Session.request`` takes ``timeout`` as its 8th positional argument; with more than
# three positional arguments we cannot be sure none of them is the timeout.
_MAX_POSITIONAL = 3


@dataclass(frozen=True, slots=True)
class CallIssue:
    """One fragile call or assignment found in a module."""

    rule: str
    line: int
    col: int
    what: str  # the callee as written, e.g. ``requests.get`` or ``self.session.post``
    fixable: bool = False
    # Inside ``if __name__ == "__main__":``: runs only when the file is run directly
    # (the dev server), never when a WSGI/ASGI server imports the module.
    main_guard: bool = False


# --------------------------------------------------------------------------- detection


def _sessions(nodes: Sequence[ast.AST], imports: ImportMap) -> frozenset[str]:
    """Expressions (``s``, ``self.session``) bound to a ``requests.Session()``."""
    bound: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            if imports.resolve(node.value.func) in _SESSION_FACTORIES:
                bound.update(d for t in node.targets if (d := dotted(t)))
        elif isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                expr, var = item.context_expr, item.optional_vars
                if (
                    isinstance(expr, ast.Call)
                    and imports.resolve(expr.func) in _SESSION_FACTORIES
                    and var is not None
                    and (d := dotted(var))
                ):
                    bound.add(d)
    return frozenset(bound)


def _requests_call(call: ast.Call, imports: ImportMap, sessions: frozenset[str]) -> bool:
    func = call.func
    if imports.resolve(func) in {f"requests.{m}" for m in _HTTP_METHODS}:
        return True
    if not isinstance(func, ast.Attribute) or func.attr not in _HTTP_METHODS:
        return False
    owner = func.value
    if isinstance(owner, ast.Call) and imports.resolve(owner.func) in _SESSION_FACTORIES:
        return True  # requests.Session().get(...)
    return (dotted(owner) or "") in sessions


def _httpx_call(call: ast.Call, imports: ImportMap) -> bool:
    qualified = imports.resolve(call.func) or ""
    return qualified in _HTTPX_CLIENTS or qualified in {f"httpx.{m}" for m in _HTTP_METHODS}


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def _is_const(node: ast.expr | None, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def _fixable(call: ast.Call) -> bool:
    return (
        bool(call.args or call.keywords)
        and len(call.args) <= _MAX_POSITIONAL
        and not any(isinstance(a, ast.Starred | ast.GeneratorExp) for a in call.args)
        and not any(kw.arg is None for kw in call.keywords)
    )


def _call_issues(
    call: ast.Call, imports: ImportMap, sessions: frozenset[str]
) -> Iterator[CallIssue]:
    what = dotted(call.func) or ast.unparse(call.func)[:60]
    is_requests = _requests_call(call, imports, sessions)
    is_httpx = _httpx_call(call, imports)
    timeout = _keyword(call, "timeout")
    if is_requests and timeout is None and not any(kw.arg is None for kw in call.keywords):
        yield CallIssue("requests-no-timeout", call.lineno, call.col_offset, what, _fixable(call))
    if (is_requests or is_httpx) and _is_const(timeout, None):
        yield CallIssue("timeout-disabled", call.lineno, call.col_offset, what)
    if (is_requests or is_httpx) and _is_const(_keyword(call, "verify"), False):
        yield CallIssue("tls-verify-disabled", call.lineno, call.col_offset, what)


def scan_module(path: str, tree: ast.Module, *, deploys: bool) -> list[CallIssue]:
    """Every fragile default in one parsed module, in source order."""
    nodes = all_nodes(tree)
    imports = ImportMap.of(tree, nodes)
    sessions = _sessions(nodes, imports)
    issues: list[CallIssue] = []
    guarded = {id(n) for stmt in tree.body if _is_main_guard(stmt) for n in all_nodes(stmt)}
    for node in nodes:
        if isinstance(node, ast.Call):
            issues += _call_issues(node, imports, sessions)
            func = node.func
            if (
                deploys
                and isinstance(func, ast.Attribute)
                and func.attr == "run"
                and _is_const(_keyword(node, "debug"), True)
            ):
                what = f"{dotted(func) or 'run'}(debug=True)"
                issues.append(
                    CallIssue(
                        "debug-enabled",
                        node.lineno,
                        node.col_offset,
                        what,
                        main_guard=id(node) in guarded,
                    )
                )
    if deploys and not is_dev_settings(path):
        for stmt in tree.body:
            if (
                isinstance(stmt, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "DEBUG" for t in stmt.targets)
                and _is_const(stmt.value, True)
            ):
                what = "DEBUG = True"
                issues.append(CallIssue("debug-enabled", stmt.lineno, stmt.col_offset, what))
    return sorted(issues, key=lambda i: (i.line, i.col, i.rule))


def _is_main_guard(stmt: ast.stmt) -> bool:
    """``if __name__ == "__main__":`` (either operand order)."""
    if not isinstance(stmt, ast.If) or not isinstance(stmt.test, ast.Compare):
        return False
    test = stmt.test
    if len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    consts = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(consts) == 1


_RUN_FILE = re.compile(r"\bpython[\d.]*\s+(?:-[a-zA-Z]+\s+)*([\w./-]+\.py)\b")


def _run_directly(commands: Sequence[str], path: str) -> bool:
    """A deploy command runs ``path`` as a script (``python app.py``): its ``__main__``
    block, dev server and all, is then production."""
    for command in commands:
        for m in _RUN_FILE.finditer(command):
            target = m.group(1).removeprefix("./")
            if target == path or path.endswith("/" + target) or target.endswith("/" + path):
                return True
    return False


# --------------------------------------------------------------------------- the edit


def _significant(source: bytes) -> list[tokenize.TokenInfo]:
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    tokens = tokenize.tokenize(io.BytesIO(source).readline)
    return [t for t in tokens if t.type not in skip and t.type != tokenize.ENCODING]


@dataclass(frozen=True, slots=True)
class TimeoutEdit:
    content: bytes
    calls: frozenset[tuple[int, int]]  # the (line, col) of each call that gained a timeout


def add_timeouts(
    source: bytes, calls: Sequence[tuple[int, int]], seconds: float
) -> TimeoutEdit | None:
    """``source`` with ``timeout=seconds`` added to the calls starting at ``(line, col)``.

    ``col`` is the call's ``col_offset`` as :mod:`ast` reports it (UTF-8 bytes). A
    call whose closing parenthesis the tokenizer cannot place (inside an f-string,
    say) is skipped. ``None`` when nothing could be added or the result would not
    parse, or the re-parsed result does not show exactly those calls with a timeout.
    """
    try:
        text = source.decode("utf-8")
        tree = ast.parse(source)
        tokens = _significant(source)
    except (UnicodeDecodeError, SyntaxError, ValueError, tokenize.TokenError, RecursionError):
        return None
    wanted = set(calls)
    rows = text.splitlines(keepends=True)
    starts = [0]
    for row in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(row))
    by_end = {tok.end: i for i, tok in enumerate(tokens) if tok.string == ")"}
    inserts: list[tuple[int, bytes]] = []
    done: list[tuple[int, int]] = []
    value = f"{seconds:g}"
    for node in all_nodes(tree):
        if not isinstance(node, ast.Call) or (node.lineno, node.col_offset) not in wanted:
            continue
        assert node.end_lineno is not None and node.end_col_offset is not None
        end_row = rows[node.end_lineno - 1].encode("utf-8")[: node.end_col_offset]
        index = by_end.get((node.end_lineno, len(end_row.decode("utf-8", "replace"))))
        if not index or tokens[index - 1].string == "(":
            continue
        last = tokens[index - 1]
        row, col = last.end
        offset = starts[row - 1] + len(rows[row - 1][:col].encode("utf-8"))
        text_in = f" timeout={value}," if last.string == "," else f", timeout={value}"
        inserts.append((offset, text_in.encode("utf-8")))
        done.append((node.lineno, node.col_offset))
    if not inserts:
        return None
    out = bytearray(source)
    for offset, text_in in sorted(inserts, reverse=True):
        out[offset:offset] = text_in
    result = bytes(out)
    return _proven(result, starts, inserts, done)


def _proven(
    result: bytes,
    starts: list[int],
    inserts: list[tuple[int, bytes]],
    done: list[tuple[int, int]],
) -> TimeoutEdit | None:
    """The edit, if the result parses and exactly the edited calls now have a timeout."""
    try:
        after = ast.parse(result)
    except (SyntaxError, ValueError, RecursionError):
        return None

    def moved(line: int, col: int) -> tuple[int, int]:
        # Insertions earlier on the same line shift a call's start; none adds a line.
        first, at = starts[line - 1], starts[line - 1] + col
        return line, col + sum(len(text) for offset, text in inserts if first <= offset <= at)

    expected = {moved(line, col) for line, col in done}
    timed = {
        (node.lineno, node.col_offset)
        for node in all_nodes(after)
        if isinstance(node, ast.Call) and _keyword(node, "timeout") is not None
    }
    if not expected <= timed:
        return None
    return TimeoutEdit(result, frozenset(done))


# --------------------------------------------------------------------------- fixer

_RULES = {
    "requests-no-timeout": (
        Severity.HYGIENE,
        "HTTP call without a timeout",
        "`{what}(...)` has no `timeout=`: requests waits forever by default, so one slow "
        "upstream pins a worker until the platform kills it.",
    ),
    "timeout-disabled": (
        Severity.HYGIENE,
        "HTTP timeout disabled",
        "`{what}(..., timeout=None)` disables the timeout: a slow upstream hangs the caller.",
    ),
    "tls-verify-disabled": (
        Severity.VULNERABILITY,
        "TLS certificate verification disabled",
        "`{what}(..., verify=False)` does not check the server's certificate: anyone on the "
        "path can read and change the traffic, credentials included.",
    ),
    "debug-served": (
        Severity.VULNERABILITY,
        "Debug server in production",
        '`{what}` runs under `if __name__ == "__main__":`, and the deploy command runs '
        "this file directly, so production serves the development server with its debugger "
        "on: with Flask, any visitor who triggers an error can run code. Serve it with a WSGI "
        "server (gunicorn) or read debug from the environment, default off.",
    ),
    "debug-enabled": (
        Severity.HYGIENE,
        "Debug mode on in code that deploys",
        "`{what}` turns debug mode on in a module that is not a dev-only settings file; in "
        "production that shows tracebacks and settings to visitors (Flask's debugger even "
        "runs code). Read it from the environment, default off.",
    ),
}


def _timeout_option(ctx: Context) -> float:
    raw = ctx.options.get("timeout-seconds", DEFAULT_TIMEOUT)
    if isinstance(raw, int | float) and not isinstance(raw, bool) and 0 < raw <= 600:
        return float(raw)
    return float(DEFAULT_TIMEOUT)


@dataclass(frozen=True)
class RuntimeDefaultsFixer:
    name: str = NAME
    # Python files, plus what tells whether the repository deploys (for debug flags).
    patterns: tuple[str, ...] = FACT_PATTERNS
    # "repo": debug findings depend on whether the repository deploys at all.
    scope: Literal["file", "repo"] = "repo"

    def detect(self, snapshot: Snapshot, ctx: Context) -> list[Finding]:
        scanned = self._scan(snapshot, ctx)
        # Whether the repository deploys takes a scan of its own: ask only when it matters.
        if any(i.rule == "debug-enabled" for _, issues in scanned for i in issues):
            facts = extract_facts(snapshot, ctx.ignored)
            commands = [p.command for p in (*facts.processes, *facts.release)]
            scanned = [
                (
                    path,
                    [
                        _promoted(i) if i.main_guard else i
                        for i in got
                        if i.rule != "debug-enabled"
                        or (facts.deploys and (not i.main_guard or _run_directly(commands, path)))
                    ],
                )
                for path, got in scanned
            ]
        findings: list[Finding] = []
        for path, issues in scanned:
            if len(issues) > MAX_PER_FILE:
                findings.append(_truncated(path, len(issues) - MAX_PER_FILE))
                issues = issues[:MAX_PER_FILE]
            seen: dict[str, int] = {}
            for issue in issues:
                key = f"{issue.rule}:{issue.what}"
                seen[key] = seen.get(key, 0) + 1
                findings.append(_finding(path, issue, seen[key]))
        return findings

    def _scan(self, snapshot: Snapshot, ctx: Context) -> list[tuple[str, list[CallIssue]]]:
        scanned: list[tuple[str, list[CallIssue]]] = []
        for path in readable_paths(snapshot, ("**/*.py",), ctx.ignored):
            if not is_production_path(path):
                continue
            data = snapshot.read(path)
            tree = parse_python(path, data) if data is not None else None
            if tree is None or isinstance(tree, Note):
                continue
            try:
                scanned.append((path, scan_module(path, tree, deploys=True)))
            except RecursionError:
                continue
        return scanned

    def fix(self, snapshot: Snapshot, findings: Sequence[Finding], ctx: Context) -> list[Patch]:
        wanted: dict[str, list[Finding]] = {}
        for f in findings:
            if f.rule == "requests-no-timeout" and f.data.get("fixable") and f.path:
                wanted.setdefault(f.path, []).append(f)
        seconds = _timeout_option(ctx)
        edits: list[FileEdit] = []
        fixed: list[Finding] = []
        for path, items in sorted(wanted.items()):
            source = snapshot.read(path)
            spots = [(int(f.data["line"]), int(f.data["col"])) for f in items]
            edit = add_timeouts(source, spots, seconds) if source is not None else None
            if edit is not None:
                edits.append(FileEdit(path, "modify", edit.content))
                fixed += [f for f in items if (f.data["line"], f.data["col"]) in edit.calls]
        if not edits:
            return []
        return [_timeout_patch(tuple(edits), fixed, seconds)]


def _promoted(issue: CallIssue) -> CallIssue:
    """A ``__main__`` dev-server debug flag that the deploy command really runs."""
    return replace(issue, rule="debug-served")


def _truncated(path: str, more: int) -> Finding:
    shown = str(Source(path))  # printable, no backticks
    return Finding(
        fixer=NAME,
        rule="findings-truncated",
        severity=Severity.HYGIENE,
        path=path,
        title="More fragile defaults than listed",
        message=f"{more} more fragile defaults in `{shown}` are not listed: only the first "
        f"{MAX_PER_FILE} of a file are reported, so one generated file cannot flood a scan.",
        fingerprint=fingerprint(NAME, "findings-truncated", path),
    )


def _finding(path: str, issue: CallIssue, ordinal: int) -> Finding:
    severity, title, template = _RULES[issue.rule]
    return Finding(
        fixer=NAME,
        rule=issue.rule,
        severity=severity,
        path=path,
        line=issue.line,
        title=title,
        message=template.format(what=issue.what),
        fingerprint=fingerprint(NAME, issue.rule, path, issue.what, str(ordinal)),
        data={"line": issue.line, "col": issue.col, "fixable": issue.fixable, "call": issue.what},
    )


def _timeout_patch(edits: tuple[FileEdit, ...], fixed: list[Finding], seconds: float) -> Patch:
    places = "\n".join(f"- `{f.path}:{f.line}` `{f.data.get('call')}(...)`" for f in fixed)
    return Patch(
        fixer=NAME,
        key="http-timeouts",
        title=f"Add a {seconds:g} s timeout to {len(fixed)} HTTP call(s)",
        edits=edits,
        explanation=Explanation(
            found=f"HTTP calls made with `requests` and no timeout:\n\n{places}",
            why="`requests` has no default timeout: a call to a slow or silent upstream waits "
            "forever, holding a worker; enough of them and the whole app stops answering.",
            changes=f"Adds `timeout={seconds:g}` (seconds) as the last argument of each call "
            "above. Nothing else in the files changes; calls passing `*args`/`**kwargs` that "
            "might already carry a timeout are left alone and still reported.",
            verify="Run the test suite; check that each upstream answers well within "
            f"{seconds:g} s and raise the value where a call is legitimately slow.",
            rollback="Revert this commit; the calls go back to waiting without a limit.",
        ),
        severity=Severity.HYGIENE,
        fingerprints=tuple(f.fingerprint for f in fixed),
    )


FIXER = RuntimeDefaultsFixer()
