# The two commands of the README: `make run` and `make test`.
PY      := .venv/bin/python
PIP     := .venv/bin/pip
FLASK   := .venv/bin/flask --app app
STAMP   := .venv/.instalado

.PHONY: run test setup db stop bench bench-smoke clean

# The demo refuses a database with other data (it says why): serve it anyway.
run: setup
	-$(FLASK) demo
	@echo "API en http://127.0.0.1:5000  (documentación: http://127.0.0.1:5000/docs)"
	$(PY) app.py

test: setup
	scripts/system-deps.sh
	$(PY) -m pytest -q

setup: $(STAMP) .env db
	$(FLASK) init-db

$(STAMP): requirements.txt requirements-dev.txt
	python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements.txt -r requirements-dev.txt
	touch $(STAMP)

.env:
	scripts/env.sh

# The private server, unless .env points at an existing one.
db: .env
	@if grep -q '^DB_PRIVADA=1' .env; then scripts/mariadb.sh start; fi

# The benchmark (not part of `make test`): 1,000,000 patients, app vs. raw WSGI baseline.
bench: setup
	scripts/system-deps.sh
	$(PY) bench/run.py

# Small data, a few seconds per scenario; also run by `make test` (tests/test_bench_smoke.py).
bench-smoke: setup
	scripts/system-deps.sh
	$(PY) bench/run.py --smoke

stop:
	scripts/mariadb.sh stop

clean: stop
	rm -rf .venv .mariadb
