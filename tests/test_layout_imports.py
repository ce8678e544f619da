"""Package layout: every citygen module imports, without import circles or shadowed names.

The graph is built from the source with ``ast`` (imports inside functions count, those under
``if TYPE_CHECKING:`` do not, since they never run), so a circle hidden in a lazy import is
found as well.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import citygen

ROOT = Path(citygen.__file__).resolve().parent


def _modules() -> dict[str, Path]:
    """Every module of the citygen package, by dotted name."""
    out = {"citygen": ROOT / "__init__.py"}
    for info in pkgutil.walk_packages([str(ROOT)], prefix="citygen."):
        spec = importlib.util.find_spec(info.name)
        out[info.name] = Path(spec.origin)
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(path: Path, name: str, known: set[str]) -> set[str]:
    """Citygen modules that module ``name`` at ``path`` imports when it runs."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def target(mod: str) -> str | None:
        while mod and mod not in known:
            mod = mod.rpartition(".")[0]
        return mod or None

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(target(alias.name) or "")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in known else target(base) or "")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return {m for m in found if m.startswith("citygen") and m != name}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of the graph as a list of modules, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(u: str) -> list[str] | None:
        state[u] = 1
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                return [*stack[stack.index(v) :], v]
            if v not in state and (found := dfs(v)) is not None:
                return found
        stack.pop()
        state[u] = 2
        return None

    for u in sorted(graph):
        if u not in state and (found := dfs(u)) is not None:
            return found
    return None


def test_every_module_imports() -> None:
    for name in _modules():
        if not name.endswith("__main__"):  # runs the CLI
            importlib.import_module(name)


def test_no_import_circle_among_citygen_modules() -> None:
    mods = _modules()
    graph = {name: _imported(path, name, set(mods)) for name, path in mods.items()}
    assert "citygen.sampling.state" in graph["citygen.sampling.loop"]  # the graph sees imports
    assert _find_cycle(graph) is None, " -> ".join(_find_cycle(graph) or [])


def test_the_cycle_finder_finds_a_circle() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_submodule_shadows_a_public_name() -> None:
    # importing citygen.X sets the attribute X of citygen to the module: a lazy public
    # function of the same name would be replaced by it after the first import
    mods = _modules()
    for name, path in mods.items():
        if path.name == "__init__.py":
            lazy = set(getattr(importlib.import_module(name), "_LAZY", {}))
            subs = {info.name for info in pkgutil.iter_modules([str(path.parent)])}
            assert not lazy & subs, f"{name}: {sorted(lazy & subs)}"
    for name in mods:  # every module imported: public names are still what they were
        if not name.endswith("__main__"):
            importlib.import_module(name)
    for name, path in mods.items():
        if path.name == "__init__.py":
            package = importlib.import_module(name)
            public = set(getattr(package, "_LAZY", {})) | set(getattr(package, "__all__", []))
            shadowed = sorted(a for a in public if inspect.ismodule(getattr(package, a)))
            assert not shadowed, f"{name}: {shadowed} are modules"


def test_public_names_keep_working_after_their_modules_are_imported() -> None:
    importlib.import_module("citygen.sampling.loop")
    importlib.import_module("citygen.generation")
    for attr in citygen.__all__:
        assert getattr(citygen, attr) is not None
    for _ in range(2):  # the first access imports the module; the second must still work
        assert callable(citygen.sample)
        assert callable(citygen.generate)
        assert callable(citygen.log_likelihood)
