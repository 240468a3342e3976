"""Reproducibility and offline: the lessons' claims hold on other seeds, with the network blocked.

The slow test (``make repro``; deselected from ``make unit`` by the ``slow`` marker) re-runs each
lesson with ``COURSE_SEEDS=5,6,7,8,9`` in a kernel whose sockets refuse anything but loopback
(``scripts/offline/sitecustomize.py``) and requires every cell tagged ``claim`` to print the same
True/False sequence as the stored notebook. The fast tests check the convention and the blocker.
"""
import socket
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import claims_other_seeds as cos  # noqa: E402

LESSONS = sorted(p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb") if not p.name.startswith("00_"))


def lesson_id(path):
    return path.name.split("_")[0]


# ---------------------------------------------------------------- the convention, checked statically

@pytest.mark.parametrize("lesson", LESSONS, ids=lesson_id)
def test_lesson_takes_seeds_from_lesson_seeds_and_tags_claims(lesson):
    nb = nbformat.read(lesson, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "lesson_seeds()" in code, f"{lesson.name}: take SEEDS from course_utils.seeds.lesson_seeds()"
    assert "[0, 1, 2]" not in code, f"{lesson.name}: a literal seed list; use lesson_seeds()"
    claims = cos.claim_conclusions(nb)
    assert claims, f"{lesson.name}: tag the cells that print checked claims with 'claim'"
    empty = [cell for cell, found in claims.items() if not found]
    assert not empty, f"{lesson.name}: claim cells {empty} print no True/False"


def _nb(*outputs_per_cell, tags=("claim",)):
    cells = []
    for text in outputs_per_cell:
        cell = new_code_cell("print(...)", metadata={"tags": list(tags)})
        cell.outputs = [new_output("stream", name="stdout", text=text)]
        cells.append(cell)
    return new_notebook(cells=cells)


def test_claim_conclusions_read_true_false_in_order():
    nb = _nb("a: True\nb: False  (gap 0.3)\n", "c: True\n")
    assert cos.claim_conclusions(nb) == {1: ["True", "False"], 2: ["True"]}
    assert cos.compare_claims(nb, nb) == []


def test_a_flipped_claim_is_reported_with_its_lines():
    stored, rerun = _nb("a: True\n"), _nb("a: False\n")
    problems = cos.compare_claims(stored, rerun)
    assert problems[0].startswith("code cell 1: stored ['True'], other seeds ['False']")
    assert any("a: False" in line for line in problems)


def test_untagged_cells_are_not_claims():
    assert cos.compare_claims(_nb("a: True\n", tags=()), _nb("a: False\n", tags=())) == [
        "the stored notebook has no cell tagged 'claim'"]


# ---------------------------------------------------------------- the network blocker

BLOCKER_CELLS = [
    """import socket, urllib.request
def blocked(fn):
    try:
        fn()
    except socket.OfflineError as e:
        return True
    return False
print("connect to 8.8.8.8:53 blocked:", blocked(lambda: socket.create_connection(("8.8.8.8", 53), timeout=2)))
print("DNS lookup of pypi.org blocked:", blocked(lambda: socket.getaddrinfo("pypi.org", 443)))
print("UDP to 8.8.8.8 blocked:", blocked(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("8.8.8.8", 53))))""",
    """try:
    urllib.request.urlopen("https://pypi.org/simple/", timeout=2)
    print("urlopen blocked: False")
except OSError as e:
    print("urlopen blocked:", "network access blocked" in str(e))""",
    """server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(1)
client = socket.create_connection(server.getsockname(), timeout=2)
print("loopback still works:", client.getpeername() == server.getsockname())
client.close(); server.close()""",
]


def test_blocker_really_blocks_inside_a_kernel(tmp_path):
    """A notebook run the way the other-seeds test runs lessons cannot reach the network, but loopback works."""
    nb = new_notebook(cells=[new_code_cell(src) for src in BLOCKER_CELLS])
    path = tmp_path / "blocker.ipynb"
    nbformat.write(nb, path)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "run_notebooks.py"), "--out", str(out), str(path)],
                          env=cos.offline_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ran = nbformat.read(out / path.name, as_version=4)
    text = "".join(o.get("text", "") for c in ran.cells for o in c.outputs)
    for line in ("connect to 8.8.8.8:53 blocked: True", "DNS lookup of pypi.org blocked: True",
                 "UDP to 8.8.8.8 blocked: True", "urlopen blocked: True", "loopback still works: True"):
        assert line in text, text


def test_this_process_is_not_blocked():
    """The blocker is only on the re-run's PYTHONPATH, never in the test process itself."""
    assert not hasattr(socket, "OfflineError")


# ---------------------------------------------------------------- the slow part: every lesson on other seeds

@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS, ids=lesson_id)
def test_claims_hold_on_other_seeds_offline(lesson, tmp_path):
    seconds, error, problems = cos.run_other_seeds(lesson, tmp_path, seeds=cos.OTHER_SEEDS)
    assert error is None, f"{lesson.name} did not run with COURSE_SEEDS={cos.OTHER_SEEDS}, offline:\n{error}"
    assert not problems, f"{lesson.name}: claims changed with COURSE_SEEDS={cos.OTHER_SEEDS}:\n" + "\n".join(problems)


@pytest.mark.slow
def test_setup_lesson_runs_offline(tmp_path):
    """Lesson 00 has no claims to compare, but the quick tier includes it: it must run with the network blocked."""
    lesson = ROOT / "notebooks" / "00_setup_and_tour.ipynb"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "run_notebooks.py"), "--out", str(tmp_path), str(lesson)],
                          env=cos.offline_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
