# The bootcamp's two commands: `make lab` and `make test`. Both create .venv if missing and install the
# project once (a stamp file makes the second run install nothing new).
PYTHON ?= python3
PORT ?= 8888
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test install lint clean-venv

lab: $(STAMP)
	@echo "Starting JupyterLab: open http://localhost:$(PORT)/lab/tree/Start_Here.ipynb$(if $(JUPYTER_TOKEN),?token=$(JUPYTER_TOKEN),) (the token is printed below if you did not set JUPYTER_TOKEN)"
	$(VENV)/bin/jupyter lab --no-browser $(ROOT_FLAG) --port=$(PORT) --ServerApp.port_retries=0 \
		--ServerApp.default_url=/lab/tree/Start_Here.ipynb --notebook-dir=.

# Two test workers share the cores: one math thread each, or PyTorch's threads spin against each other
test: $(STAMP)
	OMP_NUM_THREADS=1 BOOTCAMP_MODE=smoke $(VENV_PYTHON) -m pytest -n 2 --dist loadfile

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

$(VENV_PYTHON):
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 10) <= v <= (3, 12) else "Python 3.10-3.12 is needed, $(PYTHON) is %d.%d: run make PYTHON=python3.11" % v)'
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml constraints.txt | $(VENV_PYTHON)
	$(VENV_PYTHON) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

clean-venv:
	rm -rf $(VENV)
