"""infra/compose: the one-host deployment. Where Docker's compose plugin exists, `docker compose config` validates
the file; everywhere, the file is parsed and checked structurally (every service, health check, network, volume,
config and secret), and its scripts are run for real: the secrets maker, the entry point that builds Arena's
URLs from the secrets (passwords with URL metacharacters included) and the bot host's start-up check."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "infra" / "compose"
ARENA_SERVICES = {"migrate", "api", "engine", "bot-host"}
SERVICES = ARENA_SERVICES | {"redis", "postgres", "proxy"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())


@pytest.fixture
def compose_dir(tmp_path: Path) -> Path:
    """A copy of infra/compose with its secrets made by its own script."""
    copy = tmp_path / "compose"
    shutil.copytree(COMPOSE_DIR, copy, ignore=shutil.ignore_patterns("secrets"))
    subprocess.run(["sh", str(copy / "make-secrets.sh")], check=True, capture_output=True, timeout=30)
    return copy


def _compose_plugin() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(not _compose_plugin(), reason="Docker's compose plugin is not installed (the structural "
                                                  "checks below run everywhere)")
def test_docker_compose_config_accepts_the_file(compose_dir: Path) -> None:
    run = subprocess.run(["docker", "compose", "--project-directory", str(compose_dir), "-f",
                          str(compose_dir / "compose.yaml"), "config", "--quiet"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr


def test_every_service_is_there_with_a_health_check(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        if name == "migrate":  # a one-shot job: the others wait for it to complete
            assert service["restart"] == "no"
            continue
        check = service.get("healthcheck")
        assert check and check["test"][0] in ("CMD", "CMD-SHELL"), f"{name} has no health check"
        assert {"interval", "timeout", "retries", "start_period"} <= set(check), name
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])
    for name, service in services.items():
        for dependency, how in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on an unknown service {dependency}"
            if how["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits for {dependency}'s missing check"
            elif how["condition"] == "service_completed_successfully":
                assert dependency == "migrate"


def test_the_arena_planes_run_the_right_commands(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ARENA_SERVICES:
        assert services[name]["entrypoint"] == ["sh", "/etc/arena/entrypoint.sh"], name
        assert services[name]["image"].startswith("${ARENA_IMAGE:?set ARENA_IMAGE to arena/service:")
    assert services["api"]["command"][:2] == ["arena", "serve"]
    assert services["api"]["deploy"]["replicas"] == 2
    assert services["engine"]["command"][:4] == ["arena", "worker", "--queues", "engine"]
    assert "arena worker --queues bots --slots" in " ".join(services["bot-host"]["command"])
    assert "bot-host-check.sh &&" in " ".join(services["bot-host"]["command"])  # no bots before the check passes
    assert services["migrate"]["command"] == ["python3", "-m", "arena.store.migrate", "upgrade", "head"]
    for name in ("api", "engine"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["deploy"]["resources"]["limits"].keys() == {"cpus", "memory"}


def test_only_the_bot_host_is_privileged_and_it_cannot_reach_the_database(compose: dict[str, Any]) -> None:
    services = compose["services"]
    privileged = {name for name, service in services.items() if service.get("privileged")}
    assert privileged == {"bot-host"}
    bot_host = services["bot-host"]
    assert bot_host["cgroup"] == "host" and bot_host["user"] == "root"
    assert bot_host["environment"]["ARENA_SANDBOX_RUNTIME"] == "runsc"
    assert bot_host["networks"] == ["cache"] and set(bot_host["secrets"]) == {"redis_password"}
    assert all(volume.endswith(":ro") for volume in bot_host["volumes"])
    assert services["postgres"]["networks"] == ["db"]
    assert services["redis"]["networks"] == ["cache"]
    assert compose["networks"]["db"]["internal"] and compose["networks"]["cache"]["internal"]
    for name in ("api", "engine", "migrate"):
        assert services[name]["user"] == "arena", f"{name} runs as root"


def test_only_the_proxy_publishes_and_on_loopback_by_default(compose: dict[str, Any]) -> None:
    published = {name: service["ports"] for name, service in compose["services"].items() if "ports" in service}
    assert set(published) == {"proxy"}
    for port in published["proxy"]:
        assert ":-127.0.0.1:" in port, port
    proxy_address = compose["services"]["proxy"]["networks"]["front"]["ipv4_address"]
    assert compose["services"]["api"]["environment"]["ARENA_TRUSTED_PROXIES"] == f'["{proxy_address}/32"]'
    caddyfile = (COMPOSE_DIR / "Caddyfile").read_text()
    assert "name api" in caddyfile and "port 8000" in caddyfile and "health_uri /readyz" in caddyfile
    assert "respond /metrics 404" in caddyfile


def test_redis_persists_and_takes_its_password_from_a_secret(compose: dict[str, Any]) -> None:
    service = compose["services"]["redis"]
    command = " ".join(service["command"])
    assert "--appendonly yes" in command and "--appendfsync everysec" in command
    assert "requirepass" in command and "/run/secrets/redis_password" in command
    assert service["secrets"] == ["redis_password"]
    assert "redis-data:/data" in service["volumes"]
    assert compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"


def test_every_volume_config_and_secret_is_declared_used_and_present(compose: dict[str, Any]) -> None:
    services = compose["services"].values()
    named = {entry.split(":", 1)[0] for service in services for entry in service.get("volumes", [])
             if not entry.startswith(("/", ".", "$"))}
    assert named == set(compose["volumes"])
    used_secrets = {secret for service in services for secret in service.get("secrets", [])}
    assert used_secrets == set(compose["secrets"])
    used_configs = {config["source"] for service in services for config in service.get("configs", [])}
    assert used_configs == set(compose["configs"])
    for config in compose["configs"].values():
        assert (COMPOSE_DIR / config["file"]).is_file(), config
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./secrets/")
    text = (COMPOSE_DIR / "compose.yaml").read_text().lower()
    assert "password:" not in text.replace("_password:", ""), "a password written in compose.yaml"


def test_make_secrets_makes_each_secret_once_and_keeps_the_directory_private(compose_dir: Path) -> None:
    compose = yaml.safe_load((compose_dir / "compose.yaml").read_text())
    secrets = compose_dir / "secrets"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    first = {}
    for secret in compose["secrets"].values():
        path = compose_dir / secret["file"]
        assert stat.S_IMODE(path.stat().st_mode) == 0o444
        first[path] = path.read_text()
        assert len(first[path].strip()) >= 32
    assert len(set(first.values())) == len(first)
    subprocess.run(["sh", str(compose_dir / "make-secrets.sh")], check=True, capture_output=True, timeout=30)
    assert {path: path.read_text() for path in first} == first  # never overwritten


def test_the_entry_point_builds_urls_that_keep_a_hostile_password_intact(tmp_path: Path) -> None:
    password = "p@ss:w/rd%?#&' x"
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "redis_password").write_text(password + "\n")
    (secrets / "postgres_password").write_text(password)
    (secrets / "webhooks_secret_keys").write_text("k1,k2\n")
    run = subprocess.run(["sh", str(COMPOSE_DIR / "entrypoint.sh"), "env"], capture_output=True, text=True,
                         env={"PATH": os.environ["PATH"], "ARENA_SECRETS_DIR": str(secrets)}, timeout=30)
    assert run.returncode == 0, run.stderr
    env = dict(line.split("=", 1) for line in run.stdout.splitlines() if line.startswith("ARENA_"))
    kwargs = redis.ConnectionPool.from_url(env["ARENA_REDIS_URL"]).connection_kwargs
    assert (kwargs["password"], kwargs["host"], kwargs["port"]) == (password, "redis", 6379)
    database = make_url(env["ARENA_DATABASE_URL"])
    assert (database.password, database.host, database.drivername) == (password, "postgres", "postgresql+psycopg")
    assert env["ARENA_WEBHOOKS_SECRET_KEYS"] == "k1,k2"
    assert "ARENA_METRICS_TOKEN" not in env  # absent secret: the setting stays unset
    # The cloud's pods add TLS to the database URL (Cloud SQL requires it).
    run = subprocess.run(["sh", str(COMPOSE_DIR / "entrypoint.sh"), "env"], capture_output=True, text=True,
                         env={"PATH": os.environ["PATH"], "ARENA_SECRETS_DIR": str(secrets),
                              "ARENA_POSTGRES_HOST": "10.60.0.3", "ARENA_POSTGRES_OPTIONS": "sslmode=require"},
                         timeout=30)
    url = make_url(next(line.split("=", 1)[1] for line in run.stdout.splitlines()
                        if line.startswith("ARENA_DATABASE_URL=")))
    assert (url.host, url.password, dict(url.query)) == ("10.60.0.3", password, {"sslmode": "require"})


def _check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/sh", str(COMPOSE_DIR / "bot-host-check.sh")], capture_output=True, text=True,
                          env=env, timeout=60)


def test_the_bot_host_check_refuses_without_runsc_or_a_runner_rootfs(tmp_path: Path) -> None:
    run = _check({"PATH": str(tmp_path)})  # nothing on the PATH: no runsc
    assert run.returncode == 1 and "runsc is not installed" in run.stderr
    if shutil.which("runsc") and os.geteuid() == 0:
        run = _check({"PATH": os.environ["PATH"], "ARENA_IMAGES_DIR": str(tmp_path)})
        assert run.returncode == 1 and f"no runner rootfs at {tmp_path}/rootfs/python" in run.stderr


def test_the_bot_host_check_passes_on_a_working_bot_host() -> None:
    from sandbox.rootfs import ENV_ROOTFS

    images = Path(os.environ.get("ARENA_IMAGES_DIR", "/var/lib/arena/images"))
    rootfs = Path(os.environ.get(ENV_ROOTFS, images / "rootfs" / "python"))
    if os.geteuid() != 0 or not shutil.which("runsc") or not (rootfs / "opt/arena/manifest.json").is_file():
        pytest.skip("needs root, runsc and the runner rootfs (make setup builds it)")
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"  # this venv's `arena`
    run = _check({"PATH": path, "ARENA_IMAGES_DIR": str(images), ENV_ROOTFS: str(rootfs)})
    assert run.returncode == 0, run.stderr
    assert "runsc, cgroups and the runner rootfs are in order" in run.stdout
