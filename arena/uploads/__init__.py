"""Bot uploads: validate an uploaded .py / .zip / .tar.gz in memory, then store it content-addressed.

>>> bundle = validate_upload("bot.zip", data)          # doctest: +SKIP
>>> folder = BundleStore(root).put(bundle)             # doctest: +SKIP  # root/ab/<sha256>/main.py

Decisions (each configurable through UploadLimits where it is a number or a list):

- Formats: a single ``.py`` (stored as ``main.py``, whatever its name), ``.zip`` (stored or deflate only),
  ``.tar.gz``/``.tgz``. The name picks the format and the leading bytes must agree.
- Layout: ``main.py`` at the root. If it is missing there but the archive holds one folder that has it
  (what zipping a folder in Finder or Explorer gives), that folder becomes the root.
- Files: only the suffixes in ``UploadLimits.allowed_suffixes`` (source, config and text data, and model
  files: ``.onnx``, ``.npz``, ``.pkl``, loaded by the bot alone, in its sandbox; no native code, bytecode or
  nested archives). Every ``.py`` must be UTF-8 and compile; other files are opaque bytes. Archiver litter
  (``__MACOSX/``, ``.DS_Store``, ``__pycache__/``, ``*.pyc``) is dropped, listed in
  ``BotBundle.ignored``. Names are ASCII; modes, owners and timestamps are discarded.
- Refused: links, devices, fifos, sparse files, ``..``, absolute or drive paths, backslashes, duplicates
  (also after normalisation and case-folding), a name that is both a file and a folder, encryption,
  sizes, counts or compression ratios over the limits (checked from headers first, then enforced on
  every decompressed byte).
- Reading and compiling run in quarantine (quarantine.py): a child process as an unprivileged user (``nobody``
  when the service is root), without network, capped in memory, CPU and time (hostile source can make
  compile() take gigabytes); its answer is checked again. Nothing is ever executed, nothing written to disk.
- ``sha256`` hashes the sorted (path, bytes) pairs only, so a bot hashes the same however it was packed.
"""

from arena.uploads.bundle import ENTRY_POINT, BotBundle, content_hash
from arena.uploads.errors import ErrorCode, UploadError
from arena.uploads.limits import UploadLimits
from arena.uploads.store import BundleStore
from arena.uploads.validate import validate_upload

__all__ = [
    "ENTRY_POINT",
    "BotBundle",
    "BundleStore",
    "ErrorCode",
    "UploadError",
    "UploadLimits",
    "content_hash",
    "validate_upload",
]
