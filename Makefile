# The two commands a newcomer needs: `make run` and `make test`. Both bootstrap first.
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bootstrap lock clean

bootstrap:
	@scripts/bootstrap.sh

# The whole demo: central API, a provisioned handheld and its app; Ctrl-C stops it.
run: bootstrap
	$(BIN)/returnflow demo

test: bootstrap
	$(BIN)/python -m pytest

# Re-pin the whole dependency tree (setuptools included: the editable install builds without isolation).
lock:
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/python -m pip freeze --all --exclude-editable | grep -v -e '^returnflow' -e '^pip==' > requirements.lock

clean:
	rm -rf $(VENV) var test-output .pytest_cache
