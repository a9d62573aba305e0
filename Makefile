# Trusted Data Space operator. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HUB_DIR ?= $(CURDIR)/.hub
# `make test` runs e2e on a second hub, beside the integration tier on the first.
E2E_HUB_DIR ?= $(CURDIR)/.hub-e2e
export KUBECONFIG ?= $(HUB_DIR)/kubeconfig
PYTEST := $(BIN)/python -m pytest
PYTEST_FLAGS ?=

##@ General
.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} \
	  /^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2 } \
	  /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development
# A stamp, not $(BIN)/python: that is a symlink, and touching it touches the interpreter it points
# at, which every virtualenv on the machine shares, so a changed lock file went unnoticed.
# The kubectl plugin is a distribution of its own (plugin/); the venv installs it beside the
# operator, which verifies its ledgers with the plugin's code (as the operator's image does).
$(VENV)/.installed: requirements.lock pyproject.toml plugin/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip install --quiet --no-deps -e ./plugin
	touch $(VENV)/.installed

.PHONY: venv
venv: $(VENV)/.installed ## Create the Python virtualenv from the lock file.

.PHONY: lock
lock: ## Re-resolve requirements.lock from pyproject.toml (needs network access to PyPI).
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv && .lockenv/bin/pip install --quiet '.[dev]'
	.lockenv/bin/pip freeze --exclude tds-operator --exclude kubectl-tds | LC_ALL=C sort > requirements.lock
	rm -rf .lockenv

.PHONY: lint
lint: venv ## Ruff lint (complexity included) and format check, size limits, mypy --strict, import layering, shellcheck of hack/, the docs site built strict.
	$(BIN)/ruff check .
	$(BIN)/python hack/check_size.py operator/tds_operator
	$(BIN)/python hack/check_size.py plugin/kubectl_tds
	$(BIN)/python hack/layout.py --check
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	find hack -name '*.sh' -print0 | xargs -0 $(BIN)/shellcheck
	$(BIN)/shellcheck hack/kind/node/entrypoint hack/kind/images/net/tds-kind-net
	$(MAKE) docs

.PHONY: docs
docs: venv ## Build the documentation site (docs/, mkdocs.yml) into site/, strict: a broken link or a page missing from the navigation fails.
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

.PHONY: docs-serve
docs-serve: venv ## Serve the documentation site on http://127.0.0.1:8000 while editing it.
	$(BIN)/mkdocs serve

.PHONY: layout
layout: venv ## Regenerate the operator's layout table in docs/operations/development.md from the docstrings.
	$(BIN)/python hack/layout.py

.PHONY: format
format: venv ## Apply ruff's fixes and formatting.
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

.PHONY: crds
crds: venv ## Regenerate crds/, the chart's copy and the CRD reference (docs/reference/crds.md) from the pydantic models.
	$(BIN)/python -m tds_operator.api.crdgen crds
	$(BIN)/python -m tds_operator.api.crdgen charts/tds-operator/crds
	$(BIN)/python -m tds_operator.api.crddoc docs/reference/crds.md

.PHONY: check-crds
check-crds: venv ## Fail if crds/, the chart's copy or the CRD reference is not what the models generate.
	$(BIN)/python -m tds_operator.api.crdgen --check crds
	$(BIN)/python -m tds_operator.api.crdgen --check charts/tds-operator/crds
	$(BIN)/python -m tds_operator.api.crddoc --check docs/reference/crds.md

##@ Tests
.PHONY: unit
unit: venv ## Unit tests of the pure logic (no cluster).
	$(PYTEST) -m unit tests/unit $(PYTEST_FLAGS)

.PHONY: rules-test
rules-test: ## promtool: check and unit-test the alerting rules (tests/alerts), parse the dashboard queries.
	hack/promtool.sh

# The integration modules a run collects (make test runs some of them on its second hub).
INTEGRATION_TESTS ?= tests/integration

.PHONY: integration
integration: venv ## Integration tests against the local hub (make hub-up first), Kueue's left out.
	$(PYTEST) -m "integration and not kueue" $(INTEGRATION_TESTS) $(PYTEST_FLAGS)

.PHONY: integration-kueue
integration-kueue: venv ## Integration tests of Kueue on the hub (HUB_KUEUE=1 make hub-up first).
	$(PYTEST) -m "integration and kueue" $(INTEGRATION_TESTS) $(PYTEST_FLAGS)

.PHONY: e2e
e2e: venv ## End-to-end: install the chart on KUBECONFIG (default: the hub), walk the story, uninstall.
	$(PYTEST) -m "e2e and not kueue" tests/e2e $(PYTEST_FLAGS)

.PHONY: e2e-kueue
e2e-kueue: venv ## End-to-end with Kueue: the chart installed with kueue.enabled=auto (HUB_KUEUE=1 make hub-up first).
	TDS_E2E_KUEUE=auto $(PYTEST) -m "e2e and (kueue or both_queues)" tests/e2e $(PYTEST_FLAGS)

.PHONY: e2e-kind
e2e-kind: venv ## The e2e suite and the kind tier on a new kind cluster of real containers, everything built here (hack/kind/).
	hack/kind-e2e.sh

.PHONY: kind-tier
kind-tier: venv ## The kind tier (tests/kind) on KUBECONFIG, a kind cluster with the chart's operator (make e2e-kind runs it).
	$(PYTEST) -m kind tests/kind $(PYTEST_FLAGS)

.PHONY: chart-lint
chart-lint: ## helm lint, the chart's CRDs are crds/, checkov on what the chart renders.
	hack/chart-lint.sh

.PHONY: test
test: ## Everything CI runs: lint, CRDs fresh, unit, alert rules, then integration and e2e (each also with Kueue) side by side on two hubs, then the kind tier (TEST_KIND=0: without it).
	@# The binaries the tiers need (a cold build on a fresh machine) build while the checks run.
	hack/hub/build.sh etcd kwok helm kubernetes kueue promtool & build=$$!; \
	checks=0; $(MAKE) lint check-crds unit || checks=$$?; \
	wait $$build && [ $$checks -eq 0 ]
	$(MAKE) rules-test
	HUB_DIR=$(HUB_DIR) E2E_HUB_DIR=$(E2E_HUB_DIR) PYTEST_FLAGS="--durations=15 $(PYTEST_FLAGS)" hack/test-tiers.sh

.PHONY: bench
bench: venv ## Benchmarks of the pure core (ledger, admission); figures as ratios of one run.
	$(BIN)/python -m bench.bench_core

.PHONY: bench-plugin
bench-plugin: venv ## Start time of kubectl-tds against the operator's tools (its old self), and one `contracts` on the hub if it serves.
	$(BIN)/python -m bench.plugin_start $(if $(wildcard $(HUB_DIR)/kubeconfig),--kubeconfig $(HUB_DIR)/kubeconfig)

N ?= 200
CLIENTS ?= 8
IDLE ?= 60
BENCH_HUB_DIR ?= $(CURDIR)/.hub-bench
PROFILE ?=
.PHONY: bench-scale
bench-scale: venv ## N DataSpaces on a fresh hub (BENCH_HUB_DIR): the operator vs their children by hand (N=, CLIENTS=, IDLE=, PROFILE=file for py-spy, WORKERS= IN_FLIGHT=, SWEEP=4:8,4:16 instead: the operator alone with each).
	$(BIN)/python -m bench.scale --spaces $(N) --clients $(CLIENTS) --idle $(IDLE) --hub-dir $(BENCH_HUB_DIR) \
	  $(if $(PROFILE),--profile $(PROFILE)) $(if $(WORKERS),--workers $(WORKERS)) \
	  $(if $(IN_FLIGHT),--in-flight $(IN_FLIGHT)) $(if $(SWEEP),--sweep $(SWEEP))

.PHONY: bench-hub
bench-hub: venv ## A Chengdu-sized hub under steady training on a fresh hub (BENCH_HUB_DIR): admission and revocation latency, RSS, CPU per job (SPACES= CONTRACTS= JOBS= DURATION= RUN_FOR= REVOCATIONS= GPU_NODES= CPU_NODES= SEED= PROFILE=file).
	$(BIN)/python -m bench.hub_scenario --hub-dir $(BENCH_HUB_DIR) \
	  --spaces $(or $(SPACES),100) --contracts $(or $(CONTRACTS),1000) --jobs $(or $(JOBS),5000) \
	  --duration $(or $(DURATION),1800) --run-for $(or $(RUN_FOR),20) \
	  --revocations $(or $(REVOCATIONS),50) --gpu-nodes $(or $(GPU_NODES),200) \
	  --cpu-nodes $(or $(CPU_NODES),400) $(if $(SEED),--seed $(SEED)) $(if $(PROFILE),--profile $(PROFILE))

.PHONY: bench-stop
bench-stop: venv ## Revocation -> Stopped on the hub (HUB_DIR; with Kueue unless HUB_KUEUE=0): a job alone and one with two queued behind it, ROUNDS= (10) of each.
	HUB_DIR=$(HUB_DIR) KUBECONFIG=$(HUB_DIR)/kubeconfig $(BIN)/python -m bench.stop_latency --rounds $(or $(ROUNDS),10)

.PHONY: bench-kind-weight
bench-kind-weight: venv ## The kind tier's revocation figures with and without its cluster's raised CPU weight, under HOGS= (6) busy processes, ROUNDS= (3); on the cluster KIND_KEEP_CLUSTER=1 make e2e-kind kept.
	hack/kind/with-env.sh $(BIN)/python -m bench.kind_cpu_weight --rounds $(or $(ROUNDS),3) --hogs $(or $(HOGS),6)

.PHONY: chaos
chaos: venv ## Chaos campaign on the hub (KILLS=50 DURATION=600 CHURN=3 SPACES=6 SEED=...; docs/performance/reliability.md).
	HUB_DIR=$(HUB_DIR) $(BIN)/python -m bench.chaos

##@ Local GPU hub
.PHONY: hub-build
hub-build: ## Build (once, cached per version) the hub's Kubernetes, etcd, kwok, helm (and HUB_KUEUE=1: Kueue).
	hack/hub/build.sh

.PHONY: hub-up
hub-up: ## Start the local GPU hub (idempotent); writes .hub/kubeconfig. HUB_KUEUE=1 adds Kueue. A component that dies is named with its log, and the start retried once.
	hack/hub/up.sh

.PHONY: hub-end-manifest
hub-end-manifest: venv ## On the local hub, end a job's simulated manifest step as the real one would (JOB= NAMESPACE=, FILES=dir to list).
	HUB_DIR=$(HUB_DIR) hack/hub/end-manifest-step.sh "$(JOB)" "$(NAMESPACE)" $(FILES)

.PHONY: hub-down
hub-down: ## Stop the local GPU hub and remove its state.
	hack/hub/down.sh

##@ Operator
.PHONY: run
run: venv ## Install the CRDs and run the operator against KUBECONFIG (default: the local hub) on free ports, printing its settings (ARGS=--verbose).
	HUB_DIR=$(HUB_DIR) hack/run.sh $(ARGS)

.PHONY: demo
demo: venv hub-up ## Bring up the hub and show the story on it.
	hack/demo.sh
