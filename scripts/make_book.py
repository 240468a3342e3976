#!/usr/bin/env python3
"""Render the lessons, with their stored outputs and figures, as a static HTML course.

Usage:
  python scripts/make_book.py                 # every lesson -> build/book/ (index.html + one page per lesson)
  python scripts/make_book.py --out DIR notebooks/03_*.ipynb

nbconvert's HTMLExporter (the `lab` template) renders each lesson as it is stored: nothing is
re-executed, figures are embedded in the page as PNG data, and the page works offline. Two
nbconvert preprocessors adapt a lesson for reading: widget views (which need a live kernel)
become a one-line note, and a navigation line (contents, previous, next) is added at the top and
the bottom. `index.html`, the navigation page, is itself a notebook of one markdown cell
rendered by the same exporter: each lesson's title, its first paragraph and its runtime line.
"""
from __future__ import annotations

import argparse
import html
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "build" / "book"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ("[interactive widget: it needs a running kernel. Open the lesson in JupyterLab (`make lab`) "
               "to use it; the cell below prints the state the stored run left it in]")
INDEX_TITLE = "Fine-tuning with fastai: the course"


def lesson_title(nb, path: Path) -> str:
    """The lesson's `# ` heading (first markdown cell), or its file name."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return path.stem


def lesson_summary(nb) -> str:
    """The first paragraph after the title and the `Runtime` line, as markdown."""
    text = next((c.source for c in nb.cells if c.cell_type == "markdown"), "")
    paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip() and not p.lstrip().startswith("#")]
    first = " ".join(paras[0].split()) if paras else ""
    runtime = ""
    for cell in nb.cells:
        m = re.search(r"\*\*Runtime[^\n]*(?:\n(?!\s*\n)[^\n]*)*", cell.source) if cell.cell_type == "markdown" else None
        if m:
            runtime = " ".join(m.group(0).split())
            break
    return first + (f" {runtime}" if runtime else "")


def book_exporter():
    """nbconvert's HTMLExporter with the two reading preprocessors registered."""
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import Preprocessor

    class WidgetNotePreprocessor(Preprocessor):
        """Replace a widget view's output (a kernel-side object's repr) with a note for readers."""

        def preprocess_cell(self, cell, resources, index):
            if cell.cell_type == "code":
                for i, out in enumerate(cell.get("outputs", [])):
                    if WIDGET_MIME in out.get("data", {}):
                        cell.outputs[i] = {"output_type": "stream", "name": "stdout", "text": WIDGET_NOTE + "\n"}
            return cell, resources

    class NavigationPreprocessor(Preprocessor):
        """Add a contents / previous / next line at the top and the bottom of a lesson."""

        def preprocess(self, nb, resources):
            import nbformat

            nav = resources.get("book_nav")
            if nav:
                nb.cells.insert(0, nbformat.v4.new_markdown_cell(nav))
                nb.cells.append(nbformat.v4.new_markdown_cell(nav))
            return nb, resources

    exporter = HTMLExporter(template_name="lab")
    exporter.register_preprocessor(WidgetNotePreprocessor, enabled=True)
    exporter.register_preprocessor(NavigationPreprocessor, enabled=True)
    return exporter


def navigation(pages, i) -> str:
    """Markdown: contents, previous and next lesson for page `i` of `pages` [(html name, title)]."""
    parts = ["[Contents](index.html)"]
    if i > 0:
        parts.append(f"← [{pages[i - 1][1]}]({pages[i - 1][0]})")
    if i + 1 < len(pages):
        parts.append(f"[{pages[i + 1][1]}]({pages[i + 1][0]}) →")
    return " · ".join(parts)


def build_book(lessons, out_dir: Path) -> list[Path]:
    """Render `lessons` and the navigation page into `out_dir`; return the pages written (index first)."""
    import nbformat

    out_dir.mkdir(parents=True, exist_ok=True)
    exporter = book_exporter()
    nbs = [nbformat.read(p, as_version=4) for p in lessons]
    pages = [(p.with_suffix(".html").name, lesson_title(nb, p)) for p, nb in zip(lessons, nbs)]
    written = []
    for i, (nb, (name, title)) in enumerate(zip(nbs, pages)):
        body, _ = exporter.from_notebook_node(nb, resources={"book_nav": navigation(pages, i),
                                                             "metadata": {"name": title}})
        (out_dir / name).write_text(body, encoding="utf-8")
        written.append(out_dir / name)
    lines = [f"# {INDEX_TITLE}", "",
             "Every lesson as it was last executed, with its stored outputs and figures (nothing here is "
             "re-run). To run a lesson, move its widgets and do its exercises, open it in JupyterLab "
             "(`make lab`).", ""]
    for nb, (name, title) in zip(nbs, pages):
        lines += [f"1. **[{title}]({name})**  ", f"   {lesson_summary(nb)}", ""]
    index = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("\n".join(lines))])
    body, _ = exporter.from_notebook_node(index, resources={"metadata": {"name": html.escape(INDEX_TITLE)}})
    (out_dir / "index.html").write_text(body, encoding="utf-8")
    return [out_dir / "index.html", *written]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the pages (default build/book/)")
    p.add_argument("notebooks", nargs="*", type=Path, metavar="NOTEBOOK")
    args = p.parse_args(argv)
    lessons = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    missing = [str(nb) for nb in lessons if not nb.is_file()]
    if missing:
        p.error("no such notebook: " + ", ".join(missing))
    pages = build_book(lessons, args.out)
    print(f"wrote {len(pages)} pages; open {pages[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
