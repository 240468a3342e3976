"""The quick tier makes no network connection: sockets are blocked while a learner is built and trained."""
import socket

import pytest
from fastai.vision.all import accuracy, vision_learner

from course_utils.backbone import mini_resnet
from course_utils.data import digits_dls
from course_utils.config import seed_everything


class NetworkBlocked(RuntimeError):
    pass


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise NetworkBlocked(f"network access attempted: {args[:2]}")
    for name in ("connect", "connect_ex", "sendto"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_blocker_really_blocks(no_network):
    with pytest.raises(NetworkBlocked):
        socket.create_connection(("127.0.0.1", 9))


def test_quick_tier_trains_offline(no_network):
    seed_everything(0)
    learn = vision_learner(digits_dls(2, seed=0), mini_resnet, metrics=accuracy)
    with learn.no_bar(), learn.no_logging():
        learn.fine_tune(1, base_lr=1e-2)
        loss, acc = learn.validate()
    assert 0 <= acc <= 1
