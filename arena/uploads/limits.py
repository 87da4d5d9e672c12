"""Configurable limits an upload is validated against."""

from __future__ import annotations

from dataclasses import dataclass, field

MiB = 1024 * 1024

# Source, config and data in text formats, and trained models: ONNX (.onnx, run by onnxruntime), NumPy arrays
# (.npz) and pickles (.pkl). The service never opens a model file, it stores the bytes: only the bot loads it,
# inside its sandbox (a pickle can run any code when loaded, so it is only ever the bot's own code running there).
# A model that does not load fails the smoke test with the loader's message (docs/ml-bots.md). Native code (.so),
# bytecode (.pyc) and nested archives are refused by default: the bot is reviewed as source, and the service
# unpacks nothing twice.
MODEL_SUFFIXES = frozenset({".onnx", ".npz", ".pkl"})
DEFAULT_SUFFIXES = frozenset(
    {".py", ".json", ".csv", ".tsv", ".txt", ".md", ".rst", ".yaml", ".yml", ".toml", ".cfg", ".ini"}
) | MODEL_SUFFIXES


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """Bounds on one upload. Sizes are bytes; every bound is checked while streaming, not from headers only."""

    max_upload_bytes: int = 5 * MiB  # the upload as sent (compressed)
    max_unpacked_bytes: int = 50 * MiB  # sum of all kept files, decompressed
    max_file_bytes: int = 10 * MiB  # any one file, decompressed
    max_files: int = 1000  # regular files kept
    max_entries: int = 2000  # archive members of any kind (directories and ignored junk included)
    max_path_length: int = 255  # characters in a normalised path
    max_path_depth: int = 16  # components in a normalised path
    max_compression_ratio: float = 100.0  # decompressed / compressed, per zip member and per tar.gz stream
    ratio_floor_bytes: int = 1 * MiB  # the ratio cap applies above this size only (small text compresses well)
    # An upload is read and compiled in a quarantined child process (arena/uploads/quarantine.py), not in the
    # service: as this user (when the service runs as root), without network, under these caps.
    check_memory_bytes: int = 768 * MiB  # its address space: the archive, its files and one compile at a time
    check_cpu_seconds: float = 10.0  # its CPU time
    check_wall_seconds: float = 30.0  # the whole check, start-up included
    check_user: str = "nobody"  # a user name or number (ARENA_UPLOAD_CHECK_USER)
    allowed_suffixes: frozenset[str] = field(default=DEFAULT_SUFFIXES)
    # Zipping a folder (Finder, Explorer, `zip -r bot.zip bot/`) puts everything under one top folder;
    # when main.py sits there rather than at the root, that folder becomes the root.
    unwrap_single_folder: bool = True


def size_text(size: int) -> str:
    """A limit as people read it: "5 MiB", "512 KiB", "1000 bytes"."""
    for unit, scale in (("MiB", MiB), ("KiB", 1024)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} bytes"
