"""scripts/canary.py (`make canary`): how it chooses versions, and that it never touches .venv or the pins.

Everything here is offline: the registry is a fake index (a JSON file), and the canary only plans
(--plan-only) or prints its commands (--dry-run); nothing is installed or downloaded.
"""
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CANARY = ROOT / "scripts" / "canary.py"
PIN_FILES = ("pyproject.toml", "constraints.txt", "environment.yml")


@pytest.fixture(scope="module")
def canary():
    spec = importlib.util.spec_from_file_location("course_canary", CANARY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_index(pins, torchvision_requires="torch (>=2.14.0)"):
    """Every pinned package one release newer (plus a pre-release that must be skipped); torch as the trap is."""
    data = {}
    for name, version in pins.items():
        major, minor, *rest = version.split(".")
        newer = f"{major}.{int(minor) + 1}.0"
        data[name] = {version: [], newer: [], f"{major}.{int(minor) + 2}.0rc1": []}
    data["torchvision"] = {"0.29.2": [torchvision_requires, "numpy"], "0.28.0": ["torch==2.13.0"],
                           "0.30.0a0": ["torch==2.16.0"]}
    data["torch"] = {"2.15.0": [], "2.14.1": [], "2.14.0": [], "2.13.0+cpu": [], "2.13.0": [], "2.16.0.dev1": []}
    return data


# ----------------------------------------------------------------------------- choosing versions
@pytest.mark.parametrize("requires, expected", [
    (["torch==2.14.1"], "2.14.1"),                                  # an exact pin is taken as is
    (["torch (>=2.14.0)"], "2.14.1"),                               # a range: newest of its lower bound's series
    (["torch>=2.13.0,<2.15"], "2.13.0"),                            # series 2.13; its local +cpu build never chosen
    (["numpy", "torch (>=2.9,!=2.14.1)", "pillow"], None),         # nothing of 2.9 on the index
    (["torch<2.15"], "2.14.1"),                                     # no lower bound: newest the range allows
    (["torch>=2.13.0 ; extra == 'cpu'"], None),                      # only under an extra: names no torch
])
def test_torch_is_the_one_the_newest_torchvision_names(canary, requires, expected):
    available = ["2.15.0", "2.14.1", "2.14.0", "2.13.0+cpu", "2.13.0", "2.16.0rc1"]
    if expected is None:
        with pytest.raises(ValueError):
            canary.torch_for(requires, available)
    else:
        version, why = canary.torch_for(requires, available)
        assert version == expected, why
        assert "torchvision requires torch" in why


def test_releases_skip_prereleases_and_local_builds(canary):
    assert [str(v) for v in canary.releases(["2.13.0+cpu", "2.14.0", "2.15.0rc1", "2.14.1", "junk", "2.14.1"])] \
        == ["2.14.1", "2.14.0"]


def test_plan_takes_newest_of_each_and_pairs_torch_with_torchvision(canary, tmp_path):
    pins = canary.read_pins()
    assert pins["torch"] and pins["torchvision"] and pins["fastai"]
    index_file = tmp_path / "index.json"
    index_file.write_text(json.dumps(fake_index(pins)))
    rows = canary.plan(pins, canary.FakeIndex(index_file))
    assert list(rows) == list(pins), "one row per direct dependency, in pyproject's order (torch first)"
    assert rows["torchvision"]["newest"] == "0.29.2"  # 0.30.0a0 is a pre-release
    assert rows["torch"]["newest"] == "2.14.1", "torch 2.15.0 exists but the newest torchvision names 2.14"
    assert "2.15.0 exists" in rows["torch"]["note"]
    for name, row in rows.items():
        assert row["pinned"] == pins[name]
        if name not in ("torch", "torchvision"):
            major, minor, *_ = pins[name].split(".")
            assert row["newest"] == f"{major}.{int(minor) + 1}.0", (name, row)  # not the rc


def test_plan_with_an_exact_torch_in_torchvisions_metadata(canary, tmp_path):
    pins = canary.read_pins()
    index_file = tmp_path / "index.json"
    index_file.write_text(json.dumps(fake_index(pins, "torch==2.14.0")))
    rows = canary.plan(pins, canary.FakeIndex(index_file))
    assert rows["torch"]["newest"] == "2.14.0"


# ----------------------------------------------------------------------------- nothing touched
def snapshot_venv(venv: Path):
    """Every folder's entries and mtime, and every top-level file's bytes: what any install would change."""
    if not venv.is_dir():
        return None
    seen = {}
    for folder, dirs, files in os.walk(venv):
        p = Path(folder)
        seen[str(p.relative_to(venv))] = (p.stat().st_mtime_ns, sorted(dirs), sorted(files))
    for f in venv.iterdir():
        if f.is_file():
            seen[f.name] = hashlib.sha256(f.read_bytes()).hexdigest()
    return seen


def pin_bytes():
    return {name: (ROOT / name).read_bytes() for name in PIN_FILES}


def test_plan_and_dry_run_leave_venv_and_pins_untouched(canary, tmp_path):
    pins = canary.read_pins()
    index_file = tmp_path / "index.json"
    index_file.write_text(json.dumps(fake_index(pins)))
    work = tmp_path / "canary"
    venvs = {p: snapshot_venv(p) for p in {ROOT / ".venv", Path(sys.prefix)}}
    before = pin_bytes()

    plan = subprocess.run([sys.executable, str(CANARY), "--plan-only", "--fake-index", str(index_file),
                           "--dir", str(work)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert plan.returncode == 0, plan.stderr
    assert "| torch | " in plan.stdout and "| package | pinned | newest |" in plan.stdout
    assert json.loads((work / "plan.json").read_text())["torch"]["newest"] == "2.14.1"

    dry = subprocess.run([sys.executable, str(CANARY), "--dry-run", "--fake-index", str(index_file),
                          "--dir", str(work)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert lines[0].startswith("[venv]") and f"-m venv --clear {work / 'venv'}" in lines[0]
    installs = [ln for ln in lines if ln.startswith("[install]")]
    assert installs and all(f"{work / 'venv' / 'bin' / 'python'} -m pip install" in ln for ln in installs)
    assert any("torch==2.14.1" in ln and "torchvision==0.29.2" in ln for ln in installs)
    for ln in lines:
        assert "constraints.txt" not in ln and " -e " not in ln and str(ROOT / ".venv") not in ln, ln
    assert any(ln.startswith("[unit]") and "nice -n 10" in ln and "--ignore=tests/browser" in ln for ln in lines)
    assert any(ln.startswith("[nbval]") and "--nbval" in ln for ln in lines)
    assert sorted(p.name for p in work.iterdir()) == ["plan.json"], "a dry run builds nothing"

    assert pin_bytes() == before, "the canary changed a pin file"
    for venv, snap in venvs.items():
        assert snapshot_venv(venv) == snap, f"the canary changed {venv}"


@pytest.mark.parametrize("where", [".venv", ".", "..", ".venv/lib"])
def test_refuses_a_folder_overlapping_the_repo_or_venv(canary, where):
    with pytest.raises(SystemExit, match="refusing"):
        canary.check_dir(ROOT / where)


def test_makefile_has_the_canary_target_and_no_deps(canary):
    text = (ROOT / "Makefile").read_text()
    assert "\ncanary:\n\t$(PYTHON) scripts/canary.py" in text
    assert any(line.startswith(".PHONY:") and " canary" in f"{line} " for line in text.splitlines())
    assert canary.no_deps_from_makefile() and all("==" in p for p in canary.no_deps_from_makefile())


# ----------------------------------------------------------------------------- reading the results
JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="tests.test_core" name="test_ok" />
<testcase classname="tests.test_core" name="test_fit"><failure message="TypeError: fit() got an unexpected keyword">
Traceback: /x/venv/lib/python3.11/site-packages/fastai/learner.py:12: in fit
E TypeError: fit() got an unexpected keyword</failure></testcase>
<testcase classname="tests.test_l09" name="test_lora"><error message="ImportError: cannot import name 'X'">
/x/venv/lib/python3.11/site-packages/peft/__init__.py:3
/x/venv/lib/python3.11/site-packages/fastai/torch_core.py:1</error></testcase>
</testsuite></testsuites>
"""


def test_failures_are_read_from_junit_and_attributed_by_traceback(canary, tmp_path):
    xml = tmp_path / "unit.xml"
    xml.write_text(JUNIT)
    fails = canary.failures(xml)
    assert [f["test"] for f in fails] == ["tests/test_core.py::test_fit", "tests/test_l09.py::test_lora"]
    first = canary.attribute(fails, {"fastai": ["fastai"], "peft": ["peft"], "torch": ["torch"]})
    assert first == {"fastai": "tests/test_core.py::test_fit: TypeError: fit() got an unexpected keyword",
                     "peft": "tests/test_l09.py::test_lora: ImportError: cannot import name 'X'"}
    assert canary.failures(tmp_path / "missing.xml") == []
    rows = {"fastai": {"pinned": "2.8.12", "newest": "2.9.0", "note": ""},
            "torch": {"pinned": "2.14.1", "newest": "2.14.1", "note": ""}}
    text = canary.table(rows, first, "unit: tests/test_core.py::test_fit")
    assert "| fastai | 2.8.12 | 2.9.0 | tests/test_core.py::test_fit: TypeError" in text
    assert "| torch | 2.14.1 | 2.14.1 (same) | — |" in text
    assert text.endswith("First failure: unit: tests/test_core.py::test_fit")


def test_failure_message_is_the_real_exception(canary):
    wrapped = ("E   AssertionError: machine: AMD EPYC\nE     Traceback (most recent call last):\n"
               "E       File \"scripts/benchmark.py\", line 485, in main\nE     KeyError: 'target_s'\n"
               "E   assert 1 == 0")
    assert canary.failure_message(wrapped, "AssertionError: machine: AMD EPYC ...") == "KeyError: 'target_s'"
    assert canary.failure_message("E   AssertionError: 0.91 != 0.93\nE   assert False", "") == "AssertionError: 0.91 != 0.93"
    assert canary.failure_message("no exception here", "the message") == "the message"


def test_moved_dependencies_compare_the_freeze_with_constraints(canary):
    freeze = "fastai==2.9.0\nnumpy==2.5.0\nrich==15.0.0\nnewpkg==1.0\n-e git+x#egg=y\n"
    constraints = "numpy==2.4.6\nrich==15.0.0\nfastai==2.8.12\n"
    moved = canary.moved_dependencies(freeze, constraints, {"fastai": {}})
    assert moved == {"numpy": {"pinned": "2.4.6", "newest": "2.5.0", "note": "dependency"},
                     "newpkg": {"pinned": "(none)", "newest": "1.0", "note": "dependency"}}
