"""Secret rules, placeholder stop-lists and revocation pages, loaded from ``fixers/data``.

Everything that changes with the world (token formats, documentation stand-ins,
where to revoke a key) is data; this module only parses and compiles it, once.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import math
import re
import tomllib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
RULES_FILE = DATA_DIR / "secret_rules.toml"
PLACEHOLDERS_FILE = DATA_DIR / "placeholders.toml"
REVOCATION_FILE = DATA_DIR / "revocation.toml"


# Keyword-anchored rules (`anchor` + `value` in the data): the provider's name somewhere in
# the assigned identifier, an assignment operator of any common language, the value.
_ANCHOR_NAME = r"[A-Za-z0-9_.-]{0,40}"
_ANCHOR_VAR = r"""["'\]]?(?:[ \t]+[A-Za-z_][A-Za-z0-9_.\[\]*]{0,30})?"""  # `var herokuKey string =`
# A type annotation before `=`: `KEY: string =`, `key?: string =`, `KEY: str =`, `val key:
# String? =`, `const KEY: &str =`, `static KEY: &'static str =`, `KEY: Final[str] =`. Only
# before an `=` (the look-ahead): `key: value` in YAML is an assignment, not a type.
_ANCHOR_TYPE = (
    r"""(?:\??[ \t]{0,3}:[ \t]{0,3}&?(?:'[a-z]{1,10}[ \t]{1,3})?"""
    r"""[A-Za-z_][A-Za-z0-9_.<>\[\]|?]{0,30}(?=[ \t]{0,3}=))?"""
)
_ANCHOR_ASSIGN = r"""[ \t]{0,3}(?:=|>|:{1,3}=|\|\||:|=>|\?=|,|\.=)[\s'"`=]{0,5}"""
_ANCHOR_OP = _ANCHOR_VAR + _ANCHOR_TYPE + _ANCHOR_ASSIGN
# Hyperscan has no look-ahead: its superset takes the annotation before any operator.
_ANCHOR_OP_HS = _ANCHOR_VAR + _ANCHOR_TYPE.replace(r"(?=[ \t]{0,3}=)", "") + _ANCHOR_ASSIGN
_ANCHOR_END = r"""(?:[^A-Za-z0-9_+/=-]|$)"""
_LOOKAHEAD = re.compile(r"\(\?=[^()]*\)")  # a look-ahead without nested groups


def anchored_regex(anchors: list[str], value: str) -> tuple[str, str]:
    """(regex, hs_regex) for a keyword-anchored rule: value in group 1.

    The provider's name must start a word of the identifier: after a non-alphanumeric
    (`ETSY_KEY`, `my_etsy`) or, capitalised, after a lower-case letter or digit
    (`myEtsyKey`); inside a word it is a coincidence (`SetSysctl`, `global`). Nor may a
    camelCase word start at its last letter: in `sumOfValues` the word is `sum`."""
    names = "|".join(anchors)
    caps = "|".join(a[:1].upper() + a[1:] for a in anchors)
    word = f"(?:(?<![A-Za-z0-9])(?i:{names})|(?<=[a-z0-9])(?:{caps}))(?<![a-z][A-Z])"
    regex = f"{word}(?i:{_ANCHOR_NAME}){_ANCHOR_OP}({value}){_ANCHOR_END}"
    # Hyperscan has no look-around: its superset skips the word test and the value's
    # look-aheads (`(?=...[A-Z])`, a class requirement), `regex` applies them.
    # The value's alternatives grouped: a bare `a|b` would let `b` match anywhere.
    hs_value = _LOOKAHEAD.sub("", value)
    return regex, f"(?i:(?:{names}){_ANCHOR_NAME}){_ANCHOR_OP_HS}(?:{hs_value})"


# Generic assignment rules (`assign` in the data): a secret-named identifier, then the
# assignment of any common language, then a literal. The shapes, from real code and config:
#   INI/env/YAML/TOML/JSON  `name = v`, `name: v`, `"name": "v"`
#   Python/JS/Ruby/Kotlin   `name = "v"`, `name: str = "v"`, `"name" => "v"`
#   Go                      `name := "v"`, `var name string = "v"`, `` name := `v` ``
#   PHP                     `$name .= "v"`, `$cfg['name'] = "v"`
#   Make                    `NAME ?= v`, `NAME ::= v`, `NAME :::= v`
#   Java/C#                 `setProperty("NAME", "v")` (a quoted name, then a comma)
# Every repeat is bounded, so a hostile line costs linear time.
_ASSIGN_NAME_HEAD = r"[A-Za-z0-9_.-]{0,40}"
_ASSIGN_NAME_TAIL = r"[A-Za-z0-9_]{0,30}"
_ASSIGN_TYPED = (  # `name: str =`, `name?: string =`, `NAME: &'static str =`, `String? =`
    r"""(?:\??[ \t]*:[ \t]*&?(?:'[a-z]{1,10}[ \t]{1,3})?[A-Za-z_][A-Za-z0-9_.<>\[\]|? ]{0,30}?)?"""
)
_ASSIGN_VAR_TYPE = r"[ \t]+[A-Za-z_][A-Za-z0-9_.\[\]*]{0,30}"  # `var name string =`
_ASSIGN_OPS = r"(?::{1,3}=|=>|[.?]=|=|:)"
# A Go-style type word follows a bare name only: after a closing quote it is the next
# attribute of an HTML/JSX tag (`to="/reset-password" color="blue.500"`), not a type.
_ASSIGN_OP = (
    rf"""(?:["'][ \t]{{0,5}},|(?:["']?\]?{_ASSIGN_TYPED}|{_ASSIGN_VAR_TYPE})"""
    rf"""[ \t]{{0,5}}{_ASSIGN_OPS})[ \t]{{0,5}}"""
)
_UNQUOTED = r"""[^\s"'`,;#()\[\]{}<>=]"""


def assignment_regex(names: list[str], lo: int, hi: int, spaces: bool) -> tuple[str, str, str]:
    """(regex, hs_regex, hs_regex_code) of a generic assignment rule.

    Groups: 1 the name, 2-4 a double-, single- or back-quoted value, 5 an unquoted one
    (which only config files may have). ``spaces``: a quoted value may contain blanks
    (passwords are sometimes phrases; tokens never are)."""
    frags = "|".join(names)
    name = f"{_ASSIGN_NAME_HEAD}(?:{frags}){_ASSIGN_NAME_TAIL}"
    inner = {q: (rf"[^{q}\r\n\\]" if spaces else rf"[^{q}\s\\]") for q in "\"'`"}
    rep = f"{{{lo},{hi}}}"
    values = "|".join(f"{q}({inner[q]}{rep}){q}" for q in "\"'`") + f"|({_UNQUOTED}{rep})"
    regex = f"(?i)(?<![A-Za-z0-9_.-])({name}){_ASSIGN_OP}(?:{values})"
    # Hyperscan and the keyword prefilter only need the name, the operator and the first
    # characters of a value; the full regex confirms.
    head = f"(?:{frags}){_ASSIGN_NAME_TAIL}{_ASSIGN_OP}".replace("}?", "}")  # no lazy in hs
    quoted = "|".join(f"{q}{inner[q]}{{{lo}}}" for q in "\"'`")
    return regex, f"{head}(?:{quoted}|{_UNQUOTED}{{{lo}}})", f"{head}(?:{quoted})"


def xml_element_regex(names: list[str], lo: int, hi: int) -> tuple[str, str]:
    """(regex, hs_regex) of a secret-named XML element holding a literal, on one line or
    on the line between its tags (`<apiToken>`, value, `</apiToken>`). Group 1 the element
    name, 2 the value."""
    frags = "|".join(names)
    name = f"[A-Za-z0-9_.:-]{{0,40}}(?:{frags})[A-Za-z0-9_.-]{{0,30}}"
    gap = r"[ \t]{0,40}(?:\r?\n[ \t]{0,40})?"
    regex = rf"""(?i)<({name})>{gap}([^<>\s"'&]{{{lo},{hi}}}){gap}</\1>"""
    return regex, f"<{name}>"


# The words of an identifier: camelCase humps, upper-case runs, digit runs.
_NAME_WORD = re.compile(rb"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")

_TEMPLATE_MARKERS = ("${", "{{", "%(", "$(", "<%", "#{")


class RuleDataError(ValueError):
    """The rule data files are malformed (a bug in our data, caught by the tests)."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One credential format. ``regex`` is the authority; ``hs_regex`` only prefilters."""

    id: str
    provider: str
    title: str
    kind: str
    regex: str
    hs_regex: str
    keywords: tuple[bytes, ...]
    secret_groups: tuple[int, ...]
    span_group: int | None
    name_group: int | None
    # The group holding an unquoted value (generic rules): only config files have those;
    # in source code an unquoted right-hand side is code (`token = make_token()`).
    unquoted_group: int | None
    user_group: int | None
    min_entropy: float
    min_length: int
    require_digit: bool
    generic: bool
    multiline: bool
    case_insensitive: bool
    env: str
    pairs_with: str | None
    priority: int
    source: str
    compiled: re.Pattern[bytes] | None = field(default=None, compare=False, repr=False)
    # The cheap candidate finder the pure-Python engine runs first (``hs_regex``, when it is
    # simpler than ``regex``): the full regex then only runs on the lines it points at.
    prefilter: re.Pattern[bytes] | None = field(default=None, compare=False, repr=False)
    # Variants for code files, where an unquoted right-hand side is code, never a value:
    # generic rules drop their unquoted branch there (far fewer candidates in source).
    hs_regex_code: str = ""
    prefilter_code: re.Pattern[bytes] | None = field(default=None, compare=False, repr=False)
    # "leaked-secret" (fails the check) or a lower severity label (contract.Severity).
    severity: str = "leaked-secret"
    # A hard-coded fallback (`os.getenv("SECRET_KEY", "dev")`): the literal counts whatever
    # it looks like (a weak stand-in is the problem), and the fix fails fast instead.
    fallback: bool = False
    # Lines after the candidate's that the regex may reach (`<apiToken>\n  value\n</...>`).
    extra_lines: int = 0
    # A template our tests and benchmark build true positives from (see samples.py).
    sample: str = ""
    sample_context: str = ""
    sample_suffix: str = ".py"  # the kind of file the sample context is written in
    # The format alone is not distinctive: the rule needs its keyword next to the value.
    contextual: bool = False
    # Reported, never rewritten (a Kubernetes manifest cannot read the environment).
    report_only: bool = False
    # When the format was last checked against the provider's documentation.
    reviewed: str = ""
    # A UUID is this rule's credential (an `X-Api-Key:` header), not an id to skip.
    uuid_values: bool = False


@dataclass(frozen=True, slots=True)
class Revocation:
    name: str
    revoke: str
    docs: str


@dataclass(frozen=True, slots=True)
class Placeholders:
    """Values that are never credentials; see placeholders.toml."""

    all_contains: tuple[str, ...]
    all_patterns: tuple[re.Pattern[str], ...]
    generic_exact: frozenset[str]
    generic_contains: tuple[str, ...]
    generic_patterns: tuple[re.Pattern[str], ...]
    database_exact: frozenset[str]
    generic_name_contains: tuple[bytes, ...] = ()
    # SHA-256 of values published as examples (SDK tests, vendor docs): listed by hash so
    # no credential-shaped literal sits in this repository.
    public_sha256: frozenset[str] = frozenset()
    # A value whose characters are mostly keyboard runs (`abc123def456`, `1234567890`,
    # `klmnopqrstu`) was typed by a person as a stand-in; random tokens almost never are.
    max_run_fraction: float = 1.0
    # Whole words of names that say their value is no credential, each as `_word_`: the
    # author's label of a stand-in (`fakeToken`, `invalid_api_key`, `nonMatchingToken`;
    # `non_matching` spans two) and a setting counting a model's tokens (`MAX_TOKENS`).
    # Joined once at load: the engine asks for every keyword hit.
    non_secret_name_words: tuple[bytes, ...] = ()
    # Masking after the value's last character (`xoxp-…-4821-####`, `id==:xxxxxxxx`): the
    # value is the visible head of a masked token.
    masked_tail: re.Pattern[bytes] | None = None
    # A fallback literal that is a provider token's prefix with its body masked
    # (`"hf_xxxxxxxx"`): a stand-in for a token someone else issues, which no provider
    # accepts; unlike `"dev"` as a signing key, nothing runs on it.
    masked_token: re.Pattern[str] | None = None
    # HTTP Basic credentials (`base64(user:password)`) whose two halves are both stand-in
    # words (`username:password`, `foo:bar`): an example header, not a login.
    basic_userinfo: frozenset[str] = frozenset()

    def is_setting_name(self, name: bytes) -> bool:
        """`password_reset_timeout`, `secret_name`: a setting *about* a secret, not one;
        `fake_token`, `invalidApiKey`: a name that labels its value a stand-in;
        `MAX_TOKENS`, `VISION_TOKEN_PRICE`: a setting counting a model's tokens."""
        low = name.lower()
        if any(part in low for part in self.generic_name_contains):
            return True
        words = b"_" + b"_".join(_NAME_WORD.findall(name)).lower() + b"_"
        return any(part in words for part in self.non_secret_name_words)

    def continues_masked(self, data: bytes, end: int) -> bool:
        """Whether the token the value ends at goes on into masking characters (up to the
        next blank or quote): `xoxp-…-4821` followed by `-####`."""
        if self.masked_tail is None:
            return False
        return self.masked_tail.match(data, end, min(len(data), end + 80)) is not None

    def is_masked_token(self, value: str) -> bool:
        return self.masked_token is not None and self.masked_token.fullmatch(value) is not None

    def is_template(self, value: str) -> bool:
        """`${SECRET}`, `{{ secret }}`, `%(secret)s`: a reference filled in elsewhere."""
        return any(t in value for t in _TEMPLATE_MARKERS)

    def is_placeholder(self, value: str, *, generic: bool) -> bool:
        low = value.lower()
        if any(c in low for c in self.all_contains):
            return True
        if any(p.search(value) for p in self.all_patterns):
            return True
        if hashlib.sha256(value.encode("utf-8", "replace")).hexdigest() in self.public_sha256:
            return True
        if run_fraction(value) >= self.max_run_fraction:
            return True
        if not generic:
            return False
        if low in self.generic_exact or any(c in low for c in self.generic_contains):
            return True
        if self.basic_userinfo and _basic_halves(value) <= self.basic_userinfo:
            return True
        return any(p.search(value) for p in self.generic_patterns)


@dataclass(frozen=True, slots=True)
class ScanSettings:
    skip_dirs: frozenset[str]
    skip_files: frozenset[str]
    skip_suffixes: tuple[str, ...]
    minified_min_bytes: int
    minified_max_avg_line: int
    max_file_bytes: int
    dotenv_names: tuple[str, ...]
    dotenv_examples: tuple[str, ...]
    allow_markers: tuple[bytes, ...]
    allow_next_line_markers: tuple[bytes, ...]
    config_suffixes: tuple[str, ...]
    # Sample request bodies (API-client collections): keyword rules do not fire there.
    request_samples: tuple[str, ...] = ()
    # Test fixtures: reported at low severity, never failing the check, never deleted.
    fixture_dirs: frozenset[str] = frozenset()
    fixture_files: tuple[str, ...] = ()
    # Example files beyond the dotenv ones (`config.py.example`): see detect.as_example.
    example_files: tuple[str, ...] = ()
    doc_files: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    placeholders: Placeholders
    revocations: Mapping[str, Revocation]
    scan: ScanSettings
    reviewed: str

    def by_id(self, rule_id: str) -> Rule | None:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        return None

    @property
    def regex_rules(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.kind == "regex")


def _basic_halves(value: str) -> set[str]:
    """The lower-cased user and password of a base64 `user:password` (HTTP Basic), or a
    set holding an empty string when the value is no such thing."""
    # Base64 is ASCII: any other character (a typed `…`, a translated word) rules it out,
    # and `b64decode` raises ValueError, not binascii.Error, on a non-ASCII str.
    if len(value) > 200 or len(value) % 4 or not value.isascii():
        return {""}
    try:
        text = base64.b64decode(value, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        return {""}
    user, sep, password = text.partition(":")
    return {user.lower(), password.lower()} if sep and user and password else {""}


def run_fraction(value: str) -> float:
    """The share of a value's letters and digits that sit in runs of three or more, either
    ascending (`abc`, `456`, `mnopq`) or one character held (`AAAA`, `0000`): typed
    stand-ins (`1234567890:AAAABBBBCCCCDDDD…`), compared case-insensitively. A random
    value of 32 base62 characters holds a triple about once in 60 draws."""
    chars = [c for c in value.lower() if c.isascii() and c.isalnum()]
    if not chars:
        return 0.0
    marked = [False] * len(chars)
    for step in (1, 0):
        start = 0
        for i in range(1, len(chars) + 1):
            if i < len(chars) and ord(chars[i]) == ord(chars[i - 1]) + step:
                continue
            if i - start >= 3:
                marked[start:i] = [True] * (i - start)
            start = i
    return sum(marked) / len(chars)


_DIGITS = frozenset("0123456789")
_HEX = frozenset("0123456789abcdefABCDEF")


# A short random value scores below its alphabet's maximum: 16 random digits carry 2.84
# bits per character on average (not 3.32), 16 random hex characters 3.21 (not 4), so a
# fixed bar rejected one real 16-digit id in five and 16-hex key in three. The bar for
# such values is this share of the entropy n random characters have on average.
_SHORT_VALUE_SHARE = 0.85
_SHORT_VALUE_MIN_LEN = 12  # shorter numbers are dates, ports and counters
_SHORT_VALUE_MAX_LEN = 64  # from here the average is within 5% of the maximum


def entropy_ok(value: str, min_entropy: float) -> bool:
    """Whether ``value`` is random enough. A numeric or hex token cannot reach the
    entropy of a mixed one (10 symbols carry at most 3.32 bits, 16 at most 4), so its bar
    is 80% of its alphabet's maximum when that is lower than the rule's, and for a short
    one, 85% of what random values of its length score on average."""
    chars = set(value)
    alphabet = 10 if chars <= _DIGITS else 16 if chars <= _HEX else 0
    if alphabet:
        min_entropy = min(min_entropy, 0.8 * math.log2(alphabet))
        if _SHORT_VALUE_MIN_LEN <= len(value) < _SHORT_VALUE_MAX_LEN:
            expected = expected_entropy(len(value), alphabet)
            min_entropy = min(min_entropy, _SHORT_VALUE_SHARE * expected)
    return shannon_entropy(value) >= min_entropy


@functools.cache
def expected_entropy(n: int, alphabet: int) -> float:
    """The mean Shannon entropy (bits per character) of ``n`` characters drawn uniformly
    from ``alphabet`` symbols: each symbol's count is Binomial(n, 1/alphabet), so the mean
    is ``alphabet`` times the mean of ``-(x/n) log2(x/n)`` over that distribution."""
    p = 1.0 / alphabet
    total = 0.0
    for x in range(1, n + 1):
        prob = math.comb(n, x) * p**x * (1 - p) ** (n - x)
        total += prob * (x / n) * math.log2(n / x)
    return alphabet * total


def shannon_entropy(value: str) -> float:
    """Bits per character: random tokens score high, words and repeats low."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def _prefilter(pattern: str, case_insensitive: bool) -> re.Pattern[bytes]:
    """Compile a candidate finder. A case-insensitive one is lower-cased and run over the
    lower-cased file instead: `re.IGNORECASE` disables the literal scans that make it fast."""
    if not case_insensitive:
        return re.compile(pattern.encode("ascii"))
    if re.search(r"\\[SWDBAZ]", pattern):
        raise ValueError("a case-insensitive hs_regex may not use upper-case escapes")
    return re.compile(pattern.lower().encode("ascii"))


def _rule(raw: Mapping[str, Any], reviewed: str = "") -> Rule:
    try:
        kind = str(raw.get("kind", "regex"))
        regex = str(raw.get("regex", ""))
        if "assign" in raw:
            lo, hi = int(raw.get("value_min", 8)), int(raw.get("value_max", 300))
            regex, hs, hs_code = assignment_regex(
                list(raw["assign"]), lo, hi, bool(raw.get("value_spaces", False))
            )
            raw = {"hs_regex": hs, "hs_regex_code": hs_code, "case_insensitive": True,
                   "secret_groups": [2, 3, 4, 5], "unquoted_group": 5, "name_group": 1,
                   "generic": True, **raw}  # fmt: skip
        if "xml_element" in raw:
            lo, hi = int(raw.get("value_min", 8)), int(raw.get("value_max", 300))
            regex, hs = xml_element_regex(list(raw["xml_element"]), lo, hi)
            raw = {"hs_regex": hs, "case_insensitive": True, "secret_groups": [2],
                   "name_group": 1, "generic": True, "extra_lines": 2, **raw}  # fmt: skip
        if "anchor" in raw:
            regex, anchored_hs = anchored_regex(list(raw["anchor"]), str(raw["value"]))
            raw = {
                "hs_regex": anchored_hs,
                "secret_groups": [1],
                "keywords": [a.lower() for a in raw["anchor"]],
                "contextual": True,
                "extra_lines": 1,  # `<apiToken>` on one line, the value on the next
                **raw,
            }
        ci = bool(raw.get("case_insensitive", False))
        compiled = prefilter = prefilter_code = None
        hs_regex = str(raw.get("hs_regex", regex))
        hs_regex_code = str(raw.get("hs_regex_code", hs_regex))
        if kind == "regex":
            flags = re.IGNORECASE if ci else 0
            if hs_regex != regex:
                prefilter = _prefilter(hs_regex, ci)
            prefilter_code = (
                _prefilter(hs_regex_code, ci) if hs_regex_code != hs_regex else prefilter
            )
            if raw.get("multiline"):
                flags |= re.DOTALL
            compiled = re.compile(regex.encode("ascii"), flags)
        groups = tuple(int(g) for g in raw.get("secret_groups", ()))
        return Rule(
            id=str(raw["id"]),
            provider=str(raw["provider"]),
            title=str(raw["title"]),
            kind=kind,
            regex=regex,
            hs_regex=hs_regex,
            hs_regex_code=hs_regex_code,
            keywords=tuple(str(k).lower().encode("ascii") for k in raw.get("keywords", ())),
            secret_groups=groups,
            span_group=int(raw["span_group"]) if "span_group" in raw else None,
            name_group=int(raw["name_group"]) if "name_group" in raw else None,
            unquoted_group=int(raw["unquoted_group"]) if "unquoted_group" in raw else None,
            user_group=int(raw["user_group"]) if "user_group" in raw else None,
            min_entropy=float(raw.get("min_entropy", 0.0)),
            min_length=int(raw.get("min_length", 0)),
            require_digit=bool(raw.get("require_digit", False)),
            generic=bool(raw.get("generic", False)),
            multiline=bool(raw.get("multiline", False)),
            case_insensitive=ci,
            env=str(raw.get("env", "")),
            pairs_with=str(raw["pairs_with"]) if "pairs_with" in raw else None,
            priority=int(raw.get("priority", 0)),
            source=str(raw["source"]),
            compiled=compiled,
            prefilter=prefilter,
            prefilter_code=prefilter_code,
            severity=str(raw.get("severity", "leaked-secret")),
            fallback=bool(raw.get("fallback", False)),
            extra_lines=int(raw.get("extra_lines", 0)),
            sample=str(raw.get("sample", "")),
            sample_context=str(raw.get("sample_context", "")),
            sample_suffix=str(raw.get("sample_suffix", ".py")),
            contextual=bool(raw.get("contextual", raw.get("fallback", False))),
            report_only=bool(raw.get("report_only", False)),
            reviewed=str(raw.get("reviewed", reviewed)),
            uuid_values=bool(raw.get("uuid_values", False)),
        )
    except (KeyError, TypeError, ValueError, re.error) as exc:
        raise RuleDataError(f"bad secret rule {raw.get('id', '?')!r}: {exc}") from exc


def _str_pattern(source: object) -> re.Pattern[str] | None:
    return None if source is None else re.compile(str(source))


def _bytes_pattern(source: object) -> re.Pattern[bytes] | None:
    return None if source is None else re.compile(str(source).encode("ascii"))


def _placeholders(raw: Mapping[str, Any]) -> Placeholders:
    everywhere = raw.get("all", {})
    generic = raw.get("generic", {})
    return Placeholders(
        all_contains=tuple(s.lower() for s in everywhere.get("contains", ())),
        all_patterns=tuple(re.compile(p) for p in everywhere.get("patterns", ())),
        generic_exact=frozenset(s.lower() for s in generic.get("exact", ())),
        generic_contains=tuple(s.lower() for s in generic.get("contains", ())),
        generic_patterns=tuple(re.compile(p) for p in generic.get("patterns", ())),
        database_exact=frozenset(s.lower() for s in raw.get("database", {}).get("exact", ())),
        generic_name_contains=tuple(s.lower().encode() for s in generic.get("name_contains", ())),
        public_sha256=frozenset(
            h.lower() for entry in raw.get("public", ()) for h in entry.get("sha256", ())
        ),
        max_run_fraction=float(everywhere.get("max_run_fraction", 1.0)),
        non_secret_name_words=tuple(
            b"_" + s.lower().encode() + b"_"
            for key in ("fake_names", "setting_words")
            for s in generic.get(key, ())
        ),
        masked_tail=_bytes_pattern(everywhere.get("masked_tail")),
        basic_userinfo=frozenset(w.lower() for w in generic.get("basic_userinfo", ())),
        masked_token=_str_pattern(raw.get("fallback", {}).get("masked_token")),
    )


def _scan_settings(raw: Mapping[str, Any]) -> ScanSettings:
    return ScanSettings(
        skip_dirs=frozenset(raw.get("skip_dirs", ())),
        skip_files=frozenset(raw.get("skip_files", ())),
        skip_suffixes=tuple(raw.get("skip_suffixes", ())),
        minified_min_bytes=int(raw.get("minified_min_bytes", 4096)),
        minified_max_avg_line=int(raw.get("minified_max_avg_line", 400)),
        max_file_bytes=int(raw.get("max_file_bytes", 5_000_000)),
        dotenv_names=tuple(raw.get("dotenv_names", ())),
        dotenv_examples=tuple(raw.get("dotenv_examples", ())),
        allow_markers=tuple(m.encode() for m in raw.get("allow_markers", ())),
        allow_next_line_markers=tuple(m.encode() for m in raw.get("allow_next_line_markers", ())),
        config_suffixes=tuple(raw.get("config_suffixes", ())),
        request_samples=tuple(raw.get("request_samples", ())),
        fixture_dirs=frozenset(d.lower() for d in raw.get("fixture_dirs", ())),
        fixture_files=tuple(raw.get("fixture_files", ())),
        example_files=tuple(raw.get("example_files", ())),
        doc_files=tuple(raw.get("doc_files", ())),
    )


def load_ruleset(
    rules_file: Path = RULES_FILE,
    placeholders_file: Path = PLACEHOLDERS_FILE,
    revocation_file: Path = REVOCATION_FILE,
) -> RuleSet:
    """Parse and compile the three data files."""
    try:
        rules_raw = tomllib.loads(rules_file.read_text("utf-8"))
        ph_raw = tomllib.loads(placeholders_file.read_text("utf-8"))
        rev_raw = tomllib.loads(revocation_file.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RuleDataError(f"cannot load secret rule data: {exc}") from exc
    file_reviewed = str(rules_raw.get("reviewed", ""))
    rules = tuple(_rule(r, file_reviewed) for r in rules_raw.get("rule", ()))
    ids = [r.id for r in rules]
    if len(ids) != len(set(ids)):
        raise RuleDataError("duplicate secret rule ids")
    revocations = {
        key: Revocation(str(v["name"]), str(v["revoke"]), str(v.get("docs", "")))
        for key, v in rev_raw.get("provider", {}).items()
    }
    return RuleSet(
        rules=rules,
        placeholders=_placeholders(ph_raw),
        revocations=revocations,
        scan=_scan_settings(rules_raw.get("scan", {})),
        reviewed=str(rules_raw.get("reviewed", "")),
    )


@functools.cache
def default_ruleset() -> RuleSet:
    """The shipped rules, compiled once per process (immutable, safe to share)."""
    return load_ruleset()
