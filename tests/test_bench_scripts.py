"""Every benchmark script imports, and the names it imports inside functions (run only by the bench) exist."""

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
MODULES = sorted(BENCH.glob("*.py"))
#: the runnable scripts; `_name.py` is a helper module a script imports (no main of its own)
SCRIPTS = [p for p in MODULES if not p.name.startswith("_")]


def test_the_bench_has_scripts():
    assert len(SCRIPTS) >= 10, [p.name for p in SCRIPTS]


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_bench_script_imports(path, monkeypatch):
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)  # runs the module's top level only: imports and definitions
    assert hasattr(module, "main"), f"{path.name} has no main()"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_bench_function_level_imports_exist(path):
    """Imports inside functions (run only when the bench runs) name things that exist."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("raven_align"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name) or importlib.util.find_spec(
                    f"{node.module}.{alias.name}"
                ), f"{path.name}: {node.module} has no {alias.name}"
