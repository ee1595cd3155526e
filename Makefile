# gitops-compose. Two commands on a fresh machine: `make demo` runs the main job,
# `make test` runs every test (the e2e ones against a real Docker engine it starts, those of
# contrib/ against Debian's prometheus it installs, those of secrets with Debian's age).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: test lint docs engine engine-stop

# A stamp, so the venv is rebuilt when the dependencies change and not otherwise.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python >= 3.11 is needed" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

# The e2e tests need a real engine: start one when none answers and this machine lets us
# install (root with apt); elsewhere they skip, or fail under GITOPS_E2E=require.
# The suite runs on PYTEST_WORKERS pytest-xdist workers (0: in one process). The e2e tests
# mostly wait on Docker, so three pay on two cores. --dist loadgroup hands out tests one by
# one, so a long file does not hold one worker at the end, except the groups that must stay
# on one worker (GROUPS in tests/conftest.py): the conformance cases, which one session fixture traces all
# at once, once per run and not once per worker; tests/test_pyz.py; the Swarm tests, so the
# Swarm is made and left once. The e2e tests never share a Compose project (World.name).
# The Swarm tests run among the others: the engine is a Swarm manager while they run
# (tests/e2e/test_swarm.py makes it one and leaves it), which Compose projects do not see.
# Tests marked engine_wide (the one that needs the engine in no Swarm) run after the others,
# in one process, so no other test runs meanwhile; exit 5 (nothing selected, say for
# PYTEST_ARGS=tests/core) is no failure there.
PYTEST_WORKERS ?= 3

test: $(VENV)/.installed
	@scripts/engine.sh check 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then scripts/engine.sh ensure; \
	  else echo "no Docker engine and no root/apt: e2e tests will skip"; fi; }
	@scripts/prometheus.sh check 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then scripts/prometheus.sh ensure; \
	  else echo "no prometheus/promtool and no root/apt: the tests of contrib/ will skip"; fi; }
	@scripts/chromium.sh check 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then scripts/chromium.sh ensure; \
	  else echo "no chromium and no root/apt: the browser tests of the status page will skip"; fi; }
	@scripts/sops.sh check 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then scripts/sops.sh ensure; \
	  else echo "no age/sops and no root/apt: the tests of SOPS-encrypted files will skip"; fi; }
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup -m "not engine_wide" $(PYTEST_ARGS)
	$(BIN)/pytest -p no:xdist -m engine_wide $(PYTEST_ARGS) || [ $$? = 5 ]

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy gitops_compose build_zipapp.py build_pyz pyz_boot tests bench

# docs: the documentation site (docs/, mkdocs.yml) into site/, with MkDocs and the Material
# theme from the venv. --strict: a broken link or anchor, or a page missing from the nav,
# fails the build. tests/test_docs.py holds the reference pages to the code.
docs: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# check-rules: the alerting rules of contrib/prometheus through Debian's promtool (installed
# by scripts/prometheus.sh): `check rules`, then the unit tests of alerts_test.yml.
.PHONY: check-rules
check-rules:
	scripts/prometheus.sh ensure
	promtool check rules contrib/prometheus/alerts.yml contrib/prometheus/alerts-notifications.yml
	cd contrib/prometheus && promtool test rules alerts_test.yml

# engine / engine-stop: a real Docker engine (dockerd, Compose v2, registry on
# 127.0.0.1:5000, test images) for the e2e tests; see scripts/engine.sh.
engine:
	scripts/engine.sh ensure

engine-stop:
	scripts/engine.sh stop

# pyz / bench-startup: the single-file zipapp dist/gitops.pyz (see build_pyz/) and its
# warm start time against plain imports in .venv (see bench/startup.py).
# The build itself needs only Python >= 3.11 with pip; the venv also serves the benchmark.
.PHONY: pyz bench-startup
PYZ_PYTHON ?= .venv/bin/python

pyz: $(VENV)/.installed
	$(PYZ_PYTHON) build_zipapp.py

bench-startup: pyz
	$(PYZ_PYTHON) bench/startup.py

# demo / demo-clean: the main job on an embedded default (see scripts/demo.sh): a throwaway
# origin made from examples/, the host's clone, `python dist/gitops.pyz --once`, a pushed
# change and a second run, on the local engine. demo-clean removes what the demo created
# (containers, networks, volumes, repositories, local image tags) and nothing else.
# GITOPS_DEMO_DIR (default /tmp/gitops-compose-demo) and PYTHON are passed through.
.PHONY: demo demo-clean

demo: pyz
	PYTHON=$(PYTHON) scripts/demo.sh demo

demo-clean:
	scripts/demo.sh clean

# bench-plan: how long the core takes to find the stacks of a commit (cold and warm parse
# cache) and to plan, for 1,000 and 10,000 stacks (see bench/plan.py); the goal is plan()
# under 100 ms for 10,000 stacks.
# bench-idle: a check with nothing to do on 50 deployed stacks against its I/O floor, in the
# venv and in gitops.pyz (see bench/idle.py); bench-jobs: 50 changed stacks with --jobs 1, 2,
# 4 and 8 against a sequential `docker compose up` loop (see bench/jobs.py). Both use the
# real engine, as `make test` does. BENCH_AGAINST=DIR also times a checkout of another
# revision (git worktree add DIR REV) in the same run.
# bench-scrape: 32 concurrent clients on /metrics and /status of the daemon's HTTP server
# (the real serve(), 50 stacks), beside the same server with Python's default listen backlog
# of 5, then /metrics while 32 clients reload the status page (see bench/scrape.py); the
# goal is a p99 under 100 ms. No engine needed.
# bench-parse: the parse time of a first check on 1,000 stacks, with libyaml (the venv) and
# with the pure-Python parser (gitops.pyz), PyYAML's loader beside compose_yaml in the same run
# (see bench/parse.py); compose_yaml must not be slower on the pure path.
# bench-webhook: push -> signed webhook -> new container running, for a one-service stack
# with the daemon on --interval 3600, beside what polling costs (see bench/webhook.py); the
# goal is under 2 s. Real engine.
# bench-images: an image check of 50 stacks on 3 tags whose digests did not change, its
# time against an idle check and its registry requests counted at the registry (see
# bench/images.py).
# `bench` runs every benchmark.
.PHONY: bench bench-plan bench-parse bench-idle bench-jobs bench-scrape bench-webhook bench-images
BENCH_AGAINST ?=
AGAINST := $(if $(BENCH_AGAINST),--against $(BENCH_AGAINST),)

bench: bench-plan bench-parse bench-startup bench-idle bench-jobs bench-scrape bench-webhook bench-images

bench-plan: $(VENV)/.installed
	$(BIN)/python bench/plan.py

bench-parse: $(VENV)/.installed
	$(BIN)/python bench/parse.py

bench-idle: pyz engine
	$(BIN)/python bench/idle.py $(AGAINST)

bench-jobs: $(VENV)/.installed engine
	$(BIN)/python bench/jobs.py $(AGAINST)

bench-scrape: $(VENV)/.installed
	$(BIN)/python bench/scrape.py

bench-webhook: $(VENV)/.installed engine
	$(BIN)/python bench/webhook.py

bench-images: $(VENV)/.installed engine
	$(BIN)/python bench/images.py
