"""Where the repository's own data lives: templates and platform configs beside the package."""

import os
from pathlib import Path

# The project is installed editable; templates and platform configs are not package data.
REPO_ROOT = Path(__file__).resolve().parents[2]
RTL_DIR = REPO_ROOT / "rtl"
PLATFORM_CONFIG_DIR = REPO_ROOT / "platforms"


def shown_path(path) -> str:
    """A path as reports show it: relative to the repository when inside it (a report written
    from another checkout reads the same), else absolute."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(REPO_ROOT))
    except ValueError:
        return str(resolved)


def default_cache_dir() -> Path:
    """The run cache when none is given: $VOLTSCALE_CACHE, else ~/.cache/voltscale (as eda.cli.options.cache_dir_from)."""
    given = os.environ.get("VOLTSCALE_CACHE")
    return Path(given or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "voltscale").resolve()
