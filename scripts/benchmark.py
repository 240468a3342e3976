#!/usr/bin/env python3
"""Measure how long the course takes on this machine, and record it.

Usage (from anywhere; `make bench` runs the first line):
  python scripts/benchmark.py                      # every lesson, unit tests, nbval
  python scripts/benchmark.py --pretrain           # ... and the backbone's pretraining
  python scripts/benchmark.py --only 03 --skip-tests   # one lesson (file name, stem or prefix)
  python scripts/benchmark.py --notebooks DIR --results R.json --readme R.md   # elsewhere

Each item runs as a child process, timed from start to exit; its memory is sampled with psutil
over its whole process tree (the kernel a notebook runs in and its DataLoader workers count
too). The table shows the peak of the tree's summed PSS (shared pages split between the
processes sharing them; Linux), else of its summed RSS; results.json also has the RSS figures.

  lesson     python scripts/run_notebooks.py --out TMP notebooks/NN_*.ipynb
             (the code path of `make outputs`, into a temporary folder: the repository's
             notebooks are never modified)        target <= 120 s, 07_* <= 180 s, 08_*, 09_* <= 240 s
  lab        python scripts/lab_timing.py: one strategy x one seed       target <= 1.2 s
             and the same runs redisplayed from the cache                target <= 1 s
             and fastai vs a plain PyTorch loop, same training           target ratio <= 1.3
             and one EfficientNet-Lite0 fine_tune run                    target <= 6 s
  unit       python -m pytest -q tests --ignore=tests/browser
  nbval      python -m pytest -q --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg
             --nbval-current-env notebooks
  browser    python -m pytest -q tests/browser (JupyterLab + Chromium; skipped without Chromium)
  make test  unit + nbval + browser, i.e. `make test` once `make setup` is done   target <= 35 min

Every item gets an empty strategy-lab cache of its own (COURSE_LAB_CACHE in a temporary folder),
as on a fresh clone: lesson 07 and nbval train every run; your own cache is never touched.
  pretrain   python scripts/pretrain.py --out TMP (default recipe)   target <= 600 s

The figures go to benchmarks/results.json (with the CPU model, core count, memory, torch
version, whether CUDA is available, the date) and, as a Markdown table, into README.md between
the lines `<!-- benchmark:start -->` and `<!-- benchmark:end -->`; nothing else in the README
changes. Without those markers the table is printed instead. A missed target is reported, but
the exit status is 0 all the same: this is a measurement, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

try:
    import psutil
except ImportError:  # the course pins it (via jupyter); the RSS sampling is skipped without it
    psutil = None

ROOT = Path(__file__).resolve().parents[1]
START_MARK = "<!-- benchmark:start -->"
END_MARK = "<!-- benchmark:end -->"
LESSON_TARGET_S = 120
LESSON_07_TARGET_S = 180
LESSON_08_TARGET_S = 240    # EfficientNet-Lite0: a real ImageNet network on the CPU
LESSON_09_TARGET_S = 240    # all-MiniLM-L6-v2: a real pretrained transformer on the CPU
EFFICIENTNET_RUN_TARGET_S = 6
LAB_RUN_TARGET_S = 1.2
LOOP_RATIO_TARGET = 1.3   # fastai's seconds / plain PyTorch's for the same training
LAB_CACHED_TARGET_S = 1
MAKE_TEST_TARGET_S = 35 * 60
PRETRAIN_TARGET_S = 600
NBVAL_ARGS = ["--nbval", "--nbval-sanitize-with", "tests/nbval_sanitize.cfg", "--nbval-current-env"]


# ----------------------------------------------------------------------------- measuring
def _tree_memory(proc, pss=False):
    """(summed RSS, largest single RSS, summed PSS or None) in bytes over a process tree.

    PSS splits shared pages between the processes that share them; RSS counts them in each,
    which overstates a kernel plus its forked DataLoader workers about twofold. PSS costs a
    read of /proc/PID/smaps_rollup (~15 ms for a torch process), so it is sampled less often.
    """
    try:
        procs = [proc] + proc.children(recursive=True)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0, 0, None
    rss, pss_total = [], 0 if pss else None
    for p in procs:
        try:
            if pss:
                info = p.memory_full_info()
                pss_total += getattr(info, "pss", info.rss)
            else:
                info = p.memory_info()
            rss.append(info.rss)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return sum(rss), max(rss, default=0), pss_total


def _kill_tree(pid: int) -> None:
    if psutil is None:
        try:
            os.kill(pid, 9)
        except OSError:
            pass
        return
    try:
        root = psutil.Process(pid)
        procs = root.children(recursive=True) + [root]
    except psutil.NoSuchProcess:
        return
    for p in procs:  # kernels run in sessions of their own, so no killpg
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


def measure(cmd, cwd=ROOT, timeout_s=None, log_path=None) -> dict:
    """Run `cmd`; return its wall time, peak memory and exit status.

    Memory is sampled over the whole process tree every 0.25 s (RSS) and 2 s (PSS): a notebook's
    kernel is a grandchild, and nbval's kernel is not even waited for, so getrusage would miss it.
    """
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL
    start = time.perf_counter()
    proc = subprocess.Popen([str(c) for c in cmd], cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    peak = {"sum": 0, "single": 0, "pss": 0}
    done = threading.Event()
    timed_out = threading.Event()
    use_pss = sys.platform.startswith("linux")

    def watch():
        ps = None
        if psutil is not None:
            try:
                ps = psutil.Process(proc.pid)
            except psutil.NoSuchProcess:
                pass
        tick = 0
        while not done.is_set():
            if ps is not None:
                total, single, pss = _tree_memory(ps, pss=use_pss and tick % 8 == 4)  # PSS every 2 s
                peak["sum"], peak["single"] = max(peak["sum"], total), max(peak["single"], single)
                if pss is not None:
                    peak["pss"] = max(peak["pss"], pss)
            if timeout_s and time.perf_counter() - start > timeout_s and not timed_out.is_set():
                timed_out.set()
                _kill_tree(proc.pid)
            tick += 1
            done.wait(0.25)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    proc.wait()
    wall = time.perf_counter() - start
    done.set()
    watcher.join()
    if log is not subprocess.DEVNULL:
        log.close()
    mb = lambda b: round(b / 2**20, 1) if b else None  # noqa: E731
    return {
        "wall_s": round(wall, 1),
        # the table's figure: summed PSS where measured (Linux, runs over 1 s), else summed RSS
        "peak_memory_mb": mb(peak["pss"] or peak["sum"]),
        "peak_memory_kind": "PSS" if peak["pss"] else "RSS",
        "peak_rss_sum_mb": mb(peak["sum"]),
        "peak_process_rss_mb": mb(peak["single"]),
        "exit_code": proc.returncode,
        "timed_out": timed_out.is_set(),
    }


# ----------------------------------------------------------------------------- the machine
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        try:
            return subprocess.check_output(["sysctl", "-n", "machdep.cpu.brand_string"], text=True).strip()
        except (OSError, subprocess.CalledProcessError):
            pass
    return platform.processor() or platform.machine() or "unknown"


def _cpu_quota():
    """CPUs allowed by a cgroup v2 quota (containers), or None."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        return None if quota == "max" else round(int(quota) / int(period), 2)
    except (OSError, ValueError):
        return None


def machine_info() -> dict:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info = {
        "cpu_model": _cpu_model(),
        "cpu_count_logical": os.cpu_count(),
        "cpu_count_usable": usable,
        "cpu_count_physical": psutil.cpu_count(logical=False) if psutil else None,
        "cpu_quota": _cpu_quota(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1) if psutil else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    probe = (
        "import json, torch, torchvision, fastai\n"
        "print(json.dumps({'torch': torch.__version__, 'torchvision': torchvision.__version__,"
        " 'fastai': fastai.__version__, 'cuda_available': torch.cuda.is_available(),"
        " 'cuda_device': torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,"
        " 'torch_threads': torch.get_num_threads()}))"
    )
    try:
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
        info.update(json.loads(out.stdout.strip().splitlines()[-1]))
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        info.update(torch=None, cuda_available=None, error="could not import torch/torchvision/fastai")
    return info


# ----------------------------------------------------------------------------- reporting
def _result(rec: dict) -> str:
    if rec.get("timed_out"):
        return "timed out"
    if rec.get("exit_code"):
        return f"failed (exit {rec['exit_code']})"
    if rec.get("target_ratio") is not None:
        return "pass" if rec["ratio"] <= rec["target_ratio"] else "over"
    if rec.get("target_s") is None:
        return "ok"
    return "pass" if rec["wall_s"] <= rec["target_s"] else "over"


def _fmt_s(s) -> str:
    if s is None:
        return "-"
    if s < 1:
        return f"{s:.3f} s"
    if s < 20:
        return f"{s:.1f} s"
    return f"{s:.0f} s" if s < 60 else f"{s:.0f} s ({s / 60:.1f} min)"


def _fmt_mb(mb) -> str:
    if not mb:
        return "-"
    return f"{mb / 1024:.2f} GB" if mb >= 1024 else f"{mb:.0f} MB"


def markdown_table(results: dict) -> str:
    m = results["machine"]
    cuda = f"CUDA: {m.get('cuda_device')}" if m.get("cuda_available") else "no CUDA"
    cores = f"{m.get('cpu_count_usable')} usable CPU cores"
    if m.get("cpu_quota"):
        cores += f" (cgroup quota {m['cpu_quota']})"
    env = ", ".join(f"{k}={v}" for k, v in results["env"].items() if v)
    lines = [
        f"Measured by `scripts/benchmark.py` on {results['date'][:10]}: {m.get('cpu_model')}, {cores}, "
        f"{m.get('memory_gb')} GB RAM, {cuda}; Python {m.get('python')}, torch {m.get('torch')}, "
        f"fastai {m.get('fastai')}" + (f"; {env}" if env else "") + ".",
    ]
    if results.get("partial"):
        lines.append(f"Partial run ({results['partial']}): items not listed were not measured.")
    lines += [
        "",
        "| What | Wall time | Peak memory | Target | Result |",
        "|---|---:|---:|---:|---|",
    ]
    for rec in results["items"]:
        if rec.get("target_ratio") is not None:   # a ratio of two times, not a time
            value, target = f"{rec['ratio']:.2f}×", f"≤ {rec['target_ratio']}×"
        else:
            value, target = _fmt_s(rec["wall_s"]), f"≤ {rec['target_s']} s" if rec.get("target_s") else "-"
        lines.append(
            f"| {rec['label']} | {value} | {_fmt_mb(rec.get('peak_memory_mb'))} | {target} | {rec['result']} |"
        )
    kinds = {r.get("peak_memory_kind") for r in results["items"]} - {None}
    how = "proportional set size (PSS)" if kinds == {"PSS"} else "resident memory (PSS where measured, else RSS)"
    lines += ["", f"Peak memory: the {how} of the whole process tree, notebook kernels and their workers included."]
    return "\n".join(lines)


def missed_line(rec: dict) -> str:
    """What a missed target prints: seconds for most rows, the ratio for fastai vs plain PyTorch."""
    if "target_ratio" in rec:
        return f"target missed: {rec['label']}: ratio {rec['ratio']:.2f} (target at most {rec['target_ratio']})"
    return f"target missed: {rec['label']} took {_fmt_s(rec['wall_s'])} (target {rec['target_s']} s)"


def update_readme(readme: Path, table: str) -> bool:
    """Replace what lies between the benchmark markers; False (and no change) if they are missing."""
    try:
        with open(readme, encoding="utf-8", newline="") as f:
            text = f.read()
    except FileNotFoundError:
        return False
    if text.count(START_MARK) != 1 or text.count(END_MARK) != 1:
        return False
    i = text.index(START_MARK) + len(START_MARK)
    j = text.index(END_MARK)
    if j < i:
        return False
    nl = "\r\n" if "\r\n" in text else "\n"
    body = nl + table.replace("\n", nl) + nl
    with open(readme, "w", encoding="utf-8", newline="") as f:
        f.write(text[:i] + body + text[j:])
    return True


# ----------------------------------------------------------------------------- main
def lesson_target(path: Path) -> int:
    return {"07": LESSON_07_TARGET_S, "08": LESSON_08_TARGET_S, "09": LESSON_09_TARGET_S}.get(path.name[:2], LESSON_TARGET_S)


def pick_notebooks(nb_dir: Path, only):
    notebooks = sorted(nb_dir.glob("*.ipynb"))
    if only is None:
        return notebooks
    exact = [nb for nb in notebooks if only in (nb.name, nb.stem)]
    return exact or [nb for nb in notebooks if nb.name.startswith(only)]


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _show_cmd(cmd, tmp: Path) -> str:
    """The command as a reader would type it: python, repository-relative paths, $TMP."""
    words = []
    for c in cmd:
        c = str(c)
        if c == sys.executable:
            c = "python"
        elif c.startswith(str(tmp)):
            c = "$TMP" + c[len(str(tmp)):]
        elif c.startswith(str(ROOT) + os.sep):
            c = c[len(str(ROOT)) + 1:]
        words.append(c)
    return " ".join(words)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", metavar="NAME", help="execute one notebook only (file name, stem or unique prefix); "
                   "the unit and nbval runs are not affected, add --skip-tests to leave them out")
    p.add_argument("--skip-tests", action="store_true", help="do not time the unit tests and the nbval run")
    p.add_argument("--pretrain", action="store_true", help="also time python scripts/pretrain.py")
    p.add_argument("--notebooks", type=Path, default=ROOT / "notebooks", help="notebook folder (default notebooks/)")
    p.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results.json", help="JSON output")
    p.add_argument("--readme", type=Path, default=ROOT / "README.md", help="README with the benchmark markers")
    p.add_argument("--timeout", type=int, default=1800, help="seconds after which an item is killed (default 1800)")
    args = p.parse_args(argv)

    nb_dir = args.notebooks.resolve()
    notebooks = pick_notebooks(nb_dir, args.only)
    if args.only is not None and len(notebooks) != 1:
        found = ", ".join(nb.name for nb in notebooks) or "nothing"
        p.error(f"--only {args.only!r} must name one notebook in {nb_dir} (matched {found})")

    print("machine: ", end="", flush=True)
    machine = machine_info()
    print(f"{machine['cpu_model']}, {machine['cpu_count_usable']} usable cores, torch {machine.get('torch')}, "
          f"CUDA {'yes' if machine.get('cuda_available') else 'no'}")

    items = []
    with tempfile.TemporaryDirectory(prefix="course-bench-") as tmp:
        tmp = Path(tmp)
        lab_caches = iter(range(10**6))

        def run(label, kind, cmd, target_s=None, cwd=ROOT):
            print(f"  {label} ...", end="", flush=True)
            log = tmp / f"log-{len(items)}.txt"
            os.environ["COURSE_LAB_CACHE"] = str(tmp / f"lab-cache-{next(lab_caches)}")  # empty, as on a fresh clone
            rec = {"label": label, "kind": kind, "command": _show_cmd(cmd, tmp), "target_s": target_s}
            rec.update(measure(cmd, cwd=cwd, timeout_s=args.timeout, log_path=log))
            rec["log_tail"] = log.read_text(errors="replace").splitlines()[-3:]
            rec["result"] = _result(rec)
            items.append(rec)
            print(f" {_fmt_s(rec['wall_s'])}, {_fmt_mb(rec['peak_memory_mb'])}: {rec['result']}", flush=True)
            if rec["exit_code"] or rec["timed_out"]:
                tail = log.read_text(errors="replace").splitlines()[-15:]
                print("\n".join("      | " + line for line in tail), flush=True)
            return rec

        if not notebooks:
            print(f"  (no notebooks in {nb_dir})")
        for nb in notebooks:
            run(f"lesson `{nb.name}`", "lesson",
                [sys.executable, ROOT / "scripts" / "run_notebooks.py", "--out", tmp / "executed", nb],
                target_s=lesson_target(nb))

        if args.only is None and any(nb.name.startswith("07_") for nb in notebooks):
            lab = run("strategy lab timing (`scripts/lab_timing.py`)", "lab-timing",
                      [sys.executable, ROOT / "scripts" / "lab_timing.py"])
            try:
                figures = json.loads(lab["log_tail"][-1])
            except (ValueError, IndexError):
                figures = {}
            for key, label, target in [
                    ("one_run_s", "strategy lab: one strategy x one seed (10 labels/class, 5 epochs)", LAB_RUN_TARGET_S),
                    ("cached_s", "strategy lab: the same runs redisplayed from the cache", LAB_CACHED_TARGET_S),
                    ("efficientnet_run_s", "strategy lab: one EfficientNet-Lite0 fine_tune run (10 labels/class, "
                                           "5 epochs, 32 px)", EFFICIENTNET_RUN_TARGET_S)]:
                if key in figures:
                    rec = {"label": label, "kind": "lab", "command": "python scripts/lab_timing.py",
                           "target_s": target, "wall_s": figures[key], "peak_memory_mb": None,
                           "exit_code": 0, "timed_out": False}
                    rec["result"] = _result(rec)
                    items.append(rec)
            if "ratio" in figures:
                rec = {"label": f"fastai ÷ plain PyTorch, the same training side by side "
                                f"({figures['fastai_s']:.2f} s / {figures['plain_s']:.2f} s, median of 5)",
                       "kind": "lab", "command": "python scripts/lab_timing.py", "target_ratio": LOOP_RATIO_TARGET,
                       "ratio": figures["ratio"], "wall_s": figures["fastai_s"], "peak_memory_mb": None,
                       "exit_code": 0, "timed_out": False}
                rec["result"] = _result(rec)
                items.append(rec)

        if not args.skip_tests:
            unit = run("unit tests (`pytest tests --ignore=tests/browser`)", "unit",
                       [sys.executable, "-m", "pytest", "-q", "tests", "--ignore=tests/browser"])
            nb_arg = _rel(nb_dir)
            if any(nb_dir.glob("*.ipynb")):
                nbval = run(f"nbval (`pytest --nbval {nb_arg}`)", "nbval",
                            [sys.executable, "-m", "pytest", "-q", *NBVAL_ARGS, nb_arg])
            else:
                nbval = None
                print(f"  nbval: skipped, no notebooks in {nb_arg}")
            browser = run("browser tests (`pytest tests/browser`, JupyterLab + Chromium)", "browser",
                          [sys.executable, "-m", "pytest", "-q", "-rs", "tests/browser"])

            def total(label, parts, target_s):
                parts = [r for r in parts if r is not None]
                rec = {
                    "label": label, "kind": "make-test", "command": "make test", "target_s": target_s,
                    "wall_s": round(sum(r["wall_s"] for r in parts), 1),
                    "peak_memory_mb": max((r["peak_memory_mb"] or 0) for r in parts) or None,
                    "exit_code": next((r["exit_code"] for r in parts if r["exit_code"]), 0),
                    "timed_out": any(r["timed_out"] for r in parts),
                }
                rec["result"] = _result(rec)
                items.append(rec)

            total("unit + nbval (`make test` before the browser tests)", (unit, nbval), None)
            total("`make test` (unit + nbval + browser)", (unit, nbval, browser), MAKE_TEST_TARGET_S)

        if args.pretrain:
            run("pretraining (`python scripts/pretrain.py`)", "pretrain",
                [sys.executable, str(ROOT / "scripts" / "pretrain.py"), "--out", tmp / "pretrain"],
                target_s=PRETRAIN_TARGET_S)

    partial = []
    if args.only:
        partial.append(f"--only {args.only}")
    if args.skip_tests:
        partial.append("--skip-tests")
    results = {
        "generated_by": "scripts/benchmark.py",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "arguments": sys.argv[1:] if argv is None else list(argv),
        "partial": " ".join(partial) or None,
        "notebooks": _rel(nb_dir),
        "machine": machine,
        "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "MPLBACKEND", "COURSE_MODE")},
        "items": items,
    }
    missed = [r for r in items if r["result"] == "over"]
    broken = [r for r in items if r["result"] not in ("pass", "over", "ok")]
    results["missed_targets"] = [r["label"] for r in missed]
    results["failed"] = [r["label"] for r in broken]

    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {_rel(args.results)}")

    table = markdown_table(results)
    if update_readme(args.readme, table):
        print(f"updated the benchmark table in {_rel(args.readme)}")
    else:
        print(f"{_rel(args.readme)} has no single '{START_MARK}' ... '{END_MARK}' pair; "
              "left it alone. The table:\n")
        print(table)

    for r in missed:
        print(missed_line(r))
    for r in broken:
        print(f"did not complete: {r['label']}: {r['result']}")
    if not missed and not broken:
        print("all measured items are within their targets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
