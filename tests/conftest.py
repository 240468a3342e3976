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
