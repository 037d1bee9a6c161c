"""Chain upgrades on sandbox hosts: a chain past two software upgrades, and one coming.

The chain (its own seed on the gateway) applied v0.2.14 at 90,000 and v0.2.15 at 95,000; state
sync lands above 100,000, where the image's binary (0.2.13) would panic. The stand-in upgrade
zips are served over HTTPS (the sandbox CA) with their sha256 in generated release profiles.
One module-scoped scenario, as an operator lives it:

1. ``--dry`` on two fresh hosts says what would be downloaded and linked, and touches nothing;
2. the apply converges the host whose profile has every binary (node on v0.2.15, verification
   green) and fails the host whose profile lacks one, naming the upgrade, before its node ever
   starts;
3. the chain schedules v0.2.16 while the host's profile does not list it: the deploy fails the
   host with the profile lines to add and stages nothing (the plan's checksums come from the
   seed alone);
4. with the next profile listing it, the deploy places its binaries ahead (``current`` untouched)
   and verification says the host is ready; the node passes the height without halting, on the
   new binary; a second apply changes nothing, and verification agrees with the new versions.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.sandbox
DEPLOY = REPO / "deploys" / "node.py"
VERIFY = REPO / "deploys" / "verify.py"
JOIN = "/mnt/ssd/gonka/deploy/join"
PASSWORD = "upgrade-Keyring-pass-2026"
APPLIED = [{"name": "v0.2.14", "height": 90000}, {"name": "v0.2.15", "height": 95000}]
# Seconds from scheduling the plan to its height: time enough for one apply (phase 4 places
# the binaries, phase 7 reports the plan) on two busy cores.
PLAN_LEAD_S = 150
# Group data the generated profiles give instead (images: pinned below).
PROFILE_KEYS = ("release", "gonka_ref", "gonka_repo_url", "seed_api_url", "seed_node_rpc_url",
                "seed_node_p2p_url", "rpc_servers", "images")


def upgrade(name: str, height: int, zips: dict, version: str | None = None,
            without: str | None = None) -> dict:
    return {"name": name, "height": height, "version": version,
            "binaries": {p: e for p, e in zips.items() if p != without}}


@pytest.fixture(scope="module")
def scenario(fleet, sandbox_network, tmp_path_factory):
    from gonkarepo.files import MLNODE_SEGMENT, MLNODE_SERVICE, images
    from gonkarepo.profiles import write_profile

    from sandbox.bench.upgrades import serve_binaries, serve_upgrade_seed

    zips = serve_binaries(fleet, ["v0.2.14", "v0.2.15", "v0.2.16-post1"])
    seed = serve_upgrade_seed(fleet, APPLIED)
    good, bad = fleet.add(2, prefix="cup")
    base = tmp_path_factory.mktemp("upgrades")
    releases = base / "releases"
    repo = fleet.dir / "git" / "gonka.git"
    rpc = f"{seed}/chain-rpc/"
    # Every image pinned to this session's stand-in build: the registry's storage is shared by
    # the machine's sandbox sessions, and another one may move a tag meanwhile.
    pinned = {}
    for svc, ref in images("v0.2.13").items():
        name_tag = ref.partition("@")[0]  # a stand-in never has upstream's digest
        pinned[svc] = f"{name_tag}@{fleet.images[name_tag]}" if name_tag in fleet.images else ref
    mlnode = pinned.pop(MLNODE_SERVICE)
    network = {"seed_api_url": seed, "seed_node_rpc_url": rpc,
               "seed_node_p2p_url": f"tcp://{fleet.gateway}:5000", "rpc_servers": [rpc, rpc],
               "images": pinned,
               "mlnode_versions": [{"version": MLNODE_SEGMENT, "image": mlnode,
                                    "current": True}]}

    def profile(name: str, upgrades: list[dict]) -> str:
        return write_profile(releases, repo, f"git://{fleet.gateway}/gonka.git", fleet.gateway,
                             name, chain_upgrades=upgrades, **network)

    past = [upgrade("v0.2.14", 90000, zips["v0.2.14"]), upgrade("v0.2.15", 95000,
                                                                 zips["v0.2.15"])]
    profile("sandbox-upgrades", past)
    profile("sandbox-upgrades-missing", [past[0], upgrade("v0.2.15", 95000, zips["v0.2.15"],
                                                          without="decentralized-api")])
    inventory = base / "inv" / "upgrades.py"
    (inventory.parent / "group_data").mkdir(parents=True)
    hosts = {}
    for host, release in ((good, "sandbox-upgrades"), (bad, "sandbox-upgrades-missing")):
        hosts[host.name] = {
            **host.ssh_data("ubuntu"), "key_name": f"cup-{host.name}", "release": release,
            "public_host": host.address,
            "account_pubkey": base64.b64encode(
                b"\x02" + hashlib.sha256(host.name.encode()).digest()).decode(),
            "data_disk": "/dev/vdb", "gpu": {"model": "H100", "count": 1, "vram_gb": 80},
            "mlnodes": [{"id": "node1", "models": [sandbox_network["model"]]}]}
    data = {k: v for k, v in sandbox_network["group_data"].items() if k not in PROFILE_KEYS}
    (inventory.parent / "group_data" / "upgrades.py").write_text(
        "".join(f"{key} = {value!r}\n" for key, value in data.items()))
    env = dict(os.environ, GONKA_RELEASES_PATH=str(releases),
               GONKA_CACHE_DIR=str(base / "cache"), GONKA_STATE_DIR=str(base / "nodes"),
               GONKA_SECRETS_DIR=str(base / "no-secrets"),
               GONKASIM_LOG_DIR=str(base / "local-cli"),
               PATH=f"{REPO / 'sandbox' / 'shims'}{os.pathsep}{os.environ['PATH']}",
               GONKA_KEYRING_PASSWORD=PASSWORD)
    state = {"good": good, "bad": bad, "inventory": inventory, "hosts": hosts, "env": env,
             "seed": seed, "zips": zips, "profile": profile, "past": past}
    write_inventory(state)
    yield state
    fleet.remove([good, bad])


def write_inventory(scenario, only: str | None = None) -> None:
    entries = [(name, data) for name, data in scenario["hosts"].items()
               if only is None or name == only]
    scenario["inventory"].write_text(f"upgrade_hosts = {entries!r}\n")


def pyinfra(scenario, *args, deploy=DEPLOY, timeout=900):
    argv = [sys.executable, "-m", "pyinfra", str(scenario["inventory"]), str(deploy), *args]
    started = time.monotonic()
    p = subprocess.run(argv, cwd=REPO, env=scenario["env"], capture_output=True, text=True,
                       timeout=timeout)
    print(f"pyinfra {' '.join(args)} {deploy.name}: rc {p.returncode} in "
          f"{time.monotonic() - started:.0f} s")
    return p.returncode, p.stdout + p.stderr


def no_change(out: str) -> bool:
    total = re.search(r"Grand total\s+(\d+)\s+(\S+)\s+(\S+)\s+(\d+)", out)
    return bool(total) and total.group(2) == "-" and total.group(1) == total.group(4)


def seed_height(scenario) -> int:
    import urllib.request
    with urllib.request.urlopen(scenario["seed"] + "/chain-rpc/status", timeout=5) as r:
        return int(json.load(r)["result"]["sync_info"]["latest_block_height"])


def node_height(host) -> int:
    doc = json.loads(host.run("curl -s -m 5 http://127.0.0.1:26657/status"))
    return int(doc["result"]["sync_info"]["latest_block_height"])


def node_version(host) -> str:
    return host.run(f"cd {JOIN} && docker compose exec -T node "
                    "/root/.inference/cosmovisor/current/bin/inferenced version").strip()


def test_dry_run_says_what_it_would_download_and_link_and_touches_nothing(scenario):
    good, bad = scenario["good"], scenario["bad"]
    rc, out = pyinfra(scenario, "--dry")
    assert rc == 0, out[-6000:]
    url = scenario["zips"]["v0.2.15"]["inferenced"]["url"]
    assert f"[{good.name}] would download {url} (sha256 " in out, out[-6000:]
    assert (f"[{good.name}] would point {JOIN}/.inference/cosmovisor/current at upgrades/v0.2.15 "
            "(chain height ") in out
    assert (f"[{bad.name}] refused: chain upgrade v0.2.15 (height 95000) is at or below the "
            "chain's height") in out
    for host in (good, bad):
        assert host.run("test -e /mnt/ssd/gonka || echo absent").strip() == "absent"


def test_apply_converges_past_two_upgrades_and_the_host_missing_a_binary_fails_alone(scenario):
    good, bad = scenario["good"], scenario["bad"]
    rc, out = pyinfra(scenario, "-y")
    assert rc != 0  # one host failed
    assert PASSWORD not in out
    assert ("no decentralized-api binary for it: add its zip URL and sha256 to the profile's "
            "chain_upgrades") in out, out[-6000:]
    assert re.search(rf"\[{good.name}\] verification: \d+ passed, \d+ warning\(s\), 0 failed",
                     out), out[-8000:]
    # The good host runs the upgrade's binary, linked as upstream's join guide links it.
    cv = f"{JOIN}/.inference/cosmovisor"
    assert good.run(f"readlink {cv}/current").strip() == "upgrades/v0.2.15"
    assert good.run(f"readlink {JOIN}/.dapi/cosmovisor/current").strip() == "upgrades/v0.2.15"
    want = scenario["zips"]["v0.2.15"]["inferenced"]["binary_sha256"]
    assert good.run(f"sha256sum {cv}/upgrades/v0.2.15/bin/inferenced").split()[0] == want
    assert node_version(good) == "v0.2.15"
    first = node_height(good)
    assert first > 95000
    assert "upgrade handler is missing" not in good.run(f"cd {JOIN} && docker compose logs node")
    time.sleep(2)
    assert node_height(good) > first  # producing blocks, not crash-looping
    versions = json.loads(good.run("curl -s -m 5 http://127.0.0.1:8000/v1/versions"))
    assert versions["api_version"]["version"] == versions["node_version"]["version"] == "v0.2.15"
    # The other host stopped before its node ever started: no crash loop there.
    assert bad.run(f"test -e {JOIN}/.inference/config || echo never").strip() == "never"
    assert "node" not in bad.run("docker ps -a --format '{{.Names}}'").split()


def post_plan(scenario, plan: dict | None) -> None:
    import urllib.request
    req = urllib.request.Request(scenario["seed"] + "/gonkasim/plan", method="POST",
                                 data=json.dumps({"plan": plan}).encode(),
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=5).close()


def plan_info(zips: dict) -> str:
    return json.dumps({"binaries": {"linux/amd64": zips["inferenced"]["url"]
                                    + "?checksum=sha256:" + zips["inferenced"]["sha256"]},
                       "api_binaries": {"linux/amd64": zips["decentralized-api"]["url"]
                                        + "?checksum=sha256:"
                                        + zips["decentralized-api"]["sha256"]}})


def test_a_pending_plan_the_profile_does_not_list_fails_the_host_and_stages_nothing(scenario):
    good = scenario["good"]
    write_inventory(scenario, only=good.name)
    far = seed_height(scenario) + 1_000_000
    zips = scenario["zips"]["v0.2.16-post1"]
    post_plan(scenario, {"name": "v0.2.16", "height": far, "info": plan_info(zips)})
    try:
        rc, out = pyinfra(scenario, "-y")
    finally:
        post_plan(scenario, None)
    assert rc != 0, out[-6000:]
    assert (f"[{good.name}] refused: the chain's pending upgrade plan v0.2.16 (height {far}) is "
            "not in release profile sandbox-upgrades's chain_upgrades: nothing staged") in out, \
        out[-6000:]
    assert "VERIFY THESE VALUES AGAINST THE RELEASE ANNOUNCEMENT" in out
    assert f'"sha256": "{zips["inferenced"]["sha256"]}"' in out  # the line to check and add
    for home in (".inference", ".dapi"):
        assert good.run(f"test -e {JOIN}/{home}/cosmovisor/upgrades/v0.2.16 || echo none"
                        ).strip() == "none"
    assert good.run(f"readlink {JOIN}/.inference/cosmovisor/current").strip() == \
        "upgrades/v0.2.15"


def test_a_coming_upgrade_gets_its_binaries_before_its_height_and_the_node_passes_it(scenario):
    good = scenario["good"]
    write_inventory(scenario, only=good.name)
    at = seed_height(scenario) + int(PLAN_LEAD_S / 0.5)
    zips = scenario["zips"]["v0.2.16-post1"]
    # The next release profile knows the scheduled upgrade (as v0.2.16-post1 knew #112's).
    scenario["profile"]("sandbox-upgrades-next", scenario["past"] + [
        upgrade("v0.2.16", at, zips, version="v0.2.16-post1")])
    scenario["hosts"][good.name]["release"] = "sandbox-upgrades-next"
    write_inventory(scenario, only=good.name)
    post_plan(scenario, {"name": "v0.2.16", "height": at, "info": plan_info(zips)})

    rc, out = pyinfra(scenario, "-y")
    assert rc == 0, out[-8000:]
    assert f"coming chain upgrade v0.2.16 at height {at}" in out
    assert node_height(good) < at, "the apply took longer than PLAN_LEAD_S"
    cv = f"{JOIN}/.inference/cosmovisor"
    assert good.run(f"readlink {cv}/current").strip() == "upgrades/v0.2.15"  # cosmovisor's move
    for home, program in ((".inference", "inferenced"), (".dapi", "decentralized-api")):
        assert good.run(f"test -x {JOIN}/{home}/cosmovisor/upgrades/v0.2.16/bin/{program} "
                        "&& echo placed").strip() == "placed"
    report = re.search(r"next upgrade\s+ok\s+(.*)", out)
    assert report and f"v0.2.16 at height {at}" in report.group(1) and \
        "ready: binaries in place" in report.group(1), out[-4000:]

    # The node passes the height on the placed binary, without halting.
    deadline = time.monotonic() + PLAN_LEAD_S + 120
    while node_height(good) < at + 10:
        assert time.monotonic() < deadline, "the node did not pass the upgrade height"
        time.sleep(5)
    assert node_version(good) == "v0.2.16-post1"
    link = good.run(f"readlink {cv}/current").strip()
    assert link.endswith("/cosmovisor/upgrades/v0.2.16"), link
    logs = good.run(f"cd {JOIN} && docker compose logs node")
    assert f'UPGRADE "v0.2.16" NEEDED at height: {at}' in logs
    assert "binary not present" not in logs and "upgrade handler is missing" not in logs
    h = node_height(good)
    time.sleep(2)
    assert node_height(good) > h

    rc, out = pyinfra(scenario, "-y")
    assert rc == 0, out[-6000:]
    assert no_change(out), out[-4000:]
    rc, out = pyinfra(scenario, "-y", deploy=VERIFY)
    assert rc == 0, out[-6000:]
    want = ("node binary v0.2.16-post1, node running v0.2.16-post1, api v0.2.16-post1 = "
            "upgrade v0.2.16 (v0.2.16-post1)")
    assert re.search(r"ok\s+binaries\s+" + re.escape(want), out), out[-4000:]
