# Two commands do all set-up: `make demo` (the main job) and `make test` (the suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The real readers the interop tests load exports with (their other dependencies are in the
# `test` extra; see pyproject.toml for why these two come without theirs).
READERS := "datumaro>=1.13,<1.14" "ultralytics>=8.4,<8.5"
# The sam2 extra's package: built from source against the torch installed before it (hence no
# build isolation, after `.[test,sam]`, with setuptools in the venv: Python 3.12's has none),
# without its optional CUDA extension.
SAM2 := "sam2>=1.1,<1.2"

.PHONY: demo test bench sample-media clean gui-deps screenshots

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,sam]"
	$(PY) -m pip install --quiet --no-deps $(READERS)
	$(PY) -m pip install --quiet "setuptools>=61"
	SAM2_BUILD_CUDA=0 $(PY) -m pip install --quiet --no-build-isolation $(SAM2)
	touch $(STAMP)

## The main job on sample_media/ with the default segmenter: a recorded prompt session segments
## the first frame, permanent drawing carries the objects to the end, COCO export + preview video -> out/demo/
demo: $(STAMP)
	$(PY) -m engine.cli demo --out out/demo

## The GUI tests run the real Tk app on a virtual screen: Xvfb and xdotool (Debian packages).
gui-deps:
	@command -v Xvfb >/dev/null && command -v xdotool >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo -n ); \
	  $$SUDO apt-get install -y -qq xvfb xdotool >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -qq >/dev/null && $$SUDO apt-get install -y -qq xvfb xdotool >/dev/null; } || \
	  echo "warning: could not install xvfb/xdotool; GUI tests will be skipped"; }

## Run the whole test suite: lint (ruff) and type checks (mypy) of engine/ and ui/ first.
test: $(STAMP) gui-deps
	$(VENV)/bin/ruff check engine ui
	$(VENV)/bin/mypy engine ui
	$(PY) -m pytest -q

## Speed benchmarks with ratios against bare baselines (figures go to docs/BENCHMARKS.md).
bench: $(STAMP)
	benchmarks/run.sh

## PNG screenshots of the label editor in its main states -> docs/screenshot_*.png
screenshots: $(STAMP) gui-deps
	$(PY) tools/screenshots.py

## Regenerate sample_media/ (deterministic).
sample-media: $(STAMP)
	$(PY) tools/make_sample_media.py

clean:
	rm -rf out .pytest_cache
