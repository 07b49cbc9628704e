"""The ``secrets`` fixer: leaked credentials caught, masked, and moved to the environment.

Public API: :class:`SecretsFixer` (the :class:`fixers.contract.Fixer`), :class:`Scanner`
(one file's bytes -> hits, for benchmarks and tools) and :func:`default_ruleset`.
"""

from fixers.secrets.engine import Hit, Scanner
from fixers.secrets.fixer import SecretsFixer, patch_key
from fixers.secrets.rules import RuleSet, default_ruleset, load_ruleset

__all__ = [
    "Hit",
    "RuleSet",
    "Scanner",
    "SecretsFixer",
    "default_ruleset",
    "load_ruleset",
    "patch_key",
]
