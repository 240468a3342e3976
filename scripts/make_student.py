#!/usr/bin/env python3
"""Write the student copies of the lessons: worked solutions removed, outputs cleared.

Usage:
  python scripts/make_student.py                       # every lesson -> student/
  python scripts/make_student.py --out DIR notebooks/03_*.ipynb

nbconvert does the work: `TagRemovePreprocessor` drops every cell tagged `solution` and
`ClearOutputPreprocessor` clears outputs and execution counts; `NotebookExporter` writes the result.
A lesson with a `# Solution` cell that lacks the tag is refused (its solution would leak): tag it
with `python scripts/tag_solutions.py NOTEBOOK`. The copies go one folder below the repository
root (default `student/`, git-ignored), like `notebooks/`, so relative paths in the lessons still
resolve. Each copy runs top to bottom with the exercises unanswered: the checks say
"not answered yet" (or what is wrong) and raise nothing.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tag_solutions import TAG, untagged_solutions  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "student"


def student_exporter():
    """An nbconvert NotebookExporter that removes `solution` cells and clears every output."""
    from nbconvert import NotebookExporter
    from nbconvert.preprocessors import ClearOutputPreprocessor, TagRemovePreprocessor
    from traitlets.config import Config

    c = Config()
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_cell_tags = {TAG}
    c.ClearOutputPreprocessor.enabled = True
    exporter = NotebookExporter(config=c)
    exporter.register_preprocessor(TagRemovePreprocessor(config=c), enabled=True)
    exporter.register_preprocessor(ClearOutputPreprocessor(config=c), enabled=True)
    return exporter


def write_student_copy(path: Path, out_dir: Path, exporter=None) -> Path:
    """Write the student copy of lesson `path` into `out_dir`; return its path."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    untagged = untagged_solutions(nb)
    if untagged:
        raise ValueError(f"{path.name}: solution cells {untagged} lack the `{TAG}` tag, so their solutions would "
                         f"leak into the student copy; run: python scripts/tag_solutions.py {path}")
    body, _ = (exporter or student_exporter()).from_notebook_node(nb)
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / path.name
    dest.write_text(body, encoding="utf-8")
    return dest


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the copies (default student/)")
    p.add_argument("notebooks", nargs="*", type=Path, metavar="NOTEBOOK")
    args = p.parse_args(argv)
    lessons = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    missing = [str(nb) for nb in lessons if not nb.is_file()]
    if missing:
        p.error("no such notebook: " + ", ".join(missing))
    exporter, failed = student_exporter(), 0
    for path in lessons:
        try:
            print(f"wrote {write_student_copy(path, args.out, exporter)}")
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
