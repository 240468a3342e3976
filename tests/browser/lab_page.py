"""Drive one notebook in JupyterLab with Playwright: open it, run all cells (or some), read back errors, find widgets.

JupyterLab's application object is reached as ``window.jupyterapp`` (the server runs with
``--LabApp.expose_app_in_browser=True``); cells are read from the notebook model, so a cell's
index here is its index in the ``.ipynb`` file.
"""
import json
import time
from pathlib import Path

import nbformat

from tagged_cells import first_line

CURRENT = "window.jupyterapp.shell.currentWidget"

STATE_JS = f"""() => {{
  if (!window.jupyterapp || !window.jupyterapp.shell) return {{status: 'page loading'}};
  const w = {CURRENT};
  if (!w || !w.content || !w.sessionContext) return {{status: 'no notebook'}};
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  const code = w.content.widgets.filter(c => c.model.type === 'code');
  const prompt = c => (c.node.querySelector('.jp-InputPrompt') || {{textContent: ''}}).textContent;
  return {{status: k ? k.status : 'no kernel', ready: w.sessionContext.isReady,
          queued: code.filter(c => prompt(c).includes('*')).length,
          executed: code.filter(c => c.model.executionCount !== null).length, code: code.length}};
}}"""

CELLS_JS = f"""() => {CURRENT}.content.widgets.map((c, i) => ({{
  index: i, type: c.model.type, tags: c.model.getMetadata('tags') || [],
  count: c.model.type === 'code' ? c.model.executionCount : null,
  errors: c.model.type === 'code'
    ? c.model.outputs.toJSON().filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue) : [],
}}))"""


COUNT_JS = f"(i) => {CURRENT}.content.widgets[i].model.executionCount"


def cell_index(notebook, marker):
    """Index of the first code cell of ``notebook`` whose source contains ``marker``."""
    nb = nbformat.read(notebook, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and marker in cell.source:
            return i
    raise LookupError(f"{Path(notebook).name}: no code cell contains {marker!r}")


def wait_for(fn, timeout, what, interval=0.5):
    """Poll ``fn()`` until it returns something truthy; on timeout, fail saying ``what`` was awaited."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last seen: {last!r})")


class NotebookPage:
    """One notebook open in a JupyterLab page."""

    def __init__(self, page, server, name):
        self.page, self.server, self.name = page, server, name
        self.path = server.root / name

    def open(self, timeout=180):
        self.page.goto(self.server.url(f"/lab/tree/{self.name}?reset"))
        wait_for(lambda: self.state().get("ready") and self.state().get("status") == "idle", timeout,
                 f"{self.name} to open with an idle kernel")
        return self

    def state(self):
        return self.page.evaluate(STATE_JS)

    def run_all(self, timeout):
        """Run every cell (as Run > Run All Cells does) and wait until nothing is queued and the kernel is idle."""
        self.page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        wait_for(lambda: self.state().get("executed", 0) > 0, 60, f"{self.name}: the first cell to run")
        self.wait_idle(timeout, "all cells to run")

    def wait_idle(self, timeout, what="the kernel to go idle"):
        """Idle kernel and no ``[*]`` prompt, seen twice a second apart (the kernel idles between cells)."""
        def settled():
            s1 = self.state()
            if s1.get("status") != "idle" or s1.get("queued"):
                return False
            time.sleep(1.0)
            s2 = self.state()
            return s2 if s2.get("status") == "idle" and not s2.get("queued") else False
        return wait_for(settled, timeout, f"{self.name}: {what}", interval=1.0)

    def run_cells(self, indices, timeout):
        """Run the code cells ``indices`` in order, as a learner selecting them and pressing Run, and wait.

        They are selected together and run with JupyterLab's ``notebook:run-cell``: one queue, as Run
        All makes (one cell at a time would wait for an idle kernel between cells, seconds each). The
        first cell that failed (an error without the ``raises-exception`` tag; the kernel then skips
        the rest) fails the test, named by its index and first line.
        """
        selected = self.page.evaluate("""(indices) => {
          const app = window.jupyterapp, nb = app.shell.currentWidget.content;
          nb.deselectAll();
          nb.activeCellIndex = indices[0];
          for (const i of indices) nb.select(nb.widgets[i]);
          const chosen = nb.widgets.map((c, i) => nb.isSelectedOrActive(c) ? i : -1).filter(i => i >= 0);
          app.commands.execute('notebook:run-cell');   // not awaited: the prompts are polled below
          return chosen;
        }""", list(indices))
        assert selected == list(indices), f"{self.name}: selected cells {selected} instead of {list(indices)}"
        wait_for(lambda: self.page.evaluate(COUNT_JS, indices[0]) is not None or self.state().get("queued"),
                 60, f"{self.name}: cell {indices[0]}, the first of {list(indices)}, to start")
        self.wait_idle(timeout, f"cells {list(indices)} to run")
        problems = self.problems(indices)
        if problems:                                   # in cell order: the first is the cell that failed
            first = int(problems[0].split()[1])
            source = nbformat.read(self.path, as_version=4).cells[first].source
            raise AssertionError(f"{self.name}: cell {first} ({first_line(source)!r}) failed "
                                 f"(cells run, in order: {list(indices)}):\n" + "\n".join(problems))

    def cells(self):
        return self.page.evaluate(CELLS_JS)

    def problems(self, indices=None):
        """Code cells (all, or those in ``indices``) that did not run, or show an error without the ``raises-exception`` tag."""
        found = []
        for c in self.cells():
            if c["type"] != "code" or (indices is not None and c["index"] not in indices):
                continue
            if c["count"] is None:
                found.append(f"cell {c['index']} did not run")
            expected = "raises-exception" in c["tags"]
            if c["errors"] and not expected:
                found.append(f"cell {c['index']} shows an error: {'; '.join(c['errors'])}")
            if expected and not c["errors"]:
                found.append(f"cell {c['index']} is tagged raises-exception but raised nothing")
        return found

    def cell(self, index):
        """The cell's node in the page (every cell is in the DOM: windowingMode is 'none')."""
        return self.page.locator(".jp-Notebook .jp-Cell").nth(index)

    def cell_with(self, css):
        """Index of the first cell whose page node contains an element matching ``css`` (-1 if none)."""
        return self.page.evaluate(f"(css) => {CURRENT}.content.widgets.findIndex(c => c.node.querySelector(css))", css)

    def outputs(self, index):
        return self.cell(index).locator(".jp-OutputArea-output")

    def run_code(self, code, timeout=60):
        """Append a code cell at the end, run it, and return its text output (shows the kernel still works)."""
        self.page.evaluate("""(code) => {
          const app = window.jupyterapp, nb = app.shell.currentWidget.content;
          nb.activeCellIndex = nb.widgets.length - 1;
          return app.commands.execute('notebook:insert-cell-below').then(() => {
            nb.activeCell.model.sharedModel.setSource(code);
            return app.commands.execute('notebook:run-cell');
          });
        }""", code)
        self.wait_idle(timeout, f"the new cell {code!r} to run")
        return self.page.evaluate(f"""() => {{
          const nb = {CURRENT}.content, cell = nb.widgets[nb.widgets.length - 1];
          return {{count: cell.model.executionCount,
                  outputs: cell.model.outputs.toJSON()}};
        }}""")

    def screenshot(self, path, index=None):
        """Save a PNG of the page, scrolled so that cell ``index`` (the widget) is in view."""
        if index is not None:
            self.cell(index).scroll_into_view_if_needed()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path))
        return path


def slider(scope, label):
    """The ipywidgets slider whose description is ``label``."""
    return scope.locator(".widget-slider", has=scope.page.locator(".widget-label", has_text=label)).first


def set_slider(scope, label, value):
    """Type ``value`` into the slider's readout and press Enter, as a learner can."""
    readout = slider(scope, label).locator(".widget-readout")
    readout.click()
    readout.press("Control+A")
    readout.type(str(value))
    readout.press("Enter")


def nudge_slider(handle_scope, presses=3):
    """Move a slider with the keyboard (focus its handle, press the arrow keys), as a learner can.

    Right arrow first; if the value does not change (the slider is at its maximum), left arrow.
    Returns the readout before and after.
    """
    handle, readout = handle_scope.locator(".noUi-handle").first, handle_scope.locator(".widget-readout").first
    before = readout.inner_text().strip()
    for key in ("ArrowRight", "ArrowLeft"):
        handle.focus()
        for _ in range(presses):
            handle.press(key)
        after = readout.inner_text().strip()
        if after != before:
            return before, after
    raise AssertionError(f"the slider did not move with the arrow keys (readout stayed {before!r})")


def slider_value(scope, label):
    return slider(scope, label).locator(".widget-readout").inner_text().strip()


def dump(obj):
    return json.dumps(obj, indent=1)
