# Two commands do all set-up: `make demo` (the main job) and `make test` (the suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench sample-media clean gui-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

## Segment the bundled sample media with the default (weight-free) segmenter: out/demo/
demo: $(STAMP)
	$(PY) -m engine.cli demo --out out/demo

## The GUI tests run the real Tk app on a virtual screen: Xvfb and xdotool (Debian packages).
gui-deps:
	@command -v Xvfb >/dev/null && command -v xdotool >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo -n ); \
	  $$SUDO apt-get install -y -qq xvfb xdotool >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -qq >/dev/null && $$SUDO apt-get install -y -qq xvfb xdotool >/dev/null; } || \
	  echo "warning: could not install xvfb/xdotool; GUI tests will be skipped"; }

## Run the whole test suite.
test: $(STAMP) gui-deps
	$(PY) -m pytest -q

## Speed benchmarks with ratios against bare baselines (figures go to docs/BENCHMARKS.md).
bench: $(STAMP)
	benchmarks/run.sh

## Regenerate sample_media/ (deterministic).
sample-media: $(STAMP)
	$(PY) tools/make_sample_media.py

clean:
	rm -rf out .pytest_cache
