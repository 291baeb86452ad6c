# The two commands a newcomer needs: `make run` and `make test`. Both bootstrap first.
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bootstrap lock messages clean

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

# The handheld's words: extract them into app/locale/returnflow.pot and merge that into each language's
# .po (then translate what is new: tests/app/test_i18n.py fails while a msgstr is empty). An error
# class named here is a keyword: its fixed message becomes a msgid, shown translated when it is raised.
ERROR_KEYWORDS := -k UnreadableError -k UnknownFormatError -k FrameSourceError
messages:
	$(BIN)/pybabel extract -F babel.cfg -k N_ $(ERROR_KEYWORDS) --project returnflow --no-wrap \
		-o app/locale/returnflow.pot app domain local_db scanner
	$(BIN)/pybabel update -i app/locale/returnflow.pot -d app/locale -D returnflow --no-wrap --no-fuzzy-matching --ignore-obsolete

clean:
	rm -rf $(VENV) var test-output .pytest_cache
