"""Where the repository's own data lives: templates and platform configs beside the package."""

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
