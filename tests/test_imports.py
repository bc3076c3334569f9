"""The layers hold and no module of ours imports itself round a cycle.

The graph is read from the source (`ast`), so imports inside functions count as much as those at
the top of a module: a cycle hidden in a function is still a cycle a reader must untangle.
`web` may import `engine` and `handlers`; `handlers` may import `engine`; `engine` imports
neither.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("engine", "handlers", "web")
TOP_MODULES = ("app", "config", "seeding")

# Import edges (importer, imported) still allowed to close a cycle, each with its reason.
# Everything else in a cycle fails the test; an entry that no longer exists fails it too.
ALLOWED_CYCLE_EDGES: dict[tuple[str, str], str] = {}


def module_files() -> dict[str, Path]:
    files = {name: ROOT / f"{name}.py" for name in TOP_MODULES}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
    return files


def import_graph(files: dict[str, Path]) -> dict[str, dict[str, int]]:
    """module -> {imported module of ours: line of the first such import}."""
    graph = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        edges: dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            for target in _targets(node, name, is_package, files):
                if target != name:
                    edges.setdefault(target, node.lineno)
        graph[name] = edges
    return graph


def _targets(node, module: str, is_package: bool, files) -> list[str]:
    if isinstance(node, ast.Import):
        return [_ours(alias.name, files) for alias in node.names if _ours(alias.name, files)]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        base = package[:len(package) - (node.level - 1)]
        stem = ".".join(base + ([node.module] if node.module else []))
    else:
        stem = node.module or ""
    found = []
    for alias in node.names:
        # `from package import module` imports the submodule; `from module import name`, the module.
        submodule = f"{stem}.{alias.name}"
        target = submodule if submodule in files else _ours(stem, files)
        if target and target not in found:
            found.append(target)
    return found


def _ours(dotted: str, files) -> str | None:
    parts = dotted.split(".")
    while parts:
        if ".".join(parts) in files:
            return ".".join(parts)
        parts.pop()
    return None


def components(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected groups of more than one module: each holds at least one cycle."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(v):  # Tarjan's algorithm; the graph is a few hundred nodes, recursion is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle through each strongly connected group."""
    return [_one_cycle(graph, group) for group in components(graph)]


def _one_cycle(graph, group: list[str]) -> list[str]:
    """A shortest path from the group's first module back to itself, inside the group."""
    start, members = group[0], set(group)
    paths, seen = [[start]], {start}
    while paths:
        path = paths.pop(0)
        for w in sorted(graph[path[-1]]):
            if w == start:
                return path + [start]
            if w in members and w not in seen:
                seen.add(w)
                paths.append(path + [w])
    return group


def _describe(graph, cycle: list[str]) -> str:
    steps = [f"{a} (line {graph[a][b]}) -> {b}" for a, b in zip(cycle, cycle[1:])]
    return "; ".join(steps)


def _report(graph, groups: list[list[str]]) -> str:
    return "\n".join(f"{', '.join(group)}\n  e.g. {_describe(graph, _one_cycle(graph, group))}"
                     for group in groups)


def _without_allowed(graph):
    return {a: {b: line for b, line in edges.items() if (a, b) not in ALLOWED_CYCLE_EDGES}
            for a, edges in graph.items()}


def test_no_import_cycle_among_the_projects_modules():
    graph = import_graph(module_files())
    found = components(_without_allowed(graph))
    assert not found, "modules importing each other round a cycle:\n" + _report(graph, found)


def test_every_allowed_cycle_edge_still_exists_and_closes_a_cycle():
    graph = import_graph(module_files())
    stale = [edge for edge in ALLOWED_CYCLE_EDGES if edge[1] not in graph.get(edge[0], {})]
    assert not stale, f"allowed edges no longer imported (remove them): {stale}"
    group_of = {module: i for i, group in enumerate(components(graph)) for module in group}
    idle = [edge for edge in ALLOWED_CYCLE_EDGES
            if edge[0] not in group_of or group_of[edge[0]] != group_of.get(edge[1])]
    assert not idle, f"allowed edges that close no cycle any more (remove them): {idle}"


def test_the_engine_imports_nothing_of_the_domain_or_the_web():
    graph = import_graph(module_files())
    wrong = [f"{a} (line {line}) imports {b}" for a, edges in graph.items() if _layer(a) == "engine"
             for b, line in edges.items() if _layer(b) in ("handlers", "web")]
    assert not wrong, wrong


def test_the_domain_never_imports_the_web():
    graph = import_graph(module_files())
    wrong = [f"{a} (line {line}) imports {b}" for a, edges in graph.items() if _layer(a) == "handlers"
             for b, line in edges.items() if _layer(b) == "web"]
    assert not wrong, wrong


def test_the_graph_sees_imports_inside_functions_and_reports_a_cycle():
    files = module_files()
    graph = import_graph(files)
    # engine.scheduler imports engine.jobs at the top; engine.cli imports engine.scheduler inside
    # a function: both are edges.
    assert "engine.jobs" in graph["engine.scheduler"]
    assert "engine.scheduler" in graph["engine.cli"]
    assert cycles({"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}}) == [["a", "b", "c", "a"]]


def _layer(module: str) -> str:
    return module.split(".")[0]
