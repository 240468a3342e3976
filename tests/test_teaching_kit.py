"""The teaching kit (issue 16): tagged solutions, student copies, instructor notes, the rendered book.

Fast checks run in `make unit`. Executing a student copy costs what running the lesson costs, so
`make unit` executes one cheap lesson's copy (03, about 30 s); `test_every_student_copy_runs_unanswered`
executes all of them and is marked slow (`make repro` runs it).
"""
import ast
import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WITH_EXERCISES = [p for p in LESSONS if "Questionnaire" in p.read_text()]
TEACHING = ROOT / "teaching"
CHEAP_LESSON = "03"          # the student copy `make unit` executes (the fastest lesson with exercises)
DOTS = re.compile(r"(?<![\w.])\.\.\.(?![\w.])")


def is_answer_cell(source):
    """True when the code holds a bare `...` (Python's Ellipsis, the blank a learner fills in); an ellipsis inside a
    string or a docstring (a printed "..." between two numbers) does not count."""
    try:
        tree = ast.parse(source)
    except SyntaxError:             # an IPython magic: fall back to the text
        return bool(DOTS.search(source))
    return any(isinstance(n, ast.Constant) and n.value is Ellipsis for n in ast.walk(tree))


UNANSWERED = ("not answered yet", "✗")


def load_script(name):
    spec = importlib.util.spec_from_file_location(f"course_script_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tag_solutions, make_student, make_book = (load_script(n) for n in ("tag_solutions", "make_student", "make_book"))
run_notebooks = load_script("run_notebooks")


def read(path):
    return nbformat.read(path, as_version=4)


def tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def lesson_id(path):
    return path.name[:2]


# ----------------------------------------------------------------------------- solution tags
@pytest.mark.parametrize("lesson", WITH_EXERCISES, ids=lesson_id)
def test_every_exercise_has_a_tagged_solution_right_after_its_answer_cell(lesson):
    nb = read(lesson)
    exercises = [c for c in nb.cells if c.cell_type == "markdown" and re.search(r"\*\*Exercise \d", c.source)]
    solutions = [i for i, c in enumerate(nb.cells) if "solution" in tags(c)]
    assert len(exercises) >= 3, f"{lesson.name}: {len(exercises)} exercises (at least 3)"
    assert not tag_solutions.untagged_solutions(nb), \
        f"{lesson.name}: a `# Solution` cell lacks the tag; run python scripts/tag_solutions.py {lesson.relative_to(ROOT)}"
    assert len(solutions) == len(exercises), f"{lesson.name}: {len(exercises)} exercises but {len(solutions)} solution cells"
    for i in solutions:
        cell, before = nb.cells[i], nb.cells[i - 1]
        assert cell.cell_type == "code" and tag_solutions.is_solution_cell(cell), \
            f"{lesson.name} cell {i}: tagged `solution` but is not a `# Solution` code cell"
        assert before.cell_type == "code" and is_answer_cell(before.source), \
            f"{lesson.name} cell {i}: the cell before a solution should be the learner's answer cell with `...`"


def test_tagging_is_idempotent_and_changes_only_metadata(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("answer = ...\ncheck(answer)"),
        nbformat.v4.new_code_cell("# Solution\nanswer = 2\ncheck(answer)", execution_count=3,
                                  outputs=[nbformat.v4.new_output("stream", text="✓ right\n")]),
        nbformat.v4.new_code_cell("x = 1  # Solution is not the first line"),
    ])
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    assert tag_solutions.main(["--check", str(path)]) == 1
    assert tag_solutions.tag_notebook(path) == 1
    once = path.read_text()
    assert tag_solutions.tag_notebook(path) == 0 and path.read_text() == once
    tagged = read(path)
    assert [tags(c) for c in tagged.cells] == [[], ["solution"], []]
    assert tagged.cells[1].outputs == nb.cells[1].outputs and tagged.cells[1].execution_count == 3
    assert tag_solutions.main(["--check", str(path)]) == 0


# ----------------------------------------------------------------------------- student copies
@pytest.fixture(scope="module")
def exporter():
    return make_student.student_exporter()


def solution_lines(nb):
    """Lines of the solution cells that no other cell of the lesson contains (what must not leak)."""
    other = {line.strip() for c in nb.cells if "solution" not in tags(c) for line in c.source.splitlines()}
    own = {line.strip() for c in nb.cells if "solution" in tags(c) for line in c.source.splitlines()}
    return {line for line in own - other if line and not line.startswith("#")}


@pytest.mark.parametrize("lesson", LESSONS, ids=lesson_id)
def test_student_copy_has_no_solution_and_no_outputs(lesson, exporter, tmp_path):
    nb, copy = read(lesson), read(make_student.write_student_copy(lesson, tmp_path, exporter))
    text = "\n".join(c.source for c in copy.cells)
    kept = [c.source for c in nb.cells if "solution" not in tags(c)]
    assert [c.source for c in copy.cells] == kept, f"{lesson.name}: the copy should be the lesson minus its solution cells"
    assert not any("solution" in tags(c) for c in copy.cells)
    assert not re.search(r"^\s*#\s*Solution\b", text, re.M), f"{lesson.name}: a `# Solution` cell survived"
    leaked = sorted(solution_lines(nb) & {line.strip() for line in text.splitlines()})
    assert not leaked, f"{lesson.name}: solution lines in the student copy: {leaked[:3]}"
    code = [c for c in copy.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), f"{lesson.name}: outputs were not cleared"
    if lesson in WITH_EXERCISES:
        assert any(is_answer_cell(c.source) for c in code), f"{lesson.name}: the answer cells (`...`) are missing"


def test_make_student_refuses_a_lesson_with_an_untagged_solution(tmp_path, exporter):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("# Solution\nanswer = 42")])
    path = tmp_path / "99_untagged.ipynb"
    nbformat.write(nb, str(path))
    with pytest.raises(ValueError, match="lack the `solution` tag"):
        make_student.write_student_copy(path, tmp_path / "out", exporter)
    assert not (tmp_path / "out" / path.name).exists()


def run_student_copy(lesson, out_dir):
    """Execute the student copy of `lesson` (written into `out_dir`, a folder beside notebooks/) and check it."""
    copy = make_student.write_student_copy(lesson, out_dir)
    nb, seconds, error = run_notebooks.execute_notebook(copy)
    assert error is None, f"student copy of {lesson.name} failed: {error}"
    answer_cells = [c for c in nb.cells if c.cell_type == "code" and is_answer_cell(c.source)]
    for c in answer_cells:
        printed = "".join(o.get("text", "") for o in c.outputs if o.get("output_type") == "stream")
        assert any(u in printed for u in UNANSWERED), \
            f"{lesson.name}: an unanswered exercise's check printed {printed[:200]!r}, not 'not answered yet' or ✗"
        assert "✓" not in printed, f"{lesson.name}: an unanswered exercise passed its check: {printed[:200]!r}"
    return seconds


@pytest.fixture
def student_run_dir():
    """A throwaway folder one level below the repository root, like notebooks/, so relative paths resolve."""
    import shutil
    import tempfile
    out = Path(tempfile.mkdtemp(prefix=".student-test-", dir=ROOT))     # git-ignored
    yield out
    shutil.rmtree(out, ignore_errors=True)


def test_a_cheap_lessons_student_copy_runs_unanswered(student_run_dir):
    lesson = next(p for p in WITH_EXERCISES if lesson_id(p) == CHEAP_LESSON)
    run_student_copy(lesson, student_run_dir)


@pytest.mark.slow
@pytest.mark.parametrize("lesson", WITH_EXERCISES, ids=lesson_id)
def test_every_student_copy_runs_unanswered(lesson, student_run_dir):
    run_student_copy(lesson, student_run_dir)


# ----------------------------------------------------------------------------- the book
@pytest.fixture(scope="module")
def book(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    make_book.build_book(LESSONS, out)
    return out


def outputs_with(nb, mime):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if mime in o.get("data", {})]


@pytest.mark.parametrize("lesson", LESSONS, ids=lesson_id)
def test_the_book_has_every_lesson_with_its_stored_outputs_and_figures(lesson, book):
    import html
    nb = read(lesson)
    page = book / lesson.with_suffix(".html").name
    assert page.is_file(), f"no page for {lesson.name}"
    text = page.read_text(encoding="utf-8")
    figures = len(re.findall(r'<img\b[^>]*\bsrc="data:image/png;base64,', text))
    assert figures == len(outputs_with(nb, "image/png")), \
        f"{page.name}: {figures} embedded figures, the lesson stores {len(outputs_with(nb, 'image/png'))}"
    assert html.escape(make_book.lesson_title(nb, lesson), quote=False) in text
    streams = [o.text for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if o.get("output_type") == "stream" and o.get("name") == "stdout" and o.text.strip()]
    if streams:                                 # printed numbers are shown as stored (nothing re-executed)
        assert html.escape(streams[-1].splitlines()[0].strip(), quote=False) in text
    widgets = outputs_with(nb, make_book.WIDGET_MIME)
    assert text.count(html.escape(make_book.WIDGET_NOTE[:40], quote=False)) == len(widgets)
    assert 'href="index.html"' in text, f"{page.name} has no link back to the contents"


def test_the_navigation_page_links_every_lesson_in_order(book):
    index = (book / "index.html").read_text(encoding="utf-8")
    links = [h for h in re.findall(r'href="([^"#:]+\.html)"', index)]
    assert links == [p.with_suffix(".html").name for p in LESSONS]


# ----------------------------------------------------------------------------- instructor notes
NOTE_SECTIONS = ("## Timing for a live session", "## Where learners get stuck", "## Answers to the questionnaire",
                 "## When a learner's numbers differ from the stored ones")


def questionnaire(nb):
    """The numbered questions of a lesson's `## Questionnaire` section."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and "## Questionnaire" in cell.source:
            text = cell.source.split("## Questionnaire", 1)[1].split("\n## ", 1)[0]
            return re.findall(r"^(\d+)\. ", text, re.M)
    return []


@pytest.mark.parametrize("lesson", LESSONS, ids=lesson_id)
def test_every_lesson_has_instructor_notes_answering_every_question(lesson):
    notes = TEACHING / lesson.with_suffix(".md").name
    assert notes.is_file(), f"no instructor notes for {lesson.name}: write {notes.relative_to(ROOT)}"
    text = notes.read_text(encoding="utf-8")
    positions = [text.find(s) for s in NOTE_SECTIONS]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), \
        f"{notes.name}: needs the sections {NOTE_SECTIONS} in that order"
    asked = questionnaire(read(lesson))
    answers_text = text.split(NOTE_SECTIONS[2], 1)[1].split("\n## ", 1)[0]
    answered = re.findall(r"^(\d+)\. \*\*", answers_text, re.M)
    assert answered == asked, f"{notes.name}: questions {asked} but answers {answered} (one '1. **...**' per question)"
    if not asked:
        assert "no questionnaire" in answers_text
    for section in (NOTE_SECTIONS[1], NOTE_SECTIONS[3]):
        body = text.split(section, 1)[1].split("\n## ", 1)[0]
        assert len(body.split()) >= 30, f"{notes.name}: '{section}' is nearly empty"


def test_no_instructor_notes_without_a_lesson():
    lessons = {p.stem for p in LESSONS}
    orphans = [p.name for p in TEACHING.glob("[0-9][0-9]_*.md") if p.stem not in lessons]
    assert not orphans, f"instructor notes for no lesson (renamed?): {orphans}"
