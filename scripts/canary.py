#!/usr/bin/env python3
"""A canary for new releases: the course's tests with the newest versions the registry offers.

Usage:
  python scripts/canary.py                  # what `make canary` runs (downloads a few GB)
  python scripts/canary.py --plan-only      # only choose the versions and print the table
  python scripts/canary.py --dry-run        # choose, then print every command it would run

What it does, all under --dir (default build/canary/, git-ignored, removed by `make clean`):

1. Plan. Reads the direct dependencies from pyproject.toml and asks pip, with the machine's own
   pip configuration, for the newest final release of each (`pip index versions`;
   pre-releases and local builds such as the CPU-only `2.13.0+cpu` wheel are never chosen).
   torch is not chosen on its own: the canary takes the newest torchvision and the torch that
   torchvision's metadata names (`pip install --dry-run --report` reads only the metadata). An
   exact `torch==X` is taken as is; a range such as `torch>=2.14.0` names the series the wheel was
   built against, so the newest torch of that major.minor inside the range is taken (a newer
   torch series can satisfy the range and still fail at import with "operator torchvision::nms
   does not exist").
2. Build a throwaway virtual environment (DIR/venv) with exactly the chosen versions, the Makefile's
   NO_DEPS packages (--no-deps) and nothing from constraints.txt; the course is exported from git
   HEAD into DIR/src (`git archive`), so the working tree is never written to and course_utils
   is found on PYTHONPATH, not installed.
3. Check that torch, torchvision (`torchvision.ops.nms`) and fastai import together, run the unit
   tests (`pytest tests --ignore=tests/browser`, slow tests deselected as in `make unit`, the
   pin-equality checks of tests/test_environment.py deselected since the versions differ by
   design) and the cheapest lessons under nbval, each under `nice`.
4. Print a table (package, pinned, newest, first failure), also written to DIR/table.md and
   DIR/result.json; logs and junit XML are in DIR/logs/.

It never touches .venv or the pin files (pyproject.toml, constraints.txt, environment.yml):
tests/test_canary.py checks that. Exit status: 0 when everything passed with the newest set,
1 when something failed (the table says what), 2 on a usage error.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from packaging.requirements import Requirement
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parents[1]
PIN_FILES = ("pyproject.toml", "constraints.txt", "environment.yml")
DEFAULT_DIR = ROOT / "build" / "canary"
# The cheapest lessons (benchmarks/results.json: ~13 s and ~29 s); lesson 00's version cell is
# nbval-ignore-output, so a new version alone does not fail it.
DEFAULT_LESSONS = ("notebooks/00_setup_and_tour.ipynb", "notebooks/03_freezing_and_layer_groups.ipynb")
# In the newest set the versions differ from the pins on purpose: these checks would always fail.
DESELECT = ("tests/test_environment.py::test_installed_version_matches_pin",)
NBVAL = ("--nbval", "--nbval-sanitize-with", "tests/nbval_sanitize.cfg", "--nbval-current-env")
PAIRED = "torch"      # chosen from its partner's metadata, not on its own
PARTNER = "torchvision"


def canonical(name: str) -> str:
    """PEP 503 name normalisation: Scikit_Learn -> scikit-learn."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(root: Path = ROOT) -> dict[str, str]:
    """{canonical name: pinned version} from pyproject.toml's [project].dependencies."""
    with open(root / "pyproject.toml", "rb") as f:
        deps = tomllib.load(f)["project"]["dependencies"]
    pins = {}
    for line in deps:
        req = Requirement(line)
        spec = list(req.specifier)
        if len(spec) != 1 or spec[0].operator != "==":
            raise SystemExit(f"canary: pyproject.toml: {line!r} is not an exact name==version pin")
        pins[canonical(req.name)] = spec[0].version
    return pins


def releases(versions) -> list[Version]:
    """Final public releases, newest first: no pre/dev releases, no local builds (`+cpu`)."""
    out = []
    for v in versions:
        try:
            ver = Version(str(v))
        except InvalidVersion:
            continue
        if not (ver.is_prerelease or ver.is_devrelease or ver.local):
            out.append(ver)
    return sorted(set(out), reverse=True)


def torch_for(partner_requires: list[str], torch_versions) -> tuple[str, str]:
    """(torch version, why) for a torchvision whose metadata says `partner_requires`.

    `torch==X` -> X. A range -> the newest torch release of the series named by its lower bound
    (`>=2.14.0` -> newest 2.14.x) that the range allows; without a lower bound, the newest the
    range allows.
    """
    reqs = [Requirement(r) for r in partner_requires]
    reqs = [r for r in reqs if canonical(r.name) == PAIRED and (r.marker is None or r.marker.evaluate({"extra": ""}))]
    if not reqs:
        raise ValueError(f"{PARTNER}'s metadata names no {PAIRED} requirement")
    spec = reqs[0].specifier
    text = f"{PAIRED}{spec}" if str(spec) else PAIRED
    exact = [s.version for s in spec if s.operator == "=="]
    if exact:
        return exact[0], f"{PARTNER} requires {text}"
    lows = [Version(s.version) for s in spec if s.operator in (">=", "~=", ">")]
    candidates = [v for v in releases(torch_versions) if spec.contains(v, prereleases=False)]
    if lows:
        series = max(lows).release[:2]
        candidates = [v for v in candidates if v.release[:2] == series]
    if not candidates:
        raise ValueError(f"no {PAIRED} release on the index satisfies {PARTNER}'s {text}")
    series_note = f", newest of the {'.'.join(map(str, candidates[0].release[:2]))} series" if lows else ""
    return str(candidates[0]), f"{PARTNER} requires {text}{series_note}"


# ----------------------------------------------------------------------------- the index
class PipIndex:
    """The registry as pip on this machine sees it (pip.conf's indexes and find-links)."""

    def __init__(self, python: str = sys.executable):
        self.python = python

    def versions(self, name: str) -> list[str]:
        out = subprocess.run([self.python, "-m", "pip", "index", "versions", name], capture_output=True, text=True)
        found = re.search(r"^Available versions: (.*)$", out.stdout, re.M)  # the text form: pip < 24 has no --json
        if out.returncode != 0 or not found:
            raise RuntimeError(f"pip index versions {name} failed: {(out.stderr or out.stdout).strip()[-500:]}")
        return [v.strip() for v in found.group(1).split(",")]

    def requires(self, name: str, version: str) -> list[str]:
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "report.json"
            out = subprocess.run([self.python, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
                                  "--no-deps", "--report", str(report), f"{name}=={version}"],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                raise RuntimeError(f"pip could not read {name}=={version}'s metadata: {out.stderr.strip()[-500:]}")
            items = json.loads(report.read_text())["install"]
        return items[0]["metadata"].get("requires_dist", []) or []


class FakeIndex:
    """An index from a JSON file {name: {version: [requirement, ...]}} (tests; never the network)."""

    def __init__(self, path: Path):
        self.data = {canonical(k): v for k, v in json.loads(Path(path).read_text()).items()}

    def versions(self, name: str) -> list[str]:
        return list(self.data.get(canonical(name), {}))

    def requires(self, name: str, version: str) -> list[str]:
        return self.data[canonical(name)][version]


def plan(pins: dict[str, str], index) -> dict[str, dict]:
    """{package: {pinned, newest, note}}: the newest release of each, torch paired to torchvision."""
    rows = {}
    for name, pinned in pins.items():
        if name == PAIRED and PARTNER in pins:
            continue
        found = releases(index.versions(name))
        if not found:
            raise SystemExit(f"canary: the index offers no release of {name}")
        rows[name] = {"pinned": pinned, "newest": str(found[0]), "note": ""}
    if PAIRED in pins and PARTNER in pins:
        partner = rows[PARTNER]["newest"]
        torch_versions = index.versions(PAIRED)
        torch, why = torch_for(index.requires(PARTNER, partner), torch_versions)
        newest_torch = releases(torch_versions)
        note = why
        if newest_torch and str(newest_torch[0]) != torch:
            note += f"; {PAIRED} {newest_torch[0]} exists but has no {PARTNER} yet"
        rows = {PAIRED: {"pinned": pins[PAIRED], "newest": torch, "note": note}, **rows}
    return rows


# ----------------------------------------------------------------------------- the steps
def no_deps_from_makefile(root: Path = ROOT) -> list[str]:
    """The Makefile's NO_DEPS list (packages installed with --no-deps)."""
    m = re.search(r"^NO_DEPS\s*:?=\s*(.*)$", (root / "Makefile").read_text(), re.M)
    return m.group(1).split() if m else []


def check_dir(path: Path) -> Path:
    """The canary's folder: never .venv, the repo root or anything holding them."""
    path = path.resolve()
    venv = (ROOT / ".venv").resolve()
    if path in (ROOT, venv) or venv.is_relative_to(path) or path.is_relative_to(venv) or ROOT.is_relative_to(path):
        raise SystemExit(f"canary: refusing --dir {path}: it would overlap the repository or .venv")
    return path


def commands(rows: dict, workdir: Path, lessons, no_deps, python: str, nice: int) -> list[tuple[str, list[str], str]]:
    """(step, argv, cwd) for every step after planning; every write goes under workdir."""
    venv, src, logs = workdir / "venv", workdir / "src", workdir / "logs"
    py = str(venv / "bin" / "python")
    pins = [f"{n}=={r['newest']}" for n, r in rows.items()]
    niced = ["nice", "-n", str(nice)] if nice else []
    steps = [
        ("venv", [python, "-m", "venv", "--clear", str(venv)], str(workdir)),
        ("install", [py, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], str(workdir)),
        ("install", [py, "-m", "pip", "install", "--quiet", *pins], str(workdir)),
    ]
    if no_deps:
        steps.append(("install", [py, "-m", "pip", "install", "--quiet", "--no-deps", *no_deps], str(workdir)))
    steps += [
        ("import", [py, "-c", "import torch, torchvision, fastai.vision.all; from torchvision.ops import nms; "
                    "b = torch.tensor([[0., 0, 1, 1], [0, 0, 1, 1]]); nms(b, torch.tensor([1., .5]), .5); "
                    "print('torch', torch.__version__, '| torchvision', torchvision.__version__, '| fastai', fastai.__version__)"],
         str(src)),
        ("unit", [*niced, py, "-m", "pytest", "-q", "tests", "--ignore=tests/browser",
                  *[f"--deselect={d}" for d in DESELECT], f"--junitxml={logs / 'unit.xml'}"], str(src)),
        ("nbval", [*niced, py, "-m", "pytest", "-q", *NBVAL, *lessons, f"--junitxml={logs / 'nbval.xml'}"], str(src)),
    ]
    return steps


def export_head(src: Path) -> None:
    """The committed course (git HEAD) into src: the working tree is only read."""
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", "HEAD"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive.stdout, check=True)


def failures(junit: Path) -> list[dict]:
    """[{test, message, text}] for each failed or erroring test case in a junit XML file, in order."""
    if not junit.exists():
        return []
    out = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        for bad in list(case.findall("failure")) + list(case.findall("error")):
            name = "::".join(p for p in (case.get("classname", "").replace(".", "/") + ".py", case.get("name", "")) if p)
            out.append({"test": name, "message": failure_message(bad.text or "", bad.get("message") or ""),
                        "text": bad.text or ""})
            break
    return out


EXCEPTION_LINE = re.compile(r"^(?:E\s+)?([A-Za-z_][\w.]*(?:Error|Exception|Interrupt)): ?(.*)$")


def failure_message(text: str, fallback: str) -> str:
    """The exception that really failed: the last `SomeError: ...` line of a traceback, an
    AssertionError only when nothing else is there (pytest wraps a subprocess's error in one)."""
    found = [m for m in (EXCEPTION_LINE.match(line.strip()) for line in text.splitlines()) if m]
    other = [m for m in found if m.group(1) != "AssertionError"]
    best = (other or found)[-1] if found else None
    message = f"{best.group(1)}: {best.group(2)}" if best else (fallback or (text.strip().splitlines() or [""])[-1])
    return " ".join(message.split())[:200]


def attribute(fails: list[dict], modules: dict[str, list[str]]) -> dict[str, str]:
    """{package: first failure whose traceback runs through that package's files}."""
    found = {}
    for f in fails:
        for pkg, mods in modules.items():
            if pkg in found:
                continue
            if any(re.search(rf"site-packages/{re.escape(m)}/", f["text"]) for m in mods):
                found[pkg] = f"{f['test']}: {f['message']}"
    return found


def top_modules(py: str, names) -> dict[str, list[str]]:
    """{package: its top-level import names} as installed in the canary's venv."""
    code = ("import json, sys, re\nfrom importlib.metadata import packages_distributions\n"
            "m = {}\nfor mod, dists in packages_distributions().items():\n"
            "    for d in dists: m.setdefault(re.sub(r'[-_.]+', '-', d).lower(), []).append(mod)\n"
            "print(json.dumps(m))")
    out = subprocess.run([py, "-c", code], capture_output=True, text=True)
    try:
        found = json.loads(out.stdout)
    except ValueError:
        found = {}
    return {n: found.get(n, [n.replace("-", "_")]) for n in names}


def moved_dependencies(freeze: str, constraints: str, direct) -> dict[str, dict]:
    """{package: {pinned, newest, note}} for indirect packages whose installed version is not constraints.txt's."""
    pin = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")
    wanted = {canonical(m.group(1)): m.group(2) for m in map(pin.match, constraints.splitlines()) if m}
    moved = {}
    for m in map(pin.match, freeze.splitlines()):
        if not m or canonical(m.group(1)) in direct:
            continue
        name, version = canonical(m.group(1)), m.group(2)
        if wanted.get(name) != version:
            moved[name] = {"pinned": wanted.get(name, "(none)"), "newest": version, "note": "dependency"}
    return moved


def table(rows: dict, first: dict[str, str], overall: str | None) -> str:
    """The markdown table, plus the first failure of the whole run."""
    lines = ["| package | pinned | newest | first failure with the newest set |", "|---|---|---|---|"]
    for name, r in rows.items():
        newest = r["newest"] if r["newest"] != r["pinned"] else f"{r['newest']} (same)"
        if r.get("note"):
            newest += f" ({r['note']})" if r["newest"] != r["pinned"] else f"; {r['note']}"
        lines.append(f"| {name} | {r['pinned']} | {newest} | {first.get(name, '—').replace('|', '/')} |")
    lines.append("")
    lines.append(f"First failure: {overall}" if overall else "First failure: none")
    return "\n".join(lines)


def run_step(step, argv, cwd, env, log: Path) -> tuple[int, float]:
    t0 = time.time()
    with open(log, "ab") as f:
        f.write(f"$ (cd {cwd} && {' '.join(argv)})\n".encode())
        f.flush()
        rc = subprocess.run(argv, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT).returncode
    return rc, time.time() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="where everything is written (default build/canary)")
    ap.add_argument("--plan-only", action="store_true", help="choose the versions, print the table, build nothing")
    ap.add_argument("--dry-run", action="store_true", help="choose the versions and print the commands, run none")
    ap.add_argument("--fake-index", type=Path, help="JSON {name: {version: [requires]}} instead of pip (tests)")
    ap.add_argument("--python", default=os.environ.get("CANARY_PYTHON", "python3"),
                    help="interpreter for the throwaway venv (default python3)")
    ap.add_argument("--lessons", nargs="*", default=list(DEFAULT_LESSONS), help="lessons run under nbval")
    ap.add_argument("--no-deps", nargs="*", default=None, help="packages installed with --no-deps (default: Makefile's NO_DEPS)")
    ap.add_argument("--nice", type=int, default=10, help="niceness of the test steps (0: none)")
    args = ap.parse_args(argv)

    workdir = check_dir(args.dir)
    t0 = time.time()
    index = FakeIndex(args.fake_index) if args.fake_index else PipIndex()
    pins = read_pins()
    rows = plan(pins, index)
    result = {"rows": rows, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "steps": []}
    if args.plan_only:
        print(table(rows, {}, None).rsplit("\n\n", 1)[0])
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "plan.json").write_text(json.dumps(rows, indent=1) + "\n")
        return 0
    no_deps = no_deps_from_makefile() if args.no_deps is None else args.no_deps
    steps = commands(rows, workdir, args.lessons, no_deps, args.python, args.nice)
    if args.dry_run:
        for step, cmd, cwd in steps:
            print(f"[{step}] (cd {cwd} && {' '.join(cmd)})")
        return 0

    logs = workdir / "logs"
    if logs.exists():
        shutil.rmtree(logs)
    logs.mkdir(parents=True)
    export_head(workdir / "src")
    env = dict(os.environ, PYTHONPATH=str(workdir / "src"), OMP_NUM_THREADS="2", PYTHONDONTWRITEBYTECODE="1",
               COURSE_LAB_CACHE=str(workdir / "lab-cache"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("VIRTUAL_ENV", None)
    first, overall, stop = {}, None, False
    py = str(workdir / "venv" / "bin" / "python")
    for step, cmd, cwd in steps:
        if stop:
            break
        if step == "import":  # installed: which indirect packages moved off constraints.txt?
            freeze = subprocess.run([py, "-m", "pip", "freeze"], capture_output=True, text=True).stdout
            known = {**rows, **{canonical(p.split("==")[0]): {} for p in no_deps}}  # NO_DEPS: not in constraints
            moved = moved_dependencies(freeze, (ROOT / "constraints.txt").read_text(), known)
            rows = {**rows, **moved}
            result["dependencies_moved"] = moved
        log = logs / f"{step}.log"
        print(f"canary: {step}: {' '.join(cmd)[:150]} ...", flush=True)
        rc, secs = run_step(step, cmd, cwd, env, log)
        result["steps"].append({"step": step, "rc": rc, "seconds": round(secs, 1)})
        print(f"canary: {step}: exit {rc} after {secs:.0f} s (log: {log.relative_to(workdir)})", flush=True)
        if rc == 0:
            continue
        if step in ("unit", "nbval"):
            fails = failures(logs / f"{step}.xml")
            if fails:
                if overall is None:
                    overall = f"{step}: {fails[0]['test']}: {fails[0]['message']} ({len(fails)} failed in {step})"
                for pkg, what in attribute(fails, top_modules(py, rows)).items():  # direct ones first
                    first.setdefault(pkg, f"{step}: {what}")
                continue
        tail = " ".join(log.read_text(errors="replace").strip().splitlines()[-1:])[:300]
        overall = overall or f"{step} (exit {rc}): {tail}"
        if step in ("venv", "install", "import"):
            stop = True
            if step == "import":
                for pkg in (PAIRED, PARTNER, "fastai"):
                    if pkg in rows:
                        first.setdefault(pkg, f"import: {tail}")
    result.update(rows=rows, first_failure=overall, by_package=first, seconds=round(time.time() - t0))
    took = ", ".join(f"{s['step']} {s['seconds']:.0f} s" for s in result["steps"])
    text = table(rows, first, overall) + f"\n\nTook {result['seconds'] / 60:.0f} min ({took})."
    (workdir / "table.md").write_text(text + "\n")
    (workdir / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    print()
    print(text)
    return 0 if overall is None else 1


if __name__ == "__main__":
    sys.exit(main())
