"""Bot uploads: validate an uploaded .py / .zip / .tar.gz in memory, then store it content-addressed.

>>> bundle = validate_upload("bot.zip", data)          # doctest: +SKIP
>>> folder = BundleStore(root).put(bundle)             # doctest: +SKIP  # root/ab/<sha256>/main.py
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
