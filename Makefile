# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make run   - venv, pinned requirements, model folder, index; then the app on http://127.0.0.1:7860
#   make test  - the same set-up, then the whole test suite, eval included
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup index eval lint browser clean

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PY) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PY) not found)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

setup: $(STAMP)

index: setup
	$(BIN)/python -m qa index

run: index
	$(BIN)/python app.py

browser:
	@# Debian's chromium for the browser test, and CJK fonts so Chinese is not drawn as boxes.
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "noto.*cjk"; then \
	  apt-get install -y -q chromium fonts-noto-cjk >/dev/null 2>&1 || \
	  (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium fonts-noto-cjk >/dev/null 2>&1) || \
	  echo "WARNING: ******** chromium could not be installed: the browser test will be SKIPPED ********"; \
	fi

test: index browser
	$(BIN)/ruff check qa eval tests app.py
	$(BIN)/python -m pytest -q --durations=15
	$(BIN)/python -m qa eval --check --report test-output/eval.json
	$(BIN)/python -m eval.bench_cmrc --sample 7 --check --report test-output/cmrc.json

eval: index
	$(BIN)/python -m qa eval

lint: setup
	$(BIN)/ruff check qa eval tests app.py

clean:
	rm -rf $(VENV) .cache index/v-* index/CURRENT
