"""The runner rootfs without Docker: unpack the base tarball, then apply the Dockerfile's steps in Python.

Each block below is one step of runner-images/python/Dockerfile, in order; programs the image itself must
run (its Python, to compile the SDK and the wheels and write the manifest) run chrooted into the tree, as root,
with the environment and the /proc a Dockerfile RUN has. tests/images checks that both ways give the same tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from arena.children import find_tool
from arena.images.base import BaseTarball
from arena.images.errors import BuildStepError, MissingToolError
from arena.images.fs import extract_tar
from arena.images.recipe import MANIFEST_PATH, RunnerRecipe
from sandbox.rootfs import PACKAGES_DIR, SANDBOX_GID, SANDBOX_UID, SDK_DIR

Progress = Callable[[str], None]

# What the Dockerfile's `ENV` sets plus what Docker gives every RUN.
_RUN_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": f"{SDK_DIR}:{PACKAGES_DIR}", "LANG": "C.UTF-8"}


def in_root(root: Path, command: list[str], chroot_options: tuple[str, ...] = ()) -> list[str]:
    """``command`` chrooted into ``root`` with a /proc of its own, as a container has (onnxruntime aborts at
    import without /proc/cpuinfo), mounted in a private mount and PID namespace: gone when the command ends."""
    unshare, chroot = find_tool("unshare"), find_tool("chroot")
    if unshare is None or chroot is None:
        raise MissingToolError("unshare and chroot (util-linux, coreutils) are needed to run the image's programs")
    return [unshare, "--mount", "--pid", "--fork", f"--mount-proc={root}/proc", chroot, *chroot_options, str(root),
            *command]


def _run(root: Path, step: str, command: list[str], stdin: bytes | None = None) -> bytes:
    """Run ``command`` inside ``root`` (chroot) like a RUN step; its stdout."""
    done = subprocess.run(in_root(root, command), input=stdin, capture_output=True, env=_RUN_ENV, umask=0o022)
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").splitlines()
        raise BuildStepError(step, f"{command[0]} exited with status {done.returncode}", lines)
    return done.stdout


def _mkdir(path: Path, mode: int = 0o755) -> None:
    """``mkdir -p`` whose new directories get ``mode`` whatever this process's umask."""
    missing: list[Path] = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        directory.mkdir()
        directory.chmod(mode)


def assemble_rootfs(recipe: RunnerRecipe, base: BaseTarball, dest: Path, progress: Progress,
                    wheels: list[Path] | tuple[Path, ...] = ()) -> None:
    """Build the runner rootfs for ``recipe`` into the empty directory ``dest`` (needs root: chroot, chown), with
    the pinned ``wheels`` (already fetched and checked: arena/images/wheels.py)."""
    progress(f"unpacking {base.path.name}")
    extract_tar(base.path, dest)

    step = "COPY arena_bot /opt/arena/sdk/arena_bot"
    progress(step)
    target = dest / SDK_DIR.lstrip("/")
    for item in recipe.files:
        if not (item.name == "arena_bot" or item.name.startswith("arena_bot/")):
            continue
        path = target / item.name
        if item.data is None:
            _mkdir(path)
        else:
            _mkdir(path.parent)
            path.write_bytes(item.data)
            path.chmod(0o644)
        os.utime(path, (recipe.mtime, recipe.mtime))

    step = "RUN python3 -m compileall -q --invalidation-mode unchecked-hash /opt/arena/sdk"
    progress(step)
    _run(dest, step, ["python3", "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", SDK_DIR])

    step = "COPY wheels /tmp/wheels"
    progress(step)
    staged = dest / "tmp/wheels"
    _mkdir(staged)
    for wheel in wheels:
        shutil.copyfile(wheel, staged / wheel.name)

    step = "RUN (unpack the wheels into /opt/arena/site-packages, compile them)"
    progress(step)
    for wheel in sorted(wheels, key=lambda w: w.name):  # the shell's glob order
        _run(dest, step, ["python3", "-m", "zipfile", "-e", f"/tmp/wheels/{wheel.name}", f"{PACKAGES_DIR}/"])
    shutil.rmtree(staged)
    _run(dest, step, ["python3", "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", PACKAGES_DIR])

    step = "RUN (bot user, mount points, /usr/local/bin/python3)"
    progress(step)
    with open(dest / "etc/passwd", "a") as passwd:
        passwd.write(f"bot:x:{SANDBOX_UID}:{SANDBOX_GID}:bot:/tmp:/usr/sbin/nologin\n")
    with open(dest / "etc/group", "a") as group:
        group.write(f"bot:x:{SANDBOX_GID}:\n")
    for directory in ("bot", "tmp", "proc", "dev", PACKAGES_DIR.lstrip("/"), "usr/local/bin"):
        _mkdir(dest / directory)
    (dest / "bot/main.py").write_bytes(b"")
    (dest / "bot").chmod(0o755)
    (dest / "bot/main.py").chmod(0o644)
    (dest / "tmp").chmod(0o1777)
    (dest / "usr/local/bin/python3").symlink_to("../../bin/python3")

    step = "RUN python3 /tmp/manifest.py \"$DIGEST\" > /opt/arena/manifest.json"
    progress(step)
    manifest = _run(dest, step, ["python3", "-", recipe.digest()], stdin=recipe.file("manifest.py"))
    out = dest / MANIFEST_PATH.lstrip("/")
    out.write_bytes(manifest)
    out.chmod(0o644)
