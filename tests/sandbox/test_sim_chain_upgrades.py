"""The simulators' chain upgrades on loopback: the seed's upgrade history and plan, the node's
cosmovisor (the crash loop past an upgrade without its handler, the switch at a plan's height,
the halt without the binary), the api's /v1/versions."""

from __future__ import annotations

import json
import os
import zipfile

import pytest
from gonkasim import common, upgradebins
from gonkasim.testing import poll

from tests.sandbox import test_sims as sims
from tests.sandbox.test_sims import NODE_LISTENERS, height, new_key

work = sims.work  # the loopback workspace fixture of test_sims

SEED_UPGRADES = {"applied": [{"name": "v0.2.14", "height": 90000},
                             {"name": "v0.2.15", "height": 95000}]}


@pytest.fixture
def chain(work):  # noqa: F811 - the fixture above
    upgrades = work.path / "upgrades.json"
    upgrades.write_text(json.dumps(SEED_UPGRADES))
    seed = work.sim("seed", ["http"], ["--state", str(work.path / "seed"), "--upgrades",
                                       str(upgrades)])
    rpc = seed.url("http") + "/chain-rpc/"
    env = {"SEED_NODE_RPC_URL": rpc, "RPC_SERVER_URL_1": rpc, "RPC_SERVER_URL_2": rpc,
           "GONKASIM_IMAGE": "ghcr.io/product-science/inferenced:0.2.13"}
    return work, seed, env


def node_sim(work, env, start=True):
    return work.sim("node", NODE_LISTENERS, ["--home", str(work.path / "inf"), "--tmkms-home",
                                             str(work.path / "tm")], env=env, start=start)


def place(home, program: str, name: str, version: str) -> None:
    binary = home / "cosmovisor" / "upgrades" / name / "bin" / program
    binary.parent.mkdir(parents=True)
    binary.write_bytes(upgradebins.script(program, version))
    binary.chmod(0o755)


def test_seed_keeps_the_upgrade_history_and_a_plan_that_becomes_applied(chain):
    work, seed, _ = chain
    assert seed.get("http", "/chain-api/cosmos/upgrade/v1beta1/current_plan") == (
        200, {"plan": None})
    assert seed.get("http", "/chain-api/cosmos/upgrade/v1beta1/applied_plan/v0.2.15") == (
        200, {"height": "95000"})
    top = int(seed.get("http", "/chain-rpc/status")[1]["result"]["sync_info"][
        "latest_block_height"])
    code, _ = seed.post("http", "/gonkasim/plan", {"plan": {"name": "v0.2.16",
                                                            "height": top + 10, "info": "{}"}})
    assert code == 200
    plan = seed.get("http", "/chain-api/cosmos/upgrade/v1beta1/current_plan")[1]["plan"]
    assert plan == {"name": "v0.2.16", "time": "0001-01-01T00:00:00Z", "height": str(top + 10),
                    "info": "{}", "upgraded_client_state": None}
    poll(lambda: seed.get("http", "/chain-api/cosmos/upgrade/v1beta1/current_plan")[1][
        "plan"] is None, 10, what="the plan to be executed")
    assert seed.get("http", "/gonkasim/upgrades")[1]["applied"][-1] == {
        "name": "v0.2.16", "height": top + 10}


def test_node_past_an_upgrade_without_its_handler_panics_at_every_start(chain):
    work, _, env = chain
    node = node_sim(work, env, start=False)
    node.start(expect_ready=False)
    assert node.wait_exit(20) == 2
    want = "panic: wrong app version 0, upgrade handler is missing for v0.2.15 upgrade plan"
    assert want in node.output()
    home = work.path / "inf"
    # the image's cosmovisor init ran: current -> genesis with the image's binary (v0.2.13)
    assert os.readlink(home / "cosmovisor" / "current") == "genesis"
    assert upgradebins.version_of(str(home / "cosmovisor/genesis/bin/inferenced")) == "v0.2.13"
    node.start(expect_ready=False)
    assert node.wait_exit(20) == 2  # the restart meets the same panic: a crash loop


def test_node_with_the_upgrade_binary_in_current_runs_it_and_follows_a_plan(chain):
    work, seed, env = chain
    home = work.path / "inf"
    place(home, "inferenced", "v0.2.15", "v0.2.15")
    (home / "cosmovisor" / "current").symlink_to("upgrades/v0.2.15")
    node = node_sim(work, env)
    code, info = node.get("rest", "/cosmos/base/tendermint/v1beta1/node_info")
    assert info["application_version"]["version"] == "v0.2.15"
    top = int(seed.get("http", "/chain-rpc/status")[1]["result"]["sync_info"][
        "latest_block_height"])
    assert height(node) >= top - 2  # state sync landed at the network's height
    place(home, "inferenced", "v0.2.16", "v0.2.16-post1")
    at = height(node) + 25
    seed.post("http", "/gonkasim/plan", {"plan": {"name": "v0.2.16", "height": at,
                                                  "info": '{"binaries": {}}'}})
    poll(lambda: node.get("rest", "/cosmos/upgrade/v1beta1/current_plan")[1]["plan"], 5,
         what="the node to see the plan")
    poll(lambda: height(node) > at + 3, 20, what="the node to pass the upgrade height")
    assert node.get("rest", "/cosmos/base/tendermint/v1beta1/node_info")[1][
        "application_version"]["version"] == "v0.2.16-post1"
    assert os.readlink(home / "cosmovisor" / "current") == str(
        home / "cosmovisor" / "upgrades" / "v0.2.16")
    assert common.read_json(str(home / "data" / "upgrade-info.json"))["name"] == "v0.2.16"
    assert list(home.glob("data-backup-*")), "cosmovisor backs up data/ before it switches"
    out = node.output()
    assert f'UPGRADE "v0.2.16" NEEDED at height: {at}' in out
    assert "upgrade detected, relaunching app=inferenced" in out
    node.stop()
    node.start()  # after a restart it runs the upgrade's binary, no second switch
    assert node.get("rest", "/cosmos/base/tendermint/v1beta1/node_info")[1][
        "application_version"]["version"] == "v0.2.16-post1"


def test_node_halts_at_a_plan_height_without_the_binary(chain):
    work, seed, env = chain
    home = work.path / "inf"
    place(home, "inferenced", "v0.2.15", "v0.2.15")
    (home / "cosmovisor" / "current").symlink_to("upgrades/v0.2.15")
    node = node_sim(work, env)
    at = height(node) + 15
    seed.post("http", "/gonkasim/plan", {"plan": {"name": "v0.2.16", "height": at,
                                                  "info": "{}"}})
    assert node.wait_exit(20) == 1
    binary = home / "cosmovisor/upgrades/v0.2.16/bin/inferenced"
    out = node.output()
    assert f'ERR UPGRADE "v0.2.16" NEEDED at height: {at}: {{}} module=x/upgrade' in out
    assert (f"binary not present, downloading disabled: cannot stat dir {binary}: stat "
            f"{binary}: no such file or directory") in out
    node.start(expect_ready=False)
    assert node.wait_exit(20) == 2  # halted: every restart stops at the same height
    assert os.readlink(home / "cosmovisor" / "current") == "upgrades/v0.2.15"


def test_api_reports_the_versions_of_the_binaries_that_run(chain):
    work, seed, env = chain
    home = work.path / "inf"
    place(home, "inferenced", "v0.2.15", "v0.2.15")
    (home / "cosmovisor" / "current").symlink_to("upgrades/v0.2.15")
    node = node_sim(work, env)
    _, cold = new_key(work, "cold", work.path / "local")
    new_key(work, "warm", home)
    dapi = work.path / "dapi"
    place(dapi, "decentralized-api", "v0.2.15", "v0.2.15")
    (dapi / "cosmovisor").joinpath("current").symlink_to("upgrades/v0.2.15")
    cfg = work.path / "node_config.json"
    cfg.write_text("[]")
    api = work.sim("api", ["public", "ml", "admin"],
                   ["--inference-home", str(home), "--dapi-home", str(dapi), "--node-config",
                    str(cfg)],
                   env={"KEY_NAME": "warm", "DAPI_CHAIN_NODE__URL": node.url("rpc"),
                        "GONKASIM_NODE_REST_URL": node.url("rest"), "ACCOUNT_PUBKEY": cold,
                        "DAPI_CHAIN_NODE__SEED_API_URL": seed.url("http")})
    code, doc = api.get("public", "/v1/versions")
    assert code == 200
    assert doc["api_version"] == {"application_name": "decentralized-api",
                                  "version": "v0.2.15", "commit": ""}
    assert doc["node_version"]["version"] == "v0.2.15"
    assert (dapi / "data").is_dir()  # init-docker.sh's mkdir, and `current` kept by init
    assert os.readlink(dapi / "cosmovisor" / "current") == "upgrades/v0.2.15"
    assert (dapi / "cosmovisor/genesis/bin/decentralized-api").exists()


def test_published_zips_are_flat_deterministic_and_carry_the_version(tmp_path):
    first = upgradebins.publish(str(tmp_path / "a"), ["v0.2.15"])
    again = upgradebins.publish(str(tmp_path / "b"), ["v0.2.15"])
    assert first == again
    entry = first["v0.2.15"]["decentralized-api"]
    assert entry["path"] == "release%2Fv0.2.15/decentralized-api-amd64.zip"
    with zipfile.ZipFile(tmp_path / "a/release/v0.2.15/decentralized-api-amd64.zip") as z:
        assert z.namelist() == ["decentralized-api", "inferenced", "libwasmvm_muslc.x86_64.a",
                                "libgcc_s.so.1"]
        assert b"version=v0.2.15" in z.read("decentralized-api")
