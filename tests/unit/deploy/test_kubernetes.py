"""deploy/kubernetes/: schema-valid for a current Kubernetes, and wired the way the BFF needs."""

from __future__ import annotations

import copy
import json
import re
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate
import pytest

from bff.config.loader import load_settings
from bff.crypto.keys import generate_seal_jwk, generate_signing_jwk
from bff.errors import ConfigError
from tests.unit.deploy.support import REPO, final_stage, yaml_documents

MANIFESTS = sorted((REPO / "deploy" / "kubernetes").glob("*.yaml"))
KUBERNETES = "1.37.0"


def resources() -> dict[str, dict[str, Any]]:
    """``Kind/name`` -> manifest, over every file."""
    return {f"{doc['kind']}/{doc['metadata']['name']}": doc
            for path in MANIFESTS for doc in yaml_documents(path)}


def pod(deployment: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


def container() -> dict[str, Any]:
    (only,) = pod(resources()["Deployment/bff"])["containers"]
    result: dict[str, Any] = only
    return result


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifests_validate_against_a_current_kubernetes(path: Path) -> None:
    """kubernetes-validate, strict (unknown fields are errors), against Kubernetes 1.37."""
    documents = yaml_documents(path)
    assert documents
    for doc in documents:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_validation_rejects_an_unknown_field() -> None:
    """The validation is live: a misplaced probe field is refused in strict mode."""
    deployment = copy.deepcopy(resources()["Deployment/bff"])
    pod(deployment)["containers"][0]["readinessProbe"]["path"] = "/readyz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)


def test_deployment_runs_three_probed_instances_with_resource_requests() -> None:
    """3 replicas; readiness on /readyz, liveness on /healthz, on the port the BFF listens on."""
    deployment = resources()["Deployment/bff"]
    assert deployment["spec"]["replicas"] == 3
    c = container()
    (port,) = c["ports"]
    env = {e["name"]: e for e in c["env"]}
    assert int(env["BFF_SERVER__PORT"]["value"]) == port["containerPort"]
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert set(c["resources"]["requests"]) == {"cpu", "memory"}
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_pod_runs_as_the_images_non_root_user_locked_down() -> None:
    """runAsUser is the Dockerfile's USER; read-only root, no capabilities, no escalation."""
    user = [args for keyword, args in final_stage(REPO / "Dockerfile") if keyword == "USER"][-1]
    context = pod(resources()["Deployment/bff"])["securityContext"]
    assert f"{context['runAsUser']}:{context['runAsGroup']}" == user
    assert context["runAsNonRoot"] is True
    c = container()["securityContext"]
    assert c["readOnlyRootFilesystem"] is True and c["allowPrivilegeEscalation"] is False
    assert c["capabilities"]["drop"] == ["ALL"]


def test_budget_autoscaler_and_service_select_the_deployments_pods() -> None:
    """PDB, HPA and Service all find the Deployment's pods; the PDB leaves room to drain one."""
    r = resources()
    deployment = r["Deployment/bff"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    pdb, hpa, service = r["PodDisruptionBudget/bff"], r["HorizontalPodAutoscaler/bff"], \
        r["Service/bff"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert 0 < pdb["spec"]["minAvailable"] < deployment["spec"]["replicas"]
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert hpa["spec"]["minReplicas"] == deployment["spec"]["replicas"] < hpa["spec"]["maxReplicas"]
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == container()["ports"][0]["name"]


def test_config_is_a_configmap_and_keys_a_secret_mounted_where_the_image_reads_them() -> None:
    """The ConfigMap at the image's --config folder, the keys Secret at /etc/bff/keys."""
    r = resources()
    volumes = {v["name"]: v for v in pod(r["Deployment/bff"])["volumes"]}
    mounted = {m["mountPath"]: volumes[m["name"]] for m in container()["volumeMounts"]}
    cmd = [args for keyword, args in final_stage(REPO / "Dockerfile") if keyword == "CMD"][-1]
    config_file = re.search(r'"--config", "([^"]+)"', cmd)
    assert config_file
    folder, _, name = config_file.group(1).rpartition("/")
    configmap = r[f"ConfigMap/{mounted[folder]['configMap']['name']}"]
    assert name in configmap["data"]
    secret = r[f"Secret/{mounted['/etc/bff/keys']['secret']['secretName']}"]
    assert set(secret["stringData"]) == {"client.jwk", "cookie.jwk"}
    assert all(m.get("readOnly") for m in container()["volumeMounts"] if m["mountPath"] in
               (folder, "/etc/bff/keys"))
    # the files are owned by root and given to the pod's group: the group must be able to read
    assert mounted["/etc/bff/keys"]["secret"]["defaultMode"] & 0o040


def test_bff_accepts_the_configmap_with_the_secrets_as_mounted(tmp_path: Path) -> None:
    """bff.toml, real keys in the Secret's file names and the Redis URL from its Secret load."""
    r = resources()
    (tmp_path / "config").mkdir()
    (tmp_path / "keys").mkdir()
    config = tmp_path / "config" / "bff.toml"
    config.write_text(r["ConfigMap/bff-config"]["data"]["bff.toml"].replace(
        '"/etc/bff/keys/', f'"{tmp_path / "keys"}/'))
    (tmp_path / "keys" / "client.jwk").write_text(json.dumps(generate_signing_jwk("ES256")))
    (tmp_path / "keys" / "cookie.jwk").write_text(json.dumps(generate_seal_jwk()))
    env = {e["name"]: e for e in container()["env"]}
    ref = env["BFF_STORE__URL"]["valueFrom"]["secretKeyRef"]
    url = r[f"Secret/{ref['name']}"]["stringData"][ref["key"]]
    loaded = load_settings(config, {"BFF_STORE__URL": url,
                                    "BFF_SERVER__PORT": env["BFF_SERVER__PORT"]["value"]})
    s = loaded.settings
    # Redis by URL, Sentinel as README.md documents; server sessions shared by all instances
    assert s.store.backend == "redis" and s.store.url.startswith("redis+sentinel://")
    assert s.session.store == "server"
    assert s.server.public_url.startswith("https://")


def test_bff_refuses_the_committed_placeholder_keys(tmp_path: Path) -> None:
    """Applying secret.yaml unchanged cannot start a BFF with made-up or shared keys."""
    r = resources()
    (tmp_path / "config").mkdir()
    (tmp_path / "keys").mkdir()
    config = tmp_path / "config" / "bff.toml"
    config.write_text(r["ConfigMap/bff-config"]["data"]["bff.toml"].replace(
        '"/etc/bff/keys/', f'"{tmp_path / "keys"}/'))
    for name, value in r["Secret/bff-keys"]["stringData"].items():
        (tmp_path / "keys" / name).write_text(value)
    with pytest.raises(ConfigError) as refused:
        load_settings(config, {"BFF_STORE__URL": r["Secret/bff-redis"]["stringData"]["url"]})
    assert {p.key for p in refused.value.problems} == {"oauth.client_key_file",
                                                       "session.cookie_key_files[0]"}


def test_key_paths_are_absolute_under_the_secrets_mount() -> None:
    """Relative key paths would break: the loader resolves them from the file's real location,
    and a ConfigMap's file is a symlink into a dated folder beside it."""
    r = resources()
    config = tomllib.loads(r["ConfigMap/bff-config"]["data"]["bff.toml"])
    keys = next(m["mountPath"] for m in container()["volumeMounts"] if m["name"] == "keys")
    paths = [config["oauth"]["client_key_file"], *config["session"]["cookie_key_files"]]
    assert all(PurePosixPath(p).parent == PurePosixPath(keys) for p in paths), paths
    secret = r["Secret/bff-keys"]["stringData"]
    assert {PurePosixPath(p).name for p in paths} <= set(secret)
