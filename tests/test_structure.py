"""The package's shape: its modules import each other without a circle, and no function is long.

Both are read from the source with ``ast`` (nothing is imported), counting imports inside
functions too: a circle closed by a late import is still a circle.
"""

import ast

from tests.conftest import ROOT

PACKAGE = ROOT / "tf_nst"
LONGEST_FUNCTION = 60  # lines, decorators not counted


def _modules() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text(), str(path)) for path in PACKAGE.glob("*.py")}


def imported_modules(tree: ast.Module, modules: set[str]) -> set[str]:
    """The modules of ``tf_nst`` (among ``modules``) that ``tree`` imports, anywhere in it."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "tf_nst" and len(parts) > 1 and parts[1] in modules:
                found.add(parts[1])
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of ``graph`` (``[a, b, ..., a]``), or None (depth-first search)."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for successor in sorted(graph.get(node, ())):
            if state.get(successor) == "open":
                return path[path.index(successor):] + [successor]
            if successor not in state and (cycle := visit(successor)):
                return cycle
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_late_import_circle():
    late = ast.parse("def f():\n    from tf_nst import b\n")
    graph = {"a": imported_modules(late, {"a", "b"}), "b": {"a"}}
    assert graph["a"] == {"b"}
    assert find_cycle(graph) == ["a", "b", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_module_of_the_package_imports_itself_back():
    trees = _modules()
    graph = {name: imported_modules(tree, set(trees)) - {name} for name, tree in trees.items()}
    assert graph["cli"], "the import reader found nothing: it no longer reads this package"
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_no_function_is_longer_than_sixty_lines():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > LONGEST_FUNCTION:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines})")
    assert not long, "split into named steps: " + ", ".join(long)
