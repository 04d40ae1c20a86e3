"""docker-compose.yml, .env.example and the Dockerfile: valid for Compose (Debian's
docker-compose, statically: no daemon), healthchecked, ordered by health, secrets only from
.env, every mounted file present, every command one the gateway's CLI really has."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from typer.testing import CliRunner

from gateway.api.health import router as health_router
from gateway.cli import app as cli_app
from scripts import loadgen
from tests.deploy.grafana import DEPLOY, ROOT
from tests.deploy.stack import sim_ports

COMPOSE = ROOT / "docker-compose.yml"
REQUIRED = {"gateway", "redis", "postgres", "grafana", "prometheus"}
SIM_PROFILE = {"sim", "loadgen"}
ONE_SHOT = {"migrate"}  # run to completion; the gateway waits for that, not for health
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$")
INTERPOLATED = re.compile(r"^\$\{[A-Z][A-Z0-9_]*(?::[?-][^}]*)?\}$")


def raw() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())  # merge keys (<<) resolved
    return doc


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = raw()["services"]
    return found


def docker_compose(tmp_path: Path, *args: str, env_file: str | None = None) -> str:
    """`docker-compose ARGS config` on a copy of the compose file, beside an .env made from
    .env.example (the compose file's env_file; never the developer's real .env)."""
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is not installed: apt-get install -y docker-compose"
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yml")
    env = env_file if env_file is not None else (ROOT / ".env.example").read_text()
    (tmp_path / ".env").write_text(env)
    done = subprocess.run(
        [binary, "-f", str(tmp_path / "docker-compose.yml"), *args, "config"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_compose_file_validates(tmp_path: Path) -> None:
    config = yaml.safe_load(docker_compose(tmp_path))
    assert set(config["services"]) >= REQUIRED | ONE_SHOT  # compose 1.x lists profiled ones too


def test_compose_file_validates_with_the_sim_profile(tmp_path: Path) -> None:
    config = yaml.safe_load(docker_compose(tmp_path, "--profile", "sim"))
    assert set(config["services"]) == REQUIRED | ONE_SHOT | SIM_PROFILE


def test_a_missing_secret_stops_compose_with_its_name(tmp_path: Path) -> None:
    env = "\n".join(
        line
        for line in (ROOT / ".env.example").read_text().splitlines()
        if not line.startswith("POSTGRES_PASSWORD=")
    )
    with pytest.raises(AssertionError, match="POSTGRES_PASSWORD"):
        docker_compose(tmp_path, env_file=env)


def test_long_running_services_have_healthchecks() -> None:
    for name, service in services().items():
        if name in ONE_SHOT:
            assert service["restart"] == "no", name
            continue
        check = service.get("healthcheck")
        assert check and check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert service["restart"] == "unless-stopped", name


def test_dependencies_wait_for_health_or_completion() -> None:
    all_services = services()
    for name, service in all_services.items():
        for dep, how in service.get("depends_on", {}).items():
            want = "service_completed_successfully" if dep in ONE_SHOT else "service_healthy"
            assert how == {"condition": want}, f"{name} -> {dep}"
            assert dep in all_services
            # a service without a profile must not wait for one that has one
            assert not all_services[dep].get("profiles") or service.get("profiles"), name
    gateway = all_services["gateway"]["depends_on"]
    assert set(gateway) == {"redis", "postgres", "migrate"}
    assert all_services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}


def test_profiles() -> None:
    profiled = {n: s["profiles"] for n, s in services().items() if "profiles" in s}
    assert profiled == {name: ["sim"] for name in SIM_PROFILE}


def test_secrets_come_only_from_the_env_file() -> None:
    assert services()["gateway"]["env_file"] == ".env"
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in (ROOT / ".dockerignore").read_text().splitlines()
    for name, service in services().items():
        for key, value in _environment(service):
            if SECRET_NAME.search(key):
                assert INTERPOLATED.match(str(value)), f"{name}: {key} is inline"
            for password in re.findall(r"://[^:/@]+:([^@]+)@", str(value)):
                assert INTERPOLATED.match(password), f"{name}: a password inline in {key}"


def test_env_example_names_every_interpolated_variable_with_placeholders() -> None:
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    required = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):\?", COMPOSE.read_text()))
    assert required == {
        "GATEWAY_MASTER_KEY",
        "POSTGRES_PASSWORD",
        "GRAFANA_DB_PASSWORD",
        "GRAFANA_ADMIN_PASSWORD",
    }
    assert required <= set(example)
    assert all(example[k].startswith("change-me") for k in required)  # never a real secret


def _environment(service: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    env = service.get("environment", {})
    if isinstance(env, list):
        yield from (tuple(item.split("=", 1)) if "=" in item else (item, "") for item in env)
    else:
        yield from env.items()


VOLUME = re.compile(r"^(?P<source>\$\{[^}]*\}|[^:]+):(?P<target>[^:]+)(?::(?:ro|rw))?$")


def _binds(service: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(source, target) of each bind mount (named volumes left out)."""
    for volume in service.get("volumes", []):
        match = VOLUME.match(volume)
        assert match, volume
        if match["source"].startswith((".", "$")):
            yield match["source"], match["target"]


def test_every_bind_mount_exists_in_the_repository() -> None:
    for name, service in services().items():
        for source, _ in _binds(service):
            path = re.sub(r"^\$\{GATEWAY_CONFIG_DIR:-(.*)\}$", r"\1", source)
            assert (ROOT / path).exists(), f"{name}: {source}"


def test_grafana_mounts_its_provisioning_and_dashboards() -> None:
    binds = dict(_binds(services()["grafana"]))
    assert binds == {
        "./deploy/grafana/provisioning": "/etc/grafana/provisioning",
        "./deploy/grafana/dashboards": "/etc/grafana/dashboards",
    }
    home = services()["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (DEPLOY / "grafana" / "dashboards" / Path(home).name).exists()


def test_prometheus_scrapes_the_gateway_with_the_key_file_it_writes() -> None:
    service = services()["prometheus"]
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    [job] = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"] == [{"targets": ["gateway:8080"]}]
    assert job["authorization"]["type"] == "Bearer"
    key_file = Path(job["authorization"]["credentials_file"])
    assert f"> {key_file}" in service["command"][0]
    assert str(key_file.parent) in service["tmpfs"]  # the key in memory, not on a volume
    datasource = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/datasources.yml").read_text()
    )
    urls = {d["uid"]: d["url"] for d in datasource["datasources"]}
    assert urls == {
        "gateway-prometheus": "http://prometheus:9090",
        "gateway-postgres": "postgres:5432",
    }


def test_the_sim_profile_serves_what_the_default_config_routes_to() -> None:
    ports = sim_ports()
    providers = yaml.safe_load((DEPLOY / "sim" / "providers.yaml").read_text())["providers"]
    assert {n: p["base_url"] for n, p in providers.items()} == {
        n: f"http://sim:{port}/v1" for n, port in ports.items()
    }
    check = " ".join(services()["sim"]["healthcheck"]["test"])
    assert all(str(port) in check for port in ports.values())
    gateway_binds = dict(_binds(services()["gateway"]))
    assert gateway_binds["${GATEWAY_CONFIG_DIR:-./deploy/sim}"] == "/etc/gateway"


# ---------------------------------------------------------------- commands are real


def _check_cli(argv: list[str]) -> None:
    """Parse argv with the gateway's own CLI, nothing run: --help after the arguments exits 0
    only when the command and every option before it exist (else a usage error, exit 2)."""
    assert argv[0] == "gateway", argv
    result = CliRunner().invoke(cli_app, [*argv[1:], "--help"], prog_name="gateway")
    assert result.exit_code == 0, f"{argv}: {result.output}"
    assert f"Usage: gateway {argv[1]} " in result.output  # that command's help, not the group's


def test_gateway_commands_of_the_compose_file_exist() -> None:
    commands = {n: s["command"] for n, s in services().items() if "build" in s}
    assert set(commands) == {"gateway", "migrate", "sim", "loadgen"}
    for name in ("gateway", "migrate", "sim"):
        _check_cli(commands[name])
    assert commands["loadgen"][:2] == ["python", "/opt/loadgen/loadgen.py"]
    loadgen.parse_args(commands["loadgen"][2:])
    assert dict(_binds(services()["loadgen"])) == {"./scripts/loadgen.py": commands["loadgen"][1]}


def test_an_unknown_option_is_caught() -> None:
    with pytest.raises(AssertionError, match="No such option"):
        _check_cli(["gateway", "serve", "--no-such-option"])
    with pytest.raises(AssertionError, match="No such command"):
        _check_cli(["gateway", "serv"])


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_dockerfile_runs_the_gateway_as_a_user_with_a_healthcheck() -> None:
    steps = dockerfile()
    assert steps[0] == ("FROM", "python:3.11-slim")
    [cmd] = [json.loads(args) for op, args in steps if op == "CMD"]
    _check_cli(cmd)
    assert cmd[:4] == ["gateway", "serve", "--host", "0.0.0.0"]
    users = [args for op, args in steps if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    [health] = [args for op, args in steps if op == "HEALTHCHECK"]
    paths = {route.path for route in health_router.routes}  # type: ignore[attr-defined]
    [probed] = re.findall(r"127\.0\.0\.1:%s(/\w+)", health)
    assert probed in paths
    compose_check = " ".join(services()["gateway"]["healthcheck"]["test"])
    assert f"127.0.0.1:8080{probed}" in compose_check


def test_dockerfile_copies_only_what_exists_and_ignores_secrets() -> None:
    for op, args in dockerfile():
        if op == "COPY":
            *sources, _ = args.split()
            for source in sources:
                assert (ROOT / source).exists(), source
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert {".env", ".git", ".venv"} <= set(ignored)


def test_dockerfile_installs_the_dependencies_of_pyproject(tmp_path: Path) -> None:
    """The RUN step that lists the requirements, run here as the build runs it."""
    steps = dockerfile()
    [extras] = [args.split("=", 1)[1].strip('"') for op, args in steps if op == "ARG"]
    [run] = [args for op, args in steps if op == "RUN" and "requirements.txt" in args]
    [snippet] = re.findall(r'python -c "(.*?)"\s*>', run)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    listed = subprocess.run(
        [sys.executable, "-c", snippet],  # as sh hands it over: \n stays a Python escape
        cwd=tmp_path,
        env={**os.environ, "EXTRAS": extras},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    names = {Requirement(line).name for line in listed}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    want = [*project["dependencies"], *project["optional-dependencies"]["otel"]]
    assert names == {Requirement(line).name for line in want}
    assert {"prometheus-client", "opentelemetry-sdk", "fastapi"} <= names
