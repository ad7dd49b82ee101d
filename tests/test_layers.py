"""No module imports a layer above its own.

The layers, bottom up (README's architecture section): ``impls`` (the contract, the framework
adapters, the implementations) and ``reference.problem`` (the vocabulary) import nothing of the
project; ``reference.model`` imports the problem; ``reference.check`` (the verifier) imports the
implementations and the reference below it; ``bench`` imports all of those. tests/ sit on top.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent

#: Each layer (a package) and the project packages it may import besides itself.
MAY_IMPORT = {
    "impls": set(),
    "reference.problem": set(),
    "reference.model": {"reference.problem"},
    "reference.check": {"impls", "reference.problem", "reference.model"},
    "bench": {"impls", "reference.problem", "reference.model", "reference.check"},
    "examples": {"impls"},
}
#: Namespace packages that hold layers but are no layer themselves (their __init__ imports nothing).
NAMESPACES = {"reference"}


def layer_of(module: str) -> str | None:
    """The layer a dotted module name belongs to (the longest matching package), or None if not the project's."""
    matches = [layer for layer in [*MAY_IMPORT, *NAMESPACES] if module == layer or module.startswith(layer + ".")]
    return max(matches, key=len) if matches else None


def imported_modules(path: Path, module: str) -> list[tuple[int, str]]:
    """Every module a file imports, anywhere in it (functions too), relative imports resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            # `from reference import model` imports reference.model: name the submodule where there is one.
            found += [(node.lineno, f"{base}.{alias.name}" if layer_of(f"{base}.{alias.name}") != layer_of(base)
                       else base) for alias in node.names]
    return found


def violations(root: Path) -> list[str]:
    """'file:line imports X (layer A may import only ...)' for every import that goes up or sideways."""
    tops = {layer.split(".")[0] for layer in [*MAY_IMPORT, *NAMESPACES]}
    paths = sorted(path for top in tops if (root / top).is_dir() for path in (root / top).rglob("*.py"))
    found = []
    for path in paths:
        parts = path.relative_to(root).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        own = layer_of(module)
        allowed = MAY_IMPORT.get(own, set()) | {own}
        for line, target in imported_modules(path, module):
            target_layer = layer_of(target)
            if target_layer is not None and target_layer not in allowed:
                found.append(f"{path.relative_to(root)}:{line} imports {target} "
                             f"({own} may import only {', '.join(sorted(allowed))})")
    return found


def test_no_module_imports_a_layer_above_its_own():
    assert violations(ROOT) == []


def test_the_layer_test_finds_an_upward_import(tmp_path):
    for package in ("impls", "reference", "reference/problem", "reference/model", "reference/check"):
        (tmp_path / package).mkdir(parents=True)
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "impls" / "fine.py").write_text("import numpy\nfrom impls.contract import Implementation\n")
    (tmp_path / "impls" / "bad.py").write_text("def f():\n    from reference.check.session import Session\n")
    (tmp_path / "reference" / "model" / "network.py").write_text("from ..problem.inputs import Inputs\n")
    (tmp_path / "reference" / "problem" / "bad.py").write_text("from reference import model\n")
    assert violations(tmp_path) == [
        "impls/bad.py:2 imports reference.check.session (impls may import only impls)",
        "reference/problem/bad.py:1 imports reference.model (reference.problem may import only reference.problem)",
    ]
