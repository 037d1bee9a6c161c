"""docker-compose.override.yml, tested merged with the release compose files (as compose does)."""

from __future__ import annotations

import shutil

import pytest

from gonka_deploy.render import exported, render_host
from tests import composecli
from tests.conftest import shared_path

from .test_render import REFERENCE, RELEASE, config

PUBLIC_TARGETS = {"node": {26656}, "proxy": {80, 443}}


def merged_project(tmp_path, host_config, profiles=None):
    for name in ("docker-compose.yml", "docker-compose.mlnode.yml"):
        shutil.copy(REFERENCE / f"{RELEASE}-{name}", tmp_path / name)
    files = render_host(host_config)
    (tmp_path / "docker-compose.override.yml").write_text(
        files["docker-compose.override.yml"].content)
    env = dict(exported(files["config.env"].content), HOME="/root")
    return composecli.config(["docker-compose.yml", "docker-compose.mlnode.yml",
                              "docker-compose.override.yml"], cwd=str(tmp_path), environ=env,
                             profiles=profiles)["services"]


def published(services) -> dict[str, list[dict]]:
    return {name: [composecli.port(p) for p in (svc.get("ports") or [])]
            for name, svc in services.items()}


@pytest.fixture(autouse=True)
def _reference_files():
    shared_path("reference", "gonka")  # missing: skip here, fail in CI


def test_base_release_files_alone_publish_private_ports_publicly(tmp_path):
    # The reason the override exists: the release binds 9100 on every interface.
    for name in ("docker-compose.yml", "docker-compose.mlnode.yml"):
        shutil.copy(REFERENCE / f"{RELEASE}-{name}", tmp_path / name)
    services = composecli.config(["docker-compose.yml", "docker-compose.mlnode.yml"],
                                 cwd=str(tmp_path), environ={"HOME": "/root"})["services"]
    api = [composecli.port(p) for p in services["api"]["ports"]]
    assert {"host_ip": "", "published": "9100", "target": 9100, "protocol": "tcp"} in api


def test_merged_stack_publishes_only_p2p_and_proxy_publicly(tmp_path):
    ports = published(merged_project(tmp_path, config()))
    for service, entries in ports.items():
        for port in entries:
            public = port["host_ip"] in ("", "0.0.0.0")
            if public:
                assert port["target"] in PUBLIC_TARGETS.get(service, set()), (service, port)
    assert {(p["host_ip"], p["published"]) for p in ports["api"]} == {
        ("127.0.0.1", "9100"), ("127.0.0.1", "9200")}
    assert {(p["host_ip"], p["published"]) for p in ports["inference"]} == {
        ("127.0.0.1", "8080"), ("127.0.0.1", "5050")}
    assert ("127.0.0.1", "26657") in {(p["host_ip"], p["published"]) for p in ports["node"]}
    # Replaced, not appended to: exactly one entry per target.
    for entries in ports.values():
        targets = [p["target"] for p in entries]
        assert len(targets) == len(set(targets))


def test_override_sets_images_and_p2p_port_from_group_data(tmp_path):
    services = merged_project(tmp_path, config(p2p_port=5001))
    assert services["mlnode-308"]["image"] == "ghcr.io/gonka-ai/mlnode:3.0.13"
    assert services["api"]["image"] == "ghcr.io/product-science/api:0.2.13"
    assert {(p["published"], p["target"]) for p in published(services)["node"]} >= {
        ("5001", 26656)}


def test_side_by_side_version_gets_its_own_gpu_service(tmp_path):
    from .test_render import two_versions

    services = merged_project(tmp_path, two_versions())
    new = services["mlnode-309"]
    assert new["image"] == "ghcr.io/gonka-ai/mlnode:3.0.14"
    assert new["hostname"] == "mlnode-309"
    assert new["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"
    assert "ports" not in new
    assert services["mlnode-308"]["image"] == "ghcr.io/gonka-ai/mlnode:3.0.13"


def test_base_mlnode_leaves_up_once_its_version_is_gone(tmp_path):
    upgraded = config(mlnode_versions=[
        {"version": "v3.0.9", "image": "ghcr.io/gonka-ai/mlnode:3.0.14", "current": True}])
    enabled = merged_project(tmp_path, upgraded)
    assert "mlnode-308" not in enabled and "mlnode-309" in enabled
    everything = merged_project(tmp_path, upgraded, profiles=["retired"])
    assert everything["mlnode-308"]["profiles"] == ["retired"]
