"""Python source checks: UTF-8 and syntax. Source is compiled, never executed."""

from __future__ import annotations

import ast

from arena.uploads.errors import ErrorCode, UploadError


def check_python(path: str, data: bytes) -> str:
    """Return the decoded source of ``path`` or raise UploadError saying what to fix."""
    try:
        text = data.decode("utf-8-sig")  # a UTF-8 byte-order mark is fine; Python accepts it too
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UploadError(
            ErrorCode.NOT_UTF8, f"{path}, line {line}: not UTF-8 ({exc.reason}); save the file as UTF-8"
        ) from exc
    try:
        # dont_inherit: this module's `from __future__` flags must not change what is accepted.
        compile(text, path, "exec", dont_inherit=True)
    except SyntaxError as exc:  # IndentationError and TabError included
        where = f", line {exc.lineno}" if exc.lineno else ""
        raise UploadError(ErrorCode.SYNTAX_ERROR, f"{path}{where}: {exc.msg}; fix it and upload again") from exc
    except ValueError as exc:  # NUL bytes in the source
        raise UploadError(ErrorCode.SYNTAX_ERROR, f"{path}: {exc}; fix it and upload again") from exc
    except (RecursionError, MemoryError) as exc:
        raise UploadError(
            ErrorCode.SYNTAX_ERROR, f"{path}: too deeply nested for the compiler; simplify the expression"
        ) from exc
    return text


def entry_point_warnings(source: str) -> list[str]:
    """Hints, not errors: main.py normally imports the SDK and hands a Bot subclass to ``run``."""
    tree = ast.parse(source)
    imports_sdk = any(
        (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "arena_bot")
        or (isinstance(node, ast.Import) and any(alias.name.split(".")[0] == "arena_bot" for alias in node.names))
        for node in ast.walk(tree)
    )
    return [] if imports_sdk else ["main.py does not import arena_bot; is it the bot's entry point?"]
