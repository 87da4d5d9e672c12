"""Pinned wheels for the runner image: what Debian does not package (onnxruntime), from the package index.

runner-images/python/wheels.txt names each wheel as a pip requirement with its sha256 (``name==version
--hash=sha256:...``). That file is part of the recipe, so the digest covers the pins without the wheels being
downloaded: a cached rootfs is found offline. A build fetches them on the host (``pip download
--require-hashes``, binary only, no dependencies, for the image's Python and platform), checks the hash again,
and keeps them under ``<images dir>/wheels``; the Docker build (networking off) and the assembler unpack them
from the build context into /opt/arena/site-packages.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from arena.images.errors import ImageError
from arena.images.fs import remove_tree

Progress = Callable[[str], None]

WHEELS_FILE = "wheels.txt"
# The image's interpreter: Debian bookworm's Python 3.11 on glibc 2.36, so manylinux wheels up to 2_36.
IMAGE_PYTHON = "3.11"
IMAGE_GLIBC_MINOR = 36
_MACHINES = {"amd64": "x86_64", "arm64": "aarch64"}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.!+_-]+)$")
_HASH = re.compile(r"^--hash=sha256:([0-9a-f]{64})$")


@dataclass(frozen=True)
class WheelPin:
    name: str
    version: str
    sha256: tuple[str, ...]  # any of these (one per platform's wheel)

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version} " + " ".join(f"--hash=sha256:{h}" for h in self.sha256)


def parse_pins(text: str) -> tuple[WheelPin, ...]:
    """The pins of a wheels.txt: one ``name==version --hash=sha256:HEX ...`` a line; ``#`` starts a comment."""
    pins: list[WheelPin] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        tokens = raw.split("#", 1)[0].split()
        if not tokens:
            continue
        pin, hashes = _PIN.match(tokens[0]), [_HASH.match(t) for t in tokens[1:]]
        if pin is None or not hashes or not all(hashes):
            raise ImageError(f"{WHEELS_FILE}, line {number}: expected 'name==version --hash=sha256:<64 hex>', "
                             f"got {raw.strip()!r}", code="BAD_WHEEL_PIN")
        pins.append(WheelPin(pin.group(1), pin.group(2), tuple(m.group(1) for m in hashes if m)))
    return tuple(pins)


def sha256_of(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def run_pip(args: list[str], progress: Progress) -> None:
    """``python -m pip ARGS`` with the index this host's pip is configured with; ImageError with its stderr."""
    progress("pip " + " ".join(args))
    run = subprocess.run([sys.executable, "-m", "pip", *args, "--quiet", "--disable-pip-version-check"],
                         capture_output=True, text=True, timeout=1800)
    if run.returncode != 0:
        raise ImageError(f"pip {args[0]} failed:\n{run.stderr.strip()[-2000:]}", code="WHEELS_FAILED")


def platform_args(architecture: str) -> list[str]:
    """pip's target options for the image's interpreter (``--platform`` once per manylinux level it accepts)."""
    machine = _MACHINES.get(architecture)
    if machine is None:
        raise ImageError(f"no wheels are pinned for the architecture {architecture!r}", code="BAD_WHEEL_PIN")
    levels = [f"manylinux_2_{minor}_{machine}" for minor in range(IMAGE_GLIBC_MINOR, 16, -1)]
    return ["--only-binary=:all:", "--no-deps", "--python-version", IMAGE_PYTHON, "--implementation", "cp",
            "--abi", f"cp{IMAGE_PYTHON.replace('.', '')}", *(a for level in levels for a in ("--platform", level))]


def _cached(pin: WheelPin, architecture: str, cache_dir: Path) -> Path | None:
    # The cache holds every architecture's wheel, and a pin's hashes cover them all: match the platform tag too.
    machine = _MACHINES.get(architecture, architecture)
    for path in sorted(cache_dir.glob(f"{pin.name.replace('-', '_')}-{pin.version}-*.whl")):
        if not path.name.endswith((f"_{machine}.whl", "-any.whl")):
            continue
        if sha256_of(path) in pin.sha256:
            return path
    return None


def fetch_wheels(pins: tuple[WheelPin, ...], architecture: str, cache_dir: Path,
                 progress: Progress = lambda _line: None) -> list[Path]:
    """Each pinned wheel for the image, from ``cache_dir`` or downloaded into it; its hash checked either way."""
    found: list[Path] = []
    for pin in pins:
        cached = _cached(pin, architecture, cache_dir) if cache_dir.is_dir() else None
        if cached is not None:
            progress(f"{cached.name} is cached")
            found.append(cached)
            continue
        cache_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".download-", dir=cache_dir))
        try:
            requirements = work / "requirements.txt"
            requirements.write_text(pin.requirement + "\n")
            run_pip(["download", "--require-hashes", "--dest", str(work), "-r", str(requirements),
                     *platform_args(architecture)], progress)
            wheels = sorted(work.glob("*.whl"))
            if len(wheels) != 1:
                raise ImageError(f"pip download of {pin.name}=={pin.version} gave {len(wheels)} wheels",
                                 code="WHEELS_FAILED")
            digest = sha256_of(wheels[0])
            if digest not in pin.sha256:  # pip checked it too; this is what the recipe promises
                raise ImageError(f"{wheels[0].name}: sha256 {digest} is not the one pinned in {WHEELS_FILE}",
                                 code="WHEEL_HASH_MISMATCH")
            final = cache_dir / wheels[0].name
            wheels[0].replace(final)
            found.append(final)
        finally:
            remove_tree(work)
    return found
