# sightd developer targets. `make serve` and `make test` set up .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
JS_DIR := tests/e2e/js
# The agent frameworks (pydantic-ai, LangChain, LiteLLM) need google-genai<3: their own venv,
# over the main one (tests/frameworks/setup_venv.sh). FRAMEWORK_RUNS seeded calls per test
# and model family (issue 8 measures 100; CI runs fewer to stay fast).
FW_VENV ?= .venv-frameworks
FW_PY := $(FW_VENV)/bin/python
FW_STAMP := $(FW_VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
FRAMEWORK_RUNS ?= 10

.PHONY: install serve test test-fast test-engines upstreams frameworks lint typecheck check bench tiny clean system-test-deps

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch==2.13.0 resolves to the CPU build on this kind of machine; a CUDA machine may
	# install its own torch first, and the `transformers` extra then accepts it.
	$(PY) -m pip show -q torch >/dev/null 2>&1 || $(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[transformers,video,spatial,postgres,youtube,dev]'
	# The `json` extra without triton (GPU kernels CPU decoding never imports); xgrammar's
	# other runtime needs (torch, transformers, pydantic, numpy) are installed above.
	$(PY) -m pip install -q --no-deps 'xgrammar>=0.2.8' 'apache-tvm-ffi>=0.1.11'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

$(JS_DIR)/node_modules/.stamp: $(JS_DIR)/package.json
	cd $(JS_DIR) && npm install --no-audit --no-fund --loglevel=error
	touch $@

serve: install
	$(VENV)/bin/sightd serve $(ARGS)

# Debian's flite speaks the sentences the speech tests transcribe (pocketsphinx hears its `slt`
# voice well). Installed when missing and we may (root, apt); otherwise those tests skip.
system-test-deps:
	@command -v flite >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && (apt-get update -qq && apt-get install -y -qq flite >/dev/null) ; } \
	  || echo "note: flite is not installed; speech tests will be skipped"
	@# Debian's headless Chromium drives the playground's browser tests (tests/web) through
	@# Playwright; nothing downloads a browser. Without it those tests skip.
	@test -x /usr/bin/chromium || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) ; } \
	  || echo "note: chromium is not installed; browser tests will be skipped"
	@# Debian's Firefox ESR runs a subset of them over WebDriver BiDi (no geckodriver, no download).
	@test -x /usr/bin/firefox-esr || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && (apt-get update -qq && apt-get install -y -qq firefox-esr >/dev/null) ; } \
	  || echo "note: firefox-esr is not installed; Firefox browser tests will be skipped"

# The upstream servers tests/engines runs sightd in front of, built once into
# ~/.cache/sightd-test: `transformers serve` in its own venv (torch 2.14.1 + torchvision,
# ~2 min from local wheels) and llama.cpp's llama-server from the llama-cpp-python sdist's
# vendored sources (~6-8 min on 2 cores). Both are reused by later runs.
upstreams: install
	bash tests/engines/setup_transformers_serve.sh >/dev/null
	PYTHON=$(PY) bash tests/engines/build_llama_server.sh >/dev/null

$(FW_STAMP): $(STAMP)
	rm -rf $(FW_VENV)
	bash tests/frameworks/setup_venv.sh $(PY) $(FW_VENV)
	touch $@

frameworks: install $(FW_STAMP)

test: install system-test-deps upstreams frameworks $(JS_DIR)/node_modules/.stamp
	$(PY) -m pytest -q --ignore=tests/frameworks $(ARGS)
	SIGHTD_FRAMEWORK_RUNS=$(FRAMEWORK_RUNS) $(FW_PY) -m pytest -q -p no:cacheprovider tests/frameworks

test-engines: install upstreams $(JS_DIR)/node_modules/.stamp
	$(PY) -m pytest -q tests/engines $(ARGS)

test-fast: install
	$(PY) -m pytest -q -m "not slow" --ignore=tests/engines $(ARGS)

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: install
	$(VENV)/bin/mypy

check: lint typecheck test

bench: install upstreams
	$(PY) bench/upload_rss.py
	$(PY) bench/video_sampling.py
	$(PY) bench/video_reuse.py
	$(PY) bench/engine_overhead.py
	$(PY) bench/web_first_load.py
	$(PY) bench/function_call.py
	$(PY) bench/engine.py --quick
	$(PY) bench/load.py

tiny: install
	$(VENV)/bin/sightd models tiny data/tiny-qwen3-vl

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(JS_DIR)/node_modules
