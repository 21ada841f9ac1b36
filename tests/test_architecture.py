"""The layers of docs/architecture.md hold in tfprune/'s imports.

Every import is read with `ast` (module level and inside functions, `import
x` and `from x import y`, relative imports): the module graph has no cycle,
and no module imports from a layer above its own. The layers are declared
once, in the page's table, so page and code cannot drift apart.
(tests/test_imports.py checks what `import tfprune` pulls in at run time.)
"""

import ast
import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = REPO / "tfprune"
PAGE = REPO / "docs" / "architecture.md"

# A row of the layer table: | 5 device | `device/flash.py` | what it owns |
_ROW = re.compile(r"^\|\s*(\d+)\s+([^|]*?)\s*\|\s*`([^`]+)`\s*\|")


def module_name(path, package=PACKAGE):
    """`tfprune.device.flash` for tfprune/device/flash.py, `tfprune` for
    tfprune/__init__.py."""
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules(package=PACKAGE):
    """`{module name: path}` of every module in `package`."""
    return {module_name(p, package): p for p in sorted(package.rglob("*.py"))}


def _absolute(node, name, is_package):
    """The module an `ImportFrom` node names, with relative levels resolved."""
    if not node.level:
        return node.module
    parts = name.split(".") if is_package else name.split(".")[:-1]
    parts = parts[:len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def _nearest(target, known):
    """The deepest module of `known` that `target` (a dotted name) is in."""
    while target and target not in known:
        target = target.rpartition(".")[0]
    return target or None


def imports_of(name, path, known):
    """`{module: first line}` of the modules in `known` that module `name`
    imports, anywhere in its source.

    `from a import b` imports module `a.b` when there is one, else a name
    defined in `a`; `import a.b` imports `a.b`.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, name, path.name == "__init__.py")
            targets = [f"{base}.{alias.name}"
                       if f"{base}.{alias.name}" in known else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            module = _nearest(target, known)
            if module is not None and module != name:
                found.setdefault(module, node.lineno)
    return found


def import_graph(package=PACKAGE):
    """`{module: {imported module: line}}` over every module in `package`."""
    modules = package_modules(package)
    return {name: imports_of(name, path, modules)
            for name, path in modules.items()}


def find_cycles(graph):
    """The import cycles of `graph`, each a list of modules that ends where
    it starts; one cycle per set of modules caught in one."""
    cycles, seen = [], set()
    state = {}  # module -> "open" while on the path, "done" after

    def visit(module, path):
        state[module] = "open"
        path.append(module)
        for imported in sorted(graph.get(module, ())):
            if state.get(imported) == "open":
                cycle = path[path.index(imported):] + [imported]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    cycles.append(cycle)
            elif imported not in state:
                visit(imported, path)
        path.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    return cycles


def describe(cycle, graph):
    return " -> ".join(
        f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:])
    ) + f" -> {cycle[-1]}"


def declared_layers(page=PAGE, package=PACKAGE):
    """`({module: layer number}, {layer number: name}, [(layer, file)] in
    page order)` from the page's layer table."""
    layers, names, rows = {}, {}, []
    for line in page.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if not match:
            continue
        number, layer_name, file = int(match[1]), match[2], match[3]
        assert names.setdefault(number, layer_name) == layer_name, (
            f"{page.name}: layer {number} is called both "
            f"{names[number]!r} and {layer_name!r}")
        name = module_name(package / file, package)
        assert name not in layers, f"{page.name}: `{file}` has two rows"
        layers[name] = number
        rows.append((number, file))
    return layers, names, rows


def layer_violations(graph, layers, names):
    """One message per import that reaches a higher layer (modules without
    a layer are left to `test_every_module_has_one_layer_on_the_page`)."""
    messages = []
    for module, imported in sorted(graph.items()):
        for target, line in sorted(imported.items()):
            if layers.get(target, 0) > layers.get(module, float("inf")):
                messages.append(
                    f"{module} (layer {layers[module]} "
                    f"{names[layers[module]]}) imports {target} (layer "
                    f"{layers[target]} {names[layers[target]]}), line {line}")
    return messages


def test_no_import_cycles():
    graph = import_graph()
    cycles = find_cycles(graph)
    assert not cycles, "Import cycles in tfprune/:\n" + "\n".join(
        describe(cycle, graph) for cycle in cycles)


def test_every_module_has_one_layer_on_the_page():
    layers, _, rows = declared_layers()
    modules = set(package_modules())
    missing = sorted(modules - set(layers))
    assert not missing, (
        f"Modules without a row in {PAGE.relative_to(REPO)} (add each to "
        f"the lowest layer its imports allow): {missing}")
    stale = sorted(set(layers) - modules)
    assert not stale, f"Rows naming no file in tfprune/: {stale}"
    numbers = [number for number, _ in rows]
    assert numbers == sorted(numbers), (
        "The layer table goes from the bottom layer to the top one; out of "
        f"order: {rows}")


def test_no_module_imports_from_a_higher_layer():
    layers, names, _ = declared_layers()
    violations = layer_violations(import_graph(), layers, names)
    assert not violations, (
        "A module imports only from its own layer or below "
        f"({PAGE.relative_to(REPO)}):\n" + "\n".join(violations))


def test_the_checks_see_lazy_and_relative_imports(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from pkg.low import f\n")
    (package / "low.py").write_text(
        "def f():\n    from pkg.sub import high\n    return high\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "high.py").write_text(
        "from .. import low\nimport pkg.sub\n")
    graph = import_graph(package)
    assert graph["pkg.low"] == {"pkg.sub.high": 2}  # inside a function
    assert graph["pkg.sub.high"] == {"pkg.low": 1, "pkg.sub": 2}
    assert find_cycles(graph) == [["pkg.low", "pkg.sub.high", "pkg.low"]]
    layers = {"pkg.low": 1, "pkg.sub": 2, "pkg.sub.high": 2, "pkg": 3}
    assert layer_violations(graph, layers, {1: "low", 2: "high", 3: "api"}) \
        == ["pkg.low (layer 1 low) imports pkg.sub.high (layer 2 high), "
            "line 2"]


# Private names that are public API by convention (namedtuple methods).
_PUBLIC_BY_CONVENTION = {"_replace", "_asdict", "_fields", "_make"}
COMPAT = PACKAGE / "keras_compat.py"


def _owned_private_names(tree):
    """The `_names` a module defines: functions, classes, globals,
    attributes it sets on `self`/`cls`, arguments."""
    owned = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                             ast.ClassDef)):
            owned.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            owned.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(
                node.ctx, ast.Store) and isinstance(node.value, ast.Name) \
                and node.value.id in ("self", "cls"):
            owned.add(node.attr)
        elif isinstance(node, ast.arg):
            owned.add(node.arg)
    return {name for name in owned if _is_private(name)}


def _is_private(name):
    return name.startswith("_") and not name.startswith("__") \
        and name not in _PUBLIC_BY_CONVENTION


def foreign_private_reads(path):
    """`[(line, what)]`: the private names `path` reads that it does not
    define: `from m import _x`, `obj._x`, and `getattr(obj, "_x")`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    owned = _owned_private_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found += [(node.lineno, f"import {alias.name}")
                      for alias in node.names if _is_private(alias.name)]
        elif isinstance(node, ast.Attribute) and _is_private(node.attr) \
                and node.attr not in owned:
            found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("getattr", "hasattr", "setattr") \
                and len(node.args) > 1 \
                and isinstance(node.args[1], ast.Constant) \
                and isinstance(node.args[1].value, str) \
                and _is_private(node.args[1].value) \
                and node.args[1].value not in owned:
            found.append((node.lineno, ast.unparse(node)))
    return found


def test_no_module_reads_another_modules_private_names():
    """Modules talk through public names; Keras' private attributes are
    read only in keras_compat.py."""
    bad = [f"{path.relative_to(REPO)}:{line}: {what}"
           for path in sorted(PACKAGE.rglob("*.py")) if path != COMPAT
           for line, what in foreign_private_reads(path)]
    assert not bad, "\n".join(bad)
    assert foreign_private_reads(COMPAT), "keras_compat reads no private?"


def test_the_private_name_check_sees_each_form(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "from a import _hidden\n"
        "class C:\n"
        "    def f(self, model, plan):\n"
        "        self._mine = getattr(self, '_mine', 0)\n"
        "        getattr(model, '_nodes_by_depth')\n"
        "        return model._inputs_struct, plan._state, x._replace()\n")
    found = {what for _, what in foreign_private_reads(module)}
    assert found == {"import _hidden", "getattr(model, '_nodes_by_depth')",
                     "model._inputs_struct", "plan._state"}


def _argument_count(function):
    args = function.args
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    return len([n for n in names if n not in ("self", "cls")])


def test_no_function_takes_more_than_ten_arguments():
    """Settings that travel together are grouped into objects
    (`PruningSchedule`, `Ranking`, `DeviceBudget`, `Recipe`)."""
    bad = [f"{path.relative_to(REPO)}:{node.lineno} {node.name} takes "
           f"{_argument_count(node)}"
           for path in sorted(PACKAGE.rglob("*.py"))
           for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
           if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
           and _argument_count(node) > 10]
    assert not bad, "\n".join(bad)
