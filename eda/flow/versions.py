"""The version banners of the tools a cached result depends on (recorded in manifests and keys)."""

from __future__ import annotations

import functools
import importlib.metadata

from eda.core.runner import find_tool, tool_version
from eda.flow.sta import sta_executable

_LOCATE = {
    "yosys": lambda: find_tool("yosys", "YOSYS_EXE"),
    "iverilog": lambda: find_tool("iverilog"),
    "sta": sta_executable,
}
_VERSION_ARGS = {"yosys": ("-V",), "iverilog": ("-V",), "sta": ("-version",)}


@functools.cache  # one version check per tool and process, however many runs
def tool_versions(*tools: str) -> dict[str, str]:
    """{tool: first line of its version banner} for the named tools (yosys, iverilog, sta)."""
    return {tool: tool_version(_LOCATE[tool](), _VERSION_ARGS[tool]) for tool in tools}


def package_versions(*packages: str) -> dict[str, str]:
    """{package: installed version, or "not installed"} of the Python packages a result depends on."""
    versions = {}
    for name in packages:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
