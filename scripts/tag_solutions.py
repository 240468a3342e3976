#!/usr/bin/env python3
"""Tag every exercise's worked-solution cell `solution` (idempotent; changes cell metadata only).

An exercise in a lesson is laid out as: the question (markdown), a code cell the learner fills in
(its answer is `...`, and it ends with the check), then the worked solution, a code cell whose
first line is `# Solution`, ending with the same check. `make student` removes the cells tagged
`solution` (nbconvert's TagRemovePreprocessor); this script adds the tag to every `# Solution`
cell that lacks it, so a new exercise only needs its solution cell to start with `# Solution`.

Usage:
  python scripts/tag_solutions.py notebooks/03_*.ipynb     # tag, write back only what changed
  python scripts/tag_solutions.py --check notebooks/*.ipynb  # list untagged solutions, exit 1 if any

Outputs, execution counts and every other byte stay as they were (the notebook is re-written with
nbformat, as `make outputs` writes it); a notebook with nothing to tag is not touched.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

TAG = "solution"
SOLUTION_FIRST_LINE = re.compile(r"#\s*Solution\b")


def is_solution_cell(cell) -> bool:
    """A code cell whose first non-blank line is the `# Solution` comment."""
    if cell.get("cell_type") != "code":
        return False
    lines = [line for line in cell.get("source", "").splitlines() if line.strip()]
    return bool(lines) and SOLUTION_FIRST_LINE.match(lines[0].strip()) is not None


def untagged_solutions(nb) -> list[int]:
    """Indices of the solution cells of `nb` that do not carry the `solution` tag."""
    return [i for i, c in enumerate(nb.cells) if is_solution_cell(c) and TAG not in c.get("metadata", {}).get("tags", [])]


def tag_notebook(path: Path) -> int:
    """Add the tag to every untagged solution cell of `path`; write back only if one changed. Returns the count."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    todo = untagged_solutions(nb)
    for i in todo:
        nb.cells[i].metadata.setdefault("tags", []).append(TAG)
    if todo:
        nbformat.write(nb, str(path))
    return len(todo)


def main(argv=None) -> int:
    import nbformat

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="only report untagged solution cells (exit 1 if any)")
    p.add_argument("notebooks", nargs="+", type=Path, metavar="NOTEBOOK")
    args = p.parse_args(argv)
    missing = [str(nb) for nb in args.notebooks if not nb.is_file()]
    if missing:
        p.error("no such notebook: " + ", ".join(missing))
    found = 0
    for path in args.notebooks:
        if args.check:
            cells = untagged_solutions(nbformat.read(path, as_version=4))
            if cells:
                print(f"{path}: solution cells without the `{TAG}` tag at cell indices {cells}")
            found += len(cells)
        else:
            n = tag_notebook(path)
            print(f"{path}: tagged {n} solution cell(s)" if n else f"{path}: nothing to tag")
    return 1 if args.check and found else 0


if __name__ == "__main__":
    sys.exit(main())
