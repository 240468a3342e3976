"""Fixtures for the browser tests: one JupyterLab server and one Chromium for the session, a page per test.

Both are stopped when the session ends, also after a failure or Ctrl-C. The tests are skipped
(with the reason) only when Debian's Chromium is not installed: ``make browser`` installs it
(``apt-get install chromium``) when it can.
"""
import os
import shutil
from pathlib import Path

import pytest

from labserver import REPO_ROOT, JupyterLabServer

CHROMIUM = Path(os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)   # the page fixture saves a screenshot when a test failed
    return report


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def chromium_path():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's Chromium (as root: apt-get install -y chromium; "
                    "`make browser` does this when run as root)")
    return CHROMIUM


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory, chromium_path, artifacts):
    server = JupyterLabServer(tmp_path_factory.mktemp("jupyterlab"))
    try:
        with server:
            yield server
    finally:
        if server.log_path.exists():
            shutil.copy(server.log_path, artifacts / "jupyterlab.log")


@pytest.fixture(scope="session")
def browser(chromium_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: run make setup")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(chromium_path), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(request, browser, lab_server, artifacts):
    """A fresh browser page; afterwards its kernels are shut down (and a screenshot kept if the test failed)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    try:
        yield pg
    finally:
        try:
            rep = getattr(request.node, "rep_call", None)
            if rep is not None and rep.failed:
                pg.screenshot(path=str(artifacts / f"{request.node.name}-FAILED.png"))
        finally:
            context.close()
            lab_server.shutdown_kernels()
