"""The functional core: a pure, deterministic market engine.

Nothing in this package does I/O, reads a clock or keeps global state. Timestamps are
integer milliseconds since the Unix epoch, UTC, and come from the caller.
"""
