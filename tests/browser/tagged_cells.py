"""The code cells a lesson's widget needs: they carry the cell tag ``browser``.

``make browser`` runs only these cells in JupyterLab before using the widget (nbval already runs
every cell); ``make browser-full`` runs every cell. ``missing_definitions`` is a static check,
without a browser, that the tagged cells define every name they use that another cell of the
lesson defines: a cell left untagged by mistake is named here instead of as a NameError in the page.
"""
import symtable

import nbformat

BROWSER_TAG = "browser"


def code_cells(notebook):
    """``[(index, source, tags)]`` of the notebook's code cells (index as in the ``.ipynb`` file)."""
    nb = nbformat.read(notebook, as_version=4)
    return [(i, c.source, list(c.metadata.get("tags", []))) for i, c in enumerate(nb.cells) if c.cell_type == "code"]


def tagged(notebook, tag=BROWSER_TAG):
    """Indices of the code cells that carry ``tag``, in order."""
    return [i for i, _, tags in code_cells(notebook) if tag in tags]


def first_line(source):
    line = next((s for s in source.splitlines() if s.strip()), "")
    return line if len(line) <= 80 else line[:77] + "..."


def _names(source):
    """(names the cell binds at top level, names it reads at top level, names its functions read as globals)."""
    top = symtable.symtable(source, "<cell>", "exec")
    bound = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    read_top = {s.get_name() for s in top.get_symbols() if s.is_referenced()}
    read_inner = set()
    stack = list(top.get_children())
    while stack:
        table = stack.pop()
        read_inner |= {s.get_name() for s in table.get_symbols() if s.is_global() and s.is_referenced()}
        stack.extend(table.get_children())
    return bound, read_top - bound, read_inner - bound


def missing_definitions(notebook, tag=BROWSER_TAG):
    """Names a tagged cell reads that only untagged cells define, one line each (empty: nothing missing).

    A name read at a cell's top level must be defined by an earlier tagged cell; one read inside a
    function (called later) by any tagged cell. Names no cell defines (builtins, ``import *``) are fine.
    """
    cells = [(i, tags, *_names(src)) for i, src, tags in code_cells(notebook)]
    problems = []
    for i, tags, _, read_top, read_inner in cells:
        if tag not in tags:
            continue
        for name, earlier_only in [(n, True) for n in sorted(read_top)] + [(n, False) for n in sorted(read_inner - read_top)]:
            definers = [j for j, _, bound, _, _ in cells if name in bound and (j < i or not earlier_only)]
            if definers and not any(tag in t for j, t, *_ in cells if j in definers):
                problems.append(f"cell {i} reads {name!r}, which only untagged cell(s) {definers} define: "
                                f"tag {'them' if len(definers) > 1 else 'it'} {tag!r} too")
    return problems
