"""A held-out corpus from other scanners' own rule test cases, built at benchmark time.

gitleaks and betterleaks keep, next to each rule, the strings it must match (``tps``) and
must not match (``fps``), written in Go: literals, and calls that generate a value from a
regular expression and wrap it in the ~25 assignment shapes of ``GenerateSampleSecrets``.
This module reads those Go files from a local git mirror of the peer's repository (the
``fetch`` tool brings one), evaluates the small subset of Go the test cases use, and
returns labelled snippets. Nothing of it is committed: the corpus exists only in the
benchmark's memory and temporary directory, and is used only to measure (never as
Patchwell's own test strings).

Statements the evaluator does not understand are skipped and counted, never guessed.
"""

from __future__ import annotations

import math
import random
import re
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser as P  # type: ignore[attr-defined]
from typing import Any

RULES_DIR = "cmd/generate/config/rules"
GENERATE_GO = "cmd/generate/config/utils/generate.go"
UNBOUNDED_EXTRA = 24  # how far past its minimum an unbounded repeat (`+`, `{n,}`) goes


@dataclass(frozen=True, slots=True)
class Case:
    source: str
    family: str  # the peer's rule id
    positive: bool
    text: str = field(repr=False)


@dataclass
class CorpusStats:
    files: int = 0
    functions: int = 0
    skipped_statements: Counter[str] = field(default_factory=Counter)


class Unsupported(Exception):
    """A construct this evaluator does not model: the statement is skipped."""


# -- reading the mirror --------------------------------------------------------------------


def _git(git_dir: Path, *args: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", *args], check=True, capture_output=True, text=True
    ).stdout


def _files(git_dir: Path) -> Iterator[tuple[str, str]]:
    for path in _git(git_dir, "ls-tree", "--name-only", "HEAD", f"{RULES_DIR}/").split():
        if path.endswith(".go") and not path.endswith("_test.go"):
            yield path, _git(git_dir, "show", f"HEAD:{path}")


# -- Go tokens -----------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<ws>[ \t\r]+)|(?P<nl>\n)|(?P<lc>//[^\n]*)|(?P<bc>/\*.*?\*/)"""
    r"""|(?P<raw>`[^`]*`)|(?P<str>"(?:[^"\\\n]|\\.)*")|(?P<chr>'(?:[^'\\\n]|\\.)+')"""
    r"""|(?P<num>[0-9]+(?:\.[0-9]+)?)|(?P<id>[A-Za-z_][A-Za-z0-9_]*)"""
    r"""|(?P<op>\.\.\.|:=|==|!=|&&|\|\||<-|[-+*/%=(){}\[\],.:;<>!&|^])""",
    re.S,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\", "a": "\a", "0": "\0"}


def _unquote(lit: str) -> str:
    body, out, i = lit[1:-1], [], 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt == "x":
            out.append(chr(int(body[i + 2 : i + 4], 16)))
            i += 4
        elif nxt == "u":
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        else:
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Tok:
    kind: str
    text: str


def tokens(src: str) -> list[Tok]:
    out: list[Tok] = []
    for m in _TOKEN.finditer(src):
        kind = m.lastgroup or ""
        if kind in ("ws", "lc", "bc"):
            if kind == "bc" and "\n" in m.group(0):
                out.append(Tok("nl", "\n"))
            continue
        out.append(Tok(kind, m.group(0)))
    return out


# -- generating a string from a regular expression ----------------------------------------

_POSIX = {
    "[:alnum:]": "a-zA-Z0-9",
    "[:alpha:]": "a-zA-Z",
    "[:digit:]": "0-9",
    "[:xdigit:]": "0-9a-fA-F",
    "[:upper:]": "A-Z",
    "[:lower:]": "a-z",
    "[:space:]": " \\t",
    "[:punct:]": "!#$%&*+,./:;=?@^_~-",
    "[:word:]": "a-zA-Z0-9_",
}
_CLASS_POOL = [chr(c) for c in range(32, 127)]


def _python_regex(go: str) -> str:
    py = go.replace("\\z", "\\Z")
    for k, v in _POSIX.items():
        py = py.replace(k, v)
    py = re.sub(r"\(\?[imsU-]+\)", "", py)  # flags: irrelevant to generation
    py = re.sub(r"\(\?[imsU-]+:", "(?:", py)
    py = re.sub(r"\(\?P<", "(?P<", py)
    return py


class _Gen:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.groups: dict[int, str] = {}

    def seq(self, items: Any) -> str:
        return "".join(self.node(op, av) for op, av in items)

    def _in(self, items: list[tuple[Any, Any]]) -> str:
        negate = any(op is C.NEGATE for op, _ in items)
        members: list[str] = []
        for op, av in items:
            if op is C.LITERAL:
                members.append(chr(av))
            elif op is C.RANGE:
                lo, hi = av
                members += [chr(c) for c in range(lo, min(hi, lo + 200) + 1)]
            elif op is C.CATEGORY:
                members += _category(av)
        if negate:
            pool = [c for c in _CLASS_POOL if c not in members and c not in "\n\r"]
            return self.rng.choice(pool)
        if not members:
            raise Unsupported("empty class")
        return self.rng.choice(members)

    def node(self, op: Any, av: Any) -> str:
        if op is C.LITERAL:
            return chr(av)
        if op is C.NOT_LITERAL:
            return self.rng.choice([c for c in "abcXYZ019" if ord(c) != av])
        if op is C.ANY:
            return self.rng.choice("abcdefXYZ0123456789")
        if op is C.IN:
            return self._in(av)
        if op is C.CATEGORY:
            return self.rng.choice(_category(av))
        if op is C.BRANCH:
            return self.seq(self.rng.choice(av[1]))
        if op is C.SUBPATTERN:
            group, _add, _del, sub = av
            text = self.seq(sub)
            if group:
                self.groups[group] = text
            return text
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", C.MAX_REPEAT)):
            lo, hi, sub = av
            top = lo + UNBOUNDED_EXTRA if hi is C.MAXREPEAT else hi
            return "".join(self.seq(sub) for _ in range(self.rng.randint(lo, max(lo, top))))
        if op is C.GROUPREF:
            return self.groups.get(av, "")
        if op in (C.AT, C.ASSERT, C.ASSERT_NOT):
            return ""
        raise Unsupported(f"regex op {op}")


def _category(cat: Any) -> list[str]:
    table = {
        C.CATEGORY_DIGIT: list("0123456789"),
        C.CATEGORY_SPACE: [" "],
        C.CATEGORY_WORD: list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"),
        C.CATEGORY_NOT_DIGIT: list("abcXYZ_-"),
        C.CATEGORY_NOT_SPACE: list("abcXYZ019_-"),
        C.CATEGORY_NOT_WORD: list("-.:/ "),
    }
    if cat not in table:
        raise Unsupported(f"category {cat}")
    return table[cat]


def generate(go_regex: str, rng: random.Random) -> str:
    try:
        parsed = P.parse(_python_regex(go_regex))
    except (re.error, OverflowError) as exc:
        raise Unsupported(f"regex: {exc}") from exc
    return _Gen(rng).seq(parsed)


def entropy(s: str) -> float:
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values()) if n else 0.0


# -- evaluating the test-case expressions --------------------------------------------------

_CLASSES = {
    "Numeric": "[0-9]{%s}",
    "Hex": "[a-f0-9]{%s}",
    "AlphaNumeric": "[a-z0-9]{%s}",
    "AlphaNumericExtendedShort": "[a-z0-9_-]{%s}",
    "AlphaNumericExtended": "[a-z0-9=_\\-]{%s}",
    "AlphaNumericExtendedLong": "[a-z0-9\\/=_\\+\\-]{%s}",
}


def sample_templates(generate_go: str) -> list[str]:
    """The wrapping shapes of ``GenerateSampleSecrets``, read from the peer's own source."""
    body = generate_go.split("samples := map[string]string{", 1)[1].split("\n\t}", 1)[0]
    out = []
    for line in body.splitlines():
        line = line.strip()
        if not line or line.startswith("//"):
            continue
        toks = [t for t in tokens(line) if t.kind != "nl"]
        if len(toks) >= 3 and toks[1].text == ":" and toks[2].kind in ("str", "raw"):
            out.append(_literal(toks[2]))
    return out


def _literal(t: Tok) -> str:
    return t.text[1:-1] if t.kind == "raw" else _unquote(t.text)


class Evaluator:
    """Evaluates one Go expression at a time over a token list."""

    def __init__(self, toks: list[Tok], env: dict[str, Any], templates: list[str], rng) -> None:
        self.toks = toks
        self.i = 0
        self.env = env
        self.templates = templates
        self.rng = rng

    def peek(self, skip_nl: bool = True) -> Tok:
        j = self.i
        while skip_nl and j < len(self.toks) and self.toks[j].kind == "nl":
            j += 1
        return self.toks[j] if j < len(self.toks) else Tok("eof", "")

    def take(self, skip_nl: bool = True) -> Tok:
        while skip_nl and self.i < len(self.toks) and self.toks[self.i].kind == "nl":
            self.i += 1
        if self.i >= len(self.toks):
            raise Unsupported("unexpected end")
        t = self.toks[self.i]
        self.i += 1
        return t

    def expect(self, text: str) -> None:
        t = self.take()
        if t.text != text:
            raise Unsupported(f"expected {text!r}, got {t.text!r}")

    def expr(self) -> Any:
        value = self.primary()
        while self.peek(skip_nl=False).text == "+":
            self.take(skip_nl=False)
            right = self.primary()
            if not (isinstance(value, str) and isinstance(right, str)):
                raise Unsupported("+ of non-strings")
            value += right
        return value

    def _composite(self) -> Any:
        # []string{...} or map[string]string{...}
        is_map = self.peek().text == "map"
        while self.peek().text != "{":
            self.take()
        self.expect("{")
        items: list[str] = []
        while self.peek().text != "}":
            first = self.expr()
            if is_map and self.peek().text == ":":
                self.take()
                first = self.expr()  # a map of path -> content: the content is the case
            if isinstance(first, list):
                items += first
            else:
                items.append(first)
            if self.peek().text == ",":
                self.take()
        self.expect("}")
        return items

    def primary(self) -> Any:
        t = self.peek()
        if t.kind in ("str", "raw"):
            self.take()
            return _literal(t)
        if t.kind == "num":
            self.take()
            return float(t.text) if "." in t.text else int(t.text)
        if t.text in ("[", "map"):
            return self._composite()
        if t.text == "(":
            self.take()
            v = self.expr()
            self.expect(")")
            return v
        if t.kind == "id":
            name = self.take().text
            while self.peek(skip_nl=False).text == ".":
                self.take()
                name += "." + self.take().text
            if self.peek(skip_nl=False).text == "(":
                return self.call(name, self.args())
            if name in self.env:
                return self.env[name]
            raise Unsupported(f"unknown name {name}")
        raise Unsupported(f"token {t.text!r}")

    def args(self) -> list[Any]:
        self.expect("(")
        out: list[Any] = []
        while self.peek().text != ")":
            v = self.expr()
            if self.peek().text == "...":
                self.take()
                if not isinstance(v, list):
                    raise Unsupported("spread of non-list")
                out.append(("spread", v))
            else:
                out.append(v)
            if self.peek().text == ",":
                self.take()
        self.expect(")")
        return out

    def call(self, name: str, args: list[Any]) -> Any:
        fn = name.rsplit(".", 1)[-1]
        plain = [a for a in args if not isinstance(a, tuple)]
        if fn == "append":
            out = list(args[0])
            for a in args[1:]:
                out += a[1] if isinstance(a, tuple) else [a]
            return out
        if fn == "NewSecret":
            return generate(plain[0], self.rng)
        if fn == "NewSecretWithEntropy":
            for _ in range(40):
                s = generate(plain[0], self.rng)
                if entropy(s) > float(plain[1]):
                    return s
            return s
        if fn in _CLASSES:
            return _CLASSES[fn] % plain[0]
        if fn == "Hex8_4_4_4_12":
            return "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
        if fn == "GenerateSampleSecrets":
            ident, secret = plain[0], plain[1]
            return [
                t.replace("{i}", ident).replace("{I}", ident.upper()).replace("{s}", secret)
                for t in self.templates
            ]
        if fn == "GenerateSampleSecret":
            return f'{plain[0]}_api_token = "{plain[1]}"'
        if fn == "Sprintf":
            return _sprintf(plain[0], plain[1:])
        if fn == "Repeat":
            return plain[0] * int(plain[1])
        if fn == "ToUpper":
            return plain[0].upper()
        if fn == "ToLower":
            return plain[0].lower()
        if fn == "Join":
            return plain[1].join(plain[0])
        raise Unsupported(f"call {name}")


def _sprintf(fmt: str, args: list[Any]) -> str:
    it = iter(args)

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "%%":
            return "%"
        v = next(it)
        return f'"{v}"' if m.group(0) == "%q" else str(v)

    return re.sub(r"%[-+# 0-9.]*[sdvq%]", one, fmt)


# -- statements ----------------------------------------------------------------------------

_FUNC = re.compile(r"^func [A-Za-z0-9_]+\(\) \*config\.Rule \{$", re.M)
_RULE_ID = re.compile(r"""RuleID:\s*"([^"]+)\"""")
_TOP = re.compile(r"^(?:const|var) ([A-Za-z_][A-Za-z0-9_]*)(?: [A-Za-z.\[\]]+)? = ", re.M)


def _statements(toks: list[Tok]) -> Iterator[tuple[str, int]]:
    """(assigned name, index of the first token of its right-hand side) for `x := ...`,
    `x = ...` and `var x = ...` at the start of a line."""
    at_start = True
    for i, t in enumerate(toks):
        if t.kind == "nl":
            at_start = True
            continue
        if at_start and t.kind == "id":
            j = i + 1 if t.text != "var" else i + 2
            name = toks[j - 1].text if t.text == "var" else t.text
            while j < len(toks) and toks[j].kind == "id":  # `var x string = ...`
                j += 1
            if j < len(toks) and toks[j].text in (":=", "="):
                yield name, j + 1
        at_start = False


def _eval_at(toks: list[Tok], start: int, env: dict[str, Any], templates, rng) -> Any:
    ev = Evaluator(toks, env, templates, rng)
    ev.i = start
    return ev.expr()


def _top_level(src: str, templates: list[str], rng: random.Random) -> dict[str, Any]:
    env: dict[str, Any] = {}
    for m in _TOP.finditer(src):
        toks = tokens(src[m.end() : m.end() + 4000])
        try:
            env[m.group(1)] = _eval_at(toks, 0, env, templates, rng)
        except (Unsupported, IndexError, ValueError, KeyError, TypeError, StopIteration):
            continue
    return env


def _functions(src: str) -> Iterator[str]:
    starts = [m.end() for m in _FUNC.finditer(src)]
    for s in starts:
        end = src.find("\n}\n", s)
        yield src[s : end if end >= 0 else len(src)]


def extract(git_dir: Path, source: str, seed: int = 0) -> tuple[list[Case], CorpusStats]:
    """Every labelled test case of the peer's rules, evaluated with ``seed``."""
    rng = random.Random(seed)
    templates = sample_templates(_git(git_dir, "show", f"HEAD:{GENERATE_GO}"))
    stats = CorpusStats()
    cases: list[Case] = []
    for _path, src in _files(git_dir):
        stats.files += 1
        top = _top_level(src, templates, rng)
        for body in _functions(src):
            m = _RULE_ID.search(body)
            if not m:
                continue
            stats.functions += 1
            family = m.group(1)
            env = dict(top)
            toks = tokens(body)
            for name, start in _statements(toks):
                try:
                    value = _eval_at(toks, start, env, templates, rng)
                except (Unsupported, IndexError, ValueError, KeyError, TypeError) as exc:
                    if name.lower().startswith(("tp", "fp", "true", "false")):
                        stats.skipped_statements[f"{type(exc).__name__}: {exc}"[:60]] += 1
                    continue
                env[name] = value
            for name, positive in (("tps", True), ("fps", False)):
                for text in env.get(name, []) if isinstance(env.get(name), list) else []:
                    if isinstance(text, str) and text.strip():
                        cases.append(Case(source, family, positive, text))
    return cases, stats


def drop_contradictions(cases: list[Case]) -> tuple[list[Case], int]:
    """Cases whose text the peer labels both ways, removed from both sides.

    A peer's rule lists the other rules' formats among its own negatives (Cloudflare's
    three key rules each list the other two's true positives as ``fps``): "not this rule"
    is not "not a secret", and a scanner asked whether a file holds a secret cannot be
    right on both labels of the same text. Every tool is scored on the same reduced set."""
    pos = {c.text.strip() for c in cases if c.positive}
    neg = {c.text.strip() for c in cases if not c.positive}
    both = pos & neg
    kept = [c for c in cases if c.text.strip() not in both]
    return kept, len(cases) - len(kept)


EvalFn = Callable[[list[Case]], list[bool]]
