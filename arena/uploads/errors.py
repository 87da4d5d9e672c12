"""The one exception an upload is rejected with, and its machine-readable codes."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Why an upload was rejected. The API maps every code to a 4xx; clients may switch on the value."""

    EMPTY_UPLOAD = "empty_upload"
    UPLOAD_TOO_LARGE = "upload_too_large"
    UNSUPPORTED_TYPE = "unsupported_type"
    TYPE_MISMATCH = "type_mismatch"
    CORRUPT_ARCHIVE = "corrupt_archive"
    ENCRYPTED_ENTRY = "encrypted_entry"
    UNSUPPORTED_COMPRESSION = "unsupported_compression"
    PATH_TRAVERSAL = "path_traversal"
    ABSOLUTE_PATH = "absolute_path"
    BAD_PATH = "bad_path"
    PATH_TOO_LONG = "path_too_long"
    DUPLICATE_PATH = "duplicate_path"
    LINK_ENTRY = "link_entry"
    SPECIAL_ENTRY = "special_entry"
    TOO_MANY_FILES = "too_many_files"
    FILE_TOO_LARGE = "file_too_large"
    UNPACKED_TOO_LARGE = "unpacked_too_large"
    COMPRESSION_RATIO = "compression_ratio"
    FILE_TYPE_NOT_ALLOWED = "file_type_not_allowed"
    NOT_UTF8 = "not_utf8"
    SYNTAX_ERROR = "syntax_error"
    SOURCE_TOO_COMPLEX = "source_too_complex"
    MISSING_ENTRY_POINT = "missing_entry_point"
    BAD_SHA256 = "bad_sha256"
    UPLOAD_TOO_COMPLEX = "upload_too_complex"  # reading it exhausted the check's memory, CPU or time
    CHECK_UNAVAILABLE = "check_unavailable"  # the service could not check it (busy, or the checker failed): retry


class UploadError(ValueError):
    """A rejected upload: ``code`` for machines, ``message`` saying what to fix for people."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def to_dict(self) -> dict[str, str]:
        """The JSON body the API answers with."""
        return {"code": str(self.code), "message": self.message}
