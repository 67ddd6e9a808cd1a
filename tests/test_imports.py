"""The import graph of graham, read from the source (every import statement, function-level
ones included): inference never reaches training code, and nothing imports the package root."""

import ast
from pathlib import Path

import graham

ROOT = Path(graham.__file__).parent


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _graph() -> dict[str, set[str]]:
    """module -> the graham modules it imports (a name imported from a package counts as the
    submodule when there is one, else as the package itself)."""
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        out = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                out |= {a.name for a in node.names if a.name.split(".")[0] == "graham"}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.split(".")[0] != "graham":
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    out.add(sub if sub in modules else target)
        edges[name] = out
    return edges


def _reach(edges, start):
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        for n in edges.get(m, ()):
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


#: Each package's floor: a module imports only graham modules of its own package or of a lower
#: floor (the README's "Layout"). ``presets`` sits above ``nn`` (it names the GNN's settings).
FLOORS = {
    "cli": 8,
    "workflows": 7,
    "labelling": 6, "audit": 6,
    "report": 5,
    "inference": 4, "evaluate": 4,
    "train": 3, "explain": 3,
    "presets": 2,
    "nn": 1, "data": 1,
    "audio": 0, "synth": 0,
    "utils": -1,
    "errors": -2, "names": -2,
}

#: The one import that goes up, inside the method that needs it:
#: ``GenreClassifier.extend`` refits a bundle's graph (training) through the extend workflow.
DOORS = {("graham.inference.predict", "graham.workflows.extend")}


def _package(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def test_every_package_has_a_floor():
    packages = {_package(m) for m in _graph()} - {""}
    assert packages == set(FLOORS), packages ^ set(FLOORS)


def test_imports_only_go_down():
    """cli -> workflows -> labelling/audit -> report -> inference/evaluate -> train/explain ->
    presets -> nn/data -> audio/synth -> utils -> errors/names, and never sideways between two
    packages of one floor (inference and evaluate, nn and data)."""
    wrong = []
    for module, targets in _graph().items():
        if module == "graham":
            continue  # the root facade, which nothing imports (below)
        for target in targets:
            a, b = _package(module), _package(target)
            if a != b and (module, target) not in DOORS and FLOORS[b] >= FLOORS[a]:
                wrong.append(f"{module} -> {target}")
    assert not wrong, wrong


def test_the_doors_are_used():
    """A door no longer used is a door to close (and a floor to check again)."""
    edges = _graph()
    assert all(target in edges[module] for module, target in DOORS)


def test_inference_never_reaches_training_code():
    """... except through the one door (refitting a bundle's GNN is training), which
    ``GenreClassifier.extend`` imports only inside the method."""
    edges = {m: t - {target for module, target in DOORS if module == m} for m, t in _graph().items()}
    for start in [m for m in edges if m.startswith("graham.inference.")] + ["graham.explain.gradcam",
                                                                            "graham.explain.tsne"]:
        reached = sorted(m for m in _reach(edges, start) if m == "graham.train" or m.startswith("graham.train."))
        assert not reached, f"{start} reaches {reached}"


def test_nothing_imports_the_package_root():
    edges = _graph()
    into_root = sorted(m for m, targets in edges.items() if "graham" in targets)
    assert into_root == [], into_root


def test_the_graph_is_read_right():
    """The walk itself: known arrows are found (a test of the test)."""
    edges = _graph()
    assert "graham.train.siamese" in edges["graham.evaluate.methods"]
    assert "graham.presets" in edges["graham.inference.bundle"] and "graham.nn.gnn" in edges["graham.presets"]
    assert "graham.workflows.extend" in edges["graham.inference.predict"]  # a function-level import
    assert any(m.startswith("graham.train") for m in _reach(edges, "graham.workflows.train"))


def test_no_module_reexports_a_name_of_another_package():
    """One import path per name: a module's ``__all__`` lists no class or function of another
    graham module under its own name, except a package's ``__init__``, which may offer its own
    submodules' names (as ``librosa`` does)."""
    import importlib
    import inspect

    wrong = []
    for module in _graph():
        if module.endswith(".__main__"):
            continue  # runs the command
        mod = importlib.import_module(module)
        package = mod.__file__ is not None and mod.__file__.endswith("__init__.py")
        for name in getattr(mod, "__all__", ()):
            obj = vars(mod).get(name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)) or obj.__name__ != name:
                continue  # a value, or an alias with a name of its own
            home = obj.__module__
            if home.startswith("graham") and home != module and not (package and home.startswith(module + ".")):
                wrong.append(f"{module}.{name} is {home}.{name}")
    assert not wrong, wrong
