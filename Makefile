.PHONY: demo test bench setup lint

setup:
	@scripts/bootstrap.sh

# The main job: a short tournament of the example bots, each in its own sandbox.
demo: setup
	.venv/bin/arena demo

# ruff, the type checker (pyproject.toml's [tool.mypy]: its files, strict on the engine, sandbox and SDK), pytest.
test: setup
	.venv/bin/ruff check .
	.venv/bin/mypy
	.venv/bin/pytest -q

# Every benchmark, each printing one JSON object (docs/benchmarks.md). The bench extra adds backtrader (peer.py).
UV := $(shell command -v uv 2>/dev/null || echo .tools/uv/bin/uv)

bench: setup
	UV_PYTHON_DOWNLOADS=never $(UV) sync --frozen --extra dev --extra bench
	.venv/bin/python bench/engine.py
	.venv/bin/python bench/feeds.py
	.venv/bin/python bench/leaderboard.py
	.venv/bin/python bench/peer.py
	.venv/bin/python bench/startup.py
	.venv/bin/python bench/sandbox.py
	.venv/bin/python bench/tournament.py
	.venv/bin/python bench/api.py
	.venv/bin/python bench/export.py
	.venv/bin/python bench/gateway.py
