"""The package's import graph has no cycle, function-level and type-checking imports
included (import-linter checks the layers; this checks that no module needs, however
indirectly, a module that needs it)."""

from __future__ import annotations

import grimp


def cycles(graph: grimp.ImportGraph) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = []
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work.append((root, sorted(graph.find_modules_directly_imported_by(root))))
        while work:
            module, todo = work[-1]
            if todo:
                target = todo.pop()
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, sorted(graph.find_modules_directly_imported_by(target))))
                elif target in on_stack:
                    low[module] = min(low[module], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
            if low[module] == index[module]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == module:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def test_the_finder_sees_a_cycle_through_a_function_level_import() -> None:
    graph = grimp.ImportGraph()
    for module in ("a", "b", "c", "d"):
        graph.add_module(module)
    graph.add_import(importer="a", imported="b")
    graph.add_import(importer="b", imported="c")
    graph.add_import(importer="c", imported="a")  # as grimp records an import in a function
    graph.add_import(importer="c", imported="d")
    assert cycles(graph) == [frozenset({"a", "b", "c"})]


def test_the_package_has_no_import_cycle() -> None:
    graph = grimp.build_graph("salesengine", cache_dir=None)
    assert "salesengine.store.settings" in graph.modules  # the graph is the package's
    assert [sorted(c) for c in cycles(graph)] == []
