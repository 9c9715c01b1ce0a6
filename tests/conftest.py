"""Shared fixtures: the real data root (tests that need it skip visibly without it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"


def real_data_root() -> Path | None:
    for candidate in (os.environ.get("GENREC_DATA_DIR"), SHARED):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


@pytest.fixture
def data_root() -> Path:
    root = real_data_root()
    if root is None:
        pytest.skip("real datasets not found: set GENREC_DATA_DIR to the shared data folder")
    return root
