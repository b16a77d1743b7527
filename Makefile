# Every target creates .venv on first use; nothing needs to be installed by hand.
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: install demo test test-slow lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: install
	$(PY) -m rnnkit.cli.main demo

lint: install
	$(PY) -m ruff check rnnkit tests bench tools
	$(PY) -m ruff format --check rnnkit tests bench tools
	.venv/bin/lint-imports

test: install lint
	$(PY) -m pytest -q

test-slow: install
	$(PY) -m pytest -q -m slow

bench: install
	$(PY) -m rnnkit.cli.main bench

clean:
	rm -rf .venv build *.egg-info
