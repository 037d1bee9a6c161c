"""The stand-in repo's two releases and their generated profiles, read by the real loader and
merged by the real Compose binary (no sandbox host needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from gonkarepo import files as repo_files

from gonka_deploy.release.compose import ports
from gonka_deploy.release.profiles import load_profile
from gonka_deploy.topology import drift_report, topology
from tests.unit.helpers import host_config

SANDBOX = Path(__file__).resolve().parents[2] / "sandbox"
pytestmark = pytest.mark.needs("git")


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("standin")
    env = dict(os.environ, PYTHONPATH=str(SANDBOX))
    out = subprocess.run([sys.executable, "-m", "gonkarepo", "build", str(tmp / "gonka.git")],
                         env=env, text=True, capture_output=True, check=True).stdout
    refs = dict(reversed(line.split()[1::2]) for line in out.splitlines()
                if line.startswith("COMMIT "))
    profiles = subprocess.run(
        [sys.executable, "-m", "gonkarepo", "profiles", str(tmp / "releases"), "--repo",
         str(tmp / "gonka.git"), "--url", f"file://{tmp}/gonka.git", "--gateway", "192.0.2.1"],
        env=env, text=True, capture_output=True, check=True).stdout
    return tmp, refs, profiles.split()


def test_the_next_release_is_a_fast_forward_of_main(standin):
    tmp, refs, _ = standin
    assert set(refs) == {"main", "release/v0.2.14-sandbox"}
    subprocess.run(["git", "--git-dir", str(tmp / "gonka.git"), "merge-base", "--is-ancestor",
                    refs["main"], refs["release/v0.2.14-sandbox"]], check=True)


def test_every_standin_image_is_listed_for_the_sandbox_engine():
    assert set(repo_files.images("v0.2.14").values()) | set(
        repo_files.images("v0.2.13").values()) == set(repo_files.all_images())
    assert "ghcr.io/product-science/versiond:0.2.14" in repo_files.all_images()


def test_generated_profiles_load_and_pin_the_standin_commits(standin, monkeypatch):
    tmp, refs, names = standin
    assert names == ["PROFILE", "sandbox-v0.2.13", "PROFILE", "sandbox-v0.2.14"]
    monkeypatch.setenv("GONKA_RELEASES_PATH", str(tmp / "releases"))
    old, new = load_profile("sandbox-v0.2.13"), load_profile("sandbox-v0.2.14")
    assert (old.gonka_ref, new.gonka_ref) == (refs["main"], refs["release/v0.2.14-sandbox"])
    for profile, release in ((old, "v0.2.13"), (new, "v0.2.14")):
        assert profile.stored_files() == {rel: repo_files.files(release)[rel]
                                          for rel in profile.upstream_files}


def test_the_bump_adds_a_service_a_variable_and_a_port_that_stays_closed(standin, monkeypatch):
    tmp, _, _ = standin
    monkeypatch.setenv("GONKA_RELEASES_PATH", str(tmp / "releases"))
    data = {"model_catalog_extra": {"testorg/tiny-model": {
        "hf_repo": "testorg/tiny-model", "hf_commit": "a" * 40, "min_vram_gb": 1}},
        "mlnodes": [{"id": "node1", "models": ["testorg/tiny-model"]}]}
    before = host_config(release="sandbox-v0.2.13", **data)
    after = host_config(release="sandbox-v0.2.14", **data)
    assert drift_report(before) == []
    assert drift_report(after) == [
        "config.env: BEACON_STATE_URL left at the template's default "
        "'https://mainnet.checkpoint.sigp.io/'",
        "port: bridge 30303->30303/tcp is published by the release on every interface; bound to "
        "127.0.0.1 (list '30303' in public_ports to open it)"]
    merged = topology(after).merged["services"]
    assert merged["versiond-router"]["image"] == "ghcr.io/product-science/versiond:0.2.14"
    assert merged["mlnode-308"]["image"] == "ghcr.io/gonka-ai/mlnode:3.0.14-post2"
    bridge = [p for p in ports(topology(after).merged) if p.service == "bridge"]
    assert [(p.host_ip, p.published, p.target) for p in bridge] == [("127.0.0.1", "30303",
                                                                      30303)]
