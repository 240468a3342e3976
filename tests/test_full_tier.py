"""The full tier without the internet: a fake Pets archive served on 127.0.0.1 goes through
fastai's real untar_data / FastDownload code, with every file it writes kept under tmp_path."""
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import fastai.data
import matplotlib
import pytest
import torchvision
from fastai.data.external import fastai_cfg

from course_utils.folders import breed_of, full_arch, pets_dls, pets_path

REPO_ROOT = Path(__file__).resolve().parent.parent
CHECKS_FILE = Path(fastai.data.__file__).parent / "download_checks.py"
# The fake archive and its loopback server are conftest's ``pets_archive`` fixture (the full tier's smoke test uses them too).


@pytest.fixture
def pets_url(pets_archive):
    return pets_archive.url


@pytest.fixture
def fastai_base(tmp_path, monkeypatch):
    """A ``base`` for untar_data; fails the test if fastai writes to $HOME, $FASTAI_HOME, the temp dir or its checksum table."""
    home, fastai_home, tmp = tmp_path / "home", tmp_path / "fastai_home", tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("FASTAI_HOME", str(fastai_home))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))  # untar_dir stages the extraction in a TemporaryDirectory
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    fastai_cfg.cache_clear()  # fastai_cfg caches $FASTAI_HOME on first use
    checks_before = CHECKS_FILE.read_bytes()
    yield tmp_path / "fastai"
    fastai_cfg.cache_clear()
    assert not home.exists() and not fastai_home.exists()
    assert list(tmp.iterdir()) == []
    assert CHECKS_FILE.read_bytes() == checks_before


def test_pets_path_downloads_and_extracts_with_fastai(pets_archive, fastai_base):
    pets_archive.requests.clear()
    images = pets_path(url=pets_archive.url, base=fastai_base)
    assert images == fastai_base / "data" / "oxford-iiit-pet" / "images"
    assert len(list(images.glob("*.jpg"))) == len(pets_archive.breeds) * pets_archive.per_breed
    assert (fastai_base / "archive" / pets_archive.name).is_file() and (fastai_base / "config.ini").is_file()
    assert pets_path(url=pets_archive.url, base=fastai_base) == images
    assert pets_archive.requests == [f"/{pets_archive.name}"]  # the second call reuses the extracted copy


def test_pets_dls_labels_by_breed(pets_archive, fastai_base):
    dls = pets_dls(url=pets_archive.url, base=fastai_base, size=32, bs=4)
    assert list(dls.vocab) == sorted(pets_archive.breeds)
    xb, yb = dls.one_batch()
    assert xb.shape == (4, 3, 32, 32) and yb.shape == (4,)
    assert dls.train.n + dls.valid.n + len(dls.test_items) == len(pets_archive.breeds) * pets_archive.per_breed


def train_names(dls):
    return tuple(sorted(p.name for p in dls.train_ds.items))


def test_pets_k_per_breed_fixed_validation(pets_archive, pets_url, fastai_base):
    few = {seed: pets_dls(k=2, seed=seed, url=pets_url, base=fastai_base, size=32) for seed in (0, 1)}
    assert Counter(breed_of(p) for p in few[0].train_ds.items) == {b: 2 for b in pets_archive.breeds}
    assert train_names(few[0]) != train_names(few[1])
    assert train_names(few[0]) == train_names(pets_dls(k=2, seed=0, url=pets_url, base=fastai_base, size=32))
    assert sorted(few[0].valid_ds.items) == sorted(few[1].valid_ds.items)
    with pytest.raises(ValueError, match=r"labels per class must be a whole number with 1 <= k <= \d+"):
        pets_dls(k=pets_archive.per_breed, url=pets_url, base=fastai_base)


@pytest.mark.parametrize("name, breed", [("Bengal_12.jpg", "Bengal"), ("great_pyrenees_173.jpg", "great_pyrenees")])
def test_breed_from_file_name(name, breed):
    assert breed_of(Path("images") / name) == breed


def test_unexpected_file_name_is_reported():
    with pytest.raises(ValueError, match="'Bengal.jpg' is not a Pets file name"):
        breed_of("Bengal.jpg")


def test_full_arch_is_torchvision_resnet34():
    assert full_arch() is torchvision.models.resnet34


NO_NETWORK_IMPORT = """
import socket
def refuse(*args, **kwargs):
    raise RuntimeError("network used during import")
socket.socket.connect = socket.socket.connect_ex = refuse
socket.create_connection = socket.getaddrinfo = refuse
import course_utils, course_utils.folders
"""


def test_modules_import_without_network_or_downloads(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path / "home"), "FASTAI_HOME": str(tmp_path / "fastai_home"),
           "TORCH_HOME": str(tmp_path / "torch_home"), "MPLCONFIGDIR": matplotlib.get_cachedir(),  # reuse the font cache
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", NO_NETWORK_IMPORT], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "home" / ".fastai").exists() and not (tmp_path / "fastai_home").exists()
    assert not (tmp_path / "torch_home").exists()
