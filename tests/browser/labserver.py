"""Start JupyterLab on 127.0.0.1 for the browser tests, on a throwaway copy of the lessons.

The server gets a free port, a random token and its own config, data, runtime, settings and
workspaces folders under a temporary directory, so nothing of the user's JupyterLab is read or
written and the repository's notebooks (with their stored outputs) are never touched.
The course kernel is still found: it is the venv's ``python3`` kernelspec (``sys.prefix``).
"""
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO_ROOT / "notebooks"

# JupyterLab user settings written into the throwaway settings folder.
LAB_SETTINGS = {
    # no "would you like news?" toast and no update check (the machine may be offline)
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    # every cell stays in the page, so its prompt and outputs can be read and scrolled to
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    # no "kernel restarted / select kernel" questions: the notebooks name the venv's python3
    "@jupyterlab/apputils-extension/sessionDialogs": {"skipKernelRestartDialog": True},
}


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_lessons(dest):
    """Copy ``notebooks/*.ipynb`` into ``dest`` with outputs and execution counts cleared."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for src in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(src, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nbformat.write(nb, dest / src.name)
    return dest


def write_lab_settings(settings_dir):
    for plugin, values in LAB_SETTINGS.items():
        path = Path(settings_dir) / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")


class JupyterLabServer:
    """``with JupyterLabServer(tmp) as lab:`` runs ``jupyter lab`` until the block ends (even on error).

    ``lab.url(path)`` is a URL with the token; ``lab.api(path, method)`` calls the REST API.
    """

    def __init__(self, workdir, start_timeout=120):
        self.workdir = Path(workdir)
        self.root = copy_lessons(self.workdir / "notebooks")
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.start_timeout = start_timeout
        self.proc = None
        self.log_path = self.workdir / "jupyterlab.log"

    def _env(self):
        env = dict(os.environ)
        dirs = {name: self.workdir / name.lower() for name in
                ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
                 "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR", "IPYTHONDIR", "MPLCONFIGDIR")}
        for name, path in dirs.items():
            path.mkdir(parents=True, exist_ok=True)
            env[name] = str(path)
        write_lab_settings(dirs["JUPYTERLAB_SETTINGS_DIR"])
        env.pop("JUPYTER_PATH", None)        # the kernelspec comes from sys.prefix (the venv)
        env["OMP_NUM_THREADS"] = env.get("OMP_NUM_THREADS", "2")   # as make nbval / make outputs
        env["COURSE_LAB_CACHE"] = str(self.workdir / "strategy-lab-cache")   # never the learner's own cache
        return env

    def start(self):
        cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
               f"--port={self.port}", "--port-retries=0", f"--IdentityProvider.token={self.token}",
               f"--ServerApp.root_dir={self.root}", "--LabApp.expose_app_in_browser=True",
               "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--ServerApp.open_browser=False"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=self._env(), stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with code {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.api("/api/status")
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.5)
        raise RuntimeError(f"jupyter lab did not answer /api/status within {self.start_timeout}s:\n{self.log_tail()}")

    def stop(self):
        """Terminate the server's process group (kernels included), then kill it if it lingers."""
        if self.proc is None:
            return
        try:
            if self.proc.poll() is None:
                try:   # kernels run in their own sessions: ask the server to shut them down first
                    self.shutdown_kernels()
                except (urllib.error.URLError, OSError, ValueError):
                    pass
                os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=15)
        except ProcessLookupError:
            pass
        finally:
            self._log.close()
            self.proc = None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def url(self, path):
        return f"{self.base}{path}{'&' if '?' in path else '?'}token={self.token}"

    def api(self, path, method="GET"):
        req = urllib.request.Request(self.base + path, method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self):
        """Shut every running kernel down (one lesson's memory is freed before the next starts)."""
        for session in self.api("/api/sessions"):
            self.api(f"/api/sessions/{session['id']}", method="DELETE")
        for kernel in self.api("/api/kernels"):
            self.api(f"/api/kernels/{kernel['id']}", method="DELETE")

    def log_tail(self, n=40):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"
