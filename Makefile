# The README's commands. Each creates the virtual environment when it is missing or stale.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Local development pins the CPU build of torch; images choose their own CUDA build.
EXTRAS := infra,training,serving,dev
# What the CI jobs on the VPC runners need: Pulumi and its providers, the policy pack, `hoist
# policy-config` and `hoist cluster check`; no torch, no test tools.
INFRA_STAMP := $(VENV)/.installed-infra-stamp
INFRA_EXTRAS := infra

.PHONY: demo install install-infra test lint typecheck unit verify-pins clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[$(EXTRAS)]'
	@touch $(STAMP)

install: $(STAMP)

$(INFRA_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[$(INFRA_EXTRAS)]'
	@touch $(INFRA_STAMP)

install-infra: $(INFRA_STAMP)

demo: $(STAMP)
	$(BIN)/hoist local

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/hadolint training/Dockerfile serving/Dockerfile serving/llm/Dockerfile
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/zizmor --offline --quiet .github/workflows

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

verify-pins: $(STAMP)
	$(BIN)/python -m tools.verify_pins

clean:
	rm -rf $(VENV) .venv-vllm .venv-vllm.lock .mypy_cache .pytest_cache .ruff_cache
