"""The container's root filesystem, assembled without a Docker engine.

One read-only skeleton directory (mount points, /etc/passwd) is shared by every run; the host's Python
installation, shared libraries, the bot SDK and a few contestant packages are bound into it read-only,
per container, by the OCI runtime. Bind mounts bypass the permissions of their source's parent
directories, so a Python installed under /root (mode 700) is still usable by the sandbox user.

The production runner image (runner-images/python/Dockerfile) puts the same things at the same paths.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sys
import sysconfig
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SKELETON_VERSION = 2  # bump when ensure_skeleton changes what it writes
SANDBOX_UID = 10001
SANDBOX_GID = 10001

BOT_DIR = "/bot"
SDK_DIR = "/opt/arena/sdk"
PACKAGES_DIR = "/opt/arena/site-packages"

# Libraries contestants may import besides the standard library and the SDK (and what they need).
CONTESTANT_PACKAGES = ("numpy", "pandas", "dateutil", "tzdata", "pytz", "six", "onnxruntime")
_LIB_DIRS = ("/lib", "/lib64", "/lib32", "/libx32", "/usr/lib", "/usr/lib64", "/usr/lib32", "/usr/libx32")


@dataclass(frozen=True)
class Bind:
    source: str  # host path
    target: str  # path inside the container
    is_file: bool = False
    executable: bool = True  # False: mounted noexec (nothing in it is a program or a shared library)


@dataclass(frozen=True)
class RootfsLayout:
    """Everything the container sees besides /proc, /dev, /tmp and the bot."""

    python: str  # interpreter path inside the container
    binds: tuple[Bind, ...]
    symlinks: tuple[tuple[str, str], ...]  # (path inside, link target)
    masks: tuple[str, ...] = ()  # directories hidden behind an empty read-only tmpfs
    env: dict[str, str] = field(default_factory=dict)
    image: str | None = None  # an unpacked runner image used as the rootfs itself (no binds needed)
    manifest: dict[str, object] = field(default_factory=dict, compare=False)  # the image's versions, if any

    def digest(self) -> str:
        data = json.dumps([SKELETON_VERSION, self.python, [b.__dict__ for b in self.binds], self.symlinks, self.masks])
        return hashlib.sha256(data.encode()).hexdigest()[:16]


def _sdk_dir() -> Path | None:
    """Where the bot SDK ``arena_bot`` lives on this host, if anywhere."""
    repo_copy = Path(__file__).resolve().parents[1] / "runner-images" / "python" / "arena_bot"
    if repo_copy.is_dir():
        return repo_copy
    spec = importlib.util.find_spec("arena_bot")
    if spec and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return None


def _package_sources(names: tuple[str, ...]) -> list[Path]:
    """Host paths of the given top-level packages (and their ``<name>.libs`` wheels' vendored libs)."""
    found: list[Path] = []
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is None or spec.origin in (None, "built-in", "frozen"):
            continue
        origin = Path(spec.origin)
        source = origin.parent if spec.submodule_search_locations else origin
        if "site-packages" not in source.parts and "dist-packages" not in source.parts:
            continue  # part of the standard library, already present
        found.append(source)
        libs = source.parent / f"{name}.libs"
        if libs.is_dir():
            found.append(libs)
    return found


def host_layout(packages: tuple[str, ...] = CONTESTANT_PACKAGES) -> RootfsLayout:
    """Describe a rootfs made of read-only binds of this host's Python and libraries."""
    binds: list[Bind] = []
    symlinks: list[tuple[str, str]] = []
    masks: list[str] = []
    for lib in _LIB_DIRS:
        if os.path.islink(lib):
            symlinks.append((lib, os.readlink(lib)))
        elif os.path.isdir(lib):
            binds.append(Bind(lib, lib))
    if os.path.isfile("/etc/ld.so.cache"):
        binds.append(Bind("/etc/ld.so.cache", "/etc/ld.so.cache", is_file=True))

    prefix = Path(os.path.realpath(sys.base_prefix))
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    env = {"LD_LIBRARY_PATH": "/usr/local/lib"}
    if str(prefix) in ("/usr", "/"):
        # A distribution Python: its stdlib is under /usr/lib (bound above); bind just the binary.
        binary = os.path.realpath(sys._base_executable if hasattr(sys, "_base_executable") else sys.executable)
        python = "/usr/local/bin/python3"
        binds.append(Bind(binary, python, is_file=True))
        stdlib = Path(sysconfig.get_paths()["stdlib"])
        env = {}
        for site_dir in ("dist-packages", "site-packages"):
            if (stdlib / site_dir).is_dir():
                masks.append(str(stdlib / site_dir))
        if os.path.isdir("/usr/lib/python3/dist-packages"):
            masks.append("/usr/lib/python3/dist-packages")
    else:
        # A self-contained prefix (pyenv, python.org build, /opt/python): it becomes /usr/local.
        binds.append(Bind(str(prefix / "bin"), "/usr/local/bin"))
        binds.append(Bind(str(prefix / "lib"), "/usr/local/lib"))
        python = f"/usr/local/bin/{version}"
        if not (prefix / "bin" / version).exists():
            python = "/usr/local/bin/python3"
        # The host's own site-packages (pip, dev tools, anything) stays hidden.
        if (prefix / "lib" / version / "site-packages").is_dir():
            masks.append(f"/usr/local/lib/{version}/site-packages")

    pythonpath = [SDK_DIR, PACKAGES_DIR]
    sdk = _sdk_dir()
    if sdk is not None:
        binds.append(Bind(str(sdk), f"{SDK_DIR}/arena_bot", executable=False))
    for source in _package_sources(packages):
        binds.append(Bind(str(source), f"{PACKAGES_DIR}/{source.name}", is_file=source.is_file()))
    env["PYTHONPATH"] = ":".join(pythonpath)
    return RootfsLayout(python=python, binds=tuple(binds), symlinks=tuple(symlinks), masks=tuple(masks), env=env)


_PASSWD = f"root:x:0:0:root:/:/sbin/nologin\nbot:x:{SANDBOX_UID}:{SANDBOX_GID}:bot:/tmp:/sbin/nologin\n"
_GROUP = f"root:x:0:\nbot:x:{SANDBOX_GID}:\n"
_HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost\n"


def ensure_skeleton(layout: RootfsLayout, base: Path) -> Path:
    """Create (once, atomically) the shared skeleton for ``layout`` under ``base`` and return its path.

    Every mount point already exists in the skeleton, so the runtime never writes to it and many
    containers can share it at once.
    """
    if layout.image is not None:
        return Path(layout.image)
    root = base / f"rootfs-{layout.digest()}"
    if (root / ".complete").exists():
        return root
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".rootfs-", dir=base))
    try:
        for directory in ("proc", "dev", "tmp", "etc", "bot", "usr/local/bin", "opt/arena/sdk", PACKAGES_DIR[1:]):
            (tmp / directory).mkdir(parents=True, exist_ok=True)
        (tmp / "bot" / "main.py").touch()  # mount point when the bot is a single file
        (tmp / "etc" / "passwd").write_text(_PASSWD)
        (tmp / "etc" / "group").write_text(_GROUP)
        (tmp / "etc" / "hosts").write_text(_HOSTS)
        (tmp / "etc" / "hostname").write_text("bot\n")
        for path, target in layout.symlinks:
            link = tmp / path.lstrip("/")
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target)
        for bind in layout.binds:
            point = tmp / bind.target.lstrip("/")
            point.parent.mkdir(parents=True, exist_ok=True)
            if bind.is_file:
                point.touch()
            else:
                point.mkdir(exist_ok=True)
        for dirpath, _dirnames, filenames in os.walk(tmp):
            os.chmod(dirpath, 0o755)
            for name in filenames:
                os.chmod(os.path.join(dirpath, name), 0o644)
        # runc gives a tmpfs the mode of the directory it covers: /tmp must be world-writable, sticky.
        os.chmod(tmp / "tmp", 0o1777)
        (tmp / ".complete").touch()
        try:
            tmp.rename(root)
        except OSError:  # another process won the race; theirs is equivalent
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


ENV_ROOTFS = "ARENA_SANDBOX_ROOTFS"
ENV_IMAGES_DIR = "ARENA_IMAGES_DIR"
DEFAULT_IMAGES_DIR = Path("/var/lib/arena/images")
MANIFEST = "opt/arena/manifest.json"


def images_dir() -> Path:
    """Where ``arena images build`` installs runner rootfs directories (``$ARENA_IMAGES_DIR``)."""
    return Path(os.environ.get(ENV_IMAGES_DIR) or DEFAULT_IMAGES_DIR)


def installed_image() -> Path | None:
    """The current runner rootfs (``<images dir>/rootfs/python``), if one has been built."""
    path = images_dir() / "rootfs" / "python"
    return path if (path / MANIFEST).is_file() else None


def image_layout(rootfs: str | os.PathLike[str]) -> RootfsLayout:
    """Use an unpacked runner image (runner-images/python/Dockerfile, exported) as the rootfs."""
    from sandbox.errors import SandboxError

    root = Path(rootfs).resolve()
    missing = [p for p in ("usr/local/bin/python3", "proc", "dev", "tmp", "bot/main.py", "opt/arena/sdk")
               if not (root / p).exists()]
    if missing:
        raise SandboxError(f"{root} is not an Arena runner image rootfs: missing {', '.join(missing)} "
                           "(build it with `arena images build`)")
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        manifest = {}
    return RootfsLayout(python="/usr/local/bin/python3", binds=(), symlinks=(),
                        env={"PYTHONPATH": f"{SDK_DIR}:{PACKAGES_DIR}"}, image=str(root),
                        manifest=manifest if isinstance(manifest, dict) else {})


def default_layout(runtime: str = "runsc") -> RootfsLayout:
    """The runner image: ``$ARENA_SANDBOX_ROOTFS``, else the one ``arena images build`` installed.

    Without one, runc (a development fallback) binds this host's Python instead; runsc refuses, since
    production bots must run on the pinned image, not on whatever the host has installed.
    """
    from sandbox.errors import SandboxError

    image = os.environ.get(ENV_ROOTFS) or installed_image()
    if image:
        return image_layout(image)
    if runtime == "runc":
        return host_layout()
    raise SandboxError(
        f"no runner image: build it with `arena images build` (it installs {images_dir()}/rootfs/python), "
        f"or point {ENV_ROOTFS} at an exported one; for development only, "
        "ARENA_SANDBOX_RUNTIME=runc runs bots on this host's Python instead"
    )


def describe(layout: RootfsLayout, rootfs: Path) -> str:
    """Human-readable account of what a container sees (``python -m sandbox rootfs``)."""
    lines = [f"rootfs   {rootfs}", f"python   {layout.python}"]
    if layout.manifest:
        lines.append(f"image    {json.dumps(layout.manifest, sort_keys=True)}")
    lines += [f"bind ro  {bind.source} -> {bind.target}" for bind in layout.binds]
    lines += [f"symlink  {path} -> {target}" for path, target in layout.symlinks]
    lines += [f"hidden   {mask}" for mask in layout.masks]
    lines += [f"env      {key}={value}" for key, value in layout.env.items()]
    return "\n".join(lines)
