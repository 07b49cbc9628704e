"""Healing failed checks: read a failed CI job, recognise a mechanical failure, fix it.

Pure code like every fixer (no GitHub, no network: the bot hands in the log text,
the annotations, a snapshot of the failing commit and the injected services):

* :mod:`fixers.heal.joblog` -- job logs cleaned and cut into steps;
* :mod:`fixers.heal.signatures` -- the signature table (``fixers/data/heal_signatures.toml``)
  and :func:`~fixers.heal.signatures.diagnose`;
* :mod:`fixers.heal.remedies` -- a diagnosis to patches, made by the fixer that owns the
  file (the dependency fixer for manifests, the workflow fixers for workflows);
* :mod:`fixers.heal.mask` -- every quoted log line is masked first.
"""
