"""The package's rooms import only downward and never in a loop (docs/layout.md); the light rooms stay light."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "raven_align"
# bottom to top; a module may import raven_align modules of its own room or of a lower one
LAYERS = [
    ("utils",),
    ("embedded",),
    ("core",),
    ("columns",),
    ("supervisors",),
    ("labeling",),
    ("evaluation",),
    ("trainers",),
    ("pipeline",),
    ("programs",),
    ("cli",),
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}
#: third-party packages a room must never import (at module level or inside functions)
FORBIDDEN = {
    "utils": ("transformers", "trl", "datasets", "peft", "accelerate"),
    "core": ("transformers", "trl", "datasets", "peft", "accelerate"),
    "columns": ("transformers", "trl", "datasets", "peft", "accelerate"),
    "embedded": ("trl",),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _room(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imports(path: Path) -> list[str]:
    """Absolute names of every module ``path`` imports, at any depth (relative imports resolved; for
    ``from X import a``: ``X.a`` if that is a module of the package, else ``X``)."""
    tree = ast.parse(path.read_text())
    package = ["raven_align", *path.relative_to(PACKAGE).parent.parts]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join([*base, *([node.module] if node.module else [])])
            else:
                name = node.module
            out += [f"{name}.{a.name}" if f"{name}.{a.name}" in NAMES else name for a in node.names]
    return out


MODULES = sorted(PACKAGE.rglob("*.py"))
NAMES = {_module_name(p): p for p in MODULES}
ROOM_MODULES = [p for p in MODULES if p != PACKAGE / "__init__.py"]


def _graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (a package's ``__init__`` counts as the package)."""
    return {_module_name(p): {n for n in _imports(p) if n in NAMES and n != _module_name(p)} for p in MODULES}


@pytest.mark.parametrize("path", ROOM_MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path):
    room = _room(path)
    assert room in RANK, f"{room} is not in the room table of tests/test_layout.py (and docs/layout.md)"
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] == "raven_align" and len(parts) > 1 and parts[1] in RANK:
            target = parts[1]
            assert RANK[target] <= RANK[room], f"{path.name} ({room}) imports {name} from a higher room"
        assert parts[0] not in FORBIDDEN.get(room, ()), f"{path.name} ({room}) imports {parts[0]}"


def test_no_module_reaches_up_to_the_package_root():
    """The package root re-exports the rooms above: no room imports a name from it (the version is in utils)."""
    for path in ROOM_MODULES:
        assert "raven_align" not in _imports(path), f"{path.relative_to(PACKAGE)} imports the package root"


def test_no_import_loop():
    """No cycle among the package's modules, counting imports inside functions (Tarjan's strongly connected
    components; a package's ``__init__`` re-exporting its own modules is no loop unless one imports it back)."""
    graph = _graph()
    index, low, stack, on_stack, loops = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                loops.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert not loops, f"import loops: {loops}"


def test_the_loop_detector_finds_a_loop(tmp_path, monkeypatch):
    """The detector itself can fail: two modules importing each other (inside a function) are a loop."""
    pkg = tmp_path / "raven_align"
    (pkg / "pipeline").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "pipeline" / "__init__.py").write_text("")
    (pkg / "pipeline" / "a.py").write_text("def f():\n    from .b import g\n")
    (pkg / "pipeline" / "b.py").write_text("def g():\n    from . import a\n")
    modules = sorted(pkg.rglob("*.py"))
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    monkeypatch.setitem(globals(), "PACKAGE", pkg)
    monkeypatch.setitem(globals(), "MODULES", modules)
    monkeypatch.setitem(globals(), "NAMES", {_module_name(p): p for p in modules})
    with pytest.raises(AssertionError, match="import loops"):
        test_no_import_loop()


def test_programs_are_imported_only_by_the_cli():
    """Programs are leaves: no room below imports them, and no program imports another."""
    for path in ROOM_MODULES:
        users = {n for n in _imports(path) if n.startswith("raven_align.programs.")}
        room = _room(path)
        if room == "programs":
            own = _module_name(path)
            users = {n for n in users if not n.startswith(own)}
        assert not users or room == "cli", f"{path.relative_to(PACKAGE)} imports the programs {sorted(users)}"


def test_every_module_is_small():
    big = {str(p.relative_to(PACKAGE)): n for p in MODULES if (n := len(p.read_text().splitlines())) > 420}
    assert not big, f"modules over ~400 lines: {big}"


def test_no_function_is_long():
    """No function or method of the package is over ~80 lines (a long one hides several steps)."""
    long = {}
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > 80:
                    long[f"{path.relative_to(PACKAGE)}:{node.name}"] = n
    assert not long, f"functions over 80 lines: {long}"


def test_docs_layout_matches_the_tree():
    """docs/layout.md's package tree names every module and room, and names no module that is gone."""
    import re

    text = (ROOT / "docs" / "layout.md").read_text()
    tree = text[text.index("## The package tree") : text.index("## Outside the package")]
    named = set(re.findall(r"[─ ]([A-Za-z_]+\.py)\b", tree)) - {"__init__.py"}
    present = {p.name for p in MODULES if p.name != "__init__.py"}
    assert present <= named, f"modules missing from docs/layout.md: {sorted(present - named)}"
    assert named <= present, f"docs/layout.md names modules that do not exist: {sorted(named - present)}"
    for room in {
        p.relative_to(PACKAGE).parts[0] for p in ROOM_MODULES if len(p.relative_to(PACKAGE).parts) > 1
    }:
        assert f"{room}/" in tree, f"room {room}/ missing from docs/layout.md"
