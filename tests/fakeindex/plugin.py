"""pytest plugin: ``fake_index`` -- a running :class:`FakeIndex` for one test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakeindex.server import FakeIndex


@pytest.fixture
def fake_index() -> Iterator[FakeIndex]:
    with FakeIndex() as index:
        yield index
