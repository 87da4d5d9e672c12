.PHONY: demo test bench setup lint

setup:
	@scripts/bootstrap.sh

# The main job. (Until the tournament runtime lands: a backtest of an example bot.)
demo: setup
	.venv/bin/arena backtest examples/bots/sma_crossover.py --feed synthetic:7

test: setup
	.venv/bin/ruff check .
	.venv/bin/pytest -q

bench: setup
	.venv/bin/python bench/engine.py
