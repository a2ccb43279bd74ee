"""The package's layers import only downward (docs/layout.md), and the light layers stay light."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "raven_align"
# bottom to top; a module may import raven_align modules of its own layer or of a lower one
LAYERS = [
    ("cache", "embedded"),
    ("core",),
    ("columns",),
    ("supervisors",),
    ("labeling",),
    ("reporting",),
    ("trainers",),
    ("recipes",),
    ("cli",),
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}
#: third-party packages a layer must never import (at module level or inside functions)
FORBIDDEN = {
    "core": ("transformers", "trl", "datasets", "peft", "accelerate"),
    "columns": ("transformers", "trl", "datasets", "peft", "accelerate"),
    "embedded": ("trl",),
}


def _top(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> list[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
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
                out += [name] if node.module else [f"{name}.{a.name}" for a in node.names]
            else:
                out.append(node.module)
    return out


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path):
    layer = _top(path)
    assert layer in RANK, f"{layer} is not in the layer table of tests/test_layout.py"
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] == "raven_align" and len(parts) > 1:
            target = parts[1]
            if target == "__version__":
                continue
            assert RANK[target] <= RANK[layer], f"{path.name} ({layer}) imports {name} from a higher layer"
        assert parts[0] not in FORBIDDEN.get(layer, ()), f"{path.name} ({layer}) imports {parts[0]}"


def test_every_module_is_small():
    big = {str(p.relative_to(PACKAGE)): n for p in MODULES if (n := len(p.read_text().splitlines())) > 420}
    assert not big, f"modules over ~400 lines: {big}"
