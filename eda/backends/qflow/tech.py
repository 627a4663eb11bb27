"""qflow technology setups and the platform they go with.

qflow finds a technology by name in $QFLOW_TECH_DIR/<name>/ (files <name>.sh, the
variables every qflow script sources; <name>.par, GrayWolf's parameters; <name>.magicrc).
Two sources are supported:

* A Debian tech package: `qflow_tech_dir` in platforms/<name>/platform.toml names the
  folder (osu018: /usr/share/qflow/tech/osu018 from qflow-tech-osu018). Its LEF and
  liberty are also the platform's data; when the platform data is not found the usual
  way (EDA_PLATFORMS_DIR, ...), they are linked into the ORFS layout
  <cache>/qflow/platforms/<name>/{lib,lef}/ so that `load_platform` reads them.
* Templates we wrote, platforms/<name>/qflow/<name>.sh and <name>.par: the .sh has
  {liberty}, {lef} and {techlef} fields, filled with the platform's prepared liberty and
  LEFs into <cache>/qflow/tech/<key>/<name>/. Nothing of the PDK is copied.
"""

from __future__ import annotations

import os
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

from eda.core.paths import PLATFORM_CONFIG_DIR
from eda.core.errors import EdaError
from eda.core.files import atomic_write_text, sha256_text
from eda.core.liberty import PreparedLiberty
from eda.core.platforms import Platform, load_platform
from eda.parsers.qflow import parse_tech_vars

INSTALL_HINT = "apt-get install qflow qflow-tech-osu018"


@dataclass(frozen=True)
class QflowTech:
    name: str  # qflow's technology name (-T)
    root: Path  # $QFLOW_TECH_DIR: holds <name>/<name>.sh
    vars: dict  # the tech .sh variables

    @property
    def tech_dir(self) -> Path:
        return self.root / self.name

    def path(self, variable: str) -> Path:
        """A file variable of the .sh (leffile, libertyfile, ...), relative to the tech folder unless absolute."""
        value = self.vars.get(variable, "")
        if not value:
            raise EdaError(f"qflow tech {self.tech_dir}/{self.name}.sh does not set {variable}")
        return Path(value) if value.startswith("/") else self.tech_dir / value

    @property
    def lef_paths(self) -> list[Path]:
        paths = [self.path("leffile")]
        if self.vars.get("techleffile"):
            paths.insert(0, self.path("techleffile"))
        return paths

    def buffer(self) -> tuple[str, str, str]:
        """Cell, input and output pin qflow uses for buffers (Yosys `write_blif -buf`)."""
        try:
            return self.vars["bufcell"], self.vars["bufpin_in"], self.vars["bufpin_out"]
        except KeyError as exc:
            raise EdaError(f"qflow tech {self.tech_dir}/{self.name}.sh does not set {exc.args[0]}") from None


def platform_config(name: str) -> dict:
    path = PLATFORM_CONFIG_DIR / name / "platform.toml"
    if not path.is_file():
        raise EdaError(f"unknown platform {name!r}: no {path}")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise EdaError(f"{path}: invalid TOML: {exc}") from None


def _templates(name: str) -> tuple[Path, Path]:
    folder = PLATFORM_CONFIG_DIR / name / "qflow"
    return folder / f"{name}.sh", folder / f"{name}.par"


def supported_platforms() -> list[str]:
    names = []
    for config in sorted(PLATFORM_CONFIG_DIR.glob("*/platform.toml")):
        name = config.parent.name
        if "qflow_tech_dir" in platform_config(name) or all(p.is_file() for p in _templates(name)):
            names.append(name)
    return names


def _debian_tech_dir(raw: dict) -> Path | None:
    value = raw.get("qflow_tech_dir")
    return Path(value) if value else None


def _link_platform_data(name: str, raw: dict, tech_dir: Path, cache_dir: Path) -> Path:
    """<cache>/qflow/platforms/<name>/{lib,lef}/ pointing at the tech package's files."""
    root = cache_dir / "qflow" / "platforms"
    wanted = {"lib": [lib for corner in raw["corners"].values() for lib in corner["libs"]], "lef": raw["cells"].get("lefs", [])}
    for sub, files in wanted.items():
        folder = root / name / sub
        folder.mkdir(parents=True, exist_ok=True)
        for filename in files:
            source = tech_dir / filename
            if not source.is_file():
                raise EdaError(f"{source} not found: is the qflow tech package installed? ({INSTALL_HINT})")
            target = folder / filename
            if sub == "lib":
                _write_liberty_view(source, target)
            elif not (target.is_symlink() and target.resolve() == source.resolve()):
                target.unlink(missing_ok=True)
                target.symlink_to(source)
    return root


def _write_liberty_view(source: Path, target: Path) -> None:
    """A link to the liberty in the tech package."""
    if not (target.is_symlink() and target.resolve() == source.resolve()):
        target.unlink(missing_ok=True)
        target.symlink_to(source)


def resolve_platform(name: str, cache_dir: Path, platforms_dir: Path | None = None) -> Platform:
    """The platform as `load_platform` finds it, else from its qflow tech package."""
    raw = platform_config(name)
    try:
        return load_platform(name, platforms_dir)
    except EdaError as first:
        tech_dir = _debian_tech_dir(raw)
        if tech_dir is None or platforms_dir is not None:
            raise
        if not tech_dir.is_dir():
            raise EdaError(f"{first}\nThe qflow tech folder {tech_dir} is not there either; install it ({INSTALL_HINT}).") from None
        return load_platform(name, _link_platform_data(name, raw, tech_dir, cache_dir))


def qflow_tech(platform: Platform, liberty: PreparedLiberty, cache_dir: Path) -> QflowTech:
    """The qflow technology for `platform`: its Debian tech package or our rendered templates."""
    raw = platform_config(platform.name)
    tech_dir = _debian_tech_dir(raw)
    if tech_dir is not None:
        sh = tech_dir / f"{platform.name}.sh"
        if not sh.is_file():
            raise EdaError(f"qflow tech file {sh} not found; install it ({INSTALL_HINT})")
        return QflowTech(platform.name, tech_dir.parent, parse_tech_vars(sh.read_text()))
    sh_template, par_template = _templates(platform.name)
    if not (sh_template.is_file() and par_template.is_file()):
        raise EdaError(f"no qflow technology for platform {platform.name!r}: neither qflow_tech_dir in its platform.toml nor "
                       f"{sh_template} and {par_template}. Platforms with one: {', '.join(supported_platforms()) or 'none'}.")
    lefs = {p.name: p for p in platform.lefs}
    techlef = next((p for p in platform.lefs if p.suffix == ".tlef" or "tech" in p.name.lower()), None)
    cell_lefs = [p for p in platform.lefs if p != techlef]
    if len(cell_lefs) != 1:
        raise EdaError(f"platform {platform.name}: qflow needs one cell LEF besides the tech LEF, found {', '.join(lefs) or 'none'}")
    try:
        sh_text = sh_template.read_text().format(liberty=liberty.path, lef=cell_lefs[0], techlef=techlef or "")
    except (KeyError, IndexError) as exc:
        raise EdaError(f"{sh_template}: unknown template field {exc}") from None
    par_text = par_template.read_text()
    key = sha256_text(sh_text + par_text)[:16]
    root = cache_dir / "qflow" / "tech" / key
    folder = root / platform.name
    if not (folder / f"{platform.name}.par").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / f"{platform.name}.sh", sh_text)
        atomic_write_text(folder / f"{platform.name}.magicrc", "# voltscale runs no magic stage\n")
        atomic_write_text(folder / f"{platform.name}.par", par_text)
    return QflowTech(platform.name, root, parse_tech_vars(sh_text))


def qflow_executable() -> str:
    path = shutil.which(os.environ.get("QFLOW_EXE", "qflow"))
    if path is None:
        raise EdaError(f"qflow not found on PATH (or $QFLOW_EXE). Install it: {INSTALL_HINT}")
    return path
