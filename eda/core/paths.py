"""Where the repository's own data lives: templates and platform configs beside the package."""

from pathlib import Path

# The project is installed editable; templates and platform configs are not package data.
REPO_ROOT = Path(__file__).resolve().parents[2]
RTL_DIR = REPO_ROOT / "rtl"
PLATFORM_CONFIG_DIR = REPO_ROOT / "platforms"
