.PHONY: demo test bench setup lint

setup:
	@scripts/bootstrap.sh

# The main job: a short tournament of the example bots, each in its own sandbox.
demo: setup
	.venv/bin/arena demo

test: setup
	.venv/bin/ruff check .
	.venv/bin/pytest -q

bench: setup
	.venv/bin/python bench/engine.py
	.venv/bin/python bench/sandbox.py
	.venv/bin/python bench/tournament.py
