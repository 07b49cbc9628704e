"""The environment variable a leaked value moves to: from the rule and its context,
never from the value."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from fixers.secrets.engine import Hit

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_NAME = re.compile(r"[^A-Z0-9]+")
# A bare keyword says little on its own: `db.password` becomes DB_PASSWORD, not PASSWORD.
_ALNUM = re.compile(r"[^a-z0-9]")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_CHUNK = 8  # a name sharing this many characters in a row with the value is refused
_BARE = {"PASSWORD", "PASSWD", "PWD", "SECRET", "TOKEN", "KEY", "API_KEY", "APIKEY", "VALUE"}


def _snake(name: str) -> str:
    return _NOT_NAME.sub("_", _CAMEL.sub("_", name).upper()).strip("_")


def name_from_context(raw: str) -> str:
    """``self.db_password`` -> ``DB_PASSWORD``; ``stripeKey`` -> ``STRIPE_KEY``."""
    parts = [p for p in re.split(r"[.\[\]'\"$]+", raw) if p]
    if not parts:
        return ""
    if parts[0] in {"self", "this", "cls", "os", "process", "env"}:
        parts = parts[1:] or parts
    last = _snake(parts[-1])
    if last in _BARE and len(parts) > 1:
        last = f"{_snake(parts[-2])}_{last}"
    return last


def _valid(name: str, value: str) -> bool:
    if not re.fullmatch(r"[A-Z][A-Z0-9_]{0,63}", name):
        return False
    # Defence in depth: a name must never carry the value or a long chunk of it (a short
    # name like NPM inside `npm_...` is the token's public prefix, not the secret).
    nv, nn = _ALNUM.sub("", value.lower()), _ALNUM.sub("", name.lower())
    if len(nv) >= 4 and nv in nn:
        return False
    return not any(nn[i : i + _CHUNK] in nv for i in range(len(nn) - _CHUNK + 1))


def env_name(hit: Hit) -> str:
    """Generic rules name the variable after what it is assigned to; provider rules keep
    their own name unless the code already uses a constant-style or provider-specific one."""
    rule_env = hit.rule.env or "SECRET"
    if (own := _fallback_variable(hit)) is not None:
        return own  # the variable the code already reads
    if not hit.name:
        return rule_env
    candidate = name_from_context(hit.name)
    if not _valid(candidate, hit.value):
        return rule_env
    if hit.rule.generic:
        return candidate
    provider_word = rule_env.split("_", 1)[0]
    looks_constant = hit.name.split(".")[-1].isupper()
    if looks_constant or provider_word in candidate:
        return candidate
    return rule_env


def target_env(hit: Hit, names: Mapping[str, str]) -> str:
    """The variable a rewrite of ``hit`` makes the code read. A fallback's is the one its own
    call already names: two calls may share a literal (`os.getenv("A") or "x"`, then `"B"`
    with the same `"x"`) and one variable may have two literals, so the name by value
    (``names``, keyed by fingerprint) would make the code read another variable."""
    own = _fallback_variable(hit)
    return names[hit.fingerprint] if own is None else own


def _fallback_variable(hit: Hit) -> str | None:
    """The variable a fallback's call reads (`os.getenv("SECRET_KEY", "dev")`), if a name."""
    if hit.rule.fallback and hit.name and _IDENTIFIER.fullmatch(hit.name):
        return hit.name
    return None


def assign_env_names(hits: Sequence[Hit]) -> dict[str, str]:
    """Per hit fingerprint, its variable name; different values never share a name."""
    names: dict[str, str] = {}
    owner: dict[str, str] = {}
    for hit in hits:
        if hit.fingerprint in names:
            continue
        base = env_name(hit)
        name, n = base, 1
        while owner.get(name, hit.accept_fingerprint) != hit.accept_fingerprint:
            n += 1
            name = f"{base}_{n}"
        owner[name] = hit.accept_fingerprint
        names[hit.fingerprint] = name
    return names
