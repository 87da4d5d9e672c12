"""Python source checks: UTF-8 in-process, syntax in a resource-capped child. Source is compiled, never run.

compile() is not cheap on hostile input: 5 MiB of ``x=1`` lines takes seconds and about 2 GiB of memory,
and deep nesting exhausts the parser. The child process runs under an address-space and CPU cap, so a
hostile upload costs the API a bounded, short-lived process, never its own memory.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

from arena.uploads.errors import ErrorCode, UploadError
from arena.uploads.limits import UploadLimits

_NO_SDK = "main.py does not import arena_bot; is it the bot's entry point?"

# Runs under `python -I -S`: caps itself before reading any input, compiles each file, prints one JSON line.
_CHILD = """
import ast, json, resource, sys
memory, seconds = int(sys.argv[1]), int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))
sources = json.loads(sys.stdin.buffer.read())
for path, text in sources.items():
    try:
        compile(text, path, "exec", dont_inherit=True)  # dont_inherit: no __future__ flags from here
    except SyntaxError as exc:  # IndentationError and TabError included
        print(json.dumps({"error": "syntax", "path": path, "line": exc.lineno, "msg": exc.msg}))
        sys.exit(0)
    except ValueError as exc:  # NUL bytes in the source
        print(json.dumps({"error": "syntax", "path": path, "line": None, "msg": str(exc)}))
        sys.exit(0)
    except (RecursionError, MemoryError):
        print(json.dumps({"error": "complex", "path": path}))
        sys.exit(0)
main = sources.get("main.py")
sdk = main is None or any(
    (isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "arena_bot")
    or (isinstance(n, ast.Import) and any(a.name.split(".")[0] == "arena_bot" for a in n.names))
    for n in ast.walk(ast.parse(main))
)
print(json.dumps({"error": None, "sdk": sdk}))
"""


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
    if not sources:
        return []
    seconds = max(1, math.ceil(limits.compile_seconds))
    too_complex = (
        f"too large or complex to compile within {limits.compile_memory_bytes >> 20} MiB and {seconds} s; "
        "split or simplify it"
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _CHILD, str(limits.compile_memory_bytes), str(seconds)],
            input=json.dumps(sources).encode(),
            capture_output=True,
            timeout=limits.compile_seconds * 2 + 5,  # wall clock, should the CPU cap not bite (e.g. swapping)
            env={},
        )
        verdict = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError) as exc:  # killed, or no verdict printed
        raise UploadError(ErrorCode.SOURCE_TOO_COMPLEX, f"the Python source is {too_complex}") from exc
    if verdict["error"] == "syntax":
        where = f", line {verdict['line']}" if verdict["line"] else ""
        raise UploadError(
            ErrorCode.SYNTAX_ERROR, f"{verdict['path']}{where}: {verdict['msg']}; fix it and upload again"
        )
    if verdict["error"] == "complex":
        raise UploadError(ErrorCode.SOURCE_TOO_COMPLEX, f"{verdict['path']}: {too_complex}")
    return [] if verdict["sdk"] else [_NO_SDK]
