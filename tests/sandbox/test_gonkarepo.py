"""The stand-in gonka repo: deterministic bare repo with the release's deploy/join layout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests import composecli

SANDBOX = Path(__file__).resolve().parents[2] / "sandbox"
# The release files upstream main had at 8a35022b (shared/reference/gonka/SOURCES.md's
# main-2026-06-19), stored verbatim as profile v0.2.13's own (tests/unit/test_release_merge.py).
RELEASE_FILES = SANDBOX.parent / "releases" / "v0.2.13" / "deploy" / "join"
OUR_SERVICES = {"tmkms", "node", "api", "versiond", "bridge", "proxy", "proxy-ssl", "explorer"}

pytestmark = pytest.mark.needs("git")


def build(dest: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gonkarepo", "build", str(dest)],
                          env=dict(os.environ, PYTHONPATH=str(SANDBOX)), text=True,
                          capture_output=True, check=True)


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("repo")
    out = build(tmp / "gonka.git").stdout
    last = out.strip().splitlines()[-1].split()
    assert last[0] == "COMMIT" and last[2:] == ["REF", "main"]
    subprocess.run(["git", "clone", "-q", "-b", "main", str(tmp / "gonka.git"), str(tmp / "c")],
                   check=True)
    return tmp / "c", last[1]


def test_build_is_deterministic(tmp_path: Path):
    shas = {build(tmp_path / f"r{i}.git").stdout.split()[-3] for i in range(2)}
    assert len(shas) == 1
    sha = shas.pop()
    bare = tmp_path / "r0.git"
    git = ["git", "-C", str(bare)]
    assert subprocess.run([*git, "rev-parse", "main"], capture_output=True, text=True,
                          check=True).stdout.strip() == sha
    assert subprocess.run([*git, "rev-parse", "v0.2.13-sandbox^{commit}"], capture_output=True,
                          text=True, check=True).stdout.strip() == sha
    assert (bare / "git-daemon-export-ok").exists()


def test_clone_has_the_release_layout(clone):
    work, sha = clone
    join = work / "deploy" / "join"
    names = {p.name for p in join.iterdir()}
    assert names == {"config.env.template", "docker-compose.yml", "docker-compose.mlnode.yml",
                     "nginx.conf", "node-config.json"}
    assert json.loads((work / "genesis" / "genesis.json").read_text())["chain_id"]
    nodes = json.loads((join / "node-config.json").read_text())
    assert nodes[0]["host"] == "inference" and nodes[0]["poc_port"] == 8080
    head = subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert head == sha


class _TagLoader(yaml.SafeLoader):
    """Compose's merge tags (!override, !reset) read as their plain values."""


def _plain(loader, node):
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    return loader.construct_scalar(node)


for _tag in ("!override", "!reset"):
    _TagLoader.add_constructor(_tag, _plain)


def load_yaml(text: str) -> dict:
    return yaml.load(text, Loader=_TagLoader)


def _reference(name: str) -> dict:
    return load_yaml((RELEASE_FILES / name).read_text())


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.mlnode.yml"])
def test_compose_matches_release_names_ports_and_volumes(clone, name):
    ours = load_yaml((clone[0] / "deploy" / "join" / name).read_text())["services"]
    ref = _reference(name)["services"]
    keep = set(ref) & (OUR_SERVICES | {"mlnode-308", "inference"})
    assert set(ours) == keep
    for svc in keep:
        for key in ("container_name", "hostname", "ports", "expose", "profiles", "image"):
            assert ours[svc].get(key) == ref[svc].get(key), (svc, key)
        assert ours[svc].get("volumes") == ref[svc].get("volumes") or svc in (
            "bridge",), svc
        ref_env = {e.split("=", 1)[0] for e in ref[svc].get("environment") or []}
        our_env = {e.split("=", 1)[0] for e in ours[svc].get("environment") or []}
        assert our_env <= ref_env, (svc, our_env - ref_env)


def test_config_template_uses_release_variables(clone):
    path = RELEASE_FILES / "config.env.template"
    names = lambda text: {line[len("export "):].split("=")[0]  # noqa: E731
                          for line in text.splitlines() if line.startswith("export ")}
    ours = names((clone[0] / "deploy" / "join" / "config.env.template").read_text())
    ref = names(path.read_text())
    assert ours <= ref
    assert {"KEY_NAME", "KEYRING_PASSWORD", "PUBLIC_URL", "SEED_API_URL", "HF_HOME",
            "NODE_CONFIG", "DAPI_API__POC_CALLBACK_URL"} <= ours


def test_nginx_conf_routes_versioned_and_default_paths(clone):
    conf = (clone[0] / "deploy" / "join" / "nginx.conf").read_text()
    assert conf.count("location /v3.0.8/ {") == 2 and conf.count("location / {") == 2
    assert "server mlnode-308:8080 resolve;" in conf and "server mlnode-308:5000 resolve;" in conf
    assert "listen 8080;" in conf and "listen 5000;" in conf


def test_compose_model_of_clone_resolves(clone):
    join = clone[0] / "deploy" / "join"
    env = {"HOME": "/root", "HF_HOME": "/mnt/hf", "KEY_NAME": "k"}
    p = composecli.config(["docker-compose.yml", "docker-compose.mlnode.yml"], cwd=str(join),
                          environ=env)
    assert p["name"] == "join"
    services = p["services"]
    genesis = next(v for v in services["node"]["volumes"] if v["target"] == "/root/genesis.json")
    assert genesis["source"] == str((clone[0] / "genesis" / "genesis.json").resolve())
    assert services["mlnode-308"]["volumes"][0]["source"] == "/mnt/hf"
    devices = services["mlnode-308"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia"
    assert [p_["published"] for p_ in services["inference"]["ports"]] == ["8080", "5050"]
