"""Shared fixtures. Platform data is found the way users point at it: $EDA_PLATFORMS_DIR."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def platforms_dir() -> Path:
    value = os.environ.get("EDA_PLATFORMS_DIR")
    if not value or not Path(value).is_dir():
        pytest.fail("EDA_PLATFORMS_DIR must point at the platform data (../shared/platforms); run ./run-tests.sh")
    return Path(value)


@pytest.fixture(scope="session")
def platforms_root() -> Path:
    return platforms_dir()
