"""The functional core: a pure, deterministic market engine.

Nothing in this package does I/O, reads a clock or keeps global state. Timestamps are
integer milliseconds since the Unix epoch, UTC, and come from the caller.

Its hot modules are compiled by mypyc when installed; ``ARENA_PURE_ENGINE=1`` runs the pure-Python
sources instead, and a compiled build older than the sources is never used (see :mod:`.compiled`).
"""

from arena.engine.compiled import choose

COMPILED: bool = choose()  # True when the compiled build runs
