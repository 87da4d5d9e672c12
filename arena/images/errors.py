"""Errors of ``arena images``: each carries a machine-readable code the CLI prints with its message."""

from __future__ import annotations


class ImageError(Exception):
    """A runner image could not be built, exported or read."""

    code = "IMAGE_ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class MissingToolError(ImageError):
    code = "MISSING_TOOL"


class NeedsRootError(ImageError):
    code = "NEEDS_ROOT"


class BaseBuildError(ImageError):
    code = "BASE_BUILD_FAILED"


class DockerdError(ImageError):
    code = "DOCKERD_FAILED"


class BuildStepError(ImageError):
    """A Dockerfile step failed; ``step`` is the builder's own line for it ("Step 4/9 : RUN ...")."""

    code = "BUILD_STEP_FAILED"

    def __init__(self, step: str, detail: str, output: list[str]) -> None:
        tail = "".join(f"\n  | {line}" for line in output[-15:])
        super().__init__(f"{step or 'the build'} failed: {detail}{tail}")
        self.step = step
        self.detail = detail
        self.output = output
