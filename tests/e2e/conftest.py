"""The e2e tier: `nrt up` in its own process, real clients against it (`make e2e`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.lakes import make_lake


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    """A small lake made in the test (tests/helpers/lakes.py)."""
    return make_lake(tmp_path)
