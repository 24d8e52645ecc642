# `make run` and `make test` set up .venv themselves (again whenever pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test install uninstall weights lint clean

run: $(STAMP)
	$(VENV)/bin/mnistpad

# Two processes (pytest-xdist), each with its own window and MNIST, each running whole test files
# (a module-scoped fixture, such as the handwriting sets, is then made once).
test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/python -m pytest -n auto --maxprocesses=2 --dist loadfile

# `mnistpad` on your PATH, offline: a link to .venv/bin/mnistpad (keep this folder; the link
# follows it). BINDIR=/usr/local/bin for everyone, with the rights to write there.
BINDIR ?= $(HOME)/.local/bin

install: $(STAMP)
	mkdir -p $(BINDIR)
	ln -sfn $(abspath $(VENV)/bin/mnistpad) $(BINDIR)/mnistpad
	@case ":$$PATH:" in *":$(BINDIR):"*) echo "mnistpad installed in $(BINDIR)";; \
		*) echo "mnistpad installed in $(BINDIR), which is not on your PATH: add it";; esac

uninstall:
	rm -f $(BINDIR)/mnistpad

# Rebuild the bundled weights with the project's own trainer, then measure them on real
# handwriting (assets/weights/handwriting.json); about 10 minutes on 2 cores.
weights: $(STAMP)
	$(VENV)/bin/mnistpad train --preset deskew --seed 0 --out assets/weights/default.npz
	$(VENV)/bin/mnistpad train --preset mlp-robust --seed 0 --out assets/weights/mlp.npz
	$(VENV)/bin/mnistpad train --preset cnn-robust --seed 0 --out assets/weights/cnn.npz
	$(VENV)/bin/python bench/handwriting.py

lint: $(STAMP)
	$(VENV)/bin/python -m pip install --quiet 'ruff>=0.6'
	$(VENV)/bin/ruff check mnistpad tests bench

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "mnistpad needs Python 3.11 or newer; set PYTHON=/path/to/python3.11"; exit 1; }
	@$(VENV)/bin/python -c '' 2>/dev/null || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) build dist .pytest_cache
