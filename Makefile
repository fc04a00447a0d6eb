# The two commands a newcomer needs: `make run` and `make test`. Every target
# sets up what it needs (virtualenv, packages, Kafka, FerretDB) and reuses it next time.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export DOITHOAI_VAR ?= $(CURDIR)/var
export KAFKA_PORT ?= 9092
export MONGO_PORT ?= 27017
export KAFKA_BOOTSTRAP ?= 127.0.0.1:$(KAFKA_PORT)
export MONGO_URL ?= mongodb://127.0.0.1:$(MONGO_PORT)/
export KEYCLOAK_PORT ?= 8180

.PHONY: venv tools infra-up infra-down infra-status test test-unit test-integration test-e2e \
        test-faults run demo bench lint contracts clean test-mongo-semantics deploy-tools \
        test-deploy doc-tools keycloak-up keycloak-down portal-assets browser

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -U pip
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

# Node is used only to check the AsyncAPI document with the official parser.
tools: deploy/asyncapi/node_modules/.installed

deploy/asyncapi/node_modules/.installed: deploy/asyncapi/package.json
	@cd deploy/asyncapi && npm install --no-audit --no-fund --silent
	@touch $@

# LibreOffice, fonts and poppler from Debian, for the documents scheduling makes.
doc-tools:
	@deploy/doc-tools.sh

infra-up: venv
	@deploy/infra.sh up

infra-down: keycloak-down
	@deploy/infra.sh down

# The local OpenID provider (Keycloak from Maven Central) for the portal's sign-in.
keycloak-up:
	@deploy/keycloak/keycloak.sh up

keycloak-down:
	@deploy/keycloak/keycloak.sh down

# CSS and JS the portal serves itself (Pico, htmx), from the npm registry.
portal-assets: services/portal/assets/node_modules/.installed

services/portal/assets/node_modules/.installed: services/portal/assets/package.json
	@cd services/portal/assets && npm install --no-audit --no-fund --silent
	@touch $@

# Debian's Chromium for the browser tests (Playwright never downloads a browser here).
browser:
	@test -x /usr/bin/chromium || apt-get install -y -o DPkg::Lock::Timeout=600 chromium \
	  || (apt-get update && apt-get install -y -o DPkg::Lock::Timeout=600 chromium)

infra-status:
	@deploy/infra.sh status

# test also covers tests/deploy (the Helm chart, verified offline): deploy-tools builds helm
# and the CRD schemas into var/tools once.
test: venv tools deploy-tools doc-tools infra-up keycloak-up portal-assets browser
	@cd deploy/ferretdb && go test ./...  # the proxy's unit tests (Go built by infra-up)
	@$(PY) -m pytest $(PYTEST_ARGS)

deploy-tools:
	@deploy/helm/tools.sh

# The Helm chart alone: lint, template per values file, schemas, Kafka/ACL/secret checks.
test-deploy: venv deploy-tools
	@$(PY) -m pytest tests/deploy $(PYTEST_ARGS)

test-unit: venv
	@$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: venv tools doc-tools infra-up
	@$(PY) -m pytest tests/integration $(PYTEST_ARGS)

test-e2e: venv doc-tools infra-up
	@$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

# The conformance suite alone, against any server: MONGO_URL=mongodb://host:27017/ make
# test-mongo-semantics checks that the embedded FerretDB and a real MongoDB agree.
test-mongo-semantics: venv
	@$(PY) -m pytest tests/integration/conformance $(PYTEST_ARGS)

# A 3-broker cluster of its own, brokers, workers and FerretDB killed mid-stream; `make test`
# runs it too (tests/faults), this target alone.
test-faults: venv infra-up
	@$(PY) -m pytest tests/faults $(PYTEST_ARGS)

run: venv doc-tools infra-up keycloak-up portal-assets
	@$(PY) deploy/run.py

demo: venv
	@$(PY) -m services.cli demo

bench: venv infra-up
	@$(PY) bench/run.py

lint: venv
	@$(VENV)/bin/ruff check .

contracts: venv
	@$(PY) -m services.common.asyncapi docs

clean: infra-down
	rm -rf var
