"""Which wheels the service image still needs: requirements are followed from arena with the environment markers
of the image's Python (not of the Python running the build), and with the extras each project is asked for."""

from __future__ import annotations

import zipfile
from pathlib import Path

from arena.images.service import _missing

BOOKWORM = {"implementation_name": "cpython", "implementation_version": "3.11.2", "os_name": "posix",
            "platform_machine": "x86_64", "platform_release": "6.1.0", "platform_system": "Linux",
            "platform_version": "#1 SMP", "python_full_version": "3.11.2", "platform_python_implementation": "CPython",
            "python_version": "3.11", "sys_platform": "linux"}


def _wheel(directory: Path, name: str, *requires: str) -> Path:
    path = directory / f"{name}-1.0-py3-none-any.whl"
    lines = [f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0"] + [f"Requires-Dist: {r}" for r in requires]
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}-1.0.dist-info/METADATA", "\n".join(lines) + "\n")
    return path


def test_a_marker_true_only_for_the_images_python_is_missing(tmp_path: Path) -> None:
    wheels = [_wheel(tmp_path, "arena", "redis[hiredis]>=5"),
              _wheel(tmp_path, "redis", 'async-timeout>=4.0.3; python_full_version < "3.11.3"',
                     'hiredis>=3; extra == "hiredis"', 'cryptography; extra == "ocsp"')]
    missing = {str(r.name): str(r.specifier) for r in _missing(wheels, BOOKWORM)}
    assert missing == {"async-timeout": ">=4.0.3", "hiredis": ">=3"}  # asked-for extra in, unasked one out
    newer = {**BOOKWORM, "python_full_version": "3.11.7"}
    assert {r.name for r in _missing(wheels, newer)} == {"hiredis"}


def test_extras_of_unneeded_requirements_are_not_followed(tmp_path: Path) -> None:
    wheels = [_wheel(tmp_path, "arena", "celery>=5"),
              _wheel(tmp_path, "celery", "kombu>=5", 'kombu[sqs]; extra == "sqs"'),
              _wheel(tmp_path, "kombu", 'boto3; extra == "sqs"', 'vine; python_version >= "3.8"'),
              _wheel(tmp_path, "vine")]
    assert _missing(wheels, BOOKWORM) == []
