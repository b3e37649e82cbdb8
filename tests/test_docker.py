"""The Docker deployment's files, read without an engine: the containers tier builds and runs them.

What is checked here, on any machine: the compose file's shape and secrets, the Dockerfiles' shape
(a Debian base taken as ARG BASE, two stages, non-root), that both images' entrypoint commands work
from a plain install on exactly the config and environment the compose file gives them, and that
the environment variables the README documents are the ones the code reads. tests/containers/
builds the images with podman and runs them, alone and as the compose stack.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.gateway import GATEWAY_DIR, NODE_OPTIONS, GatewayProcess, free_port

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
#: The console script `pip install .` puts beside the interpreter, as in the image.
SCRIPT = Path(sys.executable).parent / "wechat-mqtt-bridge"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def dockerfile_instructions(name: str, dockerfile: str = "Dockerfile") -> list[str]:
    """The arguments of every `name` instruction of a Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (DOCKER / dockerfile).read_text())
    return [line.split(None, 1)[1] for line in text.splitlines() if line.split(None, 1)[:1] == [name]]


def dockerfile_instruction(name: str, dockerfile: str = "Dockerfile") -> str:
    """The arguments of the one `name` instruction of a Dockerfile."""
    found = dockerfile_instructions(name, dockerfile)
    assert len(found) == 1, f"{name}: {found}"
    return found[0]


def exec_form(arguments: str) -> list[str]:
    """`["a", "b"]` of an ENTRYPOINT/CMD/HEALTHCHECK CMD instruction."""
    value: list[str] = json.loads(arguments[arguments.index("["):])
    return value


def test_compose_file_with_the_docker_cli() -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True,
                                         check=False).returncode != 0:
        pytest.skip("the docker client here has no compose plugin; the file is checked with PyYAML below")
    env = {k: v for k, v in os.environ.items() if k not in ("WECHATY_TOKEN", "BRIDGE_CONFIG")}
    for profile in ([], ["--profile", "gateway"]):
        # No token needed for either: the default stack has no gateway, and the gateway says it itself.
        result = subprocess.run([docker, "compose", "-f", str(COMPOSE), *profile, "config", "--services"],
                                capture_output=True, text=True, check=False, env=env)
        assert result.returncode == 0, result.stderr
        expected = {"mosquitto", "bridge", *(["gateway"] if profile else [])}
        assert set(result.stdout.split()) == expected


def test_compose_default_is_broker_and_bridge_with_the_official_bot() -> None:
    services = compose()["services"]
    assert set(services) == {"mosquitto", "gateway", "bridge"}
    default = {name for name, service in services.items() if "profiles" not in service}
    assert default == {"mosquitto", "bridge"}  # no wechaty gateway unless asked for
    assert services["mosquitto"]["image"].startswith("eclipse-mosquitto:")
    assert "./mosquitto.conf:/mosquitto/config/mosquitto.conf:ro" in services["mosquitto"]["volumes"]
    assert (DOCKER / "mosquitto.conf").is_file()

    bridge = services["bridge"]
    assert bridge["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
    # Never on a profiled service: `docker compose up` without the profile would refuse the file.
    assert bridge["depends_on"] == ["mosquitto"]
    assert "./${BRIDGE_CONFIG:-bridge.yaml}:/config/bridge.yaml:ro" in bridge["volumes"]
    # The token is optional for the bridge too: only a config with group chats asks for it.
    assert bridge["environment"]["WECHATY_PUPPET_SERVICE_TOKEN"] == "${WECHATY_TOKEN:-}"
    assert not any(":?" in str(value) for service in services.values()
                   for value in (service.get("environment") or {}).values())
    # Only images we build or the official mosquitto one; no wechaty/wechaty (Chatie's cloud, Node 16).
    images = {name: s.get("image") for name, s in services.items() if "build" not in s}
    assert images == {"mosquitto": services["mosquitto"]["image"]}
    for path in (COMPOSE, DOCKER / ".env.example", DOCKER / "Dockerfile", DOCKER / "gateway.Dockerfile",
                 ROOT / "README.md"):
        # The image name, not our own bridge/wechaty/wechaty-ca.pem nor an issue (wechaty/wechaty#2774).
        assert not re.search(r"(?<![\w/])wechaty/wechaty(?![\w/#-])", path.read_text()), path
    assert "docker/.env" in (ROOT / ".gitignore").read_text().splitlines()
    # Home Assistant takes every config.yaml in a repository for an App.
    assert not list(DOCKER.glob("config.yaml"))


def test_compose_gateway_profile_runs_our_gateway_for_the_bridge() -> None:
    services = compose()["services"]
    gateway = services["gateway"]
    assert gateway["profiles"] == ["gateway"]
    text = COMPOSE.read_text()
    comment = text[text.index("  gateway:"):text.index("    profiles:")]
    for puppet in ("wechat4u", "2025-01-09", "puppet-xp", "2025-11", "mock", "wechat-skill"):
        assert puppet in comment, puppet  # what it can run and how each fares in 2026
    # Our own gateway, built here; wechat4u unless docker/.env says otherwise.
    assert gateway["build"] == {"context": "..", "dockerfile": "docker/gateway.Dockerfile"}
    assert gateway["image"] == "wechat-mqtt-bridge-gateway"
    env = gateway["environment"]
    assert env["WECHATY_PUPPET"] == "${WECHATY_PUPPET:-wechaty-puppet-wechat4u}"
    assert env["WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER"] == "true"
    assert "ports" not in gateway and "network_mode" not in gateway  # without TLS: the compose network only
    assert "gateway-data:/data" in gateway["volumes"] and "gateway-data" in compose()["volumes"]
    bridge = services["bridge"]
    assert bridge["environment"]["WECHATY_PUPPET_SERVICE_ENDPOINT"] == f"gateway:{env['WECHATY_PUPPET_SERVER_PORT']}"
    # Secrets are references to docker/.env, never values; both sides share one gateway token.
    assert env["WECHATY_PUPPET_PADLOCAL_TOKEN"] == "${WECHATY_PUPPET_PADLOCAL_TOKEN:-}"
    assert env["WECHATY_TOKEN"] == bridge["environment"]["WECHATY_PUPPET_SERVICE_TOKEN"] == "${WECHATY_TOKEN:-}"
    example = dict(line.lstrip("#").split("=", 1) for line in (DOCKER / ".env.example").read_text().splitlines()
                   if re.match(r"^#?[A-Z_]+=", line))
    assert example["BRIDGE_CONFIG"] == "bridge-gateway.yaml" and (DOCKER / example["BRIDGE_CONFIG"]).is_file()
    assert {"WECHATY_TOKEN", "WECHATY_PUPPET", "TZ"} <= set(example)


def base_and_stages(dockerfile: str) -> tuple[str, list[str]]:
    """The default of ARG BASE, and the FROM of each stage."""
    text = (DOCKER / dockerfile).read_text()
    base = re.search(r"^ARG BASE=(\S+)$", text, re.MULTILINE)
    assert base is not None, f"{dockerfile} takes no ARG BASE"
    return base.group(1), dockerfile_instructions("FROM", dockerfile)


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "gateway.Dockerfile"])
def test_dockerfiles_build_on_debian_trixie_slim_in_two_stages(dockerfile: str) -> None:
    base, stages = base_and_stages(dockerfile)
    assert base == "debian:trixie-slim"  # Python 3.13 and Node 20 from Debian; the tests pass a local build of it
    assert stages == ["${BASE} AS build", "${BASE}"]
    runs = dockerfile_instructions("RUN", dockerfile)
    # Every apt-get install cleans up after itself, in the same layer.
    for run in runs:
        if "apt-get install" in run:
            assert "apt-get clean" in run and "rm -rf /var/lib/apt/lists/*" in run, run
            assert "--no-install-recommends" in run, run


def test_dockerfile_is_slim_non_root_without_secrets_and_checks_health() -> None:
    assert dockerfile_instruction("USER") not in ("root", "0")
    assert json.loads(dockerfile_instruction("VOLUME")) == ["/config", "/data"]
    text = (DOCKER / "Dockerfile").read_text()
    assert not re.search(r"^(ENV|ARG)\b.*(TOKEN|PASSWORD|SECRET)", text, re.MULTILINE | re.IGNORECASE)
    health = exec_form(dockerfile_instruction("HEALTHCHECK"))
    assert health[:2] == ["wechat-mqtt-bridge", "health"]


def test_gateway_dockerfile_is_slim_non_root_and_keeps_the_session() -> None:
    assert dockerfile_instruction("USER", "gateway.Dockerfile") == "gateway"
    assert json.loads(dockerfile_instruction("VOLUME", "gateway.Dockerfile")) == ["/data"]
    env = dockerfile_instruction("ENV", "gateway.Dockerfile").split()
    assert {"WECHATY_DATA=/data", "WECHATY_PUPPET_SERVER_HOST=0.0.0.0", "WECHATY_PUPPET_SERVER_PORT=8788"} <= set(env)
    # The image's V8 flags (a young generation of 1 MB: -27 % RSS under load), the ones the tests and
    # benchmarks run the gateway with; the entry point stays plain `node gateway.mjs`.
    assert f"NODE_OPTIONS={NODE_OPTIONS}" in env and NODE_OPTIONS == "--max-semi-space-size=1"
    runs = dockerfile_instructions("RUN", "gateway.Dockerfile")
    assert any(r.startswith("npm ci --omit=dev --omit=optional ") for r in runs)
    text = (DOCKER / "gateway.Dockerfile").read_text()
    assert not re.search(r"^(ENV|ARG)\b.*(TOKEN|PASSWORD|SECRET)", text, re.MULTILINE | re.IGNORECASE)
    for copy in dockerfile_instructions("COPY", "gateway.Dockerfile"):
        if copy.startswith("--from="):
            continue  # from the build stage, not the context
        for source in copy.split()[:-1]:
            assert list(ROOT.glob(source)), source  # every file it copies exists (and .dockerignore keeps it)
    assert exec_form(dockerfile_instruction("ENTRYPOINT", "gateway.Dockerfile")) == ["node", "gateway.mjs"]
    health = exec_form(dockerfile_instruction("HEALTHCHECK", "gateway.Dockerfile"))
    assert health[:2] == ["node", "-e"]


def test_gateway_entrypoint_runs_with_the_compose_environment(tmp_path: Path) -> None:
    """The image's command on the compose file's environment (and the image's ENV): it starts,
    serves the default puppet with TLS off, and says so. No internet here, so wechat4u cannot log in."""
    env: dict[str, str] = dict(compose()["services"]["gateway"]["environment"])
    image_env = dict(item.split("=", 1) for item in dockerfile_instruction("ENV", "gateway.Dockerfile").split())
    resolved = {**image_env, **{k: re.sub(r"^\$\{\w+:-(.*)\}$", r"\1", v) for k, v in env.items()},
                "WECHATY_TOKEN": "from-docker-env-0123456789", "WECHATY_DATA": str(tmp_path),
                "WECHATY_PUPPET_SERVER_PORT": str(free_port())}
    assert resolved["WECHATY_PUPPET"] == "wechaty-puppet-wechat4u"
    assert (GATEWAY_DIR / exec_form(dockerfile_instruction("ENTRYPOINT", "gateway.Dockerfile"))[1]).is_file()
    gw = GatewayProcess(resolved)
    try:
        assert gw.wait_for(r"^puppet: ").startswith("puppet: wechaty-puppet-wechat4u ")
        assert gw.wait_for(r"^listening on ").startswith(f"listening on 0.0.0.0:{gw.port} ")
        assert gw.wait_for(r"^TLS ").startswith("TLS off ")
        card = tmp_path / "gateway.memory-card.json"
        assert gw.wait_for(r"^session: ") == f"session: {card} holds no saved puppet session"
        assert gw.stop() == 0
    finally:
        gw.close()


def mounted_config_root(tmp_path: Path, bridge_config: str | None = None) -> Path:
    """The bridge container's filesystem as far as the compose volumes make it: host paths linked in,
    with docker/.env's BRIDGE_CONFIG (None: unset, the default)."""
    for written in compose()["services"]["bridge"]["volumes"]:
        volume = re.sub(r"\$\{BRIDGE_CONFIG:-([^}]+)\}", lambda m: bridge_config or m.group(1), written)
        source, target = volume.split(":")[:2]
        if not source.startswith("."):
            continue  # a named volume
        place = tmp_path / target.lstrip("/")
        place.parent.mkdir(parents=True, exist_ok=True)
        place.symlink_to((DOCKER / source).resolve())
    return tmp_path


def container_command(tmp_path: Path, arguments: list[str]) -> list[str]:
    """An image command, run from the plain install with the container's paths under `tmp_path`."""
    return [str(SCRIPT), *(str(tmp_path / a.lstrip("/")) if a.startswith("/config/") else a for a in arguments)]


def check_in_container(tmp_path: Path, bridge_config: str | None) -> subprocess.CompletedProcess[str]:
    """The image's `check` on the config compose mounts, with the compose environment (no token set)."""
    root = mounted_config_root(tmp_path, bridge_config)
    command = exec_form(dockerfile_instruction("CMD"))
    assert command[:1] == ["run"]
    environment = {k: re.sub(r"^\$\{\w+:-(.*)\}$", r"\1", v)
                   for k, v in compose()["services"]["bridge"]["environment"].items()}
    env = {"PATH": os.environ["PATH"], **environment}
    return subprocess.run(container_command(root, ["check", *command[1:]]), capture_output=True, text=True,
                          check=False, env=env, cwd=tmp_path)


def test_entrypoint_runs_and_checks_the_mounted_config(tmp_path: Path) -> None:
    entrypoint = exec_form(dockerfile_instruction("ENTRYPOINT"))
    assert entrypoint == ["wechat-mqtt-bridge"] and SCRIPT.is_file()
    helped = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, check=False)
    assert helped.returncode == 0 and "{run,check,render,health,doctor,ilink}" in helped.stdout

    # The default: the official bot, valid, with the one step left said (nobody is bound yet).
    checked = check_in_container(tmp_path / "default", None)
    config = tmp_path / "default" / "config" / "bridge.yaml"
    assert (checked.returncode, checked.stdout) == (1, "")
    assert checked.stderr == (
        f"{config}: rooms.family, ops: nobody is bound as 'me' to the official bot; bind them first: "
        f"wechat-mqtt-bridge ilink login --config {config} --name me\n")
    health = exec_form(dockerfile_instruction("HEALTHCHECK"))
    helped = subprocess.run([str(SCRIPT), *health[1:2], "--help"], capture_output=True, text=True, check=False)
    assert helped.returncode == 0 and "--timeout" in helped.stdout


def test_the_gateway_config_checks_with_the_token_from_docker_env(tmp_path: Path) -> None:
    without = check_in_container(tmp_path / "without", "bridge-gateway.yaml")
    config = tmp_path / "without" / "config" / "bridge.yaml"
    assert (without.returncode, without.stdout) == (1, "")
    assert "wechaty.token: the gateway token is missing: set wechaty.token or WECHATY_PUPPET_SERVICE_TOKEN" in \
        without.stderr
    root = mounted_config_root(tmp_path / "with", "bridge-gateway.yaml")
    env = {"PATH": os.environ["PATH"], "WECHATY_PUPPET_SERVICE_ENDPOINT": "gateway:8788",
           "WECHATY_PUPPET_SERVICE_TOKEN": "from-docker-env"}
    checked = subprocess.run(container_command(root, ["check", "--config", "/config/bridge.yaml"]),
                             capture_output=True, text=True, check=False, env=env, cwd=tmp_path)
    assert (checked.returncode, checked.stderr) == (0, "")
    assert checked.stdout == f"{root}/config/bridge.yaml: OK (18 routes, 2 rooms)\n"
    assert config.parent.parent.is_dir()


def env_vars_in_code() -> set[str]:
    """Names the bridge reads from the environment: ENV_* constants and os.environ/getenv literals."""
    names: set[str] = set()
    for path in (ROOT / "bridge").rglob("*.py"):
        text = path.read_text()
        names.update(re.findall(r'^ENV_\w+\s*=\s*"([A-Z][A-Z0-9_]*)"', text, re.MULTILINE))
        names.update(re.findall(r'(?:environ(?:\.get)?\(|environ\[|getenv\()\s*"([A-Z][A-Z0-9_]*)"', text))
    return names


def env_vars_in_readme() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Environment variables", 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", section, re.MULTILINE))


def test_readme_documents_exactly_the_environment_variables_the_code_reads() -> None:
    in_code = env_vars_in_code()
    assert in_code >= {"WECHATY_PUPPET_SERVICE_ENDPOINT", "WECHATY_PUPPET_SERVICE_TOKEN"}  # the grep works
    assert env_vars_in_readme() == in_code
