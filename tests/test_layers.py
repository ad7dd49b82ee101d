"""No module imports a layer above its own, and nothing but tests/ imports a driver.

The layers, bottom up (docs/architecture.md, one folder each): ``impls`` (the contract,
the framework adapters, the implementations, the child's side of the harness) imports nothing of
the project; ``reference.problem`` (the vocabulary) only ``impls.contract``, for the names an
implementation may declare (its optimizers), which the contract alone spells out;
``reference.model`` the problem; ``reference.harness`` (Session, the child process) the
implementations and the problem;
``reference.checks`` (the catalogue) the harness and below; ``reference.drivers`` and ``bench``
everything below the checks, and neither the other. tests/ sit on top.

A driver (a CLI, a pytest plugin or test module, the score) is where a run starts: no module
imports one but tests/ and its own package's ``__main__``. Code inside a string, such as the
program a job hands to ``python -c``, is read as an import too.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent

BELOW_CHECKS = {"impls", "reference.problem", "reference.model", "reference.harness", "reference.checks"}
#: Each layer (a package) and the project packages (or single modules) it may import besides itself.
MAY_IMPORT = {
    "impls": set(),
    "reference.problem": {"impls.contract"},
    "reference.model": {"reference.problem"},
    "reference.harness": {"impls", "reference.problem"},
    "reference.checks": {"impls", "reference.problem", "reference.model", "reference.harness"},
    "reference.drivers": BELOW_CHECKS,
    "bench": BELOW_CHECKS,
    "examples": {"impls"},
}
#: Namespace packages that hold layers but are no layer themselves (their __init__ imports nothing).
NAMESPACES = {"reference"}
#: Entry points that start a layer's driver (``python -m reference``): counted in that layer.
ENTRY_POINTS = {"reference.__main__": "reference.drivers"}


def layer_of(module: str) -> str | None:
    """The layer a dotted module name belongs to (the longest matching package), or None if not the project's."""
    if module in ENTRY_POINTS:
        return ENTRY_POINTS[module]
    matches = [layer for layer in [*MAY_IMPORT, *NAMESPACES] if module == layer or module.startswith(layer + ".")]
    return max(matches, key=len) if matches else None


def is_driver(name: str) -> bool:
    """Whether a module (or a name in it) is where a run starts: the checking drivers, the benchmarks' CLI,
    pytest plugin, conftest and test modules."""
    parts = name.split(".")
    modules = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return (layer_of(name) == "reference.drivers" or bool(modules & {"bench.__main__", "bench.pytest_plugin"})
            or (parts[0] == "bench" and any(p == "conftest" or p.startswith("test_") for p in parts[1:])))


def code_in(value: str) -> ast.Module | None:
    """A string constant that is Python code with an import in it (a ``python -c`` program), parsed; else None."""
    if "import" not in value:
        return None
    try:
        tree = ast.parse(value)
    except SyntaxError:
        return None
    return tree if any(isinstance(node, (ast.Import, ast.ImportFrom)) for node in ast.walk(tree)) else None


def imports_in(tree: ast.AST, package: str, line: int | None = None) -> list[tuple[int, str]]:
    """Every module ``tree`` imports, anywhere in it (functions and code strings too), relative imports resolved."""
    found = []
    for node in ast.walk(tree):
        at = line or getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            found += [(at, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            # `from reference import model` imports reference.model: name the submodule where there is one.
            found += [(at, f"{base}.{alias.name}" if layer_of(f"{base}.{alias.name}") != layer_of(base)
                       else base) for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and (code := code_in(node.value)):
            found += imports_in(code, package, at)
    return found


def imported_modules(path: Path, module: str) -> list[tuple[int, str]]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    return imports_in(ast.parse(path.read_text(), str(path)), package)


def within(module: str, allowed: set[str]) -> bool:
    """Whether ``module`` is one of the ``allowed`` packages or modules, or inside one."""
    return any(module == name or module.startswith(name + ".") for name in allowed)


def violations(root: Path) -> list[str]:
    """'file:line imports X (why not)' for every import that goes up or sideways, or reaches a driver."""
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
            where = f"{path.relative_to(root)}:{line} imports {target}"
            if target_layer is not None and target_layer not in allowed and not within(target, allowed):
                found.append(f"{where} ({own} may import only {', '.join(sorted(allowed))})")
            elif is_driver(target) and module not in ENTRY_POINTS:
                found.append(f"{where} (a driver: nothing imports one)")
    return list(dict.fromkeys(found))  # one line per import statement, however many names it takes


def test_no_module_imports_a_layer_above_its_own_or_a_driver():
    assert violations(ROOT) == []


def test_the_layer_test_finds_an_upward_import_a_driver_import_and_an_import_in_a_code_string(tmp_path):
    for package in ("impls", "reference", "reference/problem", "reference/model", "reference/harness",
                    "reference/checks", "reference/drivers", "bench"):
        (tmp_path / package).mkdir(parents=True)
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "impls" / "fine.py").write_text("import numpy\nfrom impls.contract import Implementation\n")
    (tmp_path / "impls" / "bad.py").write_text("def f():\n    from reference.harness.session import Session\n")
    (tmp_path / "reference" / "model" / "network.py").write_text("from ..problem.inputs import Inputs\n")
    (tmp_path / "reference" / "problem" / "bad.py").write_text("from reference import model\n")
    (tmp_path / "reference" / "problem" / "names.py").write_text(
        "from impls.contract import OPTIMIZERS\nfrom impls.backends import DTYPES\n")
    (tmp_path / "reference" / "harness" / "up.py").write_text("from reference.checks.catalogue import CHECKS\n")
    (tmp_path / "reference" / "drivers" / "cli.py").write_text("from reference.checks.catalogue import CHECKS\n")
    (tmp_path / "reference" / "__main__.py").write_text("from reference.drivers.cli import main\n")
    (tmp_path / "bench" / "job.py").write_text(
        "from reference.harness.session import Session\n"
        "from reference.drivers import pytest_plugin\n"
        "PROBE = ['python', '-c', 'import sys; from reference.drivers.cli import main']\n"
        "TEXT = 'the rows import nothing: from here on'\n")
    (tmp_path / "bench" / "test_bench.py").write_text("")
    (tmp_path / "bench" / "test_load.py").write_text("from bench.test_bench import RACES\n")
    assert violations(tmp_path) == [
        "bench/job.py:2 imports reference.drivers (bench may import only bench, impls, "
        "reference.checks, reference.harness, reference.model, reference.problem)",
        "bench/job.py:3 imports reference.drivers.cli (bench may import only bench, impls, "
        "reference.checks, reference.harness, reference.model, reference.problem)",
        "bench/test_load.py:1 imports bench.test_bench (a driver: nothing imports one)",
        "impls/bad.py:2 imports reference.harness.session (impls may import only impls)",
        "reference/harness/up.py:1 imports reference.checks.catalogue (reference.harness may import only impls, "
        "reference.harness, reference.problem)",
        "reference/problem/bad.py:1 imports reference.model (reference.problem may import only impls.contract, "
        "reference.problem)",
        "reference/problem/names.py:2 imports impls.backends (reference.problem may import only impls.contract, "
        "reference.problem)",
    ]
