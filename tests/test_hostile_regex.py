"""Issue 9, point 1: linear-time matching wherever a repository controls the input.

Every regular expression in ``fixers/`` and ``bot/`` is found by parsing the source
(:func:`tests.redos.sites`), so a new literal pattern is checked without anyone listing
it; a pattern built at run time must be declared in :data:`DYNAMIC` (the test fails on an
undeclared one). Each pattern is fed generated worst cases (:func:`tests.redos.attacks`)
at two sizes and must grow about linearly; the ratio is judged inside the test from
thread CPU time, never an absolute time. The cases the issue reproduced are tested
through the functions that met them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.logs import RedactingFilter
from bot.worker import scrub_secrets
from fixers.heal.mask import mask_lines
from fixers.heal.signatures import default_signatures
from fixers.production.facts.gitignore import gitignored
from fixers.production.facts.javascript import env_reads_in_javascript
from fixers.production.workflow_permissions import load_permission_table
from fixers.secrets.engine import Scanner
from fixers.secrets.rules import default_ruleset
from fixers.token_shapes import jwt_spans, mask_token_shapes
from tests.redos import Site, attacks, match_at_start, scan_all, sites, superlinear

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("fixers", "bot")
#: Characters per generated input at the smaller size (the larger is four times this).
SIZE = 1000

#: Literal patterns that are quadratic on the generated input but only ever run on an
#: input the caller bounds; the test checks each is still in the source.
BOUNDED = {
    # Scanner._name: the 200 characters before a secret on its line.
    r"""([A-Za-z_$][A-Za-z0-9_.$-]*)["'\]]?(?:[ \t]*:[ \t]*[A-Za-z_][A-Za-z0-9_.<>\[\]| ]*?)?"""
    r"""[ \t]*(?::=|=>|=|:|,)[ \t]*[A-Za-z]{0,2}["'`]?[ \t]*$""": "200 characters (engine._name)",
}


def _rule_patterns() -> Iterator[tuple[str, re.Pattern[Any]]]:
    rules = default_ruleset()
    for rule in rules.rules:
        for attr in ("compiled", "prefilter", "prefilter_code"):
            pattern = getattr(rule, attr)
            if pattern is not None:
                yield f"secret rule {rule.id} {attr}", pattern
    placeholders = rules.placeholders
    for pattern in (*placeholders.all_patterns, *placeholders.generic_patterns):
        yield "placeholder", pattern
    for extra in (placeholders.masked_tail, placeholders.masked_token):
        if extra is not None:
            yield "placeholder", extra


def _permission_patterns() -> Iterator[tuple[str, re.Pattern[Any]]]:
    table = load_permission_table()
    yield "git-push", table.git_push
    for pattern in table.untrusted_commands:
        yield "untrusted-checkout command", pattern


def _signature_patterns() -> Iterator[tuple[str, re.Pattern[Any]]]:
    for signature in default_signatures().signatures:
        for pattern in signature.patterns:
            yield f"heal signature {signature.id}", pattern


def _make_targets() -> Iterator[tuple[str, re.Pattern[Any]]]:
    from fixers.production.test_runner import _TEST_TARGETS

    for target in _TEST_TARGETS:
        yield f"make target {target}", re.compile(rf"^{target}(?:\s++[^:=]*+)?\s*+:(?![=:])(.*)$")


def _env_placeholders() -> Iterator[tuple[str, re.Pattern[Any]]]:
    from fixers.production.env_names import _placeholders

    for pattern in _placeholders()[1]:
        yield "env-names placeholder", pattern


def _escaped(
    *templates: str, flags: int = 0
) -> Callable[[], Iterator[tuple[str, re.Pattern[Any]]]]:
    """A pattern around ``re.escape(value)``: the value is a literal, so the shape around
    it is what may backtrack; checked with a typical value."""

    def generate() -> Iterator[tuple[str, re.Pattern[Any]]]:
        for template in templates:
            yield template, re.compile(template.replace("VALUE", re.escape("name-1.0")), flags)

    return generate


#: Every ``re`` call whose pattern is not a literal: (file, pattern source) -> the
#: patterns it can build (checked like the literal ones).
DYNAMIC: dict[tuple[str, str], Callable[[], Iterator[tuple[str, re.Pattern[Any]]]]] = {
    ("fixers/dependencies/manifests.py", 'r"===?\\s*(" + re.escape(version) + r")"'): _escaped(
        r"===?\s*(VALUE)"
    ),
    ("fixers/dependencies/requirements.py", 'r"===?\\s*(" + re.escape(version) + r")"'): _escaped(
        r"===?\s*(VALUE)"
    ),
    ("fixers/dependencies/ranges.py", "re.escape(d.raw_name or d.name)"): _escaped("VALUE"),
    (
        "fixers/dependencies/ranges.py",
        'r"(?:>=|\\^|~(?!=))\\s*(" + re.escape(lower) + r")(?![\\w.])"',
    ): _escaped(r"(?:>=|\^|~(?!=))\s*(VALUE)(?![\w.])"),
    (
        "fixers/dependencies/toml_locate.py",
        'rf"(?m)^[ \\t]*\\[\\s*{key}\\s*\\][ \\t]*(?:#.*)?$"',
    ): _escaped(r"(?m)^[ \t]*\[\s*VALUE\s*\][ \t]*(?:#.*)?$"),
    (
        "fixers/production/facts/deploy_files.py",
        'rf"(?:^|[\\s;&|(]){re.escape(command)}(?:$|[\\s;&|)])"',
    ): _escaped(r"(?:^|[\s;&|(])VALUE(?:$|[\s;&|)])", flags=re.M),
    (
        "fixers/production/prod_contract.py",
        'rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])"',
    ): _escaped(r"(?<![A-Za-z0-9_])VALUE(?![A-Za-z0-9_])"),
    (
        "fixers/production/test_runner.py",
        'rf"(?<![\\w.-]){re.escape(name)}(?![\\w.-])"',
    ): _escaped(r"(?<![\w.-])VALUE(?![\w.-])"),
    (
        "bot/commands.py",
        'rf"^ {{0,3}}@{re.escape(bot_name)}(?:\\[bot\\])?(?:[ \\t]+(.*))?$"',
    ): _escaped(r"^ {0,3}@VALUE(?:\[bot\])?(?:[ \t]+(.*))?$", flags=re.M | re.I),
    (
        "bot/heal/own.py",
        "rf\"(site-packages/|from '|import |no module named '|\\b){re.escape(n)}[/.'\\s:]\"",
    ): _escaped(r"(site-packages/|from '|import |no module named '|\b)VALUE[/.'\s:]"),
    (
        "fixers/production/test_runner.py",
        'rf"^{target}(?:\\s++[^:=]*+)?\\s*+:(?![=:])(.*)$"',
    ): _make_targets,
    ("fixers/production/env_names.py", "p"): _env_placeholders,
    ("fixers/heal/signatures.py", "p"): _signature_patterns,
    ("fixers/production/workflow_permissions.py", 'raw["run"]["git-push"]'): _permission_patterns,
    ("fixers/production/workflow_permissions.py", "p"): _permission_patterns,
    ("fixers/secrets/rules.py", 'pattern.encode("ascii")'): _rule_patterns,
    ("fixers/secrets/rules.py", 'pattern.lower().encode("ascii")'): _rule_patterns,
    ("fixers/secrets/rules.py", 'regex.encode("ascii")'): _rule_patterns,
    ("fixers/secrets/rules.py", "p"): _rule_patterns,
    ("fixers/secrets/rules.py", "str(source)"): _rule_patterns,
    ("fixers/secrets/rules.py", 'str(source).encode("ascii")'): _rule_patterns,
}

_SITES = tuple(sites(ROOT, PACKAGES))


def _inventory() -> dict[str, re.Pattern[Any]]:
    found: dict[str, re.Pattern[Any]] = {}
    for site in _SITES:
        if site.pattern is not None and site.pattern not in BOUNDED:
            key = f"{site.path}:{site.line}" + (" (match)" if site.anchored else "")
            found.setdefault(key, re.compile(site.pattern, site.flags))
    seen: set[int] = set()
    for generate in DYNAMIC.values():
        for name, pattern in generate():
            if id(pattern) not in seen:
                seen.add(id(pattern))
                found[f"{name} {pattern.pattern!r:.60}"] = pattern
    return found


_PATTERNS = _inventory()


def _dynamic(site: Site) -> tuple[str, str]:
    return site.path, site.source


def test_every_pattern_built_at_run_time_is_declared() -> None:
    built = {_dynamic(s) for s in _SITES if s.pattern is None}
    assert built - DYNAMIC.keys() == set(), "declare these in DYNAMIC"
    assert DYNAMIC.keys() - built == set(), "stale DYNAMIC entries"


def test_bounded_exemptions_still_exist() -> None:
    literals = {s.pattern for s in _SITES}
    assert set(BOUNDED) <= literals


def test_the_inventory_sees_every_kind_of_pattern() -> None:
    """Guards the collector itself: module constants, inline calls, data files."""
    names = " ".join(_PATTERNS)
    assert "fixers/secrets/fixer.py:" in names  # the PEM block pattern
    assert "fixers/production/test_runner.py:" in names  # inline re.search(...)
    assert "secret rule private-key compiled" in names
    assert "git-push" in names and "heal signature" in names
    assert len(_PATTERNS) > 300


def test_the_judge_tells_quadratic_from_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards the judge: `a*b` scanned over `aaa…` is quadratic at every scale; a bounded
    `{1,200}` run is quadratic only until the input outgrows the bound, so it must pass.
    CI failed on `_PATHISH` over `A.pemA.pem…`: on a slow machine the 1 000-character run
    crossed the judging floor and x17 from 250 to 1 000 characters was taken as quadratic.
    The floor is lowered here to stand for that machine."""
    from fixers.secrets.detect import _PATHISH

    monkeypatch.setattr("tests.redos.JUDGE_FLOOR", 0.0001)
    quadratic = superlinear(scan_all(re.compile("a*b")), lambda n: "a" * n, SIZE, "a*n")
    assert quadratic is not None and quadratic.ratio > 8
    bounded = superlinear(scan_all(_PATHISH), lambda n: b"A.pem" * (n // 5), SIZE, "match*n")
    assert bounded is None, bounded


@pytest.mark.parametrize("key", sorted(_PATTERNS))
def test_pattern_grows_linearly_on_generated_worst_cases(key: str) -> None:
    pattern = _PATTERNS[key]
    run = match_at_start(pattern) if key.endswith(" (match)") else scan_all(pattern)
    bad = [g for name, gen in attacks(pattern).items() if (g := superlinear(run, gen, SIZE, name))]
    assert not bad, [(g.attack, f"x{g.ratio:.1f}") for g in bad]


# --------------------------------------------------------------------------- the cases


def _linear(run: Callable[[Any], object], generate: Callable[[int], Any], size: int) -> None:
    growth = superlinear(run, generate, size, "issue case")
    assert growth is None, f"{growth.small:.4f}s -> {growth.large:.4f}s (x{growth.ratio:.1f})"


@pytest.mark.parametrize("engine", ["re", "hyperscan"])
def test_pem_headers_without_end_scan_in_linear_time(engine: str) -> None:
    """32 KB of `-----BEGIN RSA PRIVATE KEY-----` lines took 47 s: every header opened a
    64 KiB window rescanned by a pattern whose body lines included the next header."""
    if engine == "hyperscan":
        pytest.importorskip("hyperscan")
    scanner = Scanner(engine=engine)  # type: ignore[arg-type]
    header = b"-----BEGIN RSA PRIVATE KEY-----\n"
    _linear(lambda data: scanner.scan("key.pem", data), lambda n: header * (n // 32), 4000)


def test_pem_whole_file_check_is_linear() -> None:
    from fixers.secrets.fixer import _PEM

    header = b"-----BEGIN RSA PRIVATE KEY-----\nMIIE\n"
    _linear(lambda data: _PEM.sub(b"", data), lambda n: header * (n // len(header)), 4000)


def test_gitignore_glob_is_not_exponential() -> None:
    """`*a*a*a*a*a*b` turned into a regex backtracks exponentially on `.env.aaaa…`."""
    rules = ("*a" * 4 + "*b\n") * 200
    _linear(lambda name: gitignored(rules, name), lambda n: ".env." + "a" * n, 10)


def test_gitignore_glob_still_matches_like_git() -> None:
    cases = {
        (".env\n", ".env"): True,
        (".env*\n", ".env.local"): True,
        ("*.env.*\n!.env.example\n", ".env.example"): False,
        ("/config/*.yml\n", "config/a.yml"): True,
        ("/config/*.yml\n", "x/config/a.yml"): False,
        ("**/secrets/\n", "a/b/secrets/key"): True,
        ("a/**/b\n", "a/b"): True,
        ("a/**/b\n", "a/x/y/b"): True,
        ("[!a]*\n", "b/x"): True,
        ("?.env\n", "x.env"): True,
        ("?.env\n", "/.env"): False,
        ("[a-c]x\n", "bx"): True,
        ("\\#x\n", "#x"): True,
        ("*a" * 10 + "*b\n", ".env." + "a" * 200): False,
        ("*a" * 10 + "*b\n", ".env." + "a" * 20 + "b"): True,
    }
    for (rules, path), expected in cases.items():
        assert gitignored(rules, path) is expected, (rules, path)


def test_env_example_of_newlines_is_linear() -> None:
    """`^\\s*…` under re.M rescanned every following newline from each line start (a
    64 KiB-newline `.env.example` took over 150 s)."""
    from fixers.production.env_names import listed_names

    _linear(listed_names, lambda n: "\n" * n, 4000)


def test_one_line_javascript_bundle_is_linear() -> None:
    """A minified bundle of unclosed `{` rescanned to the end of its (one) line per brace."""
    _linear(
        lambda text: env_reads_in_javascript("dist/app.js", text), lambda n: "{a:" * (n // 3), 4000
    )


# `\beyJ[…]{8,}\.[…]{8,}\.[…]{8,}` restarted at every `eyJ` of `-eyJ-eyJ…` (quadratic in
# the log filter, the worker's error scrubber and the heal log masker). The regex is the
# specification the linear scan must keep to, span for span.
_JWT_REGEX = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


def test_jwt_spans_are_exactly_the_regex_spans() -> None:
    rng = random.Random(20261204)
    pieces = ["eyJ", "eyJhbGciOiJIUzI1NiJ9", "-", ".", "_", "a", "Zq9", "é", " ", "x" * 9, "\n"]
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 24)))
        expected = [m.span() for m in _JWT_REGEX.finditer(text)]
        assert list(jwt_spans(text)) == expected, text


def test_a_real_jwt_is_masked_by_every_masker() -> None:
    token = (
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"
        ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    )
    line = f"curl -H 'Authorization: Bearer {token}' -- failed"
    for masker in _MASKERS:
        masked = masker(line)
        assert token not in masked and "dozjgNryP4J3" not in masked, masker


_MASKERS: tuple[Callable[[str], str], ...] = (
    mask_token_shapes,
    scrub_secrets,
    RedactingFilter().redact,
    lambda text: mask_lines([text])[0],
)


@pytest.mark.parametrize("masker", _MASKERS, ids=["shapes", "worker", "logs", "heal"])
def test_masking_jwt_shapes_is_linear(masker: Callable[[str], str]) -> None:
    _linear(masker, lambda n: "-eyJ" * (n // 4), 4000)
    _linear(masker, lambda n: ("-eyJ" + "a" * 8 + ".") * (n // 13), 4000)
