"""False-positive and robustness classes found by reading the secrets fixer's findings and
patches on public repositories it was not tuned on (issue 15, precision sweep). Every value
here is our own, random and built at run time; each class keeps a control that must still be
reported.
"""

from __future__ import annotations

import random
import string

from fixers.contract import Context, MemorySnapshot
from fixers.secrets import SecretsFixer
from fixers.secrets.engine import Scanner

ALNUM = string.ascii_letters + string.digits
FIXER = SecretsFixer()


def _rand(alphabet: str, n: int, seed: int = 23) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(n))


def _rules(path: str, text: str) -> list[str]:
    return sorted(h.rule.id for h in Scanner().scan(path, text.encode()))


# -- a value with a character base64 never holds -----------------------------------------------


def test_a_non_ascii_value_of_base64_length_is_scanned_not_a_crash() -> None:
    # 15 random ASCII characters and one non-ASCII letter: 16 characters, a length base64
    # could have, which once made the HTTP Basic stand-in check raise and the whole fixer's
    # results go missing for the repository.
    value = _rand(ALNUM, 15) + "\u00fc"
    snap = MemorySnapshot({"app/settings.py": f'DB_PASSWORD = "{value}"\n'.encode()})
    found = FIXER.detect(snap, Context())
    assert [f.rule for f in found] == ["generic-password-assignment"]
    truncated = _rand(ALNUM, 19, 5) + "\u2026"
    assert _rules("client.ts", f"const apiToken = '{truncated}';\n") == [
        "generic-secret-assignment"
    ]
