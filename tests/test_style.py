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
