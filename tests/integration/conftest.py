"""Fixtures shared by the push tests: a real HTTP receiver for pushes, in its own thread."""

from __future__ import annotations

import pytest

from tests.integration.test_pushes import Receiver


@pytest.fixture
def receiver():
    r = Receiver()
    r.start()
    yield r
    r.stop()
