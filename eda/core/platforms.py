"""Platforms: our TOML configs (platforms/<name>/platform.toml) plus the PDK data files.

The data (liberty, LEF) is never part of this repository. It is found, in order, through
an explicit directory, $EDA_PLATFORMS_DIR, $FLOW_HOME/platforms (an ORFS checkout) and
$PDK_ROOT (ciel/volare layout), each holding the ORFS layout <dir>/<name>/{lib,lef}/.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from eda.core.paths import PLATFORM_CONFIG_DIR
from eda.core.errors import EdaError


@dataclass(frozen=True)
class Corner:
    name: str
    libs: tuple[Path, ...]
    process: str
    vdd: float
    temp_c: float


@dataclass(frozen=True)
class Platform:
    name: str
    description: str
    data_dir: Path  # where the liberty/LEF files were found
    nominal_corner: str
    corners: dict[str, Corner]
    lefs: tuple[Path, ...]
    tie_hi: tuple[str, str]
    tie_lo: tuple[str, str]
    flop: str
    latch_cell: str
    latch_pins: tuple[str, str, str]  # data, enable, output
    driver: str
    output_load_ff: float
    dont_use: tuple[str, ...]
    config_path: Path
    # Optional: the inverter whose FO4 stage `eda voltage-model` times (cell, input, output pins),
    # and the ABC delay targets (ps) that give distinct MAC sizes on this library.
    inverter: tuple[str, str, str] | None = None
    targets_ps: tuple[int, ...] = ()

    @property
    def nominal(self) -> Corner:
        return self.corners[self.nominal_corner]


def available_platforms() -> list[str]:
    return sorted(p.parent.name for p in PLATFORM_CONFIG_DIR.glob("*/platform.toml"))


def _load_config(name: str) -> tuple[dict, Path]:
    path = PLATFORM_CONFIG_DIR / str(name) / "platform.toml"
    # Only the names of our configs: a name is a folder name, never a path elsewhere ('../x').
    if name not in available_platforms() or not path.is_file():
        known = ", ".join(available_platforms()) or "none"
        raise EdaError(f"unknown platform {name!r}: no {path}. Known platforms: {known}.")
    try:
        return tomllib.loads(path.read_text()), path
    except tomllib.TOMLDecodeError as exc:
        raise EdaError(f"{path}: invalid TOML: {exc}") from None


def platform_config(name: str) -> tuple[dict, Path]:
    """Our TOML config of a platform (no data files needed) and its path."""
    return _load_config(name)


def _candidate_roots(name: str, platforms_dir: str | Path | None, pdk_root_subdir: str | None) -> list[tuple[str, Path | None]]:
    """(where, directory that should hold lib/ and lef/ or None if not set), in lookup order."""
    def env_root(var: str, *parts: str) -> Path | None:
        return Path(os.environ[var], *parts) if os.environ.get(var) else None

    return [
        ("--platforms-dir", Path(platforms_dir) / name if platforms_dir else None),
        ("$EDA_PLATFORMS_DIR", env_root("EDA_PLATFORMS_DIR", name)),
        ("$FLOW_HOME/platforms", env_root("FLOW_HOME", "platforms", name)),
        ("$PDK_ROOT", env_root("PDK_ROOT", pdk_root_subdir) if pdk_root_subdir else None),
    ]


def _find_file(root: Path, subdirs: tuple[str, ...], filename: str) -> Path | None:
    """A data file under root/<subdir>/, plain or gzipped (ORFS ships both)."""
    stem = filename[:-3] if filename.endswith(".gz") else filename
    for subdir in subdirs:
        for candidate in (root / subdir / stem, root / subdir / (stem + ".gz")):
            if candidate.is_file():
                return candidate
    return None


def load_platform(name: str, platforms_dir: str | Path | None = None) -> Platform:
    """Our config for `name`, with every data file resolved to an existing path."""
    raw, config_path = _load_config(name)
    try:
        cells = raw["cells"]
        corner_specs = raw["corners"]
        nominal = raw["nominal_corner"]
    except KeyError as exc:
        raise EdaError(f"{config_path}: missing required key {exc.args[0]!r}") from None
    if nominal not in corner_specs:
        raise EdaError(f"{config_path}: nominal_corner {nominal!r} is not one of the [corners.*] tables")

    roots = _candidate_roots(name, platforms_dir, raw.get("pdk_root_subdir"))
    if platforms_dir:
        # An explicit folder is the only place looked: a mistyped path must not
        # silently fall back to other data through the environment.
        roots = roots[:1]
    nominal_lib = corner_specs[nominal]["libs"][0]
    looked: list[str] = []
    for how, root in roots:
        if root is None:
            looked.append(f"{how}: not set")
            continue
        if _find_file(root, ("lib",), nominal_lib):
            break
        looked.append(f"{how}: no {root}/lib/{nominal_lib}[.gz]")
    else:
        where = "\n  ".join(looked)
        raise EdaError(
            f"platform data for {name!r} not found. Looked in:\n  {where}\n"
            f"Point --platforms-dir or EDA_PLATFORMS_DIR at a folder holding {name}/lib/ and {name}/lef/ "
            f"(the OpenROAD-flow-scripts layout, e.g. $FLOW_HOME/platforms), or set PDK_ROOT to a ciel/volare install."
        )

    corners: dict[str, Corner] = {}
    for corner_name, spec in corner_specs.items():
        libs = []
        for lib in spec["libs"]:
            found = _find_file(root, ("lib",), lib)
            if found is None:
                # Optional corners may be absent from a given PDK copy; the nominal one may not.
                if corner_name == nominal:
                    raise EdaError(f"platform {name!r}: liberty {lib} not found under {root}/lib")
                libs = []
                break
            libs.append(found)
        if libs:
            corners[corner_name] = Corner(corner_name, tuple(libs), spec["process"], float(spec["vdd"]), float(spec["temp_c"]))

    lefs = tuple(p for p in (_find_file(root, ("lef", "techlef"), f) for f in cells.get("lefs", [])) if p is not None)
    latch = cells["latch"]
    inverter = cells.get("inverter")
    if inverter is not None and not (isinstance(inverter, list) and len(inverter) == 3 and all(isinstance(x, str) for x in inverter)):
        raise EdaError(f"{config_path}: [cells] inverter must be [cell, input pin, output pin], got {inverter!r}")
    return Platform(
        name=name,
        description=raw.get("description", ""),
        data_dir=root,
        nominal_corner=nominal,
        corners=corners,
        lefs=lefs,
        tie_hi=tuple(cells["tie_hi"]),
        tie_lo=tuple(cells["tie_lo"]),
        flop=cells["flop"],
        latch_cell=latch[0],
        latch_pins=tuple(latch[1:4]),
        driver=cells["driver"],
        output_load_ff=float(cells["output_load_ff"]),
        dont_use=tuple(cells.get("dont_use", [])),
        config_path=config_path,
        inverter=tuple(inverter) if inverter else None,
        targets_ps=_targets(raw.get("characterize", {}).get("targets_ps"), config_path),
    )


def _targets(spec, config_path: Path) -> tuple[int, ...]:
    """[characterize] targets_ps = [first, last, step] (ps) as the list of targets; () when absent."""
    if spec is None:
        return ()
    if not (isinstance(spec, list) and len(spec) == 3 and all(isinstance(x, int) and x > 0 for x in spec) and spec[0] <= spec[1]):
        raise EdaError(f"{config_path}: [characterize] targets_ps must be [first, last, step], positive whole ps "
                       f"with first <= last, got {spec!r}")
    first, last, step = spec
    return tuple(range(first, last + 1, step))
