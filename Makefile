# Entry points: `make demo` (the agent on its embedded simulated cluster) and
# `make test` (everything CI runs; does its own set-up on a fresh machine).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The versions Debian bookworm / Raspberry Pi OS ship, so tests prove we work with them.
DEB_PINS := requests==2.28.1 dnspython==2.3.0 sdnotify==0.3.2 pyyaml==6.0
# Debian packages the unit tests use (`make venv` needs python3-venv). Without them a
# test skips, naming the package; `make test` installs them and lets no test skip.
TEST_DEBS := python3-venv tmux fonts-dejavu-core curl openssl shellcheck

# One step at a time, even under -j: they share the container image, the apt lock
# and (on CI's two cores) the CPU their timings need.
.NOTPARALLEL:

.PHONY: test deps demo venv lint unit bench screenshot deb image system ansible-lint molecule pi clean

# CI's entry point: under it a skipped test is a failure (tests/no_skip.py).
test: export BLINKT_TESTS_NO_SKIP := 1
test: deps lint unit system ansible-lint molecule pi

# As root (CI, a fresh machine): install whichever of TEST_DEBS is missing.
deps:
	@if [ "$$(id -u)" -eq 0 ]; then \
		bash -ec 'source tests/system/lib.sh; ensure_pkgs $(TEST_DEBS)'; \
	else \
		echo "deps: not root, nothing installed (the tests use: $(TEST_DEBS))"; \
	fi

venv: $(VENV)/.stamp
$(VENV)/.stamp: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test,docs]' $(DEB_PINS)
	touch $@

demo: venv
	$(BIN)/blinkt-agent demo

lint: venv
	$(BIN)/ruff check blinkt_agent tests bench tools
	$(BIN)/ruff format --check blinkt_agent tests bench tools
	$(BIN)/mypy  # what and how strictly: [tool.mypy] in pyproject.toml

unit: venv
	$(BIN)/pytest -q tests --ignore=tests/system --ignore=tests/pi

bench: venv
	$(BIN)/python -m bench

# docs/demo.png (and the capture it is rendered from, docs/demo.ansi): the real
# demo in tmux at 80 columns. Needs tmux and fonts-dejavu-core.
screenshot: venv
	tools/demo-screenshot.sh

# Debian package (dist/blinkt-agent_<version>_all.deb) and the booted-container proofs.
deb:
	tests/system/build-deb.sh

image:
	tests/system/image.sh

system: venv deb image
	tests/system/run.sh

ansible-lint:
	molecule/lint.sh

molecule: venv deb image
	molecule/run.sh

# The package on an emulated Raspberry Pi 3B (QEMU raspi3b): docs/EMULATED-PI.md.
pi: venv deb
	tests/pi/run.sh

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis .mypy_cache
