"""The service image, built for real with the Docker SDK in the suite's private dockerd from a Debian base made by
mmdebstrap (cached under the images dir, as the runner's base is) and wheels built by pip: its API answers
/healthz with the project's version, as the unprivileged user, from a container on the host's network (the
private dockerd has no bridge) with the suite's Redis; a bot host's tools (runsc, socat, the scripts Compose and
Kubernetes run) are in it; the archive `docker load`s."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from arena.images.base import build_base
from arena.images.dockerd import PrivateDockerd
from arena.images.rootfs import images_dir
from arena.images.runner import project_version
from arena.images.service import REPOSITORY, ServiceImage, base_recipe, build_service
from tests.images.conftest import TIMINGS

# The build (pip's wheels for ~75 projects, unpacking and compiling them, saving ~500 MB) takes about four minutes
# on 2 cores; the base tarball is cached under the images dir after the first run.
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def service_image(engine: PrivateDockerd, work_dir: Path) -> ServiceImage:
    base = build_base(base_recipe(), images_dir(None) / "base")  # cached by its recipe's digest, like the runner's
    image = build_service(work_dir / "service", engine=engine.api, base=base, save=True)
    TIMINGS["service image (base, wheels, build, save)"] = image.timings["total"]
    return image


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(api: docker.APIClient, image: str, command: list[str], **kwargs: object) -> tuple[int, str]:
    container = api.create_container(image, command=command, network_disabled=True, **kwargs)["Id"]
    try:
        api.start(container)
        status = api.wait(container, timeout=120)["StatusCode"]
        return status, api.logs(container).decode(errors="replace")
    finally:
        api.remove_container(container, force=True)


@pytest.fixture
def api_container(engine: PrivateDockerd, service_image: ServiceImage, redis_url: str,
                  tmp_path: Path) -> Iterator[tuple[str, int]]:
    api, port = engine.api, _free_port()
    container = api.create_container(
        service_image.tags[1], command=["arena", "serve", "--port", str(port)],
        environment={"ARENA_REDIS_URL": redis_url, "ARENA_DATA_DIR": "/tmp/data"},
        host_config=api.create_host_config(network_mode="host", tmpfs={"/tmp": "size=64m"}, read_only=True))["Id"]
    api.start(container)
    try:
        yield container, port
    finally:
        api.remove_container(container, force=True)


def test_the_api_of_the_service_image_answers_healthz(engine: PrivateDockerd, service_image: ServiceImage,
                                                      api_container: tuple[str, int]) -> None:
    container, port = api_container
    deadline, answer, error = time.monotonic() + 90, None, None
    while answer is None and time.monotonic() < deadline:
        state = engine.api.inspect_container(container)["State"]
        assert state["Running"], engine.api.logs(container).decode(errors="replace")[-3000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                answer = json.loads(response.read())
        except OSError as exc:
            error = exc
            time.sleep(0.2)  # polling the container's start, bounded by the deadline
    assert answer == {"status": "ok", "version": project_version()}, (error, engine.api.logs(container)[-3000:])
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
        assert json.loads(response.read())["checks"] == {"redis": "ok", "database": "ok"}
    top = engine.api.top(container, ps_args="-o pid,user,args")
    users = {process[top["Titles"].index("USER")] for process in top["Processes"]}
    assert users <= {"10002", "arena"}, top  # the API does not run as root


def test_the_image_is_tagged_with_version_and_digest_and_carries_the_bot_host_tools(
        engine: PrivateDockerd, service_image: ServiceImage) -> None:
    api = engine.api
    assert service_image.tags == (f"{REPOSITORY}:{project_version()}", f"{REPOSITORY}:{service_image.digest[:12]}")
    labels = api.inspect_image(service_image.tags[0])["Config"]["Labels"]
    assert labels["dev.arena.digest"] == service_image.digest
    assert labels["org.opencontainers.image.version"] == project_version()
    status, out = _run(api, service_image.tags[1], ["sh", "-c", "runsc --version && command -v socat && "
                                                    "sh -n /etc/arena/bot-host-check.sh && id -u && arena --help"])
    assert status == 0, out
    assert "runsc version" in out and "/usr/bin/socat" in out and "10002" in out and "worker" in out
    # The entry point builds the URLs from /run/secrets, as in Compose.
    status, out = _run(api, service_image.tags[1], ["sh", "-c", "echo $ARENA_REDIS_URL"], user="0",
                       host_config=api.create_host_config(tmpfs={"/run/secrets": ""}),
                       entrypoint=["sh", "-c", "echo 'p@ss' > /run/secrets/redis_password && "
                                   "exec sh /etc/arena/entrypoint.sh \"$@\"", "entry"])
    assert status == 0 and out.strip() == "redis://:p%40ss@redis:6379/0", out


def test_the_saved_archive_loads(engine: PrivateDockerd, service_image: ServiceImage) -> None:
    assert service_image.archive is not None and service_image.archive.is_file()
    api = engine.api
    api.remove_image(service_image.tags[0])  # the other tag keeps the image; loading brings this one back
    with open(service_image.archive, "rb") as archive:
        list(api.load_image(archive.read()))
    assert api.inspect_image(service_image.tags[0])["Id"] == service_image.image_id
