# The README's two commands are `make run` and `make test`; both set everything up first.
PY      := .venv/bin/python
CONFIG  ?= examples/quickstart.cfg
MASTER_SOCKET ?= /tmp/haproxy-py-master.sock

.PHONY: run test lint format deps bench bench-tcp bench-http bench-reload keywords clean rpm install

deps:
	@tools/ensure-venv.sh

run: deps
	$(PY) -m master -c -f $(CONFIG)
	@$(PY) tools/demo_servers.py 8081 8082 & demo=$$!; trap 'kill $$demo 2>/dev/null' EXIT; \
	echo "serving $(CONFIG) (Ctrl-C stops it): curl http://127.0.0.1:8080/ ;" \
	     "echo 'show proc' | socat stdio $(MASTER_SOCKET)"; \
	$(PY) -m master -W -S $(MASTER_SOCKET) -f $(CONFIG)

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

bench-http: deps
	$(PY) bench/http.py

bench-reload: deps
	$(PY) bench/reload.py

clean:
	rm -rf .venv build dist *.egg-info .pytest_cache .ruff_cache .hypothesis bench/out
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# The binary RPM (build/rpm/RPMS/<arch>/): gathers the wheels, then rpmbuild -bb offline
# (needs rpmbuild, /usr/bin/python3.11 with its headers, the libcap headers; network for pip).
rpm:
	packaging/rpm/build-rpm.sh

# Installs haproxy-py in a venv under $(DESTDIR)$(PREFIX)/lib/haproxy-py, the command in
# $(PREFIX)/sbin, the unit, sysconfig, logrotate and rsyslog files and the default
# configuration (kept if present) under $(DESTDIR); the unit in $(UNITDIR). Run again to
# upgrade. Needs PyPI (pip) for the dependencies.
PREFIX  ?= /usr/local
DESTDIR ?=
UNITDIR ?= /etc/systemd/system
install:
	UNITDIR="$(UNITDIR)" packaging/install.sh "$(DESTDIR)" "$(PREFIX)"
