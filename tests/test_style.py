"""The house rules that keep the package readable, checked on the source: a top floor of a few
modules, no module over 400 lines, no function over 60 lines of code (its docstring aside)
unless it says why it is long."""

import ast
from pathlib import Path

import graham

ROOT = Path(graham.__file__).parent


def _functions():
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield path, node


def _code_lines(node) -> int:
    """A function's lines less its docstring's."""
    lines = node.end_lineno - node.lineno + 1
    doc = node.body[0]
    if isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant) and isinstance(doc.value.value, str):
        lines -= doc.end_lineno - doc.lineno + 1
    return lines


def test_the_top_floor_holds_few_modules():
    assert len(list(ROOT.glob("*.py"))) <= 8, sorted(p.name for p in ROOT.glob("*.py"))


def test_no_module_is_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in ROOT.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def test_no_function_is_over_60_lines_unless_it_says_why():
    long = [f"{p.relative_to(ROOT)}:{f.lineno} {f.name} ({_code_lines(f)} lines)" for p, f in _functions()
            if _code_lines(f) > 60 and "Long on purpose" not in (ast.get_docstring(f) or "")]
    assert not long, long


def test_the_rule_is_read_right():
    """A test of the test: the known long kernel is found, and it says why."""
    found = {f.name: f for p, f in _functions() if p.name == "stftkernel.py"}
    assert _code_lines(found["_stft_tiles"]) > 60 and "Long on purpose" in ast.get_docstring(found["_stft_tiles"])


def test_the_readmes_layout_names_every_package_and_top_module():
    """The README's Layout block lists what src/graham holds, no more and no less."""
    import re

    readme = (ROOT.parents[1] / "README.md").read_text()
    block = readme.split("## Layout", 1)[1].split("```")[1]
    named = set(re.findall(r"\b([a-z_]+)(?:/|\.py)", block)) - {"src", "graham", "benchmarks", "docs", "tests"}
    there = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    there |= {p.stem for p in ROOT.glob("*.py")} - {"__init__"} | {"__init__"}
    assert named == there, (sorted(named - there), sorted(there - named))
