"""The package layout: stages import only downstream, and no module imports itself in a circle."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "automl"
#: Data flows data -> (pretrained backbones) -> search -> release -> the entry points; a module
#: imports only its own stage and those before it. The small shared modules (errors, lazy
#: exports, log quieting, tables) belong to no stage and import none.
STAGES = {
    "automl.data": 1,
    "automl.backbones": 2,
    "automl.search": 3,
    "automl.release": 4,
    "automl.quality": 4,
    "automl.serve": 5,
    "automl._run": 5,
}
ENTRY_POINTS = {"automl", "automl.cli"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _runtime_nodes(tree: ast.AST):
    """Every node that can run: ``if TYPE_CHECKING:`` blocks (typing only) are skipped."""
    for child in ast.iter_child_nodes(tree):
        if _is_type_checking(child):
            continue
        yield child
        yield from _runtime_nodes(child)


def imports_of(name: str) -> set[str]:
    """The automl modules ``name`` imports when it runs: at the top, inside functions, and the
    modules its lazy re-exports (``lazy_getattr``) load on first use."""
    path = MODULES[name]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULES else node.module)
        elif isinstance(node, ast.Call) and ast.unparse(node.func) == "lazy_getattr":
            found.update(ast.literal_eval(node.args[1]))  # {module: (names, ...)}
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imports_of(name) for name in MODULES}


def stage(name: str) -> int:
    if name in ENTRY_POINTS or name.startswith("automl.cli."):
        return 5
    for prefix, number in STAGES.items():
        if name == prefix or name.startswith(prefix + "."):
            return number
    return 0


def test_the_graph_sees_the_stages() -> None:
    assert (
        "automl.search._study" in GRAPH["automl.search._worker"]
        or "automl.search._optuna" in GRAPH["automl.search._worker"]
    )
    assert {"automl.data", "automl.search", "automl.release"} <= set(MODULES)


def test_stages_import_only_downstream() -> None:
    upstream = [
        f"{name} (stage {stage(name)}) imports {target} (stage {stage(target)})"
        for name, targets in GRAPH.items()
        for target in targets
        if stage(target) > stage(name)
    ]
    assert not upstream, "\n".join(upstream)


def test_no_import_cycles() -> None:
    """Depth-first search; a back edge is a cycle, reported with its path."""
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(GRAPH[name]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize(
    "package", ["automl", "automl.data", "automl.search", "automl.release", "automl.quality"]
)
def test_each_package_says_what_it_owns_and_exports_what_it_names(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__doc__ and module.__doc__.strip()
    if package != "automl":  # each stage says what it owns in one line
        assert len(module.__doc__.strip().splitlines()) == 1, module.__doc__
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"


PROJECT = ROOT.parent


def _project_imports() -> list[tuple[str, str]]:
    """(importing module, imported module) for every import in automl/, storage/, dashboard/
    (migrations aside: they belong to the store)."""
    pairs = []
    for top in ("automl", "storage", "dashboard"):
        for path in (PROJECT / top).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(PROJECT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    pairs += [(name, alias.name) for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    pairs.append((name, node.module))
                    pairs += [(name, f"{node.module}.{alias.name}") for alias in node.names]
    return pairs


def test_no_package_imports_another_packages_private_module() -> None:
    """``a.b._c`` is ``a.b``'s own: only modules inside ``a.b`` import it."""
    crossing = []
    for importer, imported in _project_imports():
        parts = imported.split(".")
        private = next((i for i, part in enumerate(parts) if part.startswith("_")), None)
        if private is None or parts[0] not in ("automl", "storage", "dashboard"):
            continue
        owner = ".".join(parts[:private])
        if not (importer == owner or importer.startswith(owner + ".")):
            crossing.append(f"{importer} imports {imported}")
    assert not crossing, "\n".join(crossing)


def test_the_store_and_the_dashboard_keep_to_their_side() -> None:
    """The store imports no TensorFlow, Keras, Optuna or search code; the dashboard runs no
    SQL of its own (its actions call the release stage's public functions)."""
    wrong = [
        f"{importer} imports {imported}"
        for importer, imported in _project_imports()
        if (
            importer.startswith("storage")
            and imported.split(".")[0] in ("tensorflow", "keras", "optuna", "automl")
        )
        or (
            importer.startswith("dashboard")
            and imported.split(".")[0] in ("sqlalchemy", "tensorflow", "keras")
        )
    ]
    assert not wrong, "\n".join(wrong)
