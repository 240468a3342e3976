"""The full tier's smoke test (``make repro``; marked slow): every lesson top to bottom in ``COURSE_MODE=full``.

No network and no GPU: conftest's fake Pets archive (Pets file names, three breeds) is downloaded from 127.0.0.1
through the full tier's real loading code (``cu.pets_path`` -> fastai's ``untar_data``) into a private
``FASTAI_HOME``, where the lessons' own ``untar_data(URLs.PETS)`` finds it extracted; a resnet34 state dict with
random weights sits where torchvision's cache expects the ImageNet file (``TORCH_HOME`` in a temp folder). The
kernels run with ``COURSE_SMOKE=1`` (``course_utils.config``: two seeds, 32-pixel images, one epoch) and with
every non-loopback connection refused (``scripts/offline``). It checks that each lesson runs and that each cell
tagged ``claim`` prints something; the values are not compared (the images are flat colours, the weights random).
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch
import torchvision

from course_utils.folders import pets_path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import claims_other_seeds as cos  # noqa: E402

PETS_PER_BREED = 90   # lessons ask for up to 50 labels per breed from the 64% of files the fixed splits leave for training
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# Lessons that run exactly as in the quick tier whatever COURSE_MODE says: executing them here would only repeat
# nbval. Each reason is checked by test_same_in_both_tiers below, so a lesson that starts reading the tier is run.
SAME_IN_BOTH = {"08": "sets the quick tier itself (cu.set_mode): digits and the offline ImageNet backbone",
                "09": "reads no tier setting: text and its own transformer",
                "10": "reads no tier setting: the digits"}
TIER_READS = re.compile(r"cu\.tier_|get_mode|tier_settings|\blab\.")


def _code(lesson):
    return "\n".join(c.source for c in nbformat.read(lesson, as_version=4).cells if c.cell_type == "code")


def _param(lesson):
    number = lesson.name.split("_")[0]
    marks = [pytest.mark.skip(reason=f"runs as in the quick tier: {SAME_IN_BOTH[number]}")] if number in SAME_IN_BOTH else []
    return pytest.param(lesson, id=number, marks=marks)


@pytest.fixture(scope="module")
def full_tier_env(pets_archive, tmp_path_factory):
    """Environment variables for the lessons' kernels: full tier, smoke settings, private caches, network blocked."""
    home = tmp_path_factory.mktemp("full_tier")
    images = pets_path(url=pets_archive.url, base=home / "fastai")          # the real download path, on loopback
    assert len(list(images.glob("*.jpg"))) == len(pets_archive.breeds) * PETS_PER_BREED
    weights = torchvision.models.ResNet34_Weights.IMAGENET1K_V1
    checkpoint = home / "torch" / "hub" / "checkpoints" / Path(weights.url).name
    checkpoint.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet34().state_dict(), checkpoint)   # random weights under the ImageNet name
    env = cos.offline_env(env={**os.environ, "COURSE_MODE": "full", "COURSE_SMOKE": "1",
                               "FASTAI_HOME": str(home / "fastai"), "TORCH_HOME": str(home / "torch"),
                               "COURSE_LAB_CACHE": str(home / "lab_cache"), "OMP_NUM_THREADS": "2"})
    env.pop("COURSE_SEEDS")   # the smoke settings choose the seeds
    return env


@pytest.mark.slow
@pytest.mark.parametrize("lesson", [_param(p) for p in LESSONS])
def test_lesson_runs_in_full_mode(lesson, full_tier_env, tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "run_notebooks.py"), "--out", str(tmp_path),
                           str(lesson)], env=full_tier_env, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, f"{lesson.name} failed in full mode:\n" + (proc.stdout + proc.stderr)[-4000:]
    ran = nbformat.read(tmp_path / lesson.name, as_version=4)
    code = [c for c in ran.cells if c.cell_type == "code"]
    claims = [i for i, c in enumerate(code, 1) if cos.CLAIM_TAG in c.metadata.get("tags", [])]
    silent = [i for i in claims if not "".join(cos._text(o) for o in code[i - 1].outputs).strip()]
    assert not silent, f"{lesson.name}: claim cells {silent} printed nothing in full mode"


@pytest.mark.parametrize("number", sorted(SAME_IN_BOTH))
def test_same_in_both_tiers(number):
    """The lessons the smoke test skips really ignore the tier: 08 pins quick before anything reads it, 09 and 10
    never read it."""
    code = _code(next(p for p in LESSONS if p.name.startswith(number + "_")))
    pin = code.find('cu.set_mode("quick")')
    first_read = TIER_READS.search(code)
    if number == "08":
        assert pin >= 0 and (first_read is None or first_read.start() > pin), "lesson 08 must pin the quick tier first"
    else:
        assert first_read is None and "set_mode" not in code, f"lesson {number} reads the tier: run it in the smoke test"


def test_smoke_settings_come_from_config(monkeypatch):
    """COURSE_SMOKE=1 changes only what config returns: two seeds, 32 pixels, one epoch; unset, nothing changes."""
    from course_utils import config
    monkeypatch.setattr(config, "_mode", config._mode)   # restored after the test
    monkeypatch.delenv("COURSE_SEEDS", raising=False)
    monkeypatch.delenv("COURSE_SMOKE", raising=False)
    normal = {mode: (config.set_mode(mode), config.tier_settings())[1] for mode in config.MODES}
    assert config.lesson_seeds() == [0, 1, 2, 3, 4] and normal["full"]["size"] == 224
    monkeypatch.setenv("COURSE_SMOKE", "1")
    for mode in config.MODES:
        config.set_mode(mode)
        assert config.tier_settings() == {**normal[mode], "epochs": 1, "size": 32}
    assert config.lesson_seeds() == [0, 1]
    monkeypatch.setenv("COURSE_SEEDS", "5,6,7")
    assert config.lesson_seeds() == [5, 6, 7]   # an explicit seed list still wins
