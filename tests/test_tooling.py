"""The notebook tooling: nbval's sanitize file, scripts/run_notebooks.py, scripts/benchmark.py."""
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"
RUN_NOTEBOOKS = ROOT / "scripts" / "run_notebooks.py"
BENCHMARK = ROOT / "scripts" / "benchmark.py"


# ----------------------------------------------------------------------------- sanitize file
def strict_rules(text):
    """(regex, replace) pairs, insisting on the exact layout nbval's parser expects.

    nbval silently skips anything that is not "regex: X" directly followed by "replace: Y"
    (one space after each colon), so a typo would drop a rule without a word.
    """
    rules, pending = [], None
    for n, line in enumerate(text.splitlines(), 1):
        if pending is not None:
            assert re.match(r"^replace: \S", line), f"line {n}: expected 'replace: <text>' after the regex"
            assert not line.endswith((" ", "\t")), f"line {n}: trailing whitespace would become part of the text"
            rules.append((pending, line[len("replace: "):]))
            pending = None
        elif not line.strip() or line.startswith("#"):
            continue
        else:
            assert re.match(r"^regex: \S", line), f"line {n}: neither a comment nor 'regex: <pattern>': {line!r}"
            assert not line.endswith((" ", "\t")), f"line {n}: trailing whitespace would become part of the regex"
            pending = line[len("regex: "):]
    assert pending is None, "the last regex has no replace line"
    return rules


@pytest.fixture(scope="module")
def rules():
    return strict_rules(SANITIZE.read_text(encoding="utf-8"))


def sanitize(s, rules):
    """What nbval does with the file: an ordered dict of patterns, applied one after another."""
    for regex, replace in OrderedDict(rules).items():
        s = re.sub(regex, replace, s)
    return s


def test_sanitize_file_is_strict_regex_replace_pairs(rules):
    from nbval.plugin import get_sanitize_patterns

    raw = SANITIZE.read_bytes()
    assert raw.isascii(), "keep the file ASCII (nbval reads it in the locale's encoding); use \\uXXXX"
    assert rules, "no rules found"
    assert get_sanitize_patterns(raw.decode("ascii")) == rules, "nbval reads different rules from the file"
    regexes = [r for r, _ in rules]
    assert len(set(regexes)) == len(regexes), "a repeated regex would silently replace the earlier rule"
    for regex, _ in rules:
        re.compile(regex)


def fastprogress_bundles():
    """The mime bundles the pinned fastprogress displays: (first frame, last frame) pairs.

    A fresh nbval run only sees the first frame (it ignores update_display_data); the notebook
    stored by run_notebooks.py holds the last one.
    """
    from fasthtml.common import Div
    from fastprogress.fastprogress import html_progress_bar, text2html_table
    from IPython.core.formatters import DisplayFormatter

    fmt = DisplayFormatter()  # what ipykernel uses to build a display's mime bundle (no shell needed)
    first = fmt.format(Div(html_progress_bar(0, 2, "")))[0]
    table = text2html_table([["epoch", "train_loss", "accuracy", "time"], ["0", "0.8128", "0.9120", "00:01"]])
    return [(first, fmt.format(Div(table))[0]), (first, fmt.format(Div())[0])]  # fit, lr_find


def test_fastprogress_bars_and_tables_collapse(rules):
    pytest.importorskip("fastprogress")
    for first, last in fastprogress_bundles():
        assert set(first) == set(last) == {"text/plain", "text/html", "text/markdown"}
        for mime in first:
            assert sanitize(first[mime], rules) == sanitize(last[mime], rules) == "FASTPROGRESS", mime


def test_fastprogress_output_as_stored_in_a_notebook(rules):
    # Copied from a notebook executed with fastai 2.8.12 / fastprogress 1.1.6.
    stored = ('<div><table class="fastprogress"><thead><tr><th>epoch</th><th>train_loss</th>'
              '<th>valid_loss</th><th>accuracy</th><th>time</th></tr></thead><tbody><tr><td>0</td>'
              '<td>0.812827</td><td>0.802053</td><td>0.428571</td><td>00:00</td></tr></tbody></table></div>')
    fresh = '<div><div><progress max="2" value="0"></progress> </div></div>'
    assert sanitize(stored, rules) == sanitize(fresh, rules) == "FASTPROGRESS"
    style = "\n<style>\n    progress { appearance: none; }\n    table.fastprogress { margin: 1em 0; }\n</style>\n"
    assert sanitize(style, rules) == "FASTPROGRESS-STYLE"


@pytest.mark.parametrize("before, after", [
    ("<object object at 0x7f9ca41a7340>", "<object object at 0xADDR>"),
    ("[<matplotlib.lines.Line2D at 0x7fe5c83bdbc0>]", "[<matplotlib.lines.Line2D at 0xADDR>]"),
    ("took 1.23s", "took TIME"),
    ("took 12.3 s", "took TIME"),
    ("CPU times: user 1.44 ms, sys: 271 \u03bcs, total: 1.71 ms\nWall time: 1.72 ms\n",
     "CPU times: user TIME, sys: TIME, total: TIME\nWall time: TIME\n"),
    ("20.1 \u03bcs \u00b1 329 ns per loop (mean \u00b1 std. dev. of 2 runs, 3 loops each)\n", "TIMEIT\n"),
    ("0         0.812827    0.802053    0.428571    00:01\n", "0         0.812827    0.802053    0.428571    MM:SS\n"),
    ("<td>01:07</td>", "<td>MM:SS</td>"),
    ("Total time: 00:03", "Total time: MM:SS"),
    ("/tmp/ipykernel_4255/1653238306.py:1: UserWarning: careful",
     "IPYKERNEL-CELL.py:1: UserWarning: careful"),
    ("/work/main/.venv/lib/python3.11/site-packages/torch/jit/_script.py:1491: FutureWarning",
     "SITE-PACKAGES/torch/jit/_script.py:1491: FutureWarning"),
    ("/opt/conda/envs/finetune-course/lib/python3.11/site-packages/torch/jit/_script.py:1491: FutureWarning",
     "SITE-PACKAGES/torch/jit/_script.py:1491: FutureWarning"),
    ("saved /work/main/notebooks/models/k10.pth", "saved REPO/notebooks/models/k10.pth"),
    ("saved /home/alice/src/finetune-course/notebooks/models/k10.pth", "saved REPO/notebooks/models/k10.pth"),
    ("PosixPath('/work/main/data/backbone.pth')", "PosixPath('REPO/data/backbone.pth')"),
    ("/tmp/tmpugb5vdxg/model.pth", "TMPDIR/model.pth"),
    ("Path('/root/.fastai/data/oxford-iiit-pet')", "Path('~/.fastai/data/oxford-iiit-pet')"),
])
def test_volatile_text_is_replaced(rules, before, after):
    assert sanitize(before, rules) == after


@pytest.mark.parametrize("text", [
    "accuracy 0.912 \u00b1 0.011",
    "10 labels per class: scratch 0.10, fine-tune 0.81 \u00b1 0.02 (3 seeds)\n",
    "fine-tuning beats scratch by more than 30 points: True\n",
    "torch.Size([56, 2])\n",
    "SuggestedLRs(valley=0.03981071710586548)",
    "[0.6620941162109375, 0.5535714030265808]\n",
    "lr_max=slice(1e-05, 0.001), groups: 4, trainable: 2/4\n",
    "k=5: 0.77 | k=10: 0.81 | k=30: 0.97\n",
    "split 80:20, 1797 images, 8x8 pixels, 10 classes\n",
])
def test_lesson_numbers_survive(rules, text):
    assert sanitize(text, rules) == text


# ----------------------------------------------------------------------------- run_notebooks.py
def make_notebook(path, sources, tags=None):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# throwaway")] + [nbformat.v4.new_code_cell(s) for s in sources]
    for i, t in (tags or {}).items():
        nb.cells[i + 1].metadata["tags"] = t
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


def run_script(script, *args, cwd=None):
    return subprocess.run([sys.executable, str(script), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_run_notebooks_inplace_writes_clean_outputs(tmp_path):
    nb_path = make_notebook(tmp_path / "tiny.ipynb", [
        "import os, sys\nx = 6 * 7\nprint(os.getcwd())\nprint(sys.executable)",
        "x",
    ])
    res = run_script(RUN_NOTEBOOKS, "--inplace", nb_path, cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    line = res.stdout.strip().splitlines()[-1]
    assert re.match(r"^ok\s+\d+\.\d s\s+\S*tiny\.ipynb$", line), line

    nb = nbformat.read(str(nb_path), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == [1, 2]
    cwd, exe = code[0].outputs[0]["text"].splitlines()
    assert Path(cwd).resolve() == tmp_path.resolve(), "cells must run in the notebook's folder"
    assert os.path.realpath(exe) == os.path.realpath(sys.executable), "kernel must be this interpreter"
    assert code[1].outputs[0]["data"]["text/plain"] == "42"
    assert all("execution" not in c.metadata for c in nb.cells), "timestamps must be stripped"

    # Nothing left for `nbstripout --keep-output --keep-count` to do.
    from nbstripout import strip_output
    import copy
    before = copy.deepcopy(nb)
    keys = ["metadata.signature", "metadata.widgets", "cell.metadata.collapsed", "cell.metadata.ExecuteTime",
            "cell.metadata.execution", "cell.metadata.heading_collapsed", "cell.metadata.hidden",
            "cell.metadata.scrolled"]
    assert strip_output(nb, keep_output=True, keep_count=True, keep_id=False, extra_keys=keys) == before


def test_run_notebooks_out_dir_and_errors(tmp_path):
    good = make_notebook(tmp_path / "good.ipynb", [
        "print('fine')",
        "raise ValueError('shown on purpose')",
        "print('after')",
    ], tags={1: ["raises-exception"]})
    bad = make_notebook(tmp_path / "bad.ipynb", ["print('start')", "1 / 0", "print('never')"])
    good_before, bad_before = good.read_bytes(), bad.read_bytes()
    out = tmp_path / "out"

    res = run_script(RUN_NOTEBOOKS, "--out", out, good, bad, cwd=ROOT)
    assert res.returncode != 0, "an untagged error must fail the run"
    assert re.search(r"^ok\s.*good\.ipynb$", res.stdout, re.M), res.stdout
    assert re.search(r"^FAILED\s.*bad\.ipynb\s+\(code cell 2: ZeroDivisionError", res.stdout, re.M), res.stdout
    assert good.read_bytes() == good_before and bad.read_bytes() == bad_before, "--out must not touch sources"
    executed = nbformat.read(str(out / "good.ipynb"), as_version=4)
    assert executed.cells[-1].outputs[0]["text"] == "after\n"

    res = run_script(RUN_NOTEBOOKS, "--inplace", bad, cwd=ROOT)
    assert res.returncode != 0
    assert bad.read_bytes() == bad_before, "a failed run must not be written back with --inplace"


def test_stored_fastai_run_passes_nbval_with_the_sanitize_file(tmp_path):
    """End to end: fastai's real progress output, stored by run_notebooks.py, compared by nbval."""
    pytest.importorskip("fastai")
    pytest.importorskip("nbval")
    nb_path = make_notebook(tmp_path / "fit.ipynb", [
        "import warnings; warnings.filterwarnings('ignore', category=FutureWarning)\n"
        "import torch, torch.nn as nn\n"
        "from fastai.data.core import DataLoaders\nfrom fastai.learner import Learner\n"
        "import fastai.callback.schedule  # adds Learner.fit_one_cycle\nfrom fastai.metrics import accuracy\n"
        "from fastai.torch_core import set_seed\n"
        "set_seed(0, reproducible=True)\n"
        "x = torch.randn(96, 4); y = (x[:, 0] > 0).long(); ds = list(zip(x, y))\n"
        "dls = DataLoaders.from_dsets(ds[:64], ds[64:], bs=16, device='cpu', num_workers=0)\n"
        "learn = Learner(dls, nn.Linear(4, 2), loss_func=nn.CrossEntropyLoss(), metrics=accuracy)",
        "learn.fit_one_cycle(1, 1e-2)",
        "with learn.no_bar():\n    acc = float(learn.validate()[1])\n"
        "print(object(), 'accuracy 0.912 \u00b1 0.011', 0 <= acc <= 1)",
    ])
    res = run_script(RUN_NOTEBOOKS, "--inplace", nb_path, cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    stored = nbformat.read(str(nb_path), as_version=4)
    fit_html = [o["data"]["text/html"] for o in stored.cells[2].outputs if "text/html" in o.get("data", {})]
    assert any('class="fastprogress"' in h for h in fit_html), "expected fastai's epoch table in the stored output"

    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
           "--nbval-sanitize-with", str(SANITIZE), "--nbval-current-env", str(nb_path)]
    res = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]


# ----------------------------------------------------------------------------- benchmark.py
def load_benchmark():
    spec = importlib.util.spec_from_file_location("course_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_benchmark_replaces_only_the_marked_block(tmp_path, newline):
    bench = load_benchmark()
    readme = tmp_path / "README.md"
    head = f"# Course{newline}{newline}Intro text.{newline}{newline}{bench.START_MARK}{newline}"
    tail = f"{bench.END_MARK}{newline}{newline}## Troubleshooting{newline}keep me{newline}"
    readme.write_bytes((head + f"old table{newline}" + tail).encode())

    assert bench.update_readme(readme, "| a | b |\n|---|---|")
    text = readme.read_bytes().decode()
    assert text == head + f"| a | b |{newline}|---|---|{newline}" + tail
    assert bench.update_readme(readme, "| a | b |\n|---|---|")
    assert readme.read_bytes().decode() == text, "rewriting the same table must be a no-op"


@pytest.mark.parametrize("content", ["# Course\n\nno markers here\n",
                                     "<!-- benchmark:end -->\nx\n<!-- benchmark:start -->\n",
                                     "<!-- benchmark:start -->\n<!-- benchmark:end -->\n<!-- benchmark:start -->\n"])
def test_benchmark_leaves_readme_without_proper_markers_alone(tmp_path, content):
    bench = load_benchmark()
    readme = tmp_path / "README.md"
    readme.write_text(content, encoding="utf-8")
    assert not bench.update_readme(readme, "| table |")
    assert readme.read_text(encoding="utf-8") == content
    assert not bench.update_readme(tmp_path / "missing.md", "| table |")


def test_benchmark_end_to_end_on_throwaway_notebooks(tmp_path):
    nb_dir = tmp_path / "nbs"
    nb_dir.mkdir()
    make_notebook(nb_dir / "01_quick.ipynb", ["print('hello')"])
    make_notebook(nb_dir / "07_broken.ipynb", ["1 / 0"])
    before = {p.name: p.read_bytes() for p in nb_dir.iterdir()}
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- benchmark:start -->\n<!-- benchmark:end -->\noutro\n", encoding="utf-8")
    results = tmp_path / "results.json"

    res = run_script(BENCHMARK, "--notebooks", nb_dir, "--skip-tests", "--results", results, "--readme", readme,
                     cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr  # a measurement: 0 even when something failed
    assert {p.name: p.read_bytes() for p in nb_dir.iterdir()} == before, "notebooks must not be modified"

    data = json.loads(results.read_text(encoding="utf-8"))
    for key in ("cpu_model", "cpu_count_usable", "torch", "cuda_available"):
        assert key in data["machine"]
    assert data["date"]
    items = {i["label"]: i for i in data["items"]}
    quick, broken = items["lesson `01_quick.ipynb`"], items["lesson `07_broken.ipynb`"]
    assert quick["target_s"] == 120 and quick["result"] == "pass" and quick["wall_s"] > 0
    assert broken["target_s"] == 180 and broken["result"].startswith("failed")
    assert data["failed"] == ["lesson `07_broken.ipynb`"]

    text = readme.read_text(encoding="utf-8")
    assert text.startswith("intro\n<!-- benchmark:start -->\n") and text.endswith("<!-- benchmark:end -->\noutro\n")
    assert "| lesson `01_quick.ipynb` |" in text and "| pass |" in text
    assert "did not complete: lesson `07_broken.ipynb`" in res.stdout


def test_benchmark_reports_a_ratio_as_a_ratio():
    bench = load_benchmark()
    rec = {"label": "fastai ÷ plain", "target_ratio": 1.3, "ratio": 1.19, "wall_s": 0.7, "exit_code": 0}
    assert bench._result(rec) == "pass"
    assert bench._result({**rec, "ratio": 1.4}) == "over"
    table = bench.markdown_table({"machine": {}, "env": {}, "date": "2026-12-04", "items": [{**rec, "result": "pass"}]})
    assert "| fastai ÷ plain | 1.19× | - | ≤ 1.3× | pass |" in table


def test_a_missed_ratio_target_is_reported_as_a_ratio_not_seconds():
    # the fastai-vs-PyTorch row has target_ratio and no target_s: make bench used to crash (KeyError) when it missed
    bench = load_benchmark()
    ratio = {"label": "fastai ÷ plain PyTorch", "ratio": 1.41, "target_ratio": 1.3, "wall_s": 1.5}
    assert bench.missed_line(ratio) == "target missed: fastai ÷ plain PyTorch: ratio 1.41 (target at most 1.3)"
    lesson = {"label": "lesson `x`", "wall_s": 130.0, "target_s": 120}
    assert bench.missed_line(lesson).startswith("target missed: lesson `x` took ")
    assert "(target 120 s)" in bench.missed_line(lesson)
