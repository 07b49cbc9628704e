"""Chaos: a share of GitHub's answers go wrong at random, the ways GitHub's do.

Turned on by ``fake.set_chaos(rate=0.1, seed=...)``; each API request then fails with
probability ``rate``, as one of:

* ``server_error`` -- 500, 502 or 503 at once; nothing was done (retrying is safe);
* ``timeout`` -- the request is carried out but answered only after ``timeout_delay`` seconds,
  past the client's timeout: the write happened, the client never learns it (the case that
  duplicates a PR or a check run unless the client finds its own work before redoing it);
* ``secondary`` -- 403 "secondary rate limit" with ``Retry-After: 1``; nothing was done.

What was injected is counted (``faults``), so a test can say the storm really happened.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

KINDS = ("server_error", "timeout", "secondary")


@dataclass
class Chaos:
    rate: float
    rng: random.Random
    timeout_delay: float = 3.0
    weights: tuple[float, float, float] = (0.4, 0.3, 0.3)  # in the order of KINDS
    faults: Counter = field(default_factory=Counter)

    def pick(self) -> str | None:
        """The fault for the next request, or None (call under the state lock)."""
        if self.rng.random() >= self.rate:
            return None
        kind = self.rng.choices(KINDS, weights=self.weights)[0]
        self.faults[kind] += 1
        return kind

    def status(self) -> int:
        return self.rng.choice((500, 502, 503))
