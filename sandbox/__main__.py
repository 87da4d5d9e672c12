"""``python -m sandbox run bot.py`` (the same as ``arena sandbox run``)."""

from sandbox.cli import app

app(prog_name="python -m sandbox")
