import course_utils  # noqa: F401  (silences fastai's import-time warnings before any test imports it)
import pytest

from course_utils import config


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A private data/ folder holding a copy of the shipped backbone, for tests that damage it."""
    import shutil
    from course_utils import backbone
    for source in backbone.BACKBONES:
        for path in (backbone.weights_path(source), backbone.card_path(source)):
            shutil.copy(path, tmp_path / path.name)
    monkeypatch.setattr(config, "DATA_DIR", tmp_path)
    return tmp_path


# ---- a fake Oxford-IIIT Pets archive on a loopback HTTP server (tests/test_full_tier*.py) --------------------------

PETS_BREEDS = ("Abyssinian", "Bengal", "great_pyrenees")  # fastai's Pets names cats Capitalised, dogs lowercase
PETS_ARCHIVE = "oxford-iiit-pet.tgz"


def _jpeg_bytes(shade, side):
    import io
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (shade % 256, 90, 30)).save(buf, format="JPEG")
    return buf.getvalue()


def write_fake_pets(archive, per_breed, side=16):
    """A tiny stand-in for fastai's Pets archive: oxford-iiit-pet/images/<Breed>_<n>.jpg plus a .mat file."""
    import io
    import tarfile

    def add(tar, name, data):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with tarfile.open(archive, "w:gz") as tar:
        for b_i, breed in enumerate(PETS_BREEDS):
            for n in range(1, per_breed + 1):
                add(tar, f"oxford-iiit-pet/images/{breed}_{n}.jpg", _jpeg_bytes(60 * b_i + 9 * n, side))
        add(tar, "oxford-iiit-pet/images/Abyssinian_100.mat", b"not an image")


@pytest.fixture(scope="module")
def pets_archive(request, tmp_path_factory):
    """The fake archive served on 127.0.0.1 (any free port) for the module; ``url``, ``name``, ``breeds``,
    ``per_breed`` (the module's ``PETS_PER_BREED``, default 7) and the ``requests`` the server answered."""
    import functools
    import http.server
    import threading
    from types import SimpleNamespace

    per_breed = getattr(request.module, "PETS_PER_BREED", 7)
    root = tmp_path_factory.mktemp("server")
    write_fake_pets(root / PETS_ARCHIVE, per_breed)
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_address[1]}/{PETS_ARCHIVE}", name=PETS_ARCHIVE,
                              breeds=PETS_BREEDS, per_breed=per_breed, requests=requests)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
