# Tchatator: every target bootstraps its own virtual environment (.venv).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-quick demo screenshots clean dist bundles debs image

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## run: start the server on the embedded defaults (.tchatator, SQLite, generated certs and admin key)
run: $(STAMP)
	$(BIN)/tchatator-server --config .tchatator serve

## test: the whole test suite (real server, real TLS, offscreen Qt)
test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -n 2 --dist loadfile

# The "type: ignore" comments in protocol/ and server/ today: never more (type the code instead).
TYPE_IGNORES := 6

## lint: ruff (rules and format), mypy over protocol/ and server/, no new "type: ignore",
## no import cycle and each layer importing only what it may (scripts/check_imports.py)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python scripts/check_imports.py
	@found=$$(cat $$(find protocol server -name '*.py') | grep -c 'type: ignore'); \
	if [ "$$found" -gt $(TYPE_IGNORES) ]; then \
	  echo "$$found 'type: ignore' in protocol/ and server/, at most $(TYPE_IGNORES): type the code instead"; \
	  exit 1; \
	fi

## demo: fill the database of `make run` with demo users and conversations
demo: $(STAMP)
	$(BIN)/tchatator-server --config .tchatator demo

bench: $(STAMP)
	$(BIN)/python -m bench

bench-quick: $(STAMP)
	$(BIN)/python -m bench --quick

## dist: the wheel and the sdist (dist/), for pip/pipx and the container image
dist: $(STAMP)
	$(BIN)/python -m build --outdir dist .

# Where make bundles / make debs put things (the packaging tests point them elsewhere).
BUNDLES ?= dist/bundles
ICONS ?= build/icons
PYI_WORK ?= build/pyinstaller
DEBS ?= dist

## bundles: PyInstaller onedir bundles of tchatator-pro and tchatator-client ($(BUNDLES)/)
bundles: $(STAMP)
	$(BIN)/python packaging/make_icons.py $(ICONS)
	for app in pro client; do \
	  TCHATATOR_ICONS=$(abspath $(ICONS)) $(BIN)/pyinstaller --noconfirm --log-level WARN \
	    --distpath $(BUNDLES) --workpath $(PYI_WORK) packaging/tchatator-$$app.spec || exit 1; \
	done

## debs: a .deb per app from the bundles, installing under /opt ($(DEBS)/)
debs: bundles
	for app in pro client; do packaging/build_deb.sh $$app $(BUNDLES) $(ICONS) $(DEBS) || exit 1; done

# The container image: IMAGE_BASE must be a Debian bookworm image (a registry's
# debian:bookworm-slim, or one made with debootstrap: packaging/README.md).
IMAGE ?= localhost/tchatator:latest
IMAGE_BASE ?= docker.io/library/debian:bookworm-slim
IMAGE_CONTEXT ?= build/image

## image: the server's container image (podman), from a wheelhouse built here
# (async-timeout: redis needs it below Python 3.11.3, and bookworm's python3 is
# 3.11.2, while the Python that builds the wheelhouse may be newer)
image: $(STAMP)
	rm -rf $(IMAGE_CONTEXT) && mkdir -p $(IMAGE_CONTEXT)
	$(BIN)/python -m pip wheel --quiet -w $(IMAGE_CONTEXT)/wheels \
	  -c packaging/constraints-server.txt '.[postgres,scale]' 'async-timeout>=4.0.3'
	cp packaging/container.toml $(IMAGE_CONTEXT)/
	podman build --isolation chroot --format docker --build-arg BASE=$(IMAGE_BASE) \
	  -f packaging/Containerfile -t $(IMAGE) $(IMAGE_CONTEXT)

clean:
	rm -rf $(VENV) build dist *.egg-info
