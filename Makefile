# ctown — every install step lives here, so a fresh clone needs only python3.11 and make.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CTOWN_PORT ?= 8000
# One pytest worker per core (2 here); each worker makes its own databases.
TEST_WORKERS ?= $(shell nproc 2>/dev/null || echo 2)
export CTOWN_PORT

.PHONY: install demo test lint bench lock browser clean audit

install: $(STAMP)

# Installs from the hash-pinned lock file; uv is used when present because it is ~10x faster,
# pip otherwise (both read the same lock).
$(STAMP): requirements.lock pyproject.toml
	@command -v $(PY) >/dev/null || { echo "需要 Python 3.11 / Python 3.11 is required ($(PY) not found)"; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@if command -v uv >/dev/null 2>&1; then \
	  uv pip install -q -p $(BIN)/python --require-hashes -r requirements.lock && \
	  uv pip install -q -p $(BIN)/python --no-deps -e . ; \
	else \
	  $(BIN)/python -m pip install -q --upgrade pip && \
	  $(BIN)/pip install -q --require-hashes -r requirements.lock && \
	  $(BIN)/pip install -q --no-deps -e . ; \
	fi
	@$(BIN)/python -c "import ctown" && touch $(STAMP)

# Browser tests use Debian's Chromium (no browser download at run time) and the Noto CJK fonts
# (pages rely on the system's fonts; a screenshot without them shows boxes; the notice board's PDF
# embeds subsets of them). The voice channel speaks through Debian's espeak-ng (offline TTS).
# Installed when we are root and they are missing; without them the tests that need them report
# themselves as skipped.
browser:
	@if { [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/fonts/opentype/noto ] \
	      || ! command -v espeak-ng >/dev/null; } \
	  && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	     fonts-noto-cjk espeak-ng >/dev/null) \
	  || echo "chromium/espeak-ng not installed: the tests that need them will be skipped"; \
	fi

demo: install
	$(BIN)/ctown demo --port $(CTOWN_PORT)

test: install browser
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

bench: install
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy

# Known vulnerabilities of the pinned dependencies: online through the PyPI vulnerability service,
# or without network against an OSV export on media, `make audit OSV=/media/osv` (a folder of OSV
# JSON files or osv.dev's PyPI all.zip; tools/osv_audit.py). Offline it does not run `install`,
# which could reach for the network.
ifdef OSV
audit:
	$(BIN)/python tools/osv_audit.py requirements.lock "$(OSV)"
else
audit: install
	$(BIN)/pip-audit -r requirements.lock --disable-pip --no-deps --strict
endif

# Re-pin dependencies after editing pyproject.toml.
lock:
	uv pip compile pyproject.toml --extra dev -p 3.11 --generate-hashes -o requirements.lock

clean:
	rm -rf $(VENV) var .pytest_cache
