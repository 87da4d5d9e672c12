"""Arena: a host for sandboxed algorithmic trading competitions."""

__version__ = "0.1.0"
