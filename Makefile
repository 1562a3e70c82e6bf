# The README's two commands are `make run` and `make test`; both set everything up first.
PY      := .venv/bin/python
CONFIG  ?= examples/quickstart.cfg

.PHONY: run test lint format deps bench bench-tcp keywords clean

deps:
	@tools/ensure-venv.sh

run: deps
	$(PY) -m master -c -f $(CONFIG) && $(PY) -m master --show-config -f $(CONFIG)

test: deps
	$(PY) -m pytest -q

lint: deps
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: deps
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

keywords: deps
	$(PY) -m haproxy_py.config.keywords.docgen > docs/KEYWORDS.md

bench: deps
	$(PY) bench/config_check.py

# TCP mode side by side with HAProxy 2.6 and direct (needs wrk, nginx, haproxy; ~5 minutes).
bench-tcp: deps
	$(PY) bench/tcp.py --profile 10 --syscalls 4

clean:
	rm -rf .venv build dist *.egg-info .pytest_cache .ruff_cache .hypothesis bench/out
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
