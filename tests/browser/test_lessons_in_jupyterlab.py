"""Every lesson with a widget, in a real JupyterLab in Chromium: run the lesson's cells, then use the widget.

For each lesson: open it and run the code cells tagged ``browser`` (the ones its widget needs:
imports, the definitions its training function calls, the widget cell), in order, checking
that each ran without an error; then do what a learner does with the lesson's main widget and
check that the page changes as it should. nbval already executes every cell of every lesson, so
running them all again here would only repeat that work; one lesson (``ALWAYS_FULL``) still does
Run All, and ``make browser-full`` (``COURSE_BROWSER_FULL=1``) does Run All in every lesson, checking
that every code cell ran and none shows an error (cells tagged ``raises-exception`` must show one).
A screenshot per lesson goes to ``test-artifacts/browser/<lesson>.png``.

Run with ``make browser`` (part of ``make test``). Timeouts are generous: a lesson takes 15-60 s
on an idle 2-core CPU, several times more on a loaded one.
"""
import os
import re
import secrets

import nbformat
import pytest

from lab_page import NotebookPage, cell_index, nudge_slider, set_slider, slider_value, wait_for
from labserver import NOTEBOOKS
from tagged_cells import BROWSER_TAG, missing_definitions, tagged

RUN_ALL_TIMEOUT = 1200    # seconds for one lesson's Run All, or its tagged cells (about 1 min on an idle 2-core CPU)
ACTION_TIMEOUT = 300      # seconds for one widget action (a training run)

# make browser-full sets COURSE_BROWSER_FULL=1: every lesson does Run All, as a learner does.
FULL = os.environ.get("COURSE_BROWSER_FULL", "").strip() not in ("", "0")
# make test still does one Run All, so that Run All itself (the menu command, every cell's prompt,
# the raises-exception check) stays tested: lesson 00, the cheapest (about 13 s of work, no
# training) and the one with a cell tagged raises-exception.
ALWAYS_FULL = "00_setup_and_tour"


def run_lesson(nb, lesson):
    """Run All (make browser-full, or ALWAYS_FULL), else only the cells tagged ``browser``; fail on any error."""
    if FULL or lesson == ALWAYS_FULL:
        nb.run_all(RUN_ALL_TIMEOUT)
        problems = nb.problems()
        assert not problems, f"{nb.name} after Run All:\n" + "\n".join(problems)
        return
    cells = tagged(nb.path)
    assert cells, f"{nb.name}: no code cell is tagged {BROWSER_TAG!r}; tag the cells its widget needs"
    nb.run_cells(cells, RUN_ALL_TIMEOUT)
    problems = nb.problems(cells)      # again: a background thread may have written an error since
    assert not problems, f"{nb.name} after its {BROWSER_TAG!r} cells ran:\n" + "\n".join(problems)


def img_src(locator):
    """The src of the first image under ``locator`` ('' if none yet)."""
    return locator.first.get_attribute("src") if locator.count() else ""


def table_rows(scope):
    """Body rows of the last HTML table under ``scope``."""
    tables = scope.locator("table")
    return tables.last.locator("tbody tr").count() if tables.count() else 0


def click_button(scope, text):
    scope.locator("button.jupyter-button", has_text=re.compile(rf"^\s*{re.escape(text)}\s*$")).first.click()


def widget_text(scope, css):
    return scope.locator(css).first.inner_text()


def status_text(scope):
    """The text of the widget's status line (an ipywidgets HTML)."""
    return " | ".join(t.strip() for t in scope.locator(".widget-html-content").all_inner_texts())


def assert_no_failure(scope):
    text = status_text(scope)
    assert "Run failed" not in text, f"the widget reports a failure: {text}"


# --- one interaction per lesson ---------------------------------------------------------------

def lesson_00(nb):
    """Pick another digit in the dropdown: the digits drawn below it change."""
    i = cell_index(nb.path, "W.interactive(show_digit")
    out = nb.outputs(i)
    before = img_src(out.locator("img"))
    assert before, "the digit picker shows no image after its cells ran"
    out.locator(".widget-dropdown select").first.select_option("5")
    wait_for(lambda: img_src(out.locator("img")) not in ("", before), ACTION_TIMEOUT, "the digits to redraw")
    return i


def lesson_01(nb):
    """Pick 2 labels/class and press Train: a new row (k = 2) appears in the results table."""
    i = cell_index(nb.path, "LabelsPerClassExplorer(")
    out = nb.outputs(i)
    rows = table_rows(out)
    assert rows >= 1, "the explorer shows no results table after its cells ran"
    set_slider(out, "labels/class", 2)
    wait_for(lambda: slider_value(out, "labels/class") == "2", 30, "the slider to read 2")
    click_button(out, "Train")
    wait_for(lambda: table_rows(out) == rows + 1, ACTION_TIMEOUT, "a new row in the results table")
    assert "Done" in status_text(out)
    assert_no_failure(out)
    return i


def lesson_02(nb):
    """Pick 5 labels/class and the linear probe, press Train: a k = 5 row appears, the plot redraws."""
    i = cell_index(nb.path, "LabelsPerClassExplorer(")
    out = nb.outputs(i)
    rows, plot = table_rows(out), img_src(out.locator(".widget-output img"))
    assert rows >= 1 and plot, "the explorer shows no table or plot after its cells ran"
    set_slider(out, "labels/class", 5)
    out.locator(".widget-toggle-buttons button", has_text="linear probe").first.click()
    click_button(out, "Train")
    wait_for(lambda: table_rows(out) == rows + 1, ACTION_TIMEOUT, "a new row (k = 5) in the summary table")
    assert img_src(out.locator(".widget-output img")) != plot, "the few-shot plot did not redraw"
    assert "Done (5 labels/class): linear probe" in status_text(out)
    return i


def lesson_03(nb):
    """Move the freeze_to slider to 0 (unfreeze): the frozen-layer map redraws and the status says so."""
    i = cell_index(nb.path, "FreezeExplorer(")
    out = nb.outputs(i)
    image = out.locator("img.widget-image")
    before = img_src(image)
    assert before, "the frozen-layer map is missing after its cells ran"
    start = slider_value(out, "freeze_to")
    target = "0" if start != "0" else "1"
    set_slider(out, "freeze_to", target)
    wait_for(lambda: img_src(image) not in ("", before), ACTION_TIMEOUT, "the frozen-layer map to redraw")
    wait_for(lambda: f"learn.freeze_to({target})" in status_text(out), 30, "the status to name the new freeze_to")
    if target == "0":
        assert "frozen groups: none" in status_text(out)
    return i


def lesson_04(nb):
    """Pick 1 epoch x 1 stage and press Train: a new row appears in the schedule table."""
    i = cell_index(nb.path, "ScheduleExplorer(")
    run_cell = i + 1                       # the cell that trains once from code, into the same widget
    out = nb.outputs(i)
    rows = table_rows(out)
    assert rows >= 1, f"the schedule table is empty after its cells ran (cell {run_cell} trains once)"
    set_slider(out, "epochs per stage", 1)
    set_slider(out, "stages", 1)
    wait_for(lambda: slider_value(out, "stages") == "1", 30, "the stages slider to read 1")
    click_button(out, "Train")
    wait_for(lambda: table_rows(out) == rows + 1, ACTION_TIMEOUT, "a new row in the schedule table")
    assert "Done" in status_text(out)
    assert_no_failure(out)
    return i


def lesson_05(nb):
    """Move the hi slider: the per-group plot redraws; press Run: a new row appears in the table."""
    i = cell_index(nb.path, "DiscriminativeLRExplorer(")
    out = nb.outputs(i)
    plot = out.locator(".widget-output img")
    before, rows = img_src(plot), table_rows(out)
    assert before and rows >= 1, "the explorer shows no plot or table after its cells ran"
    set_slider(out, "hi (head)", "1.0e-3")
    wait_for(lambda: img_src(plot) not in ("", before), ACTION_TIMEOUT, "the learning-rate plot to redraw")
    wait_for(lambda: "1.0e-03)" in status_text(out), 30, "the status to show the new hi")
    click_button(out, "Run")
    wait_for(lambda: table_rows(out) == rows + 1, ACTION_TIMEOUT, "a new row in the results table")
    assert "accuracy" in status_text(out)
    assert_no_failure(out)
    return i


def lesson_06(nb):
    """Move the first knob's slider (arrow keys): the gallery (class aug-gallery) and the call shown above it change."""
    i = nb.cell_with("img.aug-gallery")
    assert i >= 0, "no augmentation gallery (an Image with class aug-gallery) after its cells ran"
    out = nb.outputs(i)
    gallery = out.locator("img.aug-gallery")
    before = img_src(gallery)
    assert before, "the gallery image is empty after its cells ran"
    call_before = status_text(out)
    knob = out.locator(".widget-slider").first
    old, new = nudge_slider(knob)
    wait_for(lambda: img_src(gallery) not in ("", before), ACTION_TIMEOUT,
             f"the gallery to redraw after its slider moved from {old} to {new}")
    wait_for(lambda: status_text(out) != call_before, 30, "the aug_transforms(...) call shown above the gallery to change")
    return i


def lesson_08(nb):
    """Pick 5 labels/class and a MiniResNet choice, press Train: a k = 5 row appears, the status names the choice."""
    i = cell_index(nb.path, "LabelsPerClassExplorer(")
    out = nb.outputs(i)
    rows = table_rows(out)
    assert rows >= 1, "the explorer shows no table after its cells ran"
    set_slider(out, "labels/class", 5)
    choice = out.locator(".widget-toggle-buttons button", has_text="MiniResNet").first
    name = choice.inner_text().strip()
    choice.click()
    click_button(out, "Train")
    wait_for(lambda: table_rows(out) == rows + 1, ACTION_TIMEOUT, "a new row (k = 5) in the summary table")
    assert f"Done (5 labels/class): {name}" in status_text(out)
    assert_no_failure(out)
    return i


def lesson_09(nb):
    """Pick 4 labels/class and head only, press Train: a k = 4 row appears, the status names head only."""
    i = cell_index(nb.path, "LabelsPerClassExplorer(")
    out = nb.outputs(i)
    rows = table_rows(out)
    assert rows >= 1, "the explorer shows no table after its cells ran (the tagged cell that presses Train)"
    set_slider(out, "labels/class", 4)
    wait_for(lambda: slider_value(out, "labels/class") == "4", 30, "the slider to read 4")
    out.locator(".widget-toggle-buttons button", has_text="head only").first.click()
    click_button(out, "Train")
    wait_for(lambda: table_rows(out) == rows + 1, ACTION_TIMEOUT, "a new row (k = 4) in the summary table")
    assert "Done (4 labels/class): head only" in status_text(out)
    assert_no_failure(out)
    return i


def lesson_10(nb):
    """Move the imbalance ratio to 0.5 and press Run: one new row per remedy, the status says the ratio is done."""
    i = cell_index(nb.path, "ImbalanceExplorer(")
    out = nb.outputs(i)
    rows = table_rows(out)
    set_slider(out, "minority/majority", 0.5)
    click_button(out, "Run")
    wait_for(lambda: table_rows(out) == rows + 4, ACTION_TIMEOUT, "four new rows (one per remedy) at ratio 0.5")
    assert "ratio 0.50: done" in status_text(out)
    assert_no_failure(out)
    return i


LESSONS = {
    "00_setup_and_tour": lesson_00,
    "01_why_fine_tune": lesson_01,
    "02_feature_extraction": lesson_02,
    "03_freezing_and_layer_groups": lesson_03,
    "04_gradual_unfreezing": lesson_04,
    "05_discriminative_learning_rates": lesson_05,
    "06_data_augmentation": lesson_06,
    "08_real_imagenet_network": lesson_08,
    "09_text_and_peft": lesson_09,
    "10_trust_and_ship": lesson_10,
}


@pytest.mark.parametrize("lesson", list(LESSONS))
def test_lesson_runs_and_its_widget_responds(lesson, page, lab_server, artifacts):
    name = f"{lesson}.ipynb"
    if not (NOTEBOOKS / name).exists():
        pytest.skip(f"notebooks/{name} does not exist yet")
    nb = NotebookPage(page, lab_server, name).open()
    run_lesson(nb, lesson)
    widget_cell = LESSONS[lesson](nb)
    nb.wait_idle(ACTION_TIMEOUT)
    nb.screenshot(artifacts / f"{lesson}.png", widget_cell)


# --- lesson 07: the strategy lab, Run then Stop -------------------------------------------------

LAB = "07_strategy_lab"


def lab_rows(out):
    """Finished runs in the lab's results table (rows with cells; the header row has none)."""
    return out.locator(".lab-results tr:has(td)").count()


def lab_progress(out):
    """The progress bar's filled fraction, 0.0 to 1.0, read from the page."""
    width = out.locator(".lab-progress .progress-bar").first.evaluate("el => el.style.width || '0%'")
    return float(width.rstrip("%") or 0) / 100


def lab_status(out):
    return out.locator(".lab-status").first.inner_text().strip()


def tick_only(out, names):
    """Tick the strategy checkboxes named in ``names`` and untick every other one."""
    boxes = out.locator(".widget-checkbox")
    for j in range(boxes.count()):
        box = boxes.nth(j)
        label = box.inner_text().strip()
        if label == "augmentation":
            continue
        box.locator("input").set_checked(label in names)


def test_strategy_lab_run_then_stop(page, lab_server, artifacts):
    """Run a small setting (progress fills, a row appears); Run a big one, Stop it; finished rows stay; kernel works."""
    name = f"{LAB}.ipynb"
    if not (NOTEBOOKS / name).exists():
        pytest.skip(f"notebooks/{name} does not exist yet")
    nb = NotebookPage(page, lab_server, name).open()
    run_lesson(nb, LAB)
    i = nb.cell_with("button.lab-run")
    assert i >= 0, "no strategy lab (a button with class lab-run) after its cells ran"
    out = nb.outputs(i)
    out.locator("button.lab-run").first.scroll_into_view_if_needed()

    # 1. a small setting: one strategy, 2 labels per class, 1 epoch, 1 seed, no augmentation
    tick_only(out, {"linear probe"})
    out.locator(".widget-checkbox", has_text="augmentation").locator("input").set_checked(False)
    for label, value in (("labels/class", 2), ("epochs", 1), ("seeds", 1)):
        set_slider(out, label, value)
        wait_for(lambda: slider_value(out, label) == str(value), 30, f"the {label} slider to read {value}")
    plots_before = img_src(out.locator("img.lab-plots"))
    click_button(out, "Run")
    wait_for(lambda: re.match(r"Done: 1 runs?\b", lab_status(out)), ACTION_TIMEOUT, "the small run to finish")
    wait_for(lambda: img_src(out.locator("img.lab-plots")) not in ("", plots_before), 30, "the lab's plots to redraw")
    assert lab_progress(out) == 1.0, f"the progress bar is not full after the run: {lab_progress(out)}"
    assert lab_rows(out) == 1, f"expected one row (linear probe, seed 0), found {lab_rows(out)}"
    assert "Run failed" not in lab_status(out)

    # 2. a big setting (many uncached runs), stopped once at least one run has finished
    tick_only(out, {"fine_tune", "discriminative", "gradual", "LP-FT"})
    k = 11 + secrets.randbelow(30)           # a labels-per-class value earlier test runs have rarely cached
    for label, value in (("labels/class", k), ("epochs", 4), ("seeds", 3)):
        set_slider(out, label, value)
        wait_for(lambda: slider_value(out, label) == str(value), 30, f"the {label} slider to read {value}")
    click_button(out, "Run")
    wait_for(lambda: not lab_status(out).startswith("Done"), 60, "the big run to start (the status to change)")
    wait_for(lambda: lab_rows(out) >= 1, ACTION_TIMEOUT, "the first run of the big setting to finish")
    assert not lab_status(out).startswith(("Done", "Stopped", "Run failed")), lab_status(out)
    assert 0 < lab_progress(out) < 1, f"the progress bar should be part-filled, reads {lab_progress(out)}"
    out.locator("button.lab-stop").first.click()
    wait_for(lambda: lab_status(out).startswith("Stopped"), ACTION_TIMEOUT, "the lab to report Stopped")
    kept = lab_rows(out)
    assert kept >= 1, "Stop dropped the runs that had finished"
    assert lab_progress(out) < 1, "the big setting ran to the end: Stop did not interrupt it"
    assert f"{kept} finished run" in lab_status(out), lab_status(out)
    assert out.locator("button.lab-run").first.is_enabled(), "Run is still disabled after Stop"
    nb.screenshot(artifacts / f"{LAB}.png", i)

    # 3. the kernel still runs code
    nb.wait_idle(ACTION_TIMEOUT)
    result = nb.run_code("1 + 1")
    texts = [o.get("data", {}).get("text/plain") for o in result["outputs"]]
    assert result["count"] is not None and texts == ["2"], f"the kernel did not answer 1 + 1: {result}"


# --- without a browser: the tagged cells are enough -------------------------------------------

@pytest.mark.parametrize("lesson", [*LESSONS, LAB])
def test_browser_cells_define_what_they_read(lesson):
    """Every name a ``browser`` cell reads that some cell of the lesson defines is defined by a ``browser`` cell."""
    path = NOTEBOOKS / f"{lesson}.ipynb"
    if not path.exists():
        pytest.skip(f"notebooks/{lesson}.ipynb does not exist yet")
    assert tagged(path), f"{path.name}: no code cell is tagged {BROWSER_TAG!r}; tag the cells its widget needs"
    problems = missing_definitions(path)
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


def test_a_failing_browser_cell_fails_the_test_by_name(page, lab_server):
    """A tagged cell that raises stops the run with its index, first line and error; later cells do not run."""
    nb_file = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("A throwaway notebook for this test."),
        nbformat.v4.new_code_cell("x = 1", metadata={"tags": [BROWSER_TAG]}),
        nbformat.v4.new_code_cell("raise RuntimeError('shown on purpose')",
                                  metadata={"tags": [BROWSER_TAG, "raises-exception"]}),
        nbformat.v4.new_code_cell("x / 0   # breaks", metadata={"tags": [BROWSER_TAG]}),
        nbformat.v4.new_code_cell("print('never reached')", metadata={"tags": [BROWSER_TAG]}),
    ], metadata=nbformat.read(NOTEBOOKS / f"{LAB}.ipynb", as_version=4).metadata)   # the lessons' kernel
    name = "zz_failing_cell.ipynb"
    nbformat.write(nb_file, lab_server.root / name)
    try:
        nb = NotebookPage(page, lab_server, name).open()
        with pytest.raises(AssertionError) as failed:
            nb.run_cells(tagged(nb.path), ACTION_TIMEOUT)
        message = str(failed.value)
        assert "cell 3 ('x / 0   # breaks') failed" in message and "ZeroDivisionError" in message, message
        counts = {c["index"]: c["count"] for c in nb.cells() if c["type"] == "code"}
        assert counts[2] is not None and counts[4] is None, counts
    finally:
        (lab_server.root / name).unlink()
