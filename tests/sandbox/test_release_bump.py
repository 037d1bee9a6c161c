"""A converged sandbox host moves to the next release by one line of group data.

The stand-in repo carries two releases (sandbox/gonkarepo): `main`, shaped like v0.2.13, and
`release/v0.2.14-sandbox`, shaped like v0.2.14+ (bumped images, a new service, a new template
variable, the bridge's newly published 30303). Their release profiles are generated into a
directory on GONKA_RELEASES_PATH. One module-scoped scenario, as an operator lives it:
converge on sandbox-v0.2.13; change `release` in group data; `--dry` shows the drift and the
diffs and changes nothing; the apply converges; the new port is not public (another sandbox
host cannot reach it, the host listens on 127.0.0.1 only, the merged compose says so) while
the public api still answers; a second apply changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.sandbox
DEPLOY = REPO / "deploys" / "node.py"
JOIN = "/mnt/ssd/gonka/deploy/join"
PASSWORD = "bump-Keyring-pass-2026"
OLD, NEW = "sandbox-v0.2.13", "sandbox-v0.2.14"


def group_data_text(release: str, network: dict, releases, served: dict) -> str:
    """The group data of one release: the network's, less what the profile gives; a digest
    pin of the profile cannot match a stand-in, so it is re-pinned to the stand-in's digest
    (only that service: a bump moves every other image with the profile)."""
    from sandbox.bench.inventory import standin_images

    data = {k: v for k, v in network["group_data"].items()
            if k not in ("release", "gonka_ref", "gonka_repo_url", "images")}
    repinned = standin_images(served, profile=releases / f"{release}.py")
    if repinned:
        data["images"] = repinned
    lines = [f"release = {release!r}"]  # the one line an operator edits
    lines += [f"{key} = {value!r}" for key, value in data.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def scenario(fleet, sandbox_network, tmp_path_factory):
    from gonkarepo.profiles import write_profiles

    target, probe = fleet.add(2, prefix="rel")
    base = tmp_path_factory.mktemp("bump")
    releases = base / "releases"
    write_profiles(releases, fleet.dir / "git" / "gonka.git", f"git://{fleet.gateway}/gonka.git",
                   fleet.gateway)
    inventory = base / "inv" / "bump.py"
    (inventory.parent / "group_data").mkdir(parents=True)
    entry = (target.name, {
        **target.ssh_data("ubuntu"), "key_name": f"bump-{target.name}",
        "public_host": target.address,
        "account_pubkey": base64.b64encode(
            b"\x02" + hashlib.sha256(target.name.encode()).digest()).decode(),
        "data_disk": "/dev/vdb", "gpu": {"model": "H100", "count": 1, "vram_gb": 80},
        "mlnodes": [{"id": "node1", "models": [sandbox_network["model"]]}]})
    inventory.write_text(f"bump_hosts = {[entry]!r}\n")
    group_file = inventory.parent / "group_data" / "bump.py"
    group_file.write_text(group_data_text(OLD, sandbox_network, releases, fleet.images))
    env = dict(os.environ, GONKA_RELEASES_PATH=str(releases),
               GONKA_CACHE_DIR=str(base / "cache"), GONKA_STATE_DIR=str(base / "nodes"),
               GONKA_SECRETS_DIR=str(base / "no-secrets"),
               GONKASIM_LOG_DIR=str(base / "local-cli"),
               PATH=f"{REPO / 'sandbox' / 'shims'}{os.pathsep}{os.environ['PATH']}",
               **{"GONKA_KEYRING_PASSWORD_BUMP_" + target.name.upper().replace("-", "_"):
                  PASSWORD})
    env.pop("GONKA_KEYRING_PASSWORD", None)
    yield {"target": target, "probe": probe, "inventory": inventory, "group": group_file,
           "env": env, "network": sandbox_network, "releases": releases,
           "served": fleet.images}
    fleet.remove([target, probe])


def pyinfra(scenario, *args, timeout=900):
    argv = [sys.executable, "-m", "pyinfra", str(scenario["inventory"]), str(DEPLOY), *args]
    p = subprocess.run(argv, cwd=REPO, env=scenario["env"], capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def no_change(out: str) -> bool:
    total = re.search(r"Grand total\s+(\d+)\s+(\S+)\s+(\S+)\s+(\d+)", out)
    return bool(total) and total.group(2) == "-" and total.group(1) == total.group(4)


def commit_of(scenario, release: str) -> str:
    text = (scenario["releases"] / f"{release}.py").read_text()
    return re.search(r"gonka_ref = '([0-9a-f]{40})'", text).group(1)


def merged_compose(host) -> dict:
    return json.loads(host.run(f"cd {JOIN} && docker compose config --format json"))


def test_host_converges_on_the_first_release_without_drift(scenario):
    rc, out = pyinfra(scenario, "-y")
    assert rc == 0, out[-6000:]
    assert "drift:" not in out
    host = scenario["target"]
    assert host.run("git -C /mnt/ssd/gonka rev-parse HEAD").strip() == commit_of(scenario, OLD)
    services = merged_compose(host)["services"]
    assert "versiond-router" not in services
    assert services["api"]["image"] == "ghcr.io/product-science/api:0.2.13"


def test_dry_run_of_the_bump_shows_the_drift_and_the_diffs_and_changes_nothing(scenario):
    host = scenario["target"]
    before = host.run(f"sha256sum {JOIN}/docker-compose.override.yml {JOIN}/config.env")
    scenario["group"].write_text(group_data_text(NEW, scenario["network"], scenario["releases"],
                                                 scenario["served"]))
    rc, out = pyinfra(scenario, "--dry", "--diff")
    assert rc == 0, out[-6000:]
    name = host.name
    new = commit_of(scenario, NEW)
    assert f"[{name}] release {NEW} ({new[:12]}): 2 drift item(s)" in out, out[-6000:]
    assert (f"[{name}]   drift: config.env: BEACON_STATE_URL left at the template's default "
            "'https://mainnet.checkpoint.sigp.io/'") in out
    assert (f"[{name}]   drift: port: bridge 30303->30303/tcp is published by the release on "
            "every interface; bound to 127.0.0.1 (list '30303' in public_ports to open it)") in out
    # The drift comes before any operation of the host is planned.
    assert out.index("drift:") < out.index("Phase 1")
    assert f"would move /mnt/ssd/gonka from {commit_of(scenario, OLD)[:12]} to {new}" in out
    for line in ("+export BEACON_STATE_URL=https://mainnet.checkpoint.sigp.io/",
                 "+    - 127.0.0.1:30303:30303", "+    image: ghcr.io/product-science/api:0.2.14",
                 "+  versiond-router:"):
        assert line in out, line
    assert PASSWORD not in out
    assert host.run(f"sha256sum {JOIN}/docker-compose.override.yml {JOIN}/config.env") == before
    assert host.run("git -C /mnt/ssd/gonka rev-parse HEAD").strip() == commit_of(scenario, OLD)


def test_the_apply_converges_and_the_new_port_is_not_public(scenario):
    rc, out = pyinfra(scenario, "-y")
    assert rc == 0, out[-6000:]
    host, probe = scenario["target"], scenario["probe"]
    assert host.run("git -C /mnt/ssd/gonka rev-parse HEAD").strip() == commit_of(scenario, NEW)
    merged = merged_compose(host)
    services = merged["services"]
    assert services["api"]["image"] == "ghcr.io/product-science/api:0.2.14"
    assert services["mlnode-308"]["image"] == "ghcr.io/gonka-ai/mlnode:3.0.14-post2"
    assert [(p.get("host_ip"), p["published"], p["target"])
            for p in services["bridge"]["ports"]] == [("127.0.0.1", "30303", 30303)]
    states = {json.loads(line)["Service"]: json.loads(line)["State"] for line in host.run(
        f"cd {JOIN} && docker compose ps -a --format json").splitlines()}
    for service in ("versiond-router", "bridge", "api", "proxy", "mlnode-308", "inference"):
        assert states.get(service) == "running", states
    assert "BEACON_STATE_URL=https://mainnet.checkpoint.sigp.io/" in host.run(
        f"cat {JOIN}/.env")
    # Bound on loopback only: it answers there, not on the public address, not from another
    # host; the public api answers from there (the check would see an open port).
    connect = ("python3 -c 'import socket,sys; s=socket.socket(); s.settimeout(5); "
               "print(s.connect_ex((sys.argv[1], int(sys.argv[2]))))'")
    assert host.run(f"{connect} 127.0.0.1 30303").strip() == "0"
    assert host.run(f"{connect} {host.address} 30303").strip() != "0"
    assert probe.run(f"{connect} {host.address} 30303").strip() != "0"
    assert probe.run(f"{connect} {host.address} 8000").strip() == "0"


def test_a_second_apply_changes_nothing(scenario):
    rc, out = pyinfra(scenario, "-y")
    assert rc == 0, out[-6000:]
    assert no_change(out), out[-3000:]
