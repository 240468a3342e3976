"""The course's one tested set of versions is written down in three places; they must agree.

pyproject.toml [project].dependencies   -> what `make setup` installs (pip install -e .)
constraints.txt                          -> pins everything else for that install
environment.yml (pip: section)           -> what conda users install

and the environment running these tests must be that set (torch, torchvision and fastai above
all: a torchvision built against another torch imports, then fails with
"operator torchvision::nms does not exist").
"""
import re
from importlib import metadata
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)$")


def canonical(name: str) -> str:
    """PEP 503 name normalisation: Scikit_Learn -> scikit-learn."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pins(lines, where):
    """{canonical name: version} from requirement strings that must all be exact `==` pins."""
    pins = {}
    for line in lines:
        m = PIN.match(line.strip())
        assert m, f"{where}: {line!r} is not an exact name==version pin"
        name = canonical(m.group(1))
        assert name not in pins, f"{where}: {m.group(1)} is pinned twice"
        pins[name] = m.group(2)
    return pins


def base_version(version: str) -> str:
    """'2.14.1+cu130' -> '2.14.1' (a local build tag is not part of the pinned version)."""
    return version.split("+", 1)[0]


@pytest.fixture(scope="module")
def pyproject_pins():
    with open(ROOT / "pyproject.toml", "rb") as f:
        deps = tomllib.load(f)["project"]["dependencies"]
    return parse_pins(deps, "pyproject.toml [project].dependencies")


@pytest.fixture(scope="module")
def environment_yml():
    return yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))


def pip_section(env):
    lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(lists) == 1, "environment.yml needs exactly one `- pip:` list under dependencies"
    return [str(item) for item in lists[0]]


def test_environment_yml_names_the_env_python_and_pip(environment_yml):
    assert environment_yml["name"] == "finetune-course"
    conda_deps = [d for d in environment_yml["dependencies"] if isinstance(d, str)]
    assert "python=3.11" in conda_deps
    assert any(re.match(r"^pip([<>=]|$)", d) for d in conda_deps), "pip itself must be a conda dependency"


def test_environment_yml_installs_the_course_package(environment_yml):
    options = [item for item in pip_section(environment_yml) if item.startswith("-")]
    assert "-e ." in options, "environment.yml's pip list must include `-e .` (installs course_utils)"
    for opt in options:
        assert opt in ("-e .", "-c constraints.txt"), f"unexpected pip option in environment.yml: {opt!r}"


def test_environment_yml_pins_equal_pyproject(environment_yml, pyproject_pins):
    reqs = [item for item in pip_section(environment_yml) if not item.startswith("-")]
    yml_pins = parse_pins(reqs, "environment.yml pip:")
    missing = sorted(set(pyproject_pins) - set(yml_pins))
    extra = sorted(set(yml_pins) - set(pyproject_pins))
    differ = {n: (pyproject_pins[n], yml_pins[n]) for n in set(yml_pins) & set(pyproject_pins)
              if yml_pins[n] != pyproject_pins[n]}
    assert not missing, f"pinned in pyproject.toml but not in environment.yml: {missing}"
    assert not extra, f"pinned in environment.yml but not in pyproject.toml: {extra}"
    assert not differ, f"versions differ (pyproject.toml, environment.yml): {differ}"


def test_pyproject_pins_agree_with_constraints(pyproject_pins):
    lines = (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
    lines = [ln.split("#", 1)[0].strip() for ln in lines]
    constraints = parse_pins([ln for ln in lines if PIN.match(ln)], "constraints.txt")  # == pins only
    differ = {n: (v, constraints[n]) for n, v in pyproject_pins.items() if n in constraints and constraints[n] != v}
    assert not differ, f"pyproject.toml and constraints.txt pin different versions (pyproject, constraints): {differ}"


@pytest.mark.parametrize("dist", ["torch", "torchvision", "fastai"])
def test_installed_version_matches_pin(dist, pyproject_pins):
    pinned = pyproject_pins[canonical(dist)]
    try:
        installed = metadata.version(dist)
    except metadata.PackageNotFoundError:
        pytest.fail(f"{dist} is not installed; run `make setup`")
    assert base_version(installed) == pinned, (
        f"{dist} {installed} is installed but the course pins {pinned}; "
        "reinstall with `pip install -c constraints.txt -e .` (or `make clean setup`)"
    )


def test_torchvision_ops_work_with_this_torch():
    import torch

    try:
        import torchvision  # noqa: F401
        from torchvision.ops import nms
    except (ImportError, RuntimeError) as e:
        pytest.fail(
            f"torchvision does not load with torch {torch.__version__} ({e}); it was probably built "
            "against another torch. Reinstall both from the pins: pip install -c constraints.txt -e ."
        )
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    keep = nms(boxes, scores, iou_threshold=0.5)  # runs the compiled torchvision::nms operator
    assert keep.tolist() == [0, 2]
