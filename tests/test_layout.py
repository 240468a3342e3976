"""The package's layout rules (issue 11): one small core, one module per lesson, the lab, per-lesson checks.

* at most 36 Python files and 6,000 lines in ``course_utils``. Part 1 (lessons 00-07) ended at 28 files and 4,400
  lines (issue 11 cut its plumbing to 3,995; the measurement protocol of issue 12 added about 310). Part 2 (lessons
  08-10) may add per lesson a module and a checks module, plus one module per real network (EfficientNet-Lite0,
  MiniLM): 8 files, about 1,600 lines. A budget, so that growth stays a decision;
* no two course modules define the same public name, and none shadows a name of ``fastai.vision.all``;
* a lesson's own module is imported only by that lesson, its checks module and the tests;
* a lesson imports from at most three course modules, as ``cu`` / its module / its checks (never ``L``).
"""
import ast
import re
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "course_utils"
FILES = sorted(PKG.rglob("*.py"))
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def defined_names(path):
    """Public names a module defines itself (functions, classes, assignments), not the ones it imports."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return {n for n in names if not n.startswith("_")}


def imported_course_modules(source):
    """``(module, alias)`` for every import of a course module in ``source`` (Python code)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(a.name, a.asname) for a in node.names if a.name.startswith("course_utils")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course_utils"):
            out += [(f"{node.module}.{a.name}", a.asname or a.name) for a in node.names]
    return out


def notebook_code(path):
    nb = nbformat.read(path, as_version=4)
    lines = [line for c in nb.cells if c.cell_type == "code" for line in c.source.splitlines()]
    return "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))


def test_the_package_is_small_in_lines():
    lines = sum(len(f.read_text().splitlines()) for f in FILES)
    assert lines <= 6000, f"course_utils has {lines} lines (at most 6000)"


def test_the_package_has_at_most_36_files():
    assert len(FILES) <= 36, f"course_utils has {len(FILES)} Python files (at most 36)"


def test_no_two_modules_define_the_same_public_name():
    where = defaultdict(list)
    for f in FILES:
        for name in defined_names(f):
            where[name].append(module_name(f))
    twice = {n: ms for n, ms in where.items() if len(ms) > 1}
    assert not twice, f"defined in more than one course module: {twice}"


def test_no_course_name_shadows_fastai():
    import fastai.vision.all as fva
    fastai_names = {n for n in dir(fva) if not n.startswith("_")}
    clashes = {module_name(f): sorted(defined_names(f) & fastai_names) for f in FILES}
    clashes = {m: names for m, names in clashes.items() if names}
    assert not clashes, f"course names that shadow fastai.vision.all's: {clashes}"


def absolute_imports(path, source):
    """Every module ``source`` imports, relative imports resolved against ``path``'s package."""
    package = module_name(path).split(".") if path.name == "__init__.py" else module_name(path).split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            out += [base] + [f"{base}.{a.name}" for a in node.names]
    return out


def test_a_lessons_module_is_imported_only_by_that_lesson_its_checks_and_the_tests():
    importers = [(f, f.read_text()) for f in [*FILES, *(ROOT / "scripts").rglob("*.py")]]
    importers += [(nb, notebook_code(nb)) for nb in LESSONS]
    seen = 0
    for path, text in importers:
        for module in absolute_imports(path, text):
            m = re.fullmatch(r"course_utils\.lessons\.l(\d\d)_\w+(\..*)?", module)
            if not m:
                continue
            seen += 1
            lesson = m.group(1)
            ok = path.name.startswith(f"{lesson}_") or (path.parent.name == "checks" and path.stem.startswith(f"l{lesson}_")) \
                or (path.parent.name == "lessons" and path.stem.startswith(f"l{lesson}_"))
            assert ok, f"{path.relative_to(ROOT)} imports lesson {lesson}'s module: move what it needs to the core or the lab"
    assert seen, "no lesson module is imported anywhere: the test is not looking at the right names"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.name[:2])
def test_a_lesson_imports_at_most_three_course_modules_under_clear_names(lesson):
    imports = imported_course_modules(notebook_code(lesson))
    modules = {m for m, _ in imports}
    assert len(modules) <= 3, f"{lesson.name} imports {sorted(modules)}: at most three course modules"
    assert ("course_utils", "cu") in imports, f"{lesson.name}: import the core as `import course_utils as cu`"
    for module, alias in imports:
        assert alias != "L", f"{lesson.name}: `{module}` imported as L, which is fastcore's list"
        tail = module.split(".")[-1]
        assert module == "course_utils" or tail in ("lab",) or re.fullmatch(r"l\d\d_\w+", tail), \
            f"{lesson.name}: `from {module.rsplit('.', 1)[0]} import {tail}` takes a bare name; use cu.{tail}"
