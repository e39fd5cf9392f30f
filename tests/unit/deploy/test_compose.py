"""compose.yaml: valid by the compose spec, and running what ``bff demo`` runs, setting by setting.

The expected commands and settings come from bff/devstack.py, the code ``bff demo --store redis
--session-store server`` runs, called with the ports compose.yaml chose.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from bff.devstack import (
    SPA_DIR,
    demo_as_config,
    demo_bff_config,
    demo_redis_url,
    example_api_args,
    redis_argv,
    start_bff,
)
from tests.unit.deploy.support import REPO

COMPOSE = REPO / "compose.yaml"
SCHEMA = REPO / "deploy" / "schemas" / "compose-spec.json"  # vendored: no network at test time
BALANCER = "lb"
REPLICAS = ["bff-1", "bff-2", "bff-3"]


def load() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict)
    return doc


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> source (a repository-relative path or a volume name)."""
    result = {}
    for entry in service.get("volumes", []):
        source, target, *_ = entry.split(":")
        result[target] = source
    return result


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def published(ports: list[str]) -> dict[int, str]:
    """Container port -> host address it is published on."""
    result = {}
    for entry in ports:
        host, host_port, container_port = entry.split(":")
        assert host_port == container_port, entry
        result[int(container_port)] = host
    return result


def init_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compose_init", REPO / "deploy/compose/init.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--schemafile",
                           str(SCHEMA), str(path)], capture_output=True, text=True, timeout=60)


def test_compose_file_is_valid_by_the_compose_spec_schema() -> None:
    """check-jsonschema accepts the file against the vendored compose-spec schema."""
    result = check_schema(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_schema_check_rejects_a_misspelt_setting(tmp_path: Path) -> None:
    """The schema check is live: a wrong depends_on condition is refused."""
    bad = tmp_path / "compose.yaml"
    bad.write_text(COMPOSE.read_text().replace("service_healthy", "healthy", 1))
    result = check_schema(bad)
    assert result.returncode != 0 and "depends_on" in result.stdout


def test_compose_references_resolve() -> None:
    """Shared namespaces, dependencies, volumes, bind sources and Dockerfiles all exist."""
    doc = load()
    services = doc["services"]
    for name, service in services.items():
        mode = service.get("network_mode", "")
        if mode.startswith("service:"):
            assert mode.removeprefix("service:") in services, name
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
        for target, source in mounts(service).items():
            if source.startswith("."):
                assert (REPO / source).exists(), (name, source)
            else:
                assert source in doc["volumes"], (name, source)
            assert PurePosixPath(target).is_absolute()
        build = service.get("build")
        if isinstance(build, dict):
            assert (REPO / build["context"] / build.get("dockerfile", "Dockerfile")).is_file()
        elif build is not None:
            assert (REPO / build / "Dockerfile").is_file()


def test_every_part_shares_the_balancers_loopback_like_bff_demo() -> None:
    """All running parts are in the balancer's namespace; only it publishes, on loopback only."""
    services = load()["services"]
    for name, service in services.items():
        if name == BALANCER:
            continue
        assert service.get("network_mode") in (f"service:{BALANCER}", "none"), name
        assert "ports" not in service, name
    assert set(published(services[BALANCER]["ports"]).values()) == {"127.0.0.1"}


def test_services_run_what_bff_demo_runs(tmp_path: Path) -> None:
    """Commands, ports and every setting equal bff/devstack.py's for the ports compose uses."""
    services = load()["services"]
    ports = published(services[BALANCER]["ports"])

    # the BFF's configuration: the demo's, with compose's ports, SPA mount and key folder
    replica = services[REPLICAS[0]]
    config_target = flag(replica["command"], "--config")
    config = tomllib.loads((REPO / mounts(replica)[config_target]).read_text())
    public = config["server"]["public_url"]
    public_port = urlsplit(public).port
    assert urlsplit(public).hostname == "localhost" and public_port in ports
    issuer = config["oauth"]["issuer"]
    api_url = config["routes"][0]["upstream"]
    api_audience = config["routes"][0]["resource"]
    redis_port = int(flag(services["redis"]["command"], "--port"))
    static_dir = config["server"]["static_dir"]
    keys_target = next(t for t, s in mounts(replica).items() if s == "keys")
    expected = demo_bff_config(public, public_port, issuer, api_audience, api_url, store="redis",
                               session_store="server", redis_url=demo_redis_url(redis_port),
                               static_dir=static_dir, key_dir=f"{keys_target}/")
    assert config == expected
    # the SPA the demo serves, mounted where static_dir says
    assert (REPO / mounts(replica)[static_dir]).resolve() == SPA_DIR

    # the replicas: `bff run` as the demo starts it, each on its own port behind the balancer
    demo_host = inspect.signature(start_bff).parameters["host"].default
    replica_ports = []
    for name in REPLICAS:
        service = services[name]
        assert service["command"] == ["bff", "run", "--config", config_target, "--host",
                                      demo_host], name
        assert mounts(service) == mounts(replica), name
        replica_ports.append(int(service["environment"]["BFF_SERVER__PORT"]))
    assert len(set(replica_ports)) == len(REPLICAS)
    nginx = (REPO / mounts(services[BALANCER])["/etc/nginx/nginx.conf"]).read_text()
    assert sorted(int(p) for p in re.findall(r"server 127\.0\.0\.1:(\d+);", nginx)) == \
        sorted(replica_ports)
    assert re.findall(r"listen (\d+);", nginx) == [str(public_port)]

    # Redis: the demo's throw-away server (the demo adds only its work directory)
    assert services["redis"]["command"] == redis_argv(redis_port)

    # the example API: the demo's arguments, the issuer the AS announces, the route's upstream
    api = services["api"]
    api_port = int(flag(api["command"], "--port"))
    assert api["command"] == ["python", *example_api_args(issuer, api_audience, port=api_port)]
    assert api_url == f"http://127.0.0.1:{api_port}"
    source = mounts(api)[f"{api['environment']['PYTHONPATH']}/example_api"]
    assert (REPO / source).resolve() == REPO / "devstack" / "example_api"

    # the AS: the demo's config with the client's public keys, on its published port
    authz = services["as"]
    as_config_path = PurePosixPath(flag(authz["command"], "--config"))
    assert authz["command"] == ["node", "server.mjs", "--config", str(as_config_path)]
    assert mounts(authz)[str(as_config_path.parent)] == "keys"
    init = services["init"]
    keys_dir, template = init["command"][2:]
    assert mounts(init)[keys_dir] == "keys" and str(as_config_path.parent) == keys_dir
    (tmp_path / "keys").mkdir()
    assert init_module().init(tmp_path / "keys", REPO / mounts(init)[template]) == 0
    written = json.loads((tmp_path / "keys" / "as-config.json").read_text())
    jwks = json.loads((tmp_path / "keys" / "client.public.jwks").read_text())
    as_port = written.pop("port")
    # bound for the published port; the issuer is what the demo's AS announces on that port
    assert written.pop("host") == "0.0.0.0" and as_port in ports
    assert written.pop("issuer") == issuer == f"http://127.0.0.1:{as_port}"
    assert written == demo_as_config(public, public_port, jwks, api_audience)


def test_init_keeps_existing_keys(tmp_path: Path) -> None:
    """A second `up` reuses the keys volume: sessions sealed before stay readable."""
    init = init_module()
    template = REPO / "deploy" / "compose" / "as-config.json"
    assert init.init(tmp_path, template) == 0
    before = (tmp_path / "cookie.jwk").read_text(), (tmp_path / "client.jwk").read_text()
    assert init.init(tmp_path, template) == 0
    assert ((tmp_path / "cookie.jwk").read_text(), (tmp_path / "client.jwk").read_text()) == before


@pytest.mark.parametrize("name", REPLICAS)
def test_replicas_run_the_image_locked_down(name: str) -> None:
    """Read-only root, no capabilities, no privilege gain, keys and config mounted read-only."""
    service = load()["services"][name]
    assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in service["security_opt"]
    assert all(entry.endswith(":ro") for entry in service["volumes"])


def test_bff_accepts_the_compose_configuration_as_mounted(tmp_path: Path) -> None:
    """bff.toml with the keys the init step makes, laid out as mounted, loads without a problem."""
    from bff.config.loader import load_settings

    replica = load()["services"][REPLICAS[0]]
    config_target = PurePosixPath(flag(replica["command"], "--config"))
    keys_target = next(t for t, s in mounts(replica).items() if s == "keys")
    root = tmp_path / "root"
    config_path = root / config_target.relative_to("/")
    config_path.parent.mkdir(parents=True)
    keys = root / PurePosixPath(keys_target).relative_to("/")
    keys.mkdir(parents=True)
    text = (REPO / mounts(replica)[str(config_target)]).read_text()
    # key paths are absolute container paths: point them at this test's copy of the mount
    config_path.write_text(text.replace(f'"{keys_target}/', f'"{keys}/'))
    assert init_module().init(keys, REPO / "deploy" / "compose" / "as-config.json") == 0
    # the SPA is mounted at static_dir in the container; here it is the repository's folder
    env = {"BFF_SERVER__STATIC_DIR": f'"{SPA_DIR}"', **replica["environment"]}
    loaded = load_settings(config_path, env)
    assert loaded.settings.server.port == int(replica["environment"]["BFF_SERVER__PORT"])
    assert loaded.settings.store.backend == "redis" and loaded.settings.session.store == "server"
