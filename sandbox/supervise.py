"""Running one bot: start the container, verify its limits, supervise it, classify its end, clean up."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import itertools
import json
import os
import resource
import secrets
import selectors
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

from sandbox import botfiles, uids
from sandbox.adoption import AdoptedProcess, adopting
from sandbox.bundle import GATE_BYTE, POOLED_ARG, READY_BYTE, build_config, python_args, write_bundle
from sandbox.cgroup import CGROUP_PARENT, CgroupStats, ContainerCgroup
from sandbox.channel import JsonLineChannel
from sandbox.errors import RuntimeUnavailable, SandboxRefused
from sandbox.fds import ensure_headroom
from sandbox.limits import Limits
from sandbox.outcome import Outcome, Status
from sandbox.pool import SandboxPool
from sandbox.reaper import bot_copies_dir, bundles_dir, ensure_watchdog, owner_key, reap_orphans
from sandbox.rootfs import BOT_DIR, SANDBOX_GID, SANDBOX_UID, RootfsLayout, default_layout, ensure_skeleton
from sandbox.runtime import PID_FILE, Runtime, select_runtime, state_dir
from sandbox.watcher import off_watcher, on_watcher, watcher_loop

OutputCallback = Callable[[bytes], None]

START_TIMEOUT = 30.0  # the runtime must have created the container by then (generous: 200 bots at once)
VERIFY_GRACE = 15.0  # once the container exists, its limits must read back within this (slow in bursts of starts)
STATS_INTERVAL = 0.5  # how often the CPU-seconds backstop is checked
DRAIN_AFTER_EXIT = 2.0  # pipes are closed when the pid namespace dies; this only bounds a runtime bug
_CHUNK = 65536

# Joins the cgroup(s) named before "--", then becomes the runtime: every process the runtime starts (for
# runsc: the Sentry, the gofer and, on ptrace, the stubs that run the bot's code) is born inside it.
ENTER_CGROUP = [
    "/bin/sh", "-c",
    'while [ "$1" != "--" ]; do echo $$ > "$1" || { echo "arena-sandbox: cannot join the cgroup $1" >&2; '
    'exit 125; }; shift; done; shift; exec "$@"',
    "arena-enter-cgroup",
]
# runsc's own tasks share the container's pids cgroup: its Go runtime and gofer use ~30 threads idle plus a
# few per mount, and on ptrace every process of the bot has a host stub process with a thread per thread
# (measured: 63 forked children at RLIMIT_NPROC 64 held ~480 host tasks). The bot's own limit is
# RLIMIT_NPROC inside gVisor; the cgroup's pids.max is a backstop sized so that limit, or memory, comes first.
RUNSC_TASKS_PER_PID = 8
RUNSC_OWN_TASKS = 128


# Until its gate opens a runsc sandbox runs only the runtime and the interpreter's start-up, and the Sentry's
# CPU counts against the bot's quota: at 0.5 vCPU that boot took twice as long. It boots with this quota;
# the bot's own is written and read back before the gate opens.
BOOT_CPU = float(os.cpu_count() or 1)


def _refused(problems: list[str]) -> SandboxRefused:
    return SandboxRefused(
        "refusing to run the bot: its limits are not in force (" + "; ".join(problems) + "). "
        "The sandbox needs root (or a delegated cgroup) to create the bot's cgroup."
    )


# runsc's boot moves the bot's stdio to fds 256-258 and refuses to start if one of them is open. The slot's lock
# fd is inherited from the runtime process on down to it (so the slot stays taken while the Sentry runs), and a
# host process running ~50 bots has its fds past 256: the lock is handed over on a number clear of them.
RUNSC_STDIO_FDS = range(256, 259)


def _clear_of_stdio_remap(fd: int) -> int:
    """``fd``, or a duplicate of it (for the caller to close) above runsc's stdio numbers."""
    if fd in RUNSC_STDIO_FDS:
        return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, RUNSC_STDIO_FDS.stop)
    return fd


def host_pids_max(limits: Limits) -> int:
    return RUNSC_TASKS_PER_PID * limits.pids + RUNSC_OWN_TASKS


_counter = itertools.count()
_startup_lock = threading.Lock()
_started_up: set[tuple[int, str]] = set()


def _refuse_if_adopting(runtime: Runtime) -> None:
    """runsc leaves helper processes orphaned as it exits: a process that adopts orphans (sandbox.adopt_bots) would
    keep them as zombies, a set per bot, until it ran out of pids. So it runs none, and says so first."""
    if runtime.name == "runsc" and adopting():
        raise RuntimeUnavailable("this process adopts its bots' processes for runc (sandbox.adopt_bots): it "
                                 "cannot also run runsc sandboxes; run them from another process")  # fmt: skip


def _startup(runtime: Runtime) -> None:
    """Once per process and runtime: reap what crashed hosts left, and arm the parent-death watchdog."""
    key = (os.getpid(), runtime.path)
    with _startup_lock:
        if key in _started_up:
            return
        reap_orphans(runtime)
        _raise_fd_limit()
        _started_up.add(key)
    ensure_watchdog(runtime)


def _raise_fd_limit() -> None:
    """Each running bot holds ~5 fds in the host; the usual soft limit of 1024 caps a host at ~200 bots."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


ENTRY = f"{BOT_DIR}/{botfiles.ENTRY}"  # the bot's private copy is always a folder at /bot


class Sandbox:
    """Runs bots in containers under ``limits``; thread-safe, cheap to share.

    >>> outcome = Sandbox().run("bot.py", ["--fast"])   # doctest: +SKIP
    """

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        runtime: str | Runtime | None = None,
        layout: RootfsLayout | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self.runtime = runtime if isinstance(runtime, Runtime) else select_runtime(runtime)
        self.layout = layout or default_layout(self.runtime.name)
        self.rootfs = ensure_skeleton(self.layout, state_dir())
        uids.require_user_namespaces()
        uids.configured()  # a bad range is refused here, not at the first bot
        uids.require_reachable(self.rootfs / "bot", "the root filesystem")
        if self.runtime.name == "runsc":  # runc opens bind sources as root; runsc's gofer as the sandbox's uid
            for bind in self.layout.binds:
                uids.require_reachable(Path(bind.source), "the bind mount source")
        self.pool: SandboxPool | None = None

    def describe(self) -> dict[str, object]:
        """What bots run on here, for the record: the runtime, its release and platform, and the rootfs."""
        manifest = self.layout.manifest
        return {
            "runtime": self.runtime.name, "version": self.runtime.version or None, "platform": self.runtime.platform,
            "rootfs": "image" if self.layout.image else "host", "image": manifest.get("digest"),
            "python": manifest.get("python"), "packages": manifest.get("packages"),
        }

    def keep_ready(self, size: int) -> SandboxPool:
        """Keep ``size`` sandboxes of the default limits booted at their gates (see sandbox/pool.py)."""
        if self.pool is None:
            self.pool = SandboxPool(self, self.limits, size)
        return self.pool

    def prestart(self, limits: Limits | None = None) -> BotProcess:
        """Boot a sandbox with no bot yet; ``BotProcess.hand`` gives it one."""
        _refuse_if_adopting(self.runtime)
        _startup(self.runtime)
        ensure_headroom()  # before anything of the bot exists
        return BotProcess(
            sandbox=self, source=None, argv=python_args(self.layout, ENTRY, ()),
            limits=limits or self.limits, env=None, capture_stdout=False, stdin=None, on_stdout=None,
            on_stderr=None, pooled=True,
        )

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()

    def start(
        self,
        bot: str | os.PathLike[str],
        args: Sequence[str] = (),
        *,
        limits: Limits | None = None,
        env: Mapping[str, str] | None = None,
        capture_stdout: bool = False,
        stdin: bytes | None = None,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
    ) -> BotProcess:
        """Start ``bot`` (a .py file or a folder with main.py). Returns once the bot is running.

        Without ``capture_stdout`` the bot's stdin/stdout are left for ``BotProcess.channel``.
        Raises SandboxRefused if the limits cannot be verified; the bot has not run then.
        """
        _refuse_if_adopting(self.runtime)  # (before a pooled one, booted before this process adopted, is handed out)
        source = botfiles.resolve(bot)
        chosen = limits or self.limits
        pooled = self.pool.take() if self.pool is not None and chosen == self.pool.limits else None
        if pooled is not None:
            return pooled.hand(bot, args, env=env, capture_stdout=capture_stdout, stdin=stdin,
                               on_stdout=on_stdout, on_stderr=on_stderr)
        _startup(self.runtime)
        ensure_headroom()  # before anything of the bot exists
        return BotProcess(
            sandbox=self,
            source=source,
            argv=python_args(self.layout, ENTRY, args),
            limits=limits or self.limits,
            env=env,
            capture_stdout=capture_stdout,
            stdin=stdin,
            on_stdout=on_stdout,
            on_stderr=on_stderr,
        )

    def run(
        self,
        bot: str | os.PathLike[str],
        args: Sequence[str] = (),
        *,
        limits: Limits | None = None,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
    ) -> Outcome:
        """Run ``bot`` to its end, collecting (capped) stdout and stderr."""
        with self.start(bot, args, limits=limits, env=env, capture_stdout=True, stdin=stdin,
                        on_stdout=on_stdout, on_stderr=on_stderr) as process:
            return process.wait()


class BotProcess:
    """One running bot. Use as a context manager: leaving it kills the bot if it is still running."""

    def __init__(
        self,
        *,
        sandbox: Sandbox,
        source: Path | None,
        argv: Sequence[str],
        limits: Limits,
        env: Mapping[str, str] | None,
        capture_stdout: bool,
        stdin: bytes | None,
        on_stdout: OutputCallback | None,
        on_stderr: OutputCallback | None,
        pooled: bool = False,
    ) -> None:
        self.limits = limits
        self.runtime = sandbox.runtime
        owner = owner_key()
        self.container_id = f"{owner}-{next(_counter)}-{secrets.token_hex(3)}"
        self._root = self.runtime.state_root / owner
        self._bundle = bundles_dir(owner) / self.container_id
        self._bot_dir = bot_copies_dir(owner) / self.container_id  # empty until a pre-started one is given a bot
        self._capture = capture_stdout
        self._stdin_data = stdin
        self._on = {"stdout": on_stdout, "stderr": on_stderr}
        self._buffers = {"stdout": bytearray(), "stderr": bytearray()}
        self._truncated = {"stdout": False, "stderr": False}
        self._kill_reason: tuple[Status, str] | None = None
        self._kill_lock = threading.Lock()
        self._done = threading.Event()
        self._outcome: Outcome | None = None
        self._channel: JsonLineChannel | None = None
        self._cpu_seen: float | None = None
        self._peak_seen: int | None = None
        self._usage: tuple[float, CgroupStats] | None = None  # (monotonic time, the latest sample)

        relative = f"{CGROUP_PARENT}/{self.container_id}"
        self.pids_max = host_pids_max(limits) if self.runtime.host_owns_cgroup else limits.pids
        self._t0 = time.monotonic()
        self._spec = b""
        # A user namespace of its own on host uids no other sandbox holds, and a copy of the bot only they read.
        self.slot = uids.take(state_dir() / "uids")
        try:
            botfiles.make_searchable(self._bot_dir.parent)
            botfiles.copy_private(source, self._bot_dir, *self.bot_owner)
            if pooled:
                argv = [*argv, POOLED_ARG]
            config = build_config(
                layout=sandbox.layout, rootfs=sandbox.rootfs, limits=limits, args=argv, bot_source=self._bot_dir,
                cgroups_path=relative, env=env, runtime=self.runtime.name,
                recursive_readonly=self.runtime.recursive_readonly, uids=self.slot.uids,
            )
            self._root.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_bundle(self._bundle, config)
            self.cgroup = self._own_cgroup(relative) if self.runtime.host_owns_cgroup else \
                ContainerCgroup.for_relative_path(relative)
        except BaseException:
            shutil.rmtree(self._bundle, ignore_errors=True)
            shutil.rmtree(self._bot_dir, ignore_errors=True)
            self.slot.release()
            raise
        # runc detached hands the bot our pipes (no copying runtime between), where this process adopts its bots.
        detach = self.runtime.name == "runc" and adopting()
        command = self.runtime.run_args(self._root, self._bundle, self.container_id, detach=detach)
        if self.runtime.host_owns_cgroup:
            command = [*ENTER_CGROUP, *map(str, self.cgroup.procs_files()), "--", *command]
        # The runtime's process holds the slot's lock too: the slot stays taken while anything of it runs.
        slot_fd = _clear_of_stdio_remap(self.slot.fd)
        try:
            self._proc = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
                start_new_session=True, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, pass_fds=(slot_fd,),
            )
        finally:
            if slot_fd != self.slot.fd:
                os.close(slot_fd)
        # The bot's first process: the runtime's (foreground), or the bot's own once a detached runc has exited.
        self._init: subprocess.Popen[bytes] | AdoptedProcess = self._proc
        try:
            if detach:
                self._init = self._adopt()
            started = self._await_verified() and self._await_ready()
        except BaseException:
            self._abort()
            raise
        self._ready = started
        self._gate_open = False
        self._watched = False  # by this process's watcher (sandbox/watcher.py), from the gate on
        if not pooled:
            self._begin()

    def _begin(self) -> None:
        """Let the bot run: open the gate (if the runtime started) and supervise it from now on."""
        self._cpu_at_gate = 0.0
        if self._ready:
            self._enforce_run_limits()
            self._cpu_at_gate = self.cgroup.stats().cpu_seconds or 0.0
        self.start_seconds = time.monotonic() - self._t0
        self._started_at = time.monotonic()
        if self._ready:
            self._open_gate()
        self._watched = True
        on_watcher(self._watch)

    @property
    def bot_owner(self) -> tuple[int, int]:
        """The host uid and gid of the bot's own user (10001 inside) in this sandbox's slot."""
        return self.slot.uids.host(SANDBOX_UID), self.slot.uids.host(SANDBOX_GID)

    @property
    def waiting(self) -> bool:
        """A pre-started sandbox still at its gate, alive, with no bot yet."""
        return not self._watched and self._ready and self._init.poll() is None

    def discard(self) -> None:
        """Remove a pre-started sandbox that will not be given a bot."""
        if self._watched:
            self.kill("discarded")
        else:
            self._abort()

    def hand(
        self,
        bot: str | os.PathLike[str],
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        capture_stdout: bool = False,
        stdin: bytes | None = None,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
    ) -> BotProcess:
        """Give a pre-started sandbox (``pooled=True``) its bot, then open the gate; as ``Sandbox.start``."""
        source = botfiles.resolve(bot)
        self._t0 = time.monotonic()  # from here, start_seconds is the bot-ready latency the pool gives
        botfiles.copy_private(source, self._bot_dir, *self.bot_owner)
        self._capture, self._stdin_data = capture_stdout, stdin
        self._on = {"stdout": on_stdout, "stderr": on_stderr}
        self._spec = json.dumps({"argv": list(args), "env": dict(env or {})}).encode() + b"\n"
        self._begin()
        return self

    # -- start-up -----------------------------------------------------------------------------------

    def _own_cgroup(self, relative: str) -> ContainerCgroup:
        """Create the container's cgroup with its limits and read them back, before anything starts in it."""
        cgroup = ContainerCgroup.for_relative_path(relative)
        boot = self.limits.replace(cpu=max(self.limits.cpu, BOOT_CPU))
        try:
            cgroup.create(boot, self.pids_max)
            problems = cgroup.verify(boot, self.pids_max)
        except OSError as error:
            problems = [f"cannot write the container's cgroup: {error}"]
        if problems:
            cgroup.destroy()
            raise _refused(problems)
        return cgroup

    def _enforce_run_limits(self) -> None:
        """Before the gate: the bot's own CPU quota replaces the boot quota, and every limit is read back."""
        if not self.runtime.host_owns_cgroup:
            return  # runc wrote them itself; _await_verified read them back
        try:
            self.cgroup.set_cpu(self.limits)
            problems = self.cgroup.verify(self.limits, self.pids_max)
        except OSError as error:
            problems = [f"cannot write the container's cgroup: {error}"]
        if problems:
            self._abort()
            raise _refused(problems)

    def _adopt(self) -> subprocess.Popen[bytes] | AdoptedProcess:
        """Wait for a detached runc to start the bot and exit; then the bot's process is ours to wait for.

        A runc that failed is returned as is: its exit code and log say why (a host fault)."""
        try:
            if self._proc.wait(timeout=START_TIMEOUT) != 0:
                return self._proc
        except subprocess.TimeoutExpired:
            raise SandboxRefused(
                f"the sandbox did not start within {START_TIMEOUT:g} s; the host is overloaded") from None
        try:
            pid = int((self._bundle / PID_FILE).read_text())
            return AdoptedProcess(pid)
        except (OSError, ValueError) as error:
            raise SandboxRefused(f"cannot watch the bot's process: {error}") from None

    def _await_verified(self) -> bool:
        """Wait until the kernel reports our limits on the container's cgroup. False: the runtime died."""
        if self.runtime.host_owns_cgroup:
            # Verified before the runtime started; the wrapper joins the cgroup before it runs the runtime.
            return self._init.poll() is None
        deadline = self._t0 + START_TIMEOUT
        seen_at: float | None = None
        problems: list[str] = ["the container's cgroup never appeared"]
        delay = 0.001
        state_file = self._root / self.container_id / "state.json"
        while True:
            if self._init.poll() is not None:
                return False
            now = time.monotonic()
            populated = self.cgroup.has_processes()
            if populated:
                problems = self.cgroup.verify(self.limits)
                if not problems:
                    return True
            if seen_at is None and (populated or state_file.exists()):
                seen_at = now
            if (seen_at is not None and now - seen_at > VERIFY_GRACE) or now > deadline:
                raise SandboxRefused(
                    "refusing to run the bot: its limits are not in force (" + "; ".join(problems) + "). "
                    "The sandbox needs root (or a delegated cgroup) so the runtime can apply cgroup limits; "
                    "rootless runtimes cannot on cgroup v1 hosts."
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.002)  # cheap reads; a late gate would delay the bot

    def _await_ready(self) -> bool:
        """Wait for the interpreter's ready byte: the bot's runtime is up and waiting at the gate.

        False when the runtime ended first (it failed to start the container: a host fault)."""
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = self._t0 + START_TIMEOUT
        with selectors.PollSelector() as selector:  # poll: no fd of its own (epoll's costs one per bot)
            selector.register(fd, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if selector.select(min(0.05, max(0.0, deadline - time.monotonic()))):
                    return os.read(fd, 1) == READY_BYTE
                if self._init.poll() is not None:
                    return False
        raise SandboxRefused(f"the sandbox did not start within {START_TIMEOUT:g} s; the host is overloaded")

    def _open_gate(self) -> None:
        assert self._proc.stdin is not None
        try:
            pending = memoryview(GATE_BYTE + self._spec)  # a pooled bot's argv and env follow the gate
            while pending:
                pending = pending[os.write(self._proc.stdin.fileno(), pending):]
        except BrokenPipeError:
            return
        self._gate_open = True
        if not self._capture:
            return
        if not self._stdin_data:
            self._proc.stdin.close()

    def _abort(self) -> None:
        """Kill and remove a container that must not run (refused, or the host is unwinding)."""
        self.runtime.kill(self._root, self.container_id)
        for process in {self._proc, self._init}:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
            if process.poll() is None:
                process.kill()
                process.wait()
        self._cleanup()

    def _cleanup(self, *, keep_channel: bool = False) -> None:
        # The channel's pipes may be in use by another thread (a reader still draining the bot's last
        # lines); closing an fd under a blocked select() would hang it, so the channel owner closes them.
        pipes = [self._proc.stderr] if keep_channel else [self._proc.stdin, self._proc.stdout, self._proc.stderr]
        for pipe in pipes:
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        # A runtime too slow to delete (its call's timeout, hosts under load) leaves the container to the reaper;
        # the rest must still be removed and released, and the bot's wait() must end.
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            self.runtime.delete(self._root, self.container_id)
        if self.runtime.host_owns_cgroup:
            self.cgroup.destroy()
        shutil.rmtree(self._bundle, ignore_errors=True)
        shutil.rmtree(self._bot_dir, ignore_errors=True)
        self.slot.release()

    # -- public --------------------------------------------------------------------------------------

    @property
    def channel(self) -> JsonLineChannel:
        """The JSON-lines channel over the bot's stdin/stdout (only when stdout is not captured)."""
        if self._capture:
            raise RuntimeError("stdout is captured; start the bot with capture_stdout=False to get a channel")
        if self._channel is None:
            assert self._proc.stdin is not None and self._proc.stdout is not None
            self._channel = JsonLineChannel(self._proc.stdin, self._proc.stdout)
        return self._channel

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def kill(self, reason: str = "killed by the host") -> None:
        self._kill(Status.KILLED, reason)

    def wait(self, timeout: float | None = None) -> Outcome:
        if not self._done.wait(timeout):
            raise TimeoutError(f"bot {self.container_id} still running after {timeout} s")
        assert self._outcome is not None
        return self._outcome

    @property
    def outcome(self) -> Outcome | None:
        return self._outcome

    def __enter__(self) -> BotProcess:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self._done.is_set():
            self.kill("the host left the bot's context")
        self.wait()
        self.close()

    def close(self) -> None:
        """Release the channel's pipes (after the bot has ended and its output has been read)."""
        for pipe in (self._proc.stdin, self._proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    # -- supervision --------------------------------------------------------------------------------

    def _kill(self, status: Status, reason: str) -> None:
        if self._mark_killed(status, reason):
            self._signal_kill()

    def _kill_soon(self, status: Status, reason: str) -> None:
        """As ``_kill``, from the watcher's thread: the runtime's kill runs on an ending thread."""
        if self._mark_killed(status, reason):
            off_watcher(self._signal_kill)

    def _mark_killed(self, status: Status, reason: str) -> bool:
        """The first reason to kill the bot is the one its outcome gives; False if it has one (or has ended)."""
        with self._kill_lock:
            if self._kill_reason is not None or self._init.poll() is not None:
                return False
            self._kill_reason = (status, reason)
            return True

    def _signal_kill(self) -> None:
        try:
            killed = self.runtime.kill(self._root, self.container_id)
        except (subprocess.TimeoutExpired, OSError):  # a runtime too slow to answer: the fallback below
            killed = False
        if not killed:
            # The runtime could not (state not yet written?): kill the cgroup's processes directly.
            for pid in self.cgroup.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    @property
    def usage(self) -> tuple[float, CgroupStats] | None:
        """The latest sample of the container's cgroup (monotonic time taken, stats), every STATS_INTERVAL."""
        return self._usage

    def _bot_stats(self) -> CgroupStats:
        """The cgroup's figures, with CPU counted from the gate: the runtime's boot is not the bot's."""
        stats = self.cgroup.stats()
        if stats.cpu_seconds is None:
            return stats
        return dataclasses.replace(stats, cpu_seconds=max(0.0, stats.cpu_seconds - self._cpu_at_gate))

    def _sample(self) -> None:
        stats = self._bot_stats()
        self._usage = (time.monotonic(), stats)
        if stats.cpu_seconds is not None:
            self._cpu_seen = stats.cpu_seconds
            if stats.cpu_seconds > self.limits.effective_cpu_seconds:
                self._kill_soon(Status.TIMEOUT, f"used more than {self.limits.effective_cpu_seconds} CPU-seconds")
        if stats.peak_memory_bytes is not None:
            self._peak_seen = stats.peak_memory_bytes

    def _take(self, name: str, data: bytes) -> None:
        cap = self.limits.stdout_bytes if name == "stdout" else self.limits.stderr_bytes
        buffer = self._buffers[name]
        room = cap - len(buffer)
        if room > 0:
            kept = data[:room]
            buffer += kept
            callback = self._on[name]
            if callback is not None:
                with contextlib.suppress(Exception):
                    callback(kept)
        if len(data) > room:
            self._truncated[name] = True
            self._kill_soon(Status.OUTPUT_LIMIT, f"wrote more than {cap} bytes to {name}")

    def _watch(self) -> None:
        """On the watcher's thread: watch the bot's pipes, its end, its wall deadline and its cgroup from now on."""
        _Watch(self, watcher_loop()).start()

    def _finish(self) -> None:
        """The end: the outcome, then ``done`` — always, or a ``wait()`` would hang and the slot stay taken."""
        try:
            self._outcome = self._ending()
        except Exception as error:  # the host's own fault at the end (its cgroup or files unreadable, say)
            with contextlib.suppress(Exception):
                self._cleanup(keep_channel=not self._capture)
            self._outcome = Outcome(
                status=Status.CRASHED, exit_code=None, wall_seconds=time.monotonic() - self._started_at,
                cpu_seconds=self._cpu_seen, peak_memory_bytes=self._peak_seen,
                stdout=bytes(self._buffers["stdout"]), stderr=bytes(self._buffers["stderr"]),
                runtime=self.runtime.name, reason=f"the host could not finish supervising the bot: {error!r}",
                container_id=self.container_id,
            )
        finally:
            self._done.set()

    def _ending(self) -> Outcome:
        code = self._init.wait()
        wall = time.monotonic() - self._started_at
        stats = self._bot_stats()  # the stopped container still has its cgroup (runc --keep, or the host's)
        cpu = stats.cpu_seconds if stats.cpu_seconds is not None else self._cpu_seen
        peak = stats.peak_memory_bytes if stats.peak_memory_bytes is not None else self._peak_seen
        status, reason, sig = self._classify(code, stats.oom_kills, cpu)
        self._cleanup(keep_channel=not self._capture)
        return Outcome(
            status=status, exit_code=code if code >= 0 else None, wall_seconds=wall, cpu_seconds=cpu,
            peak_memory_bytes=peak, stdout=bytes(self._buffers["stdout"]), stderr=bytes(self._buffers["stderr"]),
            runtime=self.runtime.name, signal=sig, reason=reason, container_id=self.container_id,
            stdout_truncated=self._truncated["stdout"], stderr_truncated=self._truncated["stderr"],
            oom_kills=stats.oom_kills,
        )

    def _classify(self, code: int, oom_kills: int, cpu: float | None) -> tuple[Status, str, int | None]:
        sig = code - 128 if code > 128 else None
        # Under runsc the kernel's OOM killer may pick the Sentry (it holds the bot's memory), and then the
        # runtime itself ends: any OOM kill in the container's cgroup that ended the run is the bot's OOM.
        oom = bool(oom_kills) and (sig == signal.SIGKILL or self.runtime.host_owns_cgroup)
        if self._kill_reason is not None:
            status, reason = self._kill_reason
            if status is Status.KILLED and oom:
                return Status.OOM, "killed at the memory limit", sig
            return status, reason, sig
        if oom:
            return Status.OOM, f"killed at the memory limit ({self.limits.memory_bytes} bytes)", sig
        runtime_error = self._runtime_error()
        if not self._gate_open or runtime_error:
            detail = runtime_error or bytes(self._buffers["stderr"][-2000:]).decode("utf-8", "replace")
            return Status.CRASHED, f"the runtime failed (exit code {code}): {detail}".strip(), None
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu is not None
                                     and cpu >= self.limits.effective_cpu_seconds - 0.05):
            return Status.TIMEOUT, f"used more than {self.limits.effective_cpu_seconds} CPU-seconds", sig
        if sig is not None:
            return Status.KILLED, f"died of signal {signal.Signals(sig).name if sig < 65 else sig}", sig
        return Status.EXITED, "", None

    def _runtime_error(self) -> str:
        """The runtime's own error message: an error in its JSON log, or (runsc) a Sentry crash report."""
        try:
            lines = (self._bundle / "runtime.log").read_text(errors="replace").splitlines()
        except OSError:
            lines = []
        errors = [line for line in lines if '"level":"error"' in line or '"level":"fatal"' in line]
        if errors:
            return errors[-1][:2000]
        try:
            with open(self._bundle / "panic.log", errors="replace") as handle:
                crash = handle.read(4000).strip()
        except OSError:
            return ""
        return " | ".join(crash.splitlines()[:3])[:2000]


# The cgroup of every bot is read each STATS_INTERVAL, up to this many reads a second per host process; past
# that (over 200 bots) each bot is read less often, and a bot may overrun its CPU-seconds by that much longer.
SAMPLES_PER_SECOND = 400
_watching: set[_Watch] = set()  # on the watcher's thread only
os.register_at_fork(after_in_child=_watching.clear)  # a forked child watches none of its parent's bots


class _Watch:
    """One bot's watch, on the process's watcher loop: reads its stderr (and captured stdout), feeds its
    captured stdin, and ends the watch when the bot has ended and its pipes are drained."""

    def __init__(self, bot: BotProcess, loop: asyncio.AbstractEventLoop) -> None:
        self.bot, self.loop = bot, loop
        self.readers: set[int] = set()
        self.pending: memoryview | None = None
        self.pidfd: int | None = None
        self.exited = False
        self.ended = False
        self.timers: dict[str, asyncio.TimerHandle] = {}  # by purpose: each is replaced, never piled up

    def start(self) -> None:
        _watching.add(self)
        self._guarded(self._watch)

    def _watch(self) -> None:
        bot, proc, loop = self.bot, self.bot._proc, self.loop
        assert proc.stderr is not None and proc.stdout is not None and proc.stdin is not None
        streams = [("stderr", proc.stderr)] + ([("stdout", proc.stdout)] if bot._capture else [])
        for name, pipe in streams:
            fd = pipe.fileno()
            os.set_blocking(fd, False)
            loop.add_reader(fd, self._guarded, self._read, name, fd)
            self.readers.add(fd)
        if bot._capture and bot._stdin_data and not proc.stdin.closed:
            self.pending = memoryview(bot._stdin_data)
            os.set_blocking(proc.stdin.fileno(), False)
            loop.add_writer(proc.stdin.fileno(), self._guarded, self._write, proc.stdin.fileno())
        init = bot._init
        try:
            self.pidfd = init.open_pidfd() if isinstance(init, AdoptedProcess) else os.pidfd_open(init.pid)
        except ProcessLookupError:  # the runtime already exited (and was reaped) during start-up
            self._exited()
            return
        except OSError as error:  # out of fds: a bot the host cannot watch must not run
            bot._kill_soon(Status.CRASHED, f"the host cannot supervise the bot: {error}")
            self.timers["exit"] = loop.call_later(DRAIN_AFTER_EXIT, self._guarded, self._poll_exit)
        else:
            loop.add_reader(self.pidfd, self._guarded, self._exited)
        self.timers["wall"] = loop.call_at(bot._started_at + bot.limits.wall_seconds, self._guarded, self._overran)
        self.timers["sample"] = loop.call_later(self._sample_every(), self._guarded, self._sample)

    def _guarded(self, step: Callable[..., None], *args: object) -> None:
        try:
            step(*args)
        except Exception as error:  # end this bot's watch, never the watcher; a bot not watched must not run
            self.bot._kill_soon(Status.CRASHED, f"the host cannot supervise the bot: {error}")
            self._end()

    @staticmethod
    def _sample_every() -> float:
        return max(STATS_INTERVAL, len(_watching) / SAMPLES_PER_SECOND)

    def _sample(self) -> None:
        self.bot._sample()
        self.timers["sample"] = self.loop.call_later(self._sample_every(), self._guarded, self._sample)

    def _overran(self) -> None:
        self.bot._kill_soon(Status.TIMEOUT, f"ran longer than {self.bot.limits.wall_seconds:g} s")

    def _poll_exit(self) -> None:
        """Without a pidfd (out of fds): poll for the end."""
        if self.bot._init.poll() is not None:
            self._exited()
        else:
            self.timers["exit"] = self.loop.call_later(0.05, self._guarded, self._poll_exit)

    def _read(self, name: str, fd: int) -> None:
        try:
            data = os.read(fd, _CHUNK)
        except BlockingIOError:
            return
        if data:
            self.bot._take(name, data)
            return
        self.loop.remove_reader(fd)
        self.readers.discard(fd)
        if self.exited and not self.readers:
            self._end()

    def _write(self, fd: int) -> None:
        assert self.pending is not None
        try:
            self.pending = self.pending[os.write(fd, self.pending[:_CHUNK]):]
        except BlockingIOError:
            return
        except OSError:
            self.pending = self.pending[:0]
        if not self.pending:
            self.loop.remove_writer(fd)
            assert self.bot._proc.stdin is not None
            self.bot._proc.stdin.close()

    def _exited(self) -> None:
        """The bot's process has ended: drain what it wrote (pipes close when its pid namespace dies)."""
        self.exited = True
        if self.pidfd is not None:
            self.loop.remove_reader(self.pidfd)
        self._cancel_timers()
        if not self.readers:
            self._end()
        else:
            self.timers["drain"] = self.loop.call_later(DRAIN_AFTER_EXIT, self._guarded, self._end)

    def _cancel_timers(self) -> None:
        for timer in self.timers.values():
            timer.cancel()
        self.timers.clear()

    def _end(self) -> None:
        if self.ended:
            return
        self.ended = True
        _watching.discard(self)
        self._cancel_timers()
        for fd in self.readers:
            self.loop.remove_reader(fd)
        stdin = self.bot._proc.stdin
        if self.pending is not None and stdin is not None and not stdin.closed:
            self.loop.remove_writer(stdin.fileno())
        if self.pidfd is not None:
            self.loop.remove_reader(self.pidfd)
            os.close(self.pidfd)
            self.pidfd = None
        off_watcher(self.bot._finish)  # waits for the process (ended, or about to), reads the cgroup, deletes
