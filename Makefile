# Tributary: one-command local stack and tests. `make help` lists the targets.
SHELL := /bin/bash
VENV := .venv/bin
export SAM_CLI_TELEMETRY := 0
# sam and cargo-lambda find zig and each other on PATH.
export PATH := $(CURDIR)/$(VENV):$(PATH)

.PHONY: help setup up test test-unit test-local-stack test-e2e test-contract lint validate sam-build measure openapi

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

setup: ## Create .venv with moto, cargo-lambda, cfn-lint, sam and zig (once)
	@infra/local/bootstrap.sh

up: setup ## Start the local stack with demo data (Ctrl-C stops it)
	@$(VENV)/python infra/local/stack.py

test: setup test-unit test-local-stack test-e2e test-contract ## Run every test: unit, handler (moto), local stack, end to end, API contract

test-unit: setup ## Unit and handler tests (each test process starts its own moto)
	cargo test

test-local-stack: setup ## Tests of the local stack's API Gateway, SQS and schedule emulation, and of the functions' IAM policies
	cd infra/local && ../../$(VENV)/python -m unittest -v test_runtime test_iam

test-e2e: setup ## End-to-end tests against a local stack started for them on spare ports
	infra/local/with-stack.sh cargo test -p e2e

test-contract: setup ## Schemathesis over every operation of the served OpenAPI document, as each role and without a key
	TRIBUTARY_TEST_PORTS="3300 5300 9300" TRIBUTARY_TEST_STATE=$(CURDIR)/.local/contract-stack \
	  infra/local/with-stack.sh $(VENV)/python infra/local/contract.py

lint: setup ## cargo fmt --check, clippy -D warnings, cfn-lint, sam validate
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(MAKE) validate

# sam reads the template's path from samconfig.toml; its validate needs a region and (unused) credentials.
validate: setup ## cfn-lint and sam validate on infra/template.yaml
	$(VENV)/cfn-lint infra/template.yaml
	AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x $(VENV)/sam validate --region us-east-1

FUNCTIONS := $(notdir $(wildcard functions/*))

sam-build: setup ## sam build (arm64 release binaries through cargo-lambda and zig)
	@# One cargo run for every function builds the dependencies once and links two binaries at a
	@# time; sam build then finds each binary up to date instead of linking them one by one.
	cargo lambda build --release --arm64 $(addprefix --bin ,$(FUNCTIONS))
	$(VENV)/sam build

measure: setup ## Binary sizes and init times of every function (figures for the README)
	$(VENV)/python tools/measure_functions.py

openapi: ## Bundle api/openapi.yaml and api/paths/*.yaml into api/openapi.json (the served document)
	UPDATE_OPENAPI=1 cargo test -p tributary --lib testing::openapi::tests::the_served_bundle_is_current
