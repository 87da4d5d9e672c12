"""What the installed runsc (gVisor) can do, read from the binary itself, and the flags Arena gives it.

gVisor releases differ in what they accept: Debian bookworm's 2022-12 build knows the ptrace and kvm
platforms only, the 2024 release adds systrap (and makes it the default). Hard-coding a platform broke
every bot on one of them, so the platform and every optional flag is chosen from the binary's own
answers to ``runsc --version``, ``runsc help platforms`` and ``runsc flags``.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from dataclasses import dataclass

from sandbox.errors import RuntimeUnavailable

ENV_PLATFORM = "ARENA_SANDBOX_PLATFORM"
# Preferred first. kvm is never chosen by itself: it needs /dev/kvm and hangs without nested
# virtualisation, so it must be asked for (and then it is proven with a probe run).
_PREFERENCE = ("systrap", "ptrace")
_PROBE_TIMEOUT = 20.0


@dataclass(frozen=True)
class RunscFeatures:
    """The capabilities of one runsc binary."""

    version: str  # e.g. "0.0~20221219.0" or "release-20240729.0"
    platforms: tuple[str, ...]  # as `runsc help platforms` lists them
    flags: frozenset[str]  # global flag names, without dashes

    def platform(self, wanted: str | None = None) -> str:
        """The platform to run bots on: ``wanted`` if given (and supported), else the best known one."""
        if wanted:
            if wanted not in self.platforms:
                raise RuntimeUnavailable(
                    f"{ENV_PLATFORM}={wanted!r}: this runsc ({self.version}) supports only "
                    f"{', '.join(self.platforms) or 'no platform it would name'}"
                )
            return wanted
        for name in _PREFERENCE:
            if name in self.platforms:
                return name
        raise RuntimeUnavailable(
            f"runsc {self.version} offers no platform Arena can use without hardware virtualisation "
            f"(it lists: {', '.join(self.platforms) or 'none'}); install a gVisor release with ptrace or systrap"
        )

    def require(self, *names: str) -> None:
        missing = [name for name in names if name not in self.flags]
        if missing:
            raise RuntimeUnavailable(
                f"runsc {self.version} lacks the flag(s) {', '.join('--' + n for n in missing)} that Arena needs "
                "to own the sandbox's cgroup and keep it off the network; install a newer gVisor release"
            )

    def global_flags(self, platform: str) -> list[str]:
        """Flags for every runsc invocation of a bot container."""
        self.require("network", "ignore-cgroups", "platform")
        flags = ["--network=none", f"--platform={platform}", "--ignore-cgroups"]
        if "oci-seccomp" in self.flags:
            flags.append("--oci-seccomp")  # without it, runsc ignores the OCI profile entirely
        if "overlay2" in self.flags:
            flags.append("--overlay2=none")  # the root stays the read-only image, not a writable overlay
        return flags


def parse_version(text: str) -> str:
    match = re.search(r"runsc version (\S+)", text)
    return match.group(1) if match else "unknown"


def parse_platforms(text: str) -> tuple[str, ...]:
    return tuple(word for word in (line.strip() for line in text.splitlines()) if re.fullmatch(r"[a-z0-9_]+", word))


def parse_flags(text: str) -> frozenset[str]:
    # `runsc flags` prints Go's flag usage: "  -name type" lines, each followed by an indented description.
    return frozenset(re.findall(r"^\s{2}-([a-z0-9][a-z0-9_-]*)", text, flags=re.MULTILINE))


def features_from_outputs(version: str, platforms: str, flags: str) -> RunscFeatures:
    return RunscFeatures(parse_version(version), parse_platforms(platforms), parse_flags(flags))


def _ask(path: str, *args: str) -> str:
    try:
        done = subprocess.run([path, *args], capture_output=True, text=True, timeout=10, check=False,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RuntimeUnavailable(f"{path} {' '.join(args)} failed: {error}") from None
    return done.stdout + done.stderr


@functools.cache
def detect(path: str) -> RunscFeatures:
    """Ask the binary at ``path`` what it supports (once per process)."""
    features = features_from_outputs(_ask(path, "--version"), _ask(path, "help", "platforms"), _ask(path, "flags"))
    if features.version == "unknown":
        raise RuntimeUnavailable(f"{path} does not answer like runsc to --version; is it gVisor's runsc?")
    return features


@functools.cache
def prove_platform(path: str, platform: str) -> None:
    """Run ``/bin/true`` once on ``platform`` (used for kvm, which can hang where it is not really there)."""
    if platform == "kvm" and not os.path.exists("/dev/kvm"):
        raise RuntimeUnavailable("the kvm platform needs /dev/kvm, which this host does not have")
    try:
        done = subprocess.run([path, "--network=none", f"--platform={platform}", "--ignore-cgroups", "do", "true"],
                              capture_output=True, timeout=_PROBE_TIMEOUT, check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise RuntimeUnavailable(f"runsc on the {platform} platform did not finish /bin/true within "
                                 f"{_PROBE_TIMEOUT:g} s; choose another platform") from None
    if done.returncode != 0:
        raise RuntimeUnavailable(f"runsc on the {platform} platform cannot run /bin/true: "
                                 f"{done.stderr.decode(errors='replace').strip()[-500:]}")


def choose_platform(path: str, features: RunscFeatures) -> str:
    wanted = os.environ.get(ENV_PLATFORM) or None
    platform = features.platform(wanted)
    if wanted == "kvm":
        prove_platform(path, platform)
    return platform
