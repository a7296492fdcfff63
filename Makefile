# The two set-up-and-go commands: `make run` (the default suite) and `make test` (every test).
# Both create .venv on first use and install what is missing; later calls reuse it.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# The CPU wheel lies on this machine's disk; an unpinned torch would pull a multi-GB CUDA build.
# GPU users: make TORCH_SPEC='torch==2.13.0' with their CUDA index configured in pip.
TORCH_SPEC ?= torch==2.13.0

.PHONY: run test setup lock clean-cache

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@command -v java >/dev/null 2>&1 || { echo "installing a Java runtime for pycocoevalcap"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null; }
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c requirements.lock "$(TORCH_SPEC)"
	$(PY) -m pip install -q --disable-pip-version-check -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

# requirements.lock again from the newest versions pyproject allows, in a scratch environment
lock:
	rm -rf .venv-lock && python3 -m venv .venv-lock
	.venv-lock/bin/pip install -q --disable-pip-version-check "$(TORCH_SPEC)"
	.venv-lock/bin/pip install -q --disable-pip-version-check -e '.[dev]'
	{ sed -n '1,2p' requirements.lock; .venv-lock/bin/pip freeze --exclude-editable | sed 's/+cpu$$//'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf .venv-lock

run: $(STAMP)
	$(VENV)/bin/benchhub run $(ARGS)

test: $(STAMP)
	@command -v chromium >/dev/null 2>&1 || { echo "installing Chromium for the HTML report's browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	$(VENV)/bin/pytest -m "slow or not slow" -q

clean-cache:
	rm -rf "$${BENCHHUB_CACHE:-$$HOME/.cache/benchhub}"
