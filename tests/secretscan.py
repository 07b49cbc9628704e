"""The secret scanner as rule tests drive it: every engine this machine has, rule ids found."""

from __future__ import annotations

from fixers.secrets.engine import Scanner


def available_engines() -> list[str]:
    """Hyperscan where it is installed, and the two pure-Python engines always."""
    try:
        import hyperscan  # noqa: F401
    except ImportError:
        return ["re", "exhaustive"]
    return ["hyperscan", "re", "exhaustive"]


def rule_ids(path: str, text: str, engine: str = "auto") -> list[str]:
    """The ids of the rules that fire on ``text`` as the file ``path``, sorted."""
    scanner = Scanner(engine=engine)  # type: ignore[arg-type]
    return sorted(h.rule.id for h in scanner.scan(path, text.encode()))
