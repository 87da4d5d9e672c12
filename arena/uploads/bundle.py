"""BotBundle: a validated bot's files and their content hash."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

ENTRY_POINT = "main.py"
_HASH_DOMAIN = b"arena-bot-bundle/v1\n"


def content_hash(files: Mapping[str, bytes]) -> str:
    """sha256 over a canonical serialisation of the sorted (path, bytes) pairs.

    Archive order, timestamps, permissions and compression do not enter the hash, so one bot hashes the
    same however it was packed. Paths contain no NUL (validated) and contents are length-prefixed, so no
    two different file maps serialise alike.
    """
    digest = hashlib.sha256(_HASH_DOMAIN)
    for path in sorted(files, key=lambda p: p.encode()):
        content = files[path]
        digest.update(path.encode() + b"\0" + len(content).to_bytes(8, "big"))
        digest.update(content)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class BotBundle:
    """A validated bot: normalised relative POSIX path -> bytes, always with ``main.py`` at the root."""

    files: Mapping[str, bytes]
    sha256: str
    total_bytes: int
    file_count: int
    warnings: tuple[str, ...] = ()
    ignored: tuple[str, ...] = field(default=(), compare=False)  # junk dropped from the archive (e.g. __MACOSX)

    @classmethod
    def from_files(
        cls, files: Mapping[str, bytes], *, warnings: tuple[str, ...] = (), ignored: tuple[str, ...] = ()
    ) -> BotBundle:
        """Build a bundle from an already validated file map (sorted, read-only, hashed)."""
        frozen = MappingProxyType({path: files[path] for path in sorted(files)})
        return cls(
            files=frozen,
            sha256=content_hash(frozen),
            total_bytes=sum(len(data) for data in frozen.values()),
            file_count=len(frozen),
            warnings=warnings,
            ignored=ignored,
        )
