"""voltscale: characterize and size MAC units for voltage-scalable DNN accelerators."""

from pathlib import Path

__version__ = "0.1.0"

# Templates and platform configs live beside the package in the repository
# (the project is installed editable); these are their roots.
REPO_ROOT = Path(__file__).resolve().parent.parent
RTL_DIR = REPO_ROOT / "rtl"
PLATFORM_CONFIG_DIR = REPO_ROOT / "platforms"
