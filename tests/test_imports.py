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


def test_inference_never_reaches_training_code():
    """... except through graham.extend, the one door (refitting a bundle's GNN is training), which
    predict and serve import only inside the method and the route that extend a model."""
    edges = _graph()
    edges = {m: t - {"graham.extend"} for m, t in edges.items() if m != "graham.extend"}
    for start in ("graham.predict", "graham.bundle", "graham.serve", "graham.frontend", "graham.reference_graph",
                  "graham.explain.gradcam", "graham.explain.tsne"):
        reached = sorted(m for m in _reach(edges, start) if m == "graham.train" or m.startswith("graham.train."))
        assert not reached, f"{start} reaches {reached}"


def test_nothing_imports_the_package_root():
    edges = _graph()
    into_root = sorted(m for m, targets in edges.items() if "graham" in targets)
    assert into_root == [], into_root


def test_the_graph_is_read_right():
    """The walk itself: known arrows are found (a test of the test)."""
    edges = _graph()
    assert "graham.train.siamese" in edges["graham.pipeline"]
    assert "graham.presets" in edges["graham.bundle"] and "graham.nn.gnn" in edges["graham.presets"]
    assert any(m.startswith("graham.train") for m in _reach(edges, "graham.pipeline"))
