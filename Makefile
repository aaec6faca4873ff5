# The two commands of README.md: `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv/bin

.PHONY: bootstrap demo test down lint bench-smoke

bootstrap:
	@scripts/bootstrap-host

demo: bootstrap
	$(VENV)/hpchub testbed up
	$(VENV)/hpchub testbed examples

test: bootstrap
	@scripts/bootstrap-host --browser
	$(VENV)/ruff check .
	scripts/run-tests

down:
	$(VENV)/hpchub testbed down

lint:
	$(VENV)/ruff check .

bench-smoke: bootstrap
	$(VENV)/hpchub testbed up
	benchmarks/smoke.sh
