# The bootcamp's two commands: `make lab` and `make test`. Both create .venv if missing and install the
# project once (a stamp file makes the second run install nothing new), with the pip of constraints.txt.
PYTHON ?= python3
PORT ?= 8888
# JupyterLab answers on this machine only; LAB_IP=0.0.0.0 opens it to the network (token still needed)
LAB_IP ?= localhost
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
# GPU=1 installs the GPU set (constraints-gpu.txt: TensorFlow with its CUDA wheels and PyTorch on one
# CUDA 12 stack, Linux x86_64), as the instructor container does; by default, constraints.txt.
CONSTRAINTS := $(if $(GPU),constraints-gpu.txt,constraints.txt)
GPU_EXTRA := $(if $(GPU),"tensorflow[and-cuda]",)
STAMP := $(VENV)/.installed-$(if $(GPU),gpu,cpu)
BROWSER_STAMP := $(VENV)/.installed-browser
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test test-browser test-full gpu-check install lint clean-venv

lab: $(STAMP)
	@$(VENV_PYTHON) -m common lab-settings > /dev/null
	@echo "Starting JupyterLab: open http://localhost:$(PORT)/lab/tree/Start_Here.ipynb$(if $(JUPYTER_TOKEN),?token=$(JUPYTER_TOKEN),) (the token is printed below if you did not set JUPYTER_TOKEN)"
	$(VENV)/bin/jupyter lab --no-browser $(ROOT_FLAG) --ip=$(LAB_IP) --port=$(PORT) --ServerApp.port_retries=0 \
		--ServerApp.default_url=/lab/tree/Start_Here.ipynb --notebook-dir=.

# Two test workers share the cores: one math thread each, or PyTorch's threads spin against each other
test: $(STAMP)
	OMP_NUM_THREADS=1 BOOTCAMP_MODE=smoke $(VENV_PYTHON) -m pytest -n 2 --dist loadfile -m "not browser"

# The learner's path in a real browser: JupyterLab as `make lab` starts it, Start_Here and 06_mnist
# run from the Run menu in headless Chromium (Debian's chromium package; skipped with a hint if it
# is missing), driven by Playwright. Screenshots in runs/browser/.
test-browser: $(BROWSER_STAMP)
	BOOTCAMP_MODE=smoke $(VENV_PYTHON) -m pytest -p no:xdist -m browser tests/test_browser.py

# Every notebook in full mode, one at a time, with the runner of make test (an instructor's check
# before a class; hours on a laptop CPU): a table of times and key results at the end, also written
# to runs/results/notebook_runs-full.md. NOTEBOOKS="a.ipynb b.ipynb" runs only those.
test-full: $(STAMP)
	$(VENV_PYTHON) -m common run-notebooks --mode full $(NOTEBOOKS)

# TensorFlow and PyTorch on the GPU, the LBM roofline, every notebook in smoke mode on the GPU: a
# pass/fail table (on a machine without a GPU it says so, checks what it can and exits non-zero)
gpu-check: $(STAMP)
	$(VENV_PYTHON) -m common doctor --gpu

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

$(VENV_PYTHON):
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 10) <= v <= (3, 12) else "Python 3.10-3.12 is needed, $(PYTHON) is %d.%d: run make PYTHON=python3.11" % v)'
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml $(CONSTRAINTS) | $(VENV_PYTHON)
	$(VENV_PYTHON) -m pip install --quiet -c $(CONSTRAINTS) pip -e ".[dev]" $(GPU_EXTRA)
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

$(BROWSER_STAMP): $(STAMP)
	$(VENV_PYTHON) -m pip install --quiet -c $(CONSTRAINTS) -e ".[dev,browser]"
	touch $(BROWSER_STAMP)

clean-venv:
	rm -rf $(VENV)
