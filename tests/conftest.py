"""Shared fixtures. Platform data is found the way users point at it: $EDA_PLATFORMS_DIR."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from eda.core.liberty import prepare_liberty
from eda.core.platforms import load_platform


def platforms_dir() -> Path:
    value = os.environ.get("EDA_PLATFORMS_DIR")
    if not value or not Path(value).is_dir():
        pytest.fail("EDA_PLATFORMS_DIR must point at the platform data (../shared/platforms); run ./run-tests.sh")
    return Path(value)


@pytest.fixture(scope="session")
def platforms_root() -> Path:
    return platforms_dir()


@pytest.fixture(scope="session")
def liberty_seed(tmp_path_factory, platforms_root) -> Path:
    """A cache folder holding only the prepared nominal sky130hd liberty (built once per worker, ~5 s).

    Tests copy it into their own fresh cache (<cache>/liberty/) to skip the liberty parse.
    """
    seed = tmp_path_factory.getbasetemp() / "liberty_seed"
    platform = load_platform("sky130hd", platforms_root)
    prepare_liberty(platform.nominal.libs[0], platform.dont_use, seed)
    return seed / "liberty"


@pytest.fixture(scope="session")
def seed_cache(liberty_seed):
    """seed_cache(path) -> path: a fresh run cache there, holding only the prepared liberty."""

    def seeded(path: Path) -> Path:
        shutil.copytree(liberty_seed, path / "liberty")
        return path

    return seeded


@pytest.fixture
def cache(tmp_path, seed_cache) -> Path:
    """A fresh run cache for this test, with the prepared liberty already in it."""
    return seed_cache(tmp_path / "cache")


@pytest.fixture(scope="session")
def orfs_fixtures() -> Path:
    """Real OpenROAD-flow-scripts outputs: $EDA_FIXTURES_DIR/orfs, else <EDA_PLATFORMS_DIR>/../fixtures/orfs."""
    value = os.environ.get("EDA_FIXTURES_DIR")
    folder = Path(value) / "orfs" if value else platforms_dir().parent / "fixtures" / "orfs"
    if not folder.is_dir():
        pytest.fail(f"ORFS fixture folder {folder} not found: set EDA_FIXTURES_DIR to the folder holding orfs/ "
                    "(../shared/fixtures)")
    return folder
