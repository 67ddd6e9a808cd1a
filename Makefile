# The two contracts: `make demo` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.graham-installed
# torch 2.13.0 first: that pin takes the CPU build that lies on these machines; a bare
# `torch` requirement would pull several GB of CUDA wheels.
TORCH  ?= torch==2.13.0

.PHONY: demo test lint test-all bench figures clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check $(TORCH)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/graham demo --out runs/demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest -q

test-all: $(STAMP)
	$(PY) -m pytest -q -m ''

# The hot paths, each against its reference in the same process (a few minutes; predict and
# start-up need the demo's bundle: make demo first). The long ones (accuracy, scale, memory,
# audit, contention: tens of minutes to hours) run by hand: benchmarks/README.md says how.
bench: $(STAMP)
	$(PY) benchmarks/bench_mel.py
	$(PY) benchmarks/bench_gnn.py --large 10000
	$(PY) benchmarks/bench_siamese.py
	$(PY) benchmarks/bench_synth.py
	test -d runs/demo/bundle || $(VENV)/bin/graham demo --out runs/demo
	$(PY) benchmarks/bench_predict.py --bundle runs/demo/bundle
	$(PY) benchmarks/bench_startup.py --bundle runs/demo/bundle

figures: $(STAMP)
	$(PY) scripts/plot_synth_genres.py --out docs/synthetic_genres.png
	test -d runs/demo/figures || $(VENV)/bin/graham demo --out runs/demo
	$(PY) scripts/report_overview.py runs/demo --clip metal.00011 --out docs/report_overview.png

clean:
	rm -rf $(VENV) runs .pytest_cache
