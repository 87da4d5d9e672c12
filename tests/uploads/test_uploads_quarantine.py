"""Uploads are read and compiled in quarantine: a child process as an unprivileged user, without network, under
memory, CPU and time caps (arena/uploads/quarantine.py). The service never parses one as root.

The probe tasks (tests/uploads/probe.py) run in the same child the upload check runs in, so they show what a
hostile input would have to work with if it ever took over the reader.
"""

from __future__ import annotations

import gzip
import json
import os
import pwd
import resource
import socket
import sys
import tarfile
import time
import zlib
from dataclasses import replace
from pathlib import Path

import pytest

from arena.uploads import ErrorCode, UploadError, UploadLimits, validate_upload
from arena.uploads.limits import MiB
from arena.uploads.quarantine import Confinement, QuarantineFailed, run
from arena.uploads.validate import read_verdict
from tests.processes import alive
from tests.unprivileged import USER, owned_by, run_as
from tests.uploads.craft import MAIN, tar_file, zeros_zip

ROOT = Path(__file__).resolve().parents[2]
BOX = Confinement(memory_bytes=256 * MiB, cpu_seconds=5, wall_seconds=20, input_bytes=MiB, output_bytes=MiB)
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the check drops root only when it has it")


def _children_running(task: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if task.encode() in cmdline.read_bytes() and alive(int(cmdline.parent.name)):
                found.append(int(cmdline.parent.name))
        except (OSError, ValueError):
            continue
    return found


def _listening() -> socket.socket:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.setblocking(False)
    return server


@as_root
def test_the_check_runs_as_nobody_without_network_or_root_files(tmp_path: Path) -> None:
    server = _listening()
    secret = tmp_path / "secret.db"  # like the service's data dir: root's, 0700 / 0600
    secret.write_bytes(b"api key hashes")
    secret.chmod(0o600)
    payload = json.dumps({"port": server.getsockname()[1], "secret": str(secret)}).encode()
    try:
        seen = json.loads(run("tests.uploads.probe:report", payload, BOX))
        with pytest.raises(BlockingIOError):
            server.accept()  # nothing reached the host's loopback
    finally:
        server.close()
    nobody = pwd.getpwnam("nobody")
    assert seen["uid"] == [nobody.pw_uid] * 3 and seen["gid"] == [nobody.pw_gid] * 3 and seen["groups"] == []
    assert seen["caps"] == ["0000000000000000"] * 2 and seen["no_new_privs"] == "1"
    assert seen["interfaces"] == ["lo"] and seen["connect"] == "ENETUNREACH"  # a network namespace of its own
    assert seen["secret"] == "EACCES" and seen["fork"] == "EAGAIN"
    assert seen["limits"] == {"RLIMIT_AS": [256 * MiB] * 2, "RLIMIT_CPU": [5, 6], "RLIMIT_FSIZE": [0, 0],
                              "RLIMIT_NOFILE": [16, 16], "RLIMIT_NPROC": [0, 0], "RLIMIT_CORE": [0, 0]}


def test_the_deadline_ends_the_child() -> None:
    started = time.monotonic()
    with pytest.raises(QuarantineFailed) as caught:
        run("tests.uploads.probe:sleep", b"", replace(BOX, wall_seconds=1.0))
    assert caught.value.reason == "timeout" and time.monotonic() - started < 4
    assert _children_running("tests.uploads.probe:sleep") == []


def test_memory_and_cpu_are_capped() -> None:
    with pytest.raises(QuarantineFailed) as caught:
        run("tests.uploads.probe:balloon", b"", BOX)
    assert caught.value.reason == "memory"
    started = time.monotonic()
    with pytest.raises(QuarantineFailed) as caught:
        run("tests.uploads.probe:spin", b"", replace(BOX, cpu_seconds=1))
    assert caught.value.reason == "killed" and "SIGXCPU" in caught.value.detail
    assert time.monotonic() - started < 10


def test_an_archive_that_needs_more_memory_to_read_than_the_cap_is_refused() -> None:
    """300 MiB of zeros in a 300 KB zip, within generous size caps: read in the service's own process, it held
    600 MiB of the API's memory; in quarantine it ends at the check's address-space cap, with a clear code."""
    data = zeros_zip("zeros.txt", 300 * MiB)
    roomy = UploadLimits(max_file_bytes=400 * MiB, max_unpacked_bytes=400 * MiB, max_compression_ratio=1e9,
                         check_memory_bytes=160 * MiB)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(UploadError) as caught:
        validate_upload("bot.zip", data, roomy)
    assert caught.value.code == ErrorCode.UPLOAD_TOO_COMPLEX, caught.value
    assert "160 MiB" in caught.value.message
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 64 * 1024  # KiB: none of it here


def _tgz_with_a_huge_ignored_member(gib: int) -> bytes:
    """main.py, then ``gib`` GiB of zeros under __MACOSX/ (skipped, never kept): gzip members concatenated."""
    head = tarfile.TarInfo("__MACOSX/zeros.txt")
    head.size = gib << 30
    main, body = tar_file("main.py", MAIN)
    prefix = main.tobuf(tarfile.GNU_FORMAT) + body + bytes(-len(body) % 512) + head.tobuf(tarfile.GNU_FORMAT)
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = packer.compress(bytes(64 << 20)) + packer.flush()  # one gzip member of 64 MiB
    return b"".join([gzip.compress(prefix), *[zeros] * (gib * 16), gzip.compress(bytes(1024))])


def test_an_archive_that_needs_more_cpu_to_read_than_the_cap_is_refused() -> None:
    """4 GiB decompressed and skipped within generous size caps: in the service it cost the API seconds of CPU;
    in quarantine the child dies at its CPU limit."""
    data = _tgz_with_a_huge_ignored_member(4)
    roomy = UploadLimits(max_upload_bytes=20 * MiB, max_unpacked_bytes=8 << 30, max_compression_ratio=1e9,
                         check_cpu_seconds=1)
    started = time.monotonic()
    with pytest.raises(UploadError) as caught:
        validate_upload("bot.tgz", data, roomy)
    assert caught.value.code == ErrorCode.UPLOAD_TOO_COMPLEX and "SIGXCPU" in caught.value.message, caught.value
    assert time.monotonic() - started < 10


@as_root
def test_a_checker_that_cannot_start_is_check_unavailable() -> None:
    with pytest.raises(UploadError) as caught:
        validate_upload("bot.py", MAIN, UploadLimits(check_user="no-such-user-for-arena"))
    assert caught.value.code == ErrorCode.CHECK_UNAVAILABLE and "no-such-user-for-arena" in caught.value.message


def _answer(header: dict, body: bytes = b"") -> bytes:
    return json.dumps(header).encode() + b"\n" + body


@pytest.mark.parametrize("answer", [
    _answer({"ok": True, "files": [["../main.py", 3]], "warnings": [], "ignored": []}, b"x=1"),
    _answer({"ok": True, "files": [["main.py", 3], ["evil.so", 1]], "warnings": [], "ignored": []}, b"x=1E"),
    _answer({"ok": True, "files": [["main.py", 10]], "warnings": [], "ignored": []}, b"x=1"),
    _answer({"ok": True, "files": [["notes.txt", 1]], "warnings": [], "ignored": []}, b"x"),
    _answer({"ok": False, "code": "made_up", "message": "hi"}),
    _answer({"ok": False, "code": "check_unavailable", "message": "hi"}),
    b"not json at all",
])
def test_the_childs_verdict_is_checked_again(answer: bytes) -> None:
    """A reader taken over by its input could answer anything: the service believes no path, size or code."""
    with pytest.raises(UploadError) as caught:
        read_verdict(answer, UploadLimits())
    assert caught.value.code == ErrorCode.CHECK_UNAVAILABLE


def test_a_well_formed_verdict_is_the_bundle() -> None:
    bundle = read_verdict(_answer({"ok": True, "files": [["main.py", 3], ["a/b.json", 2]], "warnings": ["w"],
                                   "ignored": ["__MACOSX/x"]}, b"x=1{}"), UploadLimits())
    assert dict(bundle.files) == {"a/b.json": b"{}", "main.py": b"x=1"} and bundle.warnings == ("w",)
    refused = _answer({"ok": False, "code": "syntax_error", "message": "main.py, line 1: invalid syntax"})
    with pytest.raises(UploadError) as caught:
        read_verdict(refused, UploadLimits())
    assert caught.value.code == ErrorCode.SYNTAX_ERROR


@as_root
def test_a_service_that_is_not_root_checks_uploads_in_a_user_and_network_namespace(tmp_path: Path) -> None:
    """Run as an ordinary user, the service's check keeps that user, loses the network, and still works."""
    home = owned_by(USER, tmp_path / "home")
    server = _listening()
    script = (
        "import json,sys;from arena.uploads import validate_upload;"
        "from arena.uploads.quarantine import Confinement, run;"
        f"bundle = validate_upload('bot.py', {MAIN!r});"
        f"box = Confinement(memory_bytes={256 * MiB}, cpu_seconds=5, wall_seconds=20, input_bytes=1<<20,"
        " output_bytes=1<<20);"
        f"seen = json.loads(run('tests.uploads.probe:report', json.dumps({{'port': {server.getsockname()[1]},"
        " 'secret': '/etc/shadow'}).encode(), box));"
        "print(json.dumps({'files': sorted(bundle.files), 'seen': seen}))"
    )
    try:
        done = run_as(USER, [sys.executable, "-c", script], tmp_path, capture_output=True, timeout=120, cwd=home,
                      env={"PYTHONPATH": str(ROOT), "HOME": str(home)})
    finally:
        server.close()
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["files"] == ["main.py"]
    seen = result["seen"]
    assert seen["uid"] == [65534] * 3  # its own user, unmapped in its own user namespace
    assert seen["interfaces"] == ["lo"] and seen["connect"] == "ENETUNREACH"
    assert seen["caps"] == ["0000000000000000"] * 2 and seen["secret"] == "EACCES" and seen["fork"] == "EAGAIN"
