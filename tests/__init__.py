"""Runs before the suite's conftest imports hongyan: an editable install runs a compiled module's extension, built
from its source at install time, until it is built again (``hongyan.native``); the suite must test the source as it
is now, so it refuses to start on a stale build."""

import pytest

from hongyan import native

if _stale := native.stale():
    pytest.exit(f"compiled modules older than their source: {', '.join(_stale)}; rebuild with `make test`", 2)
