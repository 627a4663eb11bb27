"""The package's structure: no import cycles and no private names imported across modules
(the layer contracts themselves are import-linter's, run by run-tests.sh)."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

PACKAGE = Path(__file__).resolve().parents[1] / "eda"


def test_no_import_cycles():
    graph = grimp.build_graph("eda", cache_dir=None)
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back is not None and module != imported:
                cycles.append(" -> ".join((module, *back)))
    assert not cycles, "import cycles:\n" + "\n".join(cycles[:10])


def test_no_private_name_is_imported_across_modules():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("eda"):
                offenders += [f"{path.relative_to(PACKAGE.parent)}: {alias.name} from {node.module}"
                              for alias in node.names if alias.name.startswith("_") and alias.name != "__version__"]
    assert not offenders, "\n".join(offenders)


def test_few_modules_at_the_top():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py"], top
