"""Tasks the quarantine tests run in its child (``tests.uploads.probe:<name>``), as the upload check would be run."""

from __future__ import annotations

import encodings.idna  # noqa: F401 - getaddrinfo needs it; the child can import nothing once it is nobody
import errno
import json
import os
import resource
import socket
import time
from typing import BinaryIO


def _attempt(action) -> str:  # type: ignore[no-untyped-def]
    try:
        action()
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc))
    return "allowed"


def report(payload: bytes, out: BinaryIO) -> None:
    """Who the child is and what it can reach: payload {"port": a host loopback port, "secret": a root-only file}."""
    asked = json.loads(payload)

    def connect() -> None:
        with socket.create_connection(("127.0.0.1", asked["port"]), timeout=2):
            pass

    def fork() -> None:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)

    limits = {name: resource.getrlimit(getattr(resource, name))
              for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_CORE")}
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status if ":" in line)
    out.write(json.dumps({
        "uid": os.getresuid(), "gid": os.getresgid(), "groups": os.getgroups(),
        "caps": [fields[name].strip() for name in ("CapEff", "CapPrm")], "no_new_privs": fields["NoNewPrivs"].strip(),
        "interfaces": [name for _, name in socket.if_nameindex()], "connect": _attempt(connect),
        "secret": _attempt(lambda: open(asked["secret"], "rb").close()), "fork": _attempt(fork), "limits": limits,
    }).encode())


def sleep(payload: bytes, out: BinaryIO) -> None:
    time.sleep(60)


def balloon(payload: bytes, out: BinaryIO) -> None:
    held = []
    for _ in range(4096):  # 4 GiB at most
        held.append(bytearray(1 << 20))


def spin(payload: bytes, out: BinaryIO) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pass
