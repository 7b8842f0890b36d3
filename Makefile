# cxhub: `make run` serves the demo, `make test` runs the whole suite. Nothing else by hand.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
SMTP_PORT ?= 2525
# How browsers, emails and SMS webhooks reach the server: the demo's widget origins, survey links
# and Twilio signatures follow it (HOST 0.0.0.0 listens everywhere and is reached on 127.0.0.1).
PUBLIC_URL ?= http://$(if $(filter 0.0.0.0 ::,$(HOST)),127.0.0.1,$(HOST)):$(PORT)
PYTEST_ARGS ?=
# Seconds a stopping server (SIGTERM, Ctrl+C) gives its sockets to finish the frame in flight and
# close with 1012 (clients reconnect elsewhere and resume), and then as long again to uvicorn for
# the rest: docs/operations.md, "Rolling deploy".
SHUTDOWN_TIMEOUT ?= 10

.PHONY: run install install-dev migrate seed serve test lint format chromium gettext messages translations worker smtp bench fuzz chaos proxy clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check -U pip
	$(PIP) install -q --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed node_modules/.installed

## node_modules: browser libraries (chart.js) from npm, served by Django from node_modules
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

install-dev: $(VENV)/.installed-dev node_modules/.installed

migrate: install
	$(PY) manage.py migrate --noinput -v0

seed: migrate
	PUBLIC_URL=$(PUBLIC_URL) $(PY) manage.py seed_demo
	PUBLIC_URL=$(PUBLIC_URL) $(PY) manage.py seed_metrics_demo

serve: install messages
	$(PY) manage.py collectstatic --noinput -v0
	@echo ""
	@echo "  cxhub is running on $(PUBLIC_URL)/"
	@echo "    start page   $(PUBLIC_URL)/"
	@echo "    widget demo  $(PUBLIC_URL)/demo/"
	@echo "    console      $(PUBLIC_URL)/console/"
	@echo "    admin        $(PUBLIC_URL)/admin/"
	@echo "    API docs     $(PUBLIC_URL)/api/docs/"
	@echo "    health       $(PUBLIC_URL)/healthz"
	@echo "    SMTP in      $(HOST):$(SMTP_PORT)  (email to the demo inboxes: README, Email and SMS)"
	@echo ""
	@echo "  demo logins (password cxhub-demo-2026): supervisor (supervisor + admin), alice, bob (agents)"
	@echo "  another port: make run PORT=8100 SMTP_PORT=2526   (stop with Ctrl+C)"
	@echo "  stopping (Ctrl+C, SIGTERM) closes sockets with 1012 within SHUTDOWN_TIMEOUT=$(SHUTDOWN_TIMEOUT) s (clients resume)"
	@echo ""
	@# The SMTP receiver runs beside uvicorn and hands each mail to the server's hook (so the
	@# console sees it live); it is stopped when the server stops. .run/public-url tells the
	@# commands run beside the server (simulate_sms) where it is. Time-based work (snoozes, survey
	@# delays, retries) runs inside the server in the embedded default (lifespan: cxhub/scheduler.py).
	mkdir -p .run && echo "$(PUBLIC_URL)" > .run/public-url
	PUBLIC_URL=$(PUBLIC_URL) $(PY) manage.py run_smtp --host $(HOST) --port $(SMTP_PORT) --forward $(PUBLIC_URL) & smtp_pid=$$!; \
	trap 'kill $$smtp_pid 2>/dev/null; rm -f .run/public-url' EXIT INT TERM; \
	PUBLIC_URL=$(PUBLIC_URL) SHUTDOWN_TIMEOUT=$(SHUTDOWN_TIMEOUT) $(VENV)/bin/uvicorn cxhub.asgi:application \
	  --host $(HOST) --port $(PORT) --lifespan on --ws cxhub.websocket_protocol:BoundedSendProtocol --ws-per-message-deflate false \
	  --timeout-graceful-shutdown $(SHUTDOWN_TIMEOUT)

## run: create .venv, install, migrate, seed the demo and serve it
run: seed serve

## chromium: Debian's chromium for the browser tests (installed when missing), and a Chinese font
## for its screenshots of the Chinese widget and survey page (Arabic and Cyrillic come with DejaVu)
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@fc-list :lang=zh 2>/dev/null | grep -q . || { \
	  echo "installing Debian's fonts-wqy-microhei (Chinese) for the browser tests' screenshots"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null; }

## proxy: Debian's nginx (installed when missing), the reverse proxy in front of two servers in the
## rolling-deploy test (tests/faults/test_rolling_deploy.py; docs/operations.md)
proxy:
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || { \
	  echo "installing Debian's nginx for the rolling-deploy test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; }

## gettext: Debian's gettext, which compiles (msgfmt) and extracts (xgettext) the translations
gettext:
	@command -v msgfmt >/dev/null 2>&1 && command -v xgettext >/dev/null 2>&1 || { \
	  echo "installing Debian's gettext for the translation catalogues"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext >/dev/null; }

## messages: compile the catalogues of locale/ (docs/i18n.md) into the .mo files Django reads
MO_FILES := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/*.po))
messages: $(MO_FILES)
locale/%.mo: locale/%.po | gettext
	msgfmt --check-format -o $@ $<

## translations: extract new or changed texts into locale/*/LC_MESSAGES/*.po, to translate there
translations: install gettext
	$(PY) manage.py update_translations

## test: install what tests need and run the whole suite
test: install-dev chromium gettext messages
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## worker: a Celery worker and beat (needs REDIS_URL)
worker: install
	$(VENV)/bin/celery -A cxhub worker -B -l info --concurrency 2

## smtp: the local SMTP receiver alone (make run already starts one on $(SMTP_PORT))
smtp: install
	$(PY) manage.py run_smtp --host 127.0.0.1 --port $(SMTP_PORT)

## bench: every benchmark of bench/ (needs PostgreSQL and Redis on 127.0.0.1), table in docs/benchmarks.md
BENCH_ARGS ?=
bench: install-dev
	$(PY) bench/run_all.py $(BENCH_ARGS)

## fuzz: schemathesis over every API operation, 1000 generated requests each (issue #9)
FUZZ_EXAMPLES ?= 1000
FUZZ_REPORT ?= fuzz-report.tsv
fuzz: install-dev
	rm -f $(FUZZ_REPORT)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_REPORT=$(FUZZ_REPORT) $(VENV)/bin/pytest tests/test_fuzz_api.py -q --timeout 0 $(PYTEST_ARGS)
	@column -t -s "$$(printf '\t')" $(FUZZ_REPORT) 2>/dev/null || cat $(FUZZ_REPORT)

## chaos: 200 widget clients for 120 s, random drops, Redis (its own, on a free port) restarted
## mid-run (issue #9). Needs PostgreSQL and Redis URLs; CI runs the same test for 20 s.
CHAOS_CLIENTS ?= 200
CHAOS_SECONDS ?= 120
CHAOS_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/cxhub_chaos
CHAOS_REDIS_URL ?= redis://127.0.0.1:6379/14
chaos: install-dev
	DATABASE_URL=$${DATABASE_URL:-$(CHAOS_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(CHAOS_REDIS_URL)} \
	  TEST_DATABASE_NAME=$${TEST_DATABASE_NAME:-test_cxhub_chaos} CHANNEL_LAYER_PREFIX=chaos CELERY_QUEUE=chaos \
	  CHAOS_CLIENTS=$(CHAOS_CLIENTS) CHAOS_SECONDS=$(CHAOS_SECONDS) \
	  $(VENV)/bin/pytest tests/trust/test_chaos.py -q -s --timeout 0 $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) staticfiles .pytest_cache db.sqlite3* locale/*/LC_MESSAGES/*.mo
