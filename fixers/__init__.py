"""Patchwell's detectors and fixes: pure code over a repository snapshot.

Nothing in this package talks to GitHub; the outside world (package index,
advisories, clock) arrives through :class:`fixers.contract.Services`.
"""
