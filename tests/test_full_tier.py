"""The full tier without the internet: a fake Pets archive served on 127.0.0.1 goes through
fastai's real untar_data / FastDownload code, with every file it writes kept under tmp_path."""
import functools
import http.server
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
from collections import Counter
from pathlib import Path

import fastai.data
import matplotlib
import pytest
import torchvision
from fastai.data.external import fastai_cfg
from PIL import Image

from course_utils.folders import breed_of, full_arch, pets_dls, pets_path

REPO_ROOT = Path(__file__).resolve().parent.parent
BREEDS = ("Abyssinian", "Bengal", "great_pyrenees")  # fastai's Pets names cats Capitalised, dogs lowercase
N_PER_BREED = 7
ARCHIVE = "oxford-iiit-pet.tgz"
CHECKS_FILE = Path(fastai.data.__file__).parent / "download_checks.py"


def jpeg_bytes(shade):
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (shade % 256, 90, 30)).save(buf, format="JPEG")
    return buf.getvalue()


def add_file(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_fake_pets(archive):
    """A tiny stand-in for fastai's Pets archive: oxford-iiit-pet/images/<Breed>_<n>.jpg plus a .mat file."""
    with tarfile.open(archive, "w:gz") as tar:
        for b_i, breed in enumerate(BREEDS):
            for n in range(1, N_PER_BREED + 1):
                add_file(tar, f"oxford-iiit-pet/images/{breed}_{n}.jpg", jpeg_bytes(60 * b_i + 9 * n))
        add_file(tar, "oxford-iiit-pet/images/Abyssinian_100.mat", b"not an image")


class CountingHandler(http.server.SimpleHTTPRequestHandler):
    requests = []

    def do_GET(self):
        CountingHandler.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def pets_url(tmp_path_factory):
    """URL of the fake archive on a local HTTP server (any free port), stopped after the module."""
    root = tmp_path_factory.mktemp("server")
    write_fake_pets(root / ARCHIVE)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(CountingHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{ARCHIVE}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


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


def test_pets_path_downloads_and_extracts_with_fastai(pets_url, fastai_base):
    CountingHandler.requests.clear()
    images = pets_path(url=pets_url, base=fastai_base)
    assert images == fastai_base / "data" / "oxford-iiit-pet" / "images"
    assert len(list(images.glob("*.jpg"))) == len(BREEDS) * N_PER_BREED
    assert (fastai_base / "archive" / ARCHIVE).is_file() and (fastai_base / "config.ini").is_file()
    assert pets_path(url=pets_url, base=fastai_base) == images
    assert CountingHandler.requests == [f"/{ARCHIVE}"]  # the second call reuses the extracted copy


def test_pets_dls_labels_by_breed(pets_url, fastai_base):
    dls = pets_dls(url=pets_url, base=fastai_base, size=32, bs=4)
    assert list(dls.vocab) == sorted(BREEDS)
    xb, yb = dls.one_batch()
    assert xb.shape == (4, 3, 32, 32) and yb.shape == (4,)
    assert dls.train.n + dls.valid.n + len(dls.test_items) == len(BREEDS) * N_PER_BREED


def train_names(dls):
    return tuple(sorted(p.name for p in dls.train_ds.items))


def test_pets_k_per_breed_fixed_validation(pets_url, fastai_base):
    few = {seed: pets_dls(k=2, seed=seed, url=pets_url, base=fastai_base, size=32) for seed in (0, 1)}
    assert Counter(breed_of(p) for p in few[0].train_ds.items) == {b: 2 for b in BREEDS}
    assert train_names(few[0]) != train_names(few[1])
    assert train_names(few[0]) == train_names(pets_dls(k=2, seed=0, url=pets_url, base=fastai_base, size=32))
    assert sorted(few[0].valid_ds.items) == sorted(few[1].valid_ds.items)
    with pytest.raises(ValueError, match=r"labels per class must be a whole number with 1 <= k <= \d+"):
        pets_dls(k=N_PER_BREED, url=pets_url, base=fastai_base)


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
