"""pyverilog with its LALR parser tables built once per install, not once per parse.

pyverilog builds its parser with PLY's `yacc(outputdir=...)`. PLY then looks for the tables by
importing `pyverilog.vparser.parsetab` -- never from `outputdir` -- so a parser made with any
outputdir but pyverilog's own package folder built the tables again: about 2 s of LALR
construction for every netlist read (76 times in one `eda run`). Here the tables are written once
per pyverilog and PLY version under the cache folder and registered as that module: every pyverilog
parser of the process (ours, and `pyverilog.vparser.parser.parse` anywhere) then reads them. PLY
checks the grammar's signature against the tables and rebuilds them itself if they do not match.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
import threading
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from eda.core.paths import default_cache_dir

TABLE_MODULE = "pyverilog.vparser.parsetab"
TABLE_FILE = "parsetab.py"
_LOCK = threading.Lock()


def package_version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


def tables_dir(cache_dir: Path | None = None) -> Path:
    """The folder of the tables for the installed pyverilog and PLY."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / "parser-tables" / f"pyverilog-{package_version('pyverilog')}-ply-{package_version('ply')}"


def _build(folder: Path) -> None:
    """Write the tables into folder (through a temporary sibling: a concurrent reader never sees half a file)."""
    from pyverilog.vparser.parser import VerilogParser

    folder.mkdir(parents=True, exist_ok=True)
    sys.modules.pop(TABLE_MODULE, None)  # so that PLY builds and writes them
    tmp = Path(tempfile.mkdtemp(dir=folder, prefix=".build."))
    try:
        VerilogParser(outputdir=str(tmp), debug=False)
        if (tmp / TABLE_FILE).is_file():
            os.replace(tmp / TABLE_FILE, folder / TABLE_FILE)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(TABLE_MODULE, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def use_persistent_tables(cache_dir: Path | None = None) -> Path:
    """Make every pyverilog parser of this process read its tables from the cache folder (built there
    on first use). Returns the folder; parsers may be given it as their outputdir."""
    folder = tables_dir(cache_dir)
    path = folder / TABLE_FILE
    with _LOCK:
        loaded = sys.modules.get(TABLE_MODULE)
        if loaded is not None and getattr(loaded, "__file__", None) == str(path):
            return folder
        try:
            if not path.is_file():
                _build(folder)
            sys.modules[TABLE_MODULE] = _load(path)
        except Exception:  # noqa: BLE001 -- a damaged or unwritable table file: build it again, else parse without
            try:
                path.unlink(missing_ok=True)
                _build(folder)
                sys.modules[TABLE_MODULE] = _load(path)
            except Exception:  # noqa: BLE001
                sys.modules.pop(TABLE_MODULE, None)
    return folder


def parse_verilog(files: list[Path], cache_dir: Path | None = None):
    """pyverilog's AST of the files (preprocessed with iverilog -E in a private folder), with the persistent tables."""
    from pyverilog.vparser.parser import VerilogCodeParser

    tables = use_persistent_tables(cache_dir)
    with tempfile.TemporaryDirectory() as tmp:
        parser = VerilogCodeParser([str(f) for f in files], preprocess_output=str(Path(tmp) / "preprocess.output"),
                                   outputdir=str(tables), debug=False)
        return parser.parse()
