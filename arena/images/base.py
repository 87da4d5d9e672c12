"""The base filesystem: Debian with Python, numpy, pandas and scikit-learn, made by mmdebstrap, no image registry
involved.

The tarball is cached by the digest of its recipe (suite, packages, architecture, this module's version),
so it is built once per machine; delete it (or ``arena images build --rebuild``) to pick up security
updates. Packages come from the host's own apt sources for the suite when it has any, else from
mmdebstrap's default (deb.debian.org).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from arena.images.errors import BaseBuildError, MissingToolError
from arena.images.fs import normalize_owner, remove_tree

Progress = Callable[[str], None]

BASE_RECIPE_VERSION = 5  # bump when the mmdebstrap options or _trim change what the tarball holds
SUITE = "bookworm"
# The minimum for `import numpy, pandas, sklearn` (pytz, dateutil, six, scipy, joblib and threadpoolctl come as
# dependencies); the essential variant has no apt. onnxruntime is not in Debian: a pinned wheel
# (runner-images/python/wheels.txt, arena/images/wheels.py).
PACKAGES = ("python3", "python3-numpy", "python3-pandas", "python3-sklearn", "tzdata")
# mmdebstrap's own hook: lays out merged /usr up front, so init-system-helpers' "usrmerge | usr-is-merged"
# is met by usr-is-merged instead of usrmerge and the Perl it needs (50 MB).
_MERGED_USR_HOOKS = Path("/usr/share/mmdebstrap/hooks/merged-usr")

# A compiler toolchain: Debian's scipy depends on pythran (a compiler for Python), which depends on g++, binutils,
# Boost and the Python headers, none of which scipy or a bot needs at run time (about 450 MB, thousands of files,
# and programs a bot has no business running). dpkg never writes the bulk of it (its globs match across "/");
# the drivers' programs stay until the install is done (their packages' scripts register them as alternatives).
_TOOLCHAIN = ("/usr/include/*", "/usr/lib/gcc/*", "/usr/libexec/gcc/*", "/usr/share/gcc/*",
              "/usr/lib/python3.11/config-3.11-*", "/usr/lib/*-linux-gnu/*.a", "/usr/lib/*-linux-gnu/lib*san.so*",
              "/usr/bin/*-linux-gnu-lto-dump*")
_TOOLCHAIN_PROGRAMS = ("usr/bin/*-linux-gnu-*", "usr/bin/gcc*", "usr/bin/g++*", "usr/bin/cpp*", "usr/bin/c++*",
                       "usr/bin/cc", "usr/bin/ld", "usr/bin/ld.*", "usr/bin/as", "usr/bin/gold", "usr/bin/ar",
                       "usr/bin/nm", "usr/bin/objcopy", "usr/bin/objdump", "usr/bin/ranlib", "usr/bin/readelf",
                       "usr/bin/strip", "usr/bin/pythran*")

# dpkg skips these while unpacking; copyright files stay (the licences travel with the binaries).
_DPKG_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*",
                  "/usr/share/lintian/*", *_TOOLCHAIN)
_DPKG_INCLUDES = ("/usr/share/doc/*/copyright",)

# Removed after install: package-manager state and caches, anything that installs Python packages,
# and every device node (the sandbox mounts its own /dev).
_REMOVE = ("etc/apt", "var/lib/apt", "var/cache/apt", "var/cache/debconf/*-old", "var/lib/dpkg/*-old",
           "var/log/*", "usr/share/man", "usr/share/info", "usr/share/lintian", "usr/share/locale/*",
           "usr/lib/python3*/ensurepip", "usr/lib/python3/dist-packages/pip", "usr/lib/python3/dist-packages/pip-*",
           "usr/local/lib/python3*/dist-packages/pip*", "usr/bin/pip*", "dev/*",
           *_TOOLCHAIN_PROGRAMS, *(p.lstrip("/").removesuffix("/*") for p in _TOOLCHAIN))

# Files Docker bind-mounts into a container. The image ships its own, so `docker export` gives back exactly
# the image (Docker only adds placeholders where they are missing), and so the sandbox's read-only root
# has them without Docker. No network in the sandbox: resolv.conf is empty.
_ETC_FILES = {"etc/hostname": "bot\n", "etc/hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost\n", "etc/resolv.conf": ""}


def host_architecture() -> str:
    dpkg = shutil.which("dpkg")
    if dpkg is None:
        raise MissingToolError("dpkg not found: the base image is built on Debian or Ubuntu")
    return subprocess.run([dpkg, "--print-architecture"], capture_output=True, text=True, check=True).stdout.strip()


@dataclass(frozen=True)
class BaseRecipe:
    suite: str = SUITE
    packages: tuple[str, ...] = PACKAGES
    architecture: str = field(default_factory=host_architecture)
    version: int = BASE_RECIPE_VERSION

    def digest(self) -> str:
        """sha256 of what determines the tarball's content (not where the packages were downloaded from)."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class BaseTarball:
    path: Path
    recipe: BaseRecipe
    digest: str
    cached: bool
    seconds: float


def _deb822_stanzas(text: str) -> list[dict[str, str]]:
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                stanzas.append(current)
            current, key = {}, ""
        elif line[0] in " \t" and key:
            current[key] += "\n" + line  # a continuation line (e.g. an inline Signed-By key)
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            current[key] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def _one_line_entries(text: str) -> list[dict[str, str]]:
    entries: list[dict[str, str]] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        match = re.match(r"^(deb)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$", line)
        if not match:
            continue
        options = dict(opt.split("=", 1) for opt in (match.group(2) or "").split() if "=" in opt)
        entry = {"types": "deb", "uris": match.group(3), "suites": match.group(4), "components": match.group(5)}
        if "signed-by" in options:
            entry["signed-by"] = options["signed-by"]
        if "arch" in options:
            entry["architectures"] = options["arch"]
        entries.append(entry)
    return entries


def host_sources(suite: str, apt_dir: Path = Path("/etc/apt")) -> str | None:
    """The host's apt sources for ``suite`` and its -updates and -security suites, as deb822, or None.

    Other repositories configured on the host (a vendor's, a PPA) are left out: the base is Debian only.
    """
    wanted = {suite, f"{suite}-updates", f"{suite}-security"}
    entries: list[dict[str, str]] = []
    one_line = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*.list"))]
    for path in one_line:
        if path.is_file():
            entries += _one_line_entries(path.read_text(errors="replace"))
    for path in sorted((apt_dir / "sources.list.d").glob("*.sources")):
        entries += [s for s in _deb822_stanzas(path.read_text(errors="replace"))
                    if s.get("enabled", "yes").lower() != "no"]
    stanzas: list[str] = []
    for entry in entries:
        suites = [s for s in entry.get("suites", "").split() if s in wanted]
        if "deb" not in entry.get("types", "").split() or not suites or not entry.get("uris"):
            continue
        fields = {"Types": "deb", "URIs": entry["uris"], "Suites": " ".join(suites),
                  "Components": entry.get("components") or "main"}
        for name in ("signed-by", "architectures"):
            if name in entry:
                fields[name.title()] = entry[name]
        stanzas.append("".join(f"{k}: {v}\n" for k, v in fields.items()))
    return "\n".join(stanzas) if stanzas else None


def _trim(root: Path) -> None:
    """Strip the installed tree down to what a bot's interpreter needs (see _REMOVE, _ETC_FILES)."""
    for pattern in _REMOVE:
        # A name without wildcards is looked up itself: glob() skips a symlink whose target went first (usr/bin/ld).
        for path in root.glob(pattern) if glob.has_magic(pattern) else [root / pattern]:
            remove_tree(path)
    for name, content in _ETC_FILES.items():
        path = root / name
        path.unlink(missing_ok=True)
        path.write_text(content)
        path.chmod(0o644)
    mtab = root / "etc" / "mtab"
    if not mtab.is_symlink():
        mtab.unlink(missing_ok=True)
        mtab.symlink_to("../proc/self/mounts")
    (root / "dev").chmod(0o755)
    os.chmod(root / "tmp", 0o1777)
    normalize_owner(root)


def _run_logged(command: list[str], progress: Progress, env: dict[str, str] | None = None) -> list[str]:
    """Run ``command``, passing each output line to ``progress``; return the lines (raises on failure)."""
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", env=env)
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        progress(lines[-1])
    if proc.wait() != 0:
        tail = "\n".join(lines[-20:])
        raise BaseBuildError(f"{Path(command[0]).name} exited with status {proc.returncode}:\n{tail}")
    return lines


def tarball_path(cache_dir: Path, recipe: BaseRecipe) -> Path:
    return cache_dir / f"base-{recipe.suite}-{recipe.architecture}-{recipe.digest()[:16]}.tar"


def build_base(recipe: BaseRecipe, cache_dir: Path, *, progress: Progress = lambda _line: None,
               force: bool = False) -> BaseTarball:
    """The base tarball for ``recipe``: from the cache, or built with mmdebstrap (as root) and cached."""
    started = time.monotonic()
    digest = recipe.digest()
    out = tarball_path(cache_dir, recipe)
    if out.is_file() and not force:
        progress(f"base {out.name} is cached")
        return BaseTarball(out, recipe, digest, cached=True, seconds=time.monotonic() - started)
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise MissingToolError("mmdebstrap not found: install the Debian package mmdebstrap")
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".base-", dir=cache_dir))
    try:
        root = work / "root"
        command = [mmdebstrap, "--variant=essential", "--mode=root", "--format=directory",
                   "--aptopt=APT::Sandbox::User \"root\"",  # root mode: apt runs as root anyway; say so
                   f"--include={','.join(recipe.packages)}", f"--architectures={recipe.architecture}",
                   *([f"--hook-dir={_MERGED_USR_HOOKS}"] if _MERGED_USR_HOOKS.is_dir() else []),
                   *(f"--dpkgopt=path-exclude={p}" for p in _DPKG_EXCLUDES),
                   *(f"--dpkgopt=path-include={p}" for p in _DPKG_INCLUDES),
                   recipe.suite, str(root)]
        sources = host_sources(recipe.suite)
        if sources is not None:
            (work / "sources.sources").write_text(sources)
            command.append(str(work / "sources.sources"))  # a file argument: mmdebstrap pastes its contents
        progress(f"mmdebstrap {recipe.suite}: {', '.join(recipe.packages)}")
        _run_logged(command, progress)
        progress("trimming the base (apt state, docs, pip, ensurepip, device nodes)")
        _trim(root)
        packed = work / "base.tar"
        _run_logged(["tar", "--create", "--numeric-owner", "--sort=name", "--file", str(packed),
                     "--directory", str(root), "."], progress)
        meta = {"recipe": asdict(recipe), "digest": digest, "sources": sources}
        out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
        os.replace(packed, out)
    finally:
        remove_tree(work)
    seconds = time.monotonic() - started
    progress(f"base {out.name} built in {seconds:.0f}s ({out.stat().st_size / 2**20:.0f} MiB)")
    return BaseTarball(out, recipe, digest, cached=False, seconds=seconds)
