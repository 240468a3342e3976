#!/usr/bin/env python3
"""Re-run lessons on other seeds, offline, and check that their claims reach the same conclusions.

Usage:
  python scripts/claims_other_seeds.py notebooks/0[1-5]_*.ipynb            # seeds 3,4,5
  python scripts/claims_other_seeds.py --seeds 6,7,8 --out DIR notebooks/04_*.ipynb

Each lesson runs top to bottom (`scripts/run_notebooks.py`) in a fresh kernel whose environment
has `COURSE_SEEDS` set (lessons take their seed set from `course_utils.lesson_seeds`) and
`scripts/offline` on `PYTHONPATH`, whose `sitecustomize.py` blocks every non-loopback connection
and DNS lookup: so the same run also shows that the quick tier needs no network.

A claim cell is a code cell tagged `claim`; its conclusions are the `True`/`False` words in its
text output, in order. The run passes when every claim cell prints the same sequence as the
stored notebook (run on the default seeds). One line per notebook; exit status 0 when all agree.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OFFLINE_DIR = HERE / "offline"
OTHER_SEEDS = "5,6,7,8,9"
CELL_TIMEOUT_S = 1800   # per cell; generous, because a busy machine can be ten times slower than the benchmark
CLAIM_TAG = "claim"
_BOOL = re.compile(r"\b(True|False)\b")


def _text(output) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    if output.get("output_type") in ("execute_result", "display_data"):
        return output.get("data", {}).get("text/plain", "")
    return ""


def claim_conclusions(nb) -> dict:
    """{code cell number (1-based): ['True', 'False', ...]} for every cell tagged `claim`."""
    found = {}
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    for i, cell in enumerate(code_cells, 1):
        if CLAIM_TAG in cell.get("metadata", {}).get("tags", []):
            found[i] = _BOOL.findall("".join(_text(o) for o in cell.get("outputs", [])))
    return found


def claim_lines(nb, cell_number) -> list:
    """The output lines of one code cell that hold a True/False (for messages)."""
    cell = [c for c in nb.cells if c.cell_type == "code"][cell_number - 1]
    text = "".join(_text(o) for o in cell.get("outputs", []))
    return [line for line in text.splitlines() if _BOOL.search(line)]


def compare_claims(stored, rerun) -> list:
    """Differences between two runs' claim cells, as readable lines ([] when they agree)."""
    a, b = claim_conclusions(stored), claim_conclusions(rerun)
    if not a:
        return ["the stored notebook has no cell tagged 'claim'"]
    problems = []
    for cell, expected in a.items():
        got = b.get(cell)
        if got != expected:
            problems.append(f"code cell {cell}: stored {expected}, other seeds {got}")
            problems += [f"    stored: {line}" for line in claim_lines(stored, cell)]
            if got is not None:
                problems += [f"    now:    {line}" for line in claim_lines(rerun, cell)]
    return problems


def offline_env(seeds: str = OTHER_SEEDS, env=None) -> dict:
    """A copy of the environment with COURSE_SEEDS=seeds and the network blocker on PYTHONPATH."""
    env = dict(os.environ if env is None else env)
    env["COURSE_SEEDS"] = seeds
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(OFFLINE_DIR), env.get("PYTHONPATH", "")) if p)
    env.setdefault("OMP_NUM_THREADS", "2")
    return env


def run_other_seeds(path: Path, out_dir: Path, seeds: str = OTHER_SEEDS, timeout: int = CELL_TIMEOUT_S):
    """Execute `path` with other seeds, offline, into out_dir; return (seconds, error or None, problems)."""
    import subprocess

    import nbformat

    path = Path(path)
    cmd = [sys.executable, str(HERE / "run_notebooks.py"), "--timeout", str(timeout), "--out", str(out_dir), str(path)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=offline_env(seeds), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        return seconds, (proc.stdout + proc.stderr).strip()[-3000:], []
    stored = nbformat.read(path, as_version=4)
    rerun = nbformat.read(Path(out_dir) / path.name, as_version=4)
    return seconds, None, compare_claims(stored, rerun)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default=OTHER_SEEDS, help=f"COURSE_SEEDS for the re-run (default {OTHER_SEEDS})")
    p.add_argument("--out", type=Path, help="keep the executed notebooks in DIR (default: a temporary folder)")
    p.add_argument("--timeout", type=int, default=CELL_TIMEOUT_S, help=f"seconds per cell (default {CELL_TIMEOUT_S})")
    p.add_argument("notebooks", nargs="+", type=Path, metavar="NOTEBOOK")
    args = p.parse_args(argv)
    missing = [str(nb) for nb in args.notebooks if not nb.is_file()]
    if missing:
        p.error("no such notebook: " + ", ".join(missing))

    failed = 0
    with tempfile.TemporaryDirectory(prefix="claims-") as tmp:
        out = args.out or Path(tmp)
        for path in args.notebooks:
            seconds, error, problems = run_other_seeds(path, out, args.seeds, args.timeout)
            ok = error is None and not problems
            print(f"{'ok' if ok else 'FAILED':<6} {seconds:7.1f} s  {path}  (COURSE_SEEDS={args.seeds}, offline)", flush=True)
            if error:
                print(error, flush=True)
            for line in problems:
                print("  " + line, flush=True)
            failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
