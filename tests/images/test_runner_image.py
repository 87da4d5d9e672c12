"""The runner image end to end: built by a real private dockerd from a real mmdebstrap base, exported,
and run with chroot as the bot's user; the same tree without Docker; the cache; failures; the engine's exit."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arena.cli import app
from arena.images.assemble import in_root
from arena.images.base import BaseTarball
from arena.images.build import RunnerImage, build_runner
from arena.images.dockerd import PrivateDockerd
from arena.images.errors import BuildStepError
from arena.images.fs import mounts_under, remove_tree
from arena.images.recipe import RUNNER_DIR
from arena.images.rootfs import rootfs_dir
from arena.images.wheels import WHEELS_FILE, parse_pins

PROBE = """
import importlib.util, json, os, platform
import arena_bot, numpy, onnxruntime, pandas, scipy, sklearn
print(json.dumps({"uid": os.getuid(), "gid": os.getgid(), "python": platform.python_version(),
                  "packages": {"numpy": numpy.__version__, "pandas": pandas.__version__, "scipy": scipy.__version__,
                               "scikit-learn": sklearn.__version__, "onnxruntime": onnxruntime.__version__},
                  "onnxruntime": onnxruntime.__file__,
                  "installers": [m for m in ("pip", "ensurepip", "setuptools") if importlib.util.find_spec(m)]}))
"""

# The example ML bot's model, run by the image's onnxruntime on Debian's NumPy: the probabilities of one row.
MODEL_PROBE = """
import sys, numpy, onnxruntime
session = onnxruntime.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
_, p = session.run(None, {session.get_inputs()[0].name: numpy.array([[0.5, -1.0, 2.0]], dtype=numpy.float32)})
print(repr(float(p[0][1])))
"""


EXAMPLE_MODEL = Path(__file__).resolve().parents[2] / "arena" / "examples" / "ml" / "model.onnx"


def _pinned(name: str) -> str:
    return next(pin.version for pin in parse_pins((RUNNER_DIR / WHEELS_FILE).read_text()) if pin.name == name)


# The first test builds the base with mmdebstrap: Debian's scikit-learn brings scipy and much to byte-compile (about
# 4 minutes on a loaded 2-core machine, over the suite's default 300 s).
pytestmark = pytest.mark.timeout(900)


def run_as_bot(rootfs: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``args`` inside ``rootfs`` as uid/gid 10001, with the environment (and a /proc) the sandbox gives a bot."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": "/opt/arena/sdk:/opt/arena/site-packages", "LANG": "C.UTF-8"}
    return subprocess.run(in_root(rootfs, list(args), ("--userspec=10001:10001",)), env=env, capture_output=True,
                          text=True, timeout=60)


def tree(root: Path) -> dict[str, tuple[object, ...]]:
    """Every path under ``root`` with its type and mode, owner, link target and content digest."""
    entries: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in ["", *dirnames, *filenames]:
            path = os.path.join(dirpath, name) if name else dirpath
            st = os.lstat(path)
            content = None
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    content = hashlib.file_digest(f, "sha256").hexdigest()
            link = os.readlink(path) if stat.S_ISLNK(st.st_mode) else None
            entries["/" + os.path.relpath(path, root)] = (oct(st.st_mode), st.st_uid, st.st_gid, link, content)
    return entries


def test_docker_build_exports_a_rootfs_bots_can_run_on(docker_image: RunnerImage) -> None:
    root = docker_image.rootfs
    assert docker_image.builder == "docker"
    assert root.name == f"python-{docker_image.digest[:16]}"
    assert (rootfs_dir(root.parent.parent) / "python").resolve() == root  # the current-rootfs symlink
    assert docker_image.manifest["digest"] == docker_image.digest

    # As the bot's user, the image's own Python imports the SDK, numpy and pandas, and nothing to install with.
    done = run_as_bot(root, "/usr/local/bin/python3", "-s", "-B", "-c", PROBE)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert (seen["uid"], seen["gid"]) == (10001, 10001)
    assert seen["installers"] == []
    assert seen["python"] == docker_image.manifest["python"]
    assert seen["packages"] == docker_image.manifest["packages"]
    # The pinned wheel (runner-images/python/wheels.txt) unpacked beside the SDK; the host's ml extra has the same.
    assert seen["packages"]["onnxruntime"] == _pinned("onnxruntime") == version("onnxruntime")
    assert seen["packages"]["scikit-learn"] == version("scikit-learn")
    assert seen["onnxruntime"] == "/opt/arena/site-packages/onnxruntime/__init__.py"
    no_pip = run_as_bot(root, "/usr/local/bin/python3", "-m", "pip", "--version")
    assert no_pip.returncode != 0 and "No module named pip" in no_pip.stderr

    # The layout the sandbox expects of a read-only root.
    assert os.readlink(root / "usr/local/bin/python3") == "../../bin/python3"
    assert stat.S_IMODE((root / "tmp").stat().st_mode) == 0o1777
    assert stat.S_IMODE((root / "bot").stat().st_mode) == 0o755
    assert stat.S_IMODE((root / "bot/main.py").stat().st_mode) == 0o644 and (root / "bot/main.py").stat().st_size == 0
    assert (root / "proc").is_dir() and list((root / "dev").iterdir()) == []
    assert sorted(p.name for p in (root / "opt/arena/site-packages").iterdir()) == [
        "onnxruntime", f"onnxruntime-{_pinned('onnxruntime')}.dist-info"]
    assert "bot:x:10001:10001:bot:/tmp:" in (root / "etc/passwd").read_text()
    assert "bot:x:10001:" in (root / "etc/group").read_text()
    for gone in (".dockerenv", "etc/apt", "var/lib/apt", "var/cache/apt", "usr/share/man",
                 "usr/lib/python3.11/ensurepip", "usr/bin/apt-get", "usr/bin/pip3",
                 # scipy's dependency on pythran brings a compiler toolchain, trimmed from the base
                 "usr/bin/gcc", "usr/bin/g++", "usr/bin/ld", "usr/bin/as", "usr/lib/gcc", "usr/include"):
        assert not os.path.lexists(root / gone), gone
    owners = {(st.st_uid, st.st_gid) for st in (os.lstat(os.path.join(d, n)) for d, ds, fs in os.walk(root)
                                                 for n in ds + fs)}
    assert owners == {(0, 0)}
    setuid = [os.path.join(d, n) for d, _, fs in os.walk(root) for n in fs
              if os.lstat(os.path.join(d, n)).st_mode & 0o6000]
    assert setuid == []

    # The example bot's model gives, in the image, the probability it gives in this host's `arena backtest`.
    model = root / "tmp/model.onnx"
    shutil.copyfile(EXAMPLE_MODEL, model)
    try:
        ran = run_as_bot(root, "/usr/local/bin/python3", "-s", "-B", "-c", MODEL_PROBE, "/tmp/model.onnx")
    finally:
        model.unlink()
    assert ran.returncode == 0, ran.stderr
    import numpy
    import onnxruntime

    here = onnxruntime.InferenceSession(str(EXAMPLE_MODEL), providers=["CPUExecutionProvider"])
    _, p = here.run(None, {here.get_inputs()[0].name: numpy.array([[0.5, -1.0, 2.0]], dtype=numpy.float32)})
    assert float(ran.stdout) == float(p[0][1])

    from sandbox.rootfs import image_layout  # the consumer accepts it

    assert image_layout(root).image == str(root)


def test_without_docker_the_same_tree_comes_out(docker_image: RunnerImage, python_image: RunnerImage) -> None:
    assert python_image.builder == "python"
    assert python_image.digest == docker_image.digest
    assert python_image.manifest == docker_image.manifest
    docker_tree, python_tree = tree(docker_image.rootfs), tree(python_image.rootfs)
    assert sorted(python_tree) == sorted(docker_tree)  # the same paths...
    different = {p: (docker_tree[p], python_tree[p]) for p in docker_tree if docker_tree[p] != python_tree[p]}
    assert different == {}  # ...with the same modes, owners, links and bytes


def test_a_second_build_is_a_cached_no_op(python_image: RunnerImage) -> None:
    images = python_image.rootfs.parent.parent
    before = python_image.rootfs.stat()
    lines: list[str] = []
    started = time.monotonic()
    # docker_engine=True: a cached rootfs is returned before any engine (or base tarball) is needed.
    again = build_runner(images, docker_engine=True, progress=lines.append)
    assert time.monotonic() - started < 5
    assert again.cached and again.builder == "cache"
    assert again.rootfs == python_image.rootfs and again.digest == python_image.digest
    assert any("up to date" in line for line in lines)
    assert python_image.rootfs.stat().st_mtime_ns == before.st_mtime_ns

    result = CliRunner().invoke(app, ["images", "build", "--no-docker", "--images-dir", str(images), "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["cached"] is True and shown["rootfs"] == str(python_image.rootfs)
    info = CliRunner().invoke(app, ["images", "info", "--images-dir", str(images), "--json"])
    assert json.loads(info.output)["manifest"] == python_image.manifest


def test_a_failing_dockerfile_step_is_named(engine: PrivateDockerd, base_tarball: BaseTarball,
                                            tmp_path: Path) -> None:
    context = tmp_path / "context"
    shutil.copytree(RUNNER_DIR, context, ignore=shutil.ignore_patterns("__pycache__"))
    dockerfile = context / "Dockerfile"
    text = dockerfile.read_text()
    compile_step = "RUN python3 -m compileall -q --invalidation-mode unchecked-hash /opt/arena/sdk"
    assert compile_step in text
    dockerfile.write_text(text.replace(compile_step, "RUN python3 -c 'import no_such_module'"))
    images = tmp_path / "images"
    lines: list[str] = []

    with pytest.raises(BuildStepError) as caught:
        build_runner(images, engine=engine.api, base=base_tarball, context_dir=context, progress=lines.append)

    error = caught.value
    assert error.code == "BUILD_STEP_FAILED"
    assert error.step.startswith("Step 6/") and error.step.endswith(": RUN python3 -c 'import no_such_module'")
    assert "returned a non-zero code" in error.detail
    assert any("No module named 'no_such_module'" in line for line in error.output)
    assert error.step in str(error)
    assert any(line.startswith("Step 5/") for line in lines)  # progress was streamed up to the failure
    assert [p.name for p in (images / "rootfs").iterdir()] == []  # no half-built tree left behind


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def _processes_naming(marker: str) -> list[str]:
    ps = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True, check=True).stdout
    return [line for line in ps.splitlines() if marker in line and "ps -eo" not in line]


def test_the_private_dockerd_is_gone_after_stop() -> None:
    private = PrivateDockerd().start()
    run_dir, pids = private.run_dir, private.pids
    assert run_dir is not None and len(pids) == 2 and all(_alive(pid) for pid in pids)
    assert private.api.ping()
    assert _processes_naming(str(run_dir))  # dockerd and containerd, by their private paths

    private.stop()

    assert not any(_alive(pid) for pid in pids)
    assert _processes_naming(str(run_dir)) == []
    assert not run_dir.exists() and mounts_under(run_dir) == []


def test_the_private_dockerd_dies_with_its_parent(tmp_path: Path) -> None:
    """SIGKILL the process that started the engine: the parent-death signal takes both daemons down."""
    script = textwrap.dedent("""
        import json, sys, time
        from arena.images.dockerd import PrivateDockerd
        engine = PrivateDockerd().start()
        print(json.dumps({"pids": engine.pids, "run_dir": str(engine.run_dir)}), flush=True)
        sys.stdin.read()  # until killed
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, cwd=Path(__file__).parents[2])
    assert parent.stdout is not None
    started = json.loads(parent.stdout.readline())
    run_dir = Path(started["run_dir"])
    try:
        assert all(_alive(pid) for pid in started["pids"])
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in started["pids"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(pid) for pid in started["pids"])
        assert _processes_naming(str(run_dir)) == []
    finally:
        remove_tree(run_dir)  # nobody ran stop(): a killed dockerd leaves its data-root mount behind
