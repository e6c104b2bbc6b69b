# NEXUS developer commands. `make lab` and `make test` are the two README commands.
#
# TORCH_SPEC picks the PyTorch build: the default is the CPU build; for CUDA use e.g.
#   make install TORCH_SPEC="torch==2.13.0" TORCH_INDEX=<your CUDA wheel index URL>
PYTHON      ?= python3
VENV        ?= .venv
TORCH_SPEC  ?= torch==2.13.0
TORCH_INDEX ?=
EXTRAS      ?= all,test
LAB_ARGS    ?=
BIN         := $(abspath $(VENV))/bin
PY          := $(BIN)/python
STAMP       := $(VENV)/.nexus-installed
LABEXT_SRC  := $(shell find labextension/src labextension/schema labextension/style -type f ! -name schema.ts 2>/dev/null) labextension/package.json labextension/openapi.json
ROOT_FLAG   := $(if $(filter 0,$(shell id -u)),--allow-root,)
SUDO        := $(if $(filter 0,$(shell id -u)),,sudo)
SYSTEM_PACKAGES := chromium espeak-ng sox ffmpeg git
# llama-cpp-python compiles llama.cpp for this CPU. Its AMX matrix kernels crash (SIGSEGV) on virtual
# machines that advertise AMX, so x86-64 builds leave them out; `make install LLAMA_CMAKE_ARGS=` keeps them.
AMX_OFF := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
LLAMA_CMAKE_ARGS ?= $(if $(filter x86_64,$(shell uname -m)),-DCMAKE_C_FLAGS="$(AMX_OFF)" -DCMAKE_CXX_FLAGS="$(AMX_OFF)",)

# jlpm (yarn) uses the same package registry npm is configured for.
export YARN_NPM_REGISTRY_SERVER ?= $(shell npm config get registry 2>/dev/null)
NODE_PREFIX := $(abspath $(VENV))/node
export PATH := $(abspath $(BIN)):$(NODE_PREFIX)/node_modules/.bin:$(PATH)


.PHONY: proxy-deps
.PHONY: lab install test lint typecheck test-frontend test-python system-deps wheel clean help docs api-types

help:
	@echo "make lab      set up everything (first run: ~10 min) and open JupyterLab with NEXUS"
	@echo "make test     install test needs and run every test, lint and type check"
	@echo "make install  the set-up part of 'make lab' alone (idempotent)"

lab: install
	$(BIN)/jupyter lab $(ROOT_FLAG) $(LAB_ARGS)

install: $(STAMP) nexus_server_ext/labextension/package.json

$(STAMP): pyproject.toml
	@command -v node >/dev/null || { echo "NEXUS needs Node.js >= 18 to build its JupyterLab extension"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)
	CMAKE_ARGS='$(LLAMA_CMAKE_ARGS)' $(PY) -m pip install -e ".[$(EXTRAS)]"
	$(PY) -m nexus_kernel install --sys-prefix
	touch $@

# Rebuild the frontend when its sources change (the editable install builds it only once).
nexus_server_ext/labextension/package.json: $(LABEXT_SRC) | $(STAMP)
	cd labextension && $(BIN)/jlpm install && $(BIN)/jlpm build
	# Link the built extension into the venv (the editable install copied the one built at install time).
	$(BIN)/jupyter labextension develop --overwrite .
	touch $@

system-deps: proxy-deps
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing system packages:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

# JupyterHub's proxy, kept inside the venv so no global npm install (or root) is needed.
proxy-deps:
	@command -v configurable-http-proxy >/dev/null || npm install --no-save --prefix $(NODE_PREFIX) configurable-http-proxy

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: install
	$(PY) -m mypy

test-frontend: install
	cd labextension && $(BIN)/jlpm test

test-python: install system-deps
	$(PY) -m pytest

test: install system-deps lint typecheck test-frontend test-python

wheel: install
	cd labextension && $(BIN)/jlpm build:prod
	rm -rf dist && $(PY) -m build --wheel --outdir dist .

clean:
	rm -rf $(VENV) dist build labextension/node_modules labextension/lib nexus_server_ext/labextension test-artifacts

docs: install api-types
	$(PY) docs/generate.py

# The server's OpenAPI document, from which every frontend build generates its server types
# (labextension/src/schema.ts, `jlpm build:types`); tests/handlers/test_openapi_types.py fails while it is stale.
api-types: $(STAMP)
	$(PY) labextension/scripts/openapi.py
	if [ -d labextension/node_modules ]; then cd labextension && $(BIN)/jlpm build:types; fi
