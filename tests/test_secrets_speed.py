"""The secrets scan's fast paths report exactly what the straightforward scan reports.

The straightforward scan (``engine="exhaustive"``) runs every rule's regex over every
whole file with no prefilter; the fast ones (Hyperscan or the keyword prefilter, the
process pool, the on-disk database cache) may only skip work, never a finding. Speed
itself is measured by ``benchmarks/secrets.py``, never here.
"""

from __future__ import annotations

import random
import re
import string

import pytest

from fixers.secrets.rules import default_ruleset

# Runs that look like every value shape the rules know (hex, digits, base64, dashes)
# and contain no provider keyword: a prefilter must not fire on them.
_ALPHABETS = (
    "0123456789",
    "0123456789abcdef",
    string.ascii_letters + string.digits,
    string.ascii_letters + string.digits + "_-=",
)


def _keywordless_text(keywords: set[bytes], seed: int = 11) -> bytes:
    rng = random.Random(seed)
    lines = []
    for _ in range(400):
        alphabet = rng.choice(_ALPHABETS)
        n = rng.choice((16, 18, 25, 32, 37, 64, 80))
        token = "".join(rng.choice(alphabet) for _ in range(n))
        lines.append(rng.choice(("v = '{}'", "{}", "x: {}", '"k": "{}"')).format(token))
    text = "\n".join(lines).encode()
    assert not any(k in text.lower() for k in keywords)
    return text


def test_a_prefilter_only_fires_where_its_rule_has_a_keyword() -> None:
    """An anchored rule's Hyperscan pattern once read `anchor OP a|b|c`: the bare `b` and
    `c` matched any 18-digit or 32-character run, so every file of a tree produced
    millions of candidates (and the scan ran 4x slower) without changing a finding."""
    rules = [r for r in default_ruleset().regex_rules if r.keywords]
    words = {k for r in rules for k in r.keywords}
    # A keyword cut out of a random run would make the text unusable: drop the few rules
    # whose keywords are short enough to appear by chance.
    rules = [r for r in rules if all(len(k) >= 4 for k in r.keywords)]
    text = _keywordless_text({k for k in words if len(k) >= 4})
    for rule in rules:
        for pattern in {rule.hs_regex, rule.hs_regex_code}:
            flags = "(?i)" if rule.case_insensitive else ""
            assert re.search((flags + pattern).encode(), text) is None, rule.id


def test_hyperscan_prefilter_only_fires_where_its_rule_has_a_keyword() -> None:
    pytest.importorskip("hyperscan")
    from fixers.secrets.engine import _default_hyperscan

    hs = _default_hyperscan()
    words = {k for r in hs.rules for k in r.keywords if len(k) >= 4}
    text = _keywordless_text(words)
    fired: set[str] = set()

    def on_match(rule_id: int, _s: int, _e: int, _f: int, _c: object) -> None:
        fired.add(hs.rules[rule_id].id)

    for db in (hs.db, hs.db_code):
        db.scan(text, match_event_handler=on_match)
    keyworded = {r.id for r in hs.rules if r.keywords and all(len(k) >= 4 for k in r.keywords)}
    assert not fired & keyworded
