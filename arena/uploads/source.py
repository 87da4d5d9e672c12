"""Python source checks: UTF-8, and syntax by compile(). Source is compiled, never run.

compile() is not cheap on hostile input: 5 MiB of ``x=1`` lines takes seconds and about 2 GiB of memory,
and deep nesting exhausts the parser. It runs only in the quarantined child (arena/uploads/quarantine.py),
under its address-space and CPU caps: a hostile upload costs a bounded, short-lived process, never the service.
"""

from __future__ import annotations

import ast
import unicodedata  # noqa: F401 - the parser imports it for non-ASCII names: loaded before the child drops root

from arena.uploads.errors import ErrorCode, UploadError
from arena.uploads.limits import UploadLimits

_NO_SDK = "main.py does not import arena_bot; is it the bot's entry point?"


def too_complex(limits: UploadLimits) -> str:
    return (f"too large or complex to compile within {limits.check_memory_bytes >> 20} MiB and "
            f"{limits.check_cpu_seconds:g} s; split or simplify it")


def decode(path: str, data: bytes) -> str:
    """The text of a .py file, which must be UTF-8 (a byte-order mark is fine; Python accepts it too)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UploadError(
            ErrorCode.NOT_UTF8, f"{path}, line {line}: not UTF-8 ({exc.reason}); save the file as UTF-8"
        ) from exc


def check_sources(sources: dict[str, str], limits: UploadLimits) -> list[str]:
    """Compile every source (never run it); raise UploadError on the first that fails; return warnings."""
    for path, text in sources.items():
        try:
            compile(text, path, "exec", dont_inherit=True)  # dont_inherit: no __future__ flags from here
        except SyntaxError as exc:  # IndentationError and TabError included
            where = f", line {exc.lineno}" if exc.lineno else ""
            raise UploadError(ErrorCode.SYNTAX_ERROR, f"{path}{where}: {exc.msg}; fix it and upload again") from None
        except ValueError as exc:  # NUL bytes in the source
            raise UploadError(ErrorCode.SYNTAX_ERROR, f"{path}: {exc}; fix it and upload again") from None
        except (RecursionError, MemoryError):
            raise UploadError(ErrorCode.SOURCE_TOO_COMPLEX, f"{path}: {too_complex(limits)}") from None
    main = sources.get("main.py")
    if main is None or _imports_sdk(ast.parse(main)):
        return []
    return [_NO_SDK]


def _imports_sdk(tree: ast.AST) -> bool:
    return any(
        (isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "arena_bot")
        or (isinstance(n, ast.Import) and any(a.name.split(".")[0] == "arena_bot" for a in n.names))
        for n in ast.walk(tree)
    )
