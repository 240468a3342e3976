#!/usr/bin/env python3
"""Execute notebooks top to bottom, the way the course stores its reference outputs.

Usage:
  python scripts/run_notebooks.py --inplace notebooks/*.ipynb   # what `make outputs` runs
  python scripts/run_notebooks.py --out DIR notebooks/01_*.ipynb # executed copies go to DIR
  python scripts/run_notebooks.py notebooks/*.ipynb              # execute only, write nothing

Each notebook runs in a fresh `python3` kernel of *this* interpreter (not whatever a user-level
kernelspec points to), with the notebook's own folder as working directory and a time limit of
600 s per cell. A cell that raises fails the notebook unless it carries the `raises-exception`
tag. Written notebooks keep outputs and execution counts and lose volatile metadata exactly as
`nbstripout --keep-output --keep-count` would (execution timestamps, widget state, cell ids
renumbered), so running nbstripout afterwards changes nothing.

--inplace writes a notebook back only when it ran without error; --out also writes a failed
run's partial notebook, for inspection. One line per notebook: status, wall time, path.
Exit status: 0 when every notebook ran, 1 otherwise.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

CELL_TIMEOUT_S = 600
KERNEL_NAME = "python3"

# The keys `nbstripout` removes by default (nbstripout 0.9 `main`), besides outputs/counts,
# which --keep-output --keep-count keep.
NBSTRIPOUT_EXTRA_KEYS = [
    "metadata.signature",
    "metadata.widgets",
    "cell.metadata.collapsed",
    "cell.metadata.ExecuteTime",
    "cell.metadata.execution",
    "cell.metadata.heading_collapsed",
    "cell.metadata.hidden",
    "cell.metadata.scrolled",
]


class NotebookFailed(Exception):
    """A notebook did not run to the end; the message says where and why."""


def current_env_kernel_manager_class(ipc_dir=None):
    """A kernel manager class whose `python3` kernel is this interpreter's ipykernel.

    Given to nbclient as `kernel_manager_class` (not as a ready `km`), so that nbclient owns the
    kernel and shuts it down after the notebook instead of leaving it to exit on its own.
    """
    import ipykernel.kernelspec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    class CurrentEnvKernelSpecManager(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            if kernel_name == KERNEL_NAME:
                return self.kernel_spec_class(
                    resource_dir=ipykernel.kernelspec.RESOURCES,
                    **ipykernel.kernelspec.get_kernel_dict(),
                )
            return super().get_kernel_spec(kernel_name)

    class CurrentEnvKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            kwargs.setdefault("kernel_spec_manager", CurrentEnvKernelSpecManager())
            super().__init__(**kwargs)
            if os.name == "posix" and ipc_dir is not None:
                # Unix sockets instead of localhost TCP: private to this user, and the kernel
                # does not log "Kernel is running over TCP without encryption" every time.
                self.transport, self.ip = "ipc", str(Path(ipc_dir) / "kernel")

    return CurrentEnvKernelManager


def strip_volatile(nb):
    """What `nbstripout --keep-output --keep-count` does to a notebook (in place; returns it)."""
    from nbstripout import strip_output

    return strip_output(nb, keep_output=True, keep_count=True, keep_id=False, extra_keys=NBSTRIPOUT_EXTRA_KEYS)


def _failing_cell(nb) -> str:
    """'cell N: Name: value' for the first error output in a cell not tagged raises-exception."""
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    for i, cell in enumerate(code_cells, 1):
        if "raises-exception" in cell.get("metadata", {}).get("tags", []):
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return f"code cell {i}: {out.get('ename')}: {out.get('evalue', '')}"[:300]
    return ""


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:300]


def execute_notebook(path: Path, timeout: int = CELL_TIMEOUT_S, kernel_name: str = KERNEL_NAME):
    """Execute `path` top to bottom; return (notebook, seconds, error message or None)."""
    import nbformat

    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="nbrun-") as ipc_dir:
        return _execute(nb, path, timeout, current_env_kernel_manager_class(ipc_dir), kernel_name)


def _execute(nb, path, timeout, km_class, kernel_name):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellControlSignal, CellTimeoutError, DeadKernelError

    client = NotebookClient(
        nb,
        kernel_manager_class=km_class,
        kernel_name=kernel_name,
        timeout=timeout,
        allow_errors=False,  # errors stop the run, except in cells tagged raises-exception
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    error = None
    start = time.perf_counter()
    try:
        client.execute()
    except CellTimeoutError:
        error = f"a cell ran past the {timeout} s limit per cell"
    except DeadKernelError as e:
        error = f"the kernel died: {e}"
    except CellControlSignal as e:  # CellExecutionError and friends
        error = _failing_cell(nb) or _first_line(e)
        detail = str(e)
        if detail:
            print(f"--- {path.name} ---\n{detail}", file=sys.stderr)
    except Exception as e:  # kernel start-up failures and the like
        error = f"{type(e).__name__}: {e}"
    return nb, time.perf_counter() - start, error


def write_notebook(nb, dest: Path) -> None:
    import nbformat

    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(strip_volatile(nb), str(dest))


def _warn_about_mplbackend() -> None:
    backend = os.environ.get("MPLBACKEND", "")
    if backend and "inline" not in backend.lower():
        print(
            f"note: MPLBACKEND={backend} is set and kernels inherit it, so figures are not displayed "
            "and no images are stored (nbval, run under the same variable, stays consistent).",
            file=sys.stderr,
        )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--inplace", action="store_true", help="write outputs back into each notebook")
    where.add_argument("--out", metavar="DIR", type=Path, help="write executed copies into DIR")
    p.add_argument("--timeout", type=int, default=CELL_TIMEOUT_S, help="seconds per cell (default 600)")
    p.add_argument("--kernel", default=KERNEL_NAME, help="kernel name (default python3 = this interpreter)")
    p.add_argument("notebooks", nargs="+", type=Path, metavar="NOTEBOOK")
    args = p.parse_args(argv)

    missing = [str(nb) for nb in args.notebooks if not nb.is_file()]
    if missing:
        p.error("no such notebook: " + ", ".join(missing))
    if args.out is not None:
        names = [nb.name for nb in args.notebooks]
        if len(set(names)) != len(names):
            p.error("--out needs notebooks with distinct file names")
    _warn_about_mplbackend()

    failed = 0
    total = time.perf_counter()
    for path in args.notebooks:
        nb, seconds, error = execute_notebook(path, timeout=args.timeout, kernel_name=args.kernel)
        if args.inplace and error is None:
            write_notebook(nb, path)
        elif args.out is not None:
            write_notebook(nb, args.out / path.name)
        status = "ok" if error is None else "FAILED"
        print(f"{status:<6} {seconds:7.1f} s  {path}" + (f"  ({error})" if error else ""), flush=True)
        failed += error is not None
    if len(args.notebooks) > 1:
        n = len(args.notebooks)
        print(f"{n - failed}/{n} notebooks ran in {time.perf_counter() - total:.1f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
