"""Masking log lines before they are quoted anywhere.

GitHub already replaces registered secrets with ``***`` in job logs, but a value that
was never registered (echoed from a file, printed by a tool) is there verbatim. Every
line Patchwell quotes goes through the secrets fixer's own rules first, then the
token shapes the bot's log filter knows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

from fixers.contract import mask
from fixers.token_shapes import mask_token_shapes

__all__ = ["mask_lines"]

# user:password@ in URLs (pip prints index URLs it was given)
_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]{0,31}://)(?P<user>[^\s:/@]+):(?P<pw>[^\s@/]+)@"
)
_MAX_BYTES = 256 * 1024


@cache
def _scanner():
    from fixers.secrets.engine import Scanner

    return Scanner()


def mask_lines(lines: Sequence[str]) -> tuple[str, ...]:
    """The lines with every secret value the secrets rules recognise masked."""
    if not lines:
        return ()
    text = "\n".join(lines)
    data = text.encode("utf-8", "replace")[:_MAX_BYTES]
    text = data.decode("utf-8", "ignore")
    try:
        from fixers.secrets.detect import scan_file

        hits = scan_file(_scanner(), "job.log", data)
    except Exception:  # masking must never be why a diagnosis is lost; tokens below still apply
        hits = []
    values = sorted({h.value for h in hits if len(h.value) >= 4}, key=len, reverse=True)
    for value in values:
        text = text.replace(value, mask(value))
    text = mask_token_shapes(text)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:****@", text)
    return tuple(text.split("\n"))
