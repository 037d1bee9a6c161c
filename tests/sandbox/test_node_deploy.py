"""deploys/node.py for real, over SSH, on sandbox hosts running the simulated Gonka stack.

One module-scoped scenario, in the order an operator lives it: a dry run that changes nothing
(on the hosts and in nodes/), an apply cut off mid-download, a re-run that finishes it (one host
refusing its xfs disk, one refusing a disk that carries our label but not our UUID), the hosts
checked with testinfra, a second apply and a dry run that change nothing, every output at -vvv
--diff scanned for every form of every secret, a changed peer list that restarts only the node,
and a fresh host whose SSH connection is cut at a random point of phases 4-6.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import testinfra

from gonka_deploy.state import NodeState
from tests.conftest import REPO
from tests.leaks import forms, leaks, local_files
from tests.sandbox.hostcmd import drained

pytestmark = pytest.mark.sandbox
DEPLOY = REPO / "deploys" / "node.py"
PASSWORDS = {"gpu": "e2e-Keyring-pass 'with' $pecial\\chars", "xfs": "e2e-other-Password-42",
             "lbl": "e2e-label-Password-43"}
ROTATED = "e2e-rotated-Password-77"
VERBOSE = ("-vvv", "--diff")


def host_entry(host, network) -> tuple[str, dict]:
    data = {**host.ssh_data("ubuntu"), **network["group_data"],
            "key_name": f"e2e-{host.name}", "public_host": host.address,
            # Each host its own cold account, as in production.
            "account_pubkey": base64.b64encode(
                b"\x02" + hashlib.sha256(host.name.encode()).digest()).decode(),
            "data_disk": "/dev/vdb", "gpu": {"model": "H100", "count": 1, "vram_gb": 80},
            "mlnodes": [{"id": "node1", "models": [network["model"]]}],
            "location": "sandbox", "tags": ["e2e"],
            # One host keeps its warm mnemonic locally, so the tests can look for it; the other
            # grants its warm key from this machine (the inferenced shim stands in for the CLI).
            "save_warm_mnemonic": host.name == "gpu-01",
            "grant_from_local_keyring": host.name == "gpu-02",
            # the test keyring of this machine holds gpu-02's cold key (see local_cold_key)
            "cold_keyring_backend": "test"}
    return host.name, data


def local_cold_key(host, env: dict, seed_api_url: str) -> None:
    """The operator's machine holds the host's cold key (the stand-in derives the public key
    0x02 || sha256(mnemonic): the mnemonic is the host's name, as account_pubkey above) and the
    cold account holds coins for the grant's fee."""
    # the key's setup is logged beside its keyring, not in nodes/ (the dry run's snapshot)
    setup = {**env, "GONKASIM_LOG_DIR": env["INFERENCED_HOME"] + "/log"}
    r = subprocess.run(["inferenced", "keys", "add", "gonka-account-key", "--recover",
                        "--keyring-backend", "test", "--output", "json"], input=host.name + "\n",
                       text=True, capture_output=True, env=setup, timeout=60)
    assert r.returncode == 0, r.stderr
    from gonkasim import common

    address = json.loads(r.stdout)["address"]
    code, _ = common.http("POST", f"{seed_api_url}/sim/fund",
                          {"address": address, "ngonka": 20_000_000_000})
    assert code == 200


def password_env(hosts) -> dict[str, str]:
    env = {}
    for host in hosts:
        kind = host.name.split("-")[0] if host.name.split("-")[0] in PASSWORDS else "gpu"
        env["GONKA_KEYRING_PASSWORD_E2E_" + host.name.upper().replace("-", "_")] = PASSWORDS[kind]
    return env


@pytest.fixture(scope="module")
def scenario(fleet, sandbox_network, tmp_path_factory):
    hosts = fleet.add(2, prefix="gpu") + fleet.add(1, prefix="xfs") + fleet.add(1, prefix="lbl")
    state_dir = tmp_path_factory.mktemp("nodes")
    xfs, lbl = hosts[2], hosts[3]
    xfs.run("mkfs.xfs -q -f /dev/vdb && mkdir -p /x && mount /dev/vdb /x && "
            "echo precious > /x/keep.txt && umount /x")
    # Our label, but not the UUID this node chose, and in use elsewhere: not ours.
    lbl.run("mkfs.ext4 -q -L gonka-data /dev/vdb && mkdir -p /mnt/other && "
            "mount /dev/vdb /mnt/other && echo precious > /mnt/other/keep.txt")
    inventory = tmp_path_factory.mktemp("inv") / "e2e.py"
    entries = [host_entry(h, sandbox_network) for h in hosts]
    inventory.write_text(f"e2e_hosts = {entries!r}\n")
    env = dict(os.environ, **password_env(hosts), GONKA_STATE_DIR=str(state_dir),
               GONKA_SECRETS_DIR=str(state_dir / "no-secrets"),
               GONKASIM_LOG_DIR=str(state_dir / "local-cli"),
               INFERENCED_HOME=str(tmp_path_factory.mktemp("operator-keyring")),
               PATH=f"{REPO / 'sandbox' / 'shims'}{os.pathsep}{os.environ['PATH']}")
    env.pop("GONKA_KEYRING_PASSWORD", None)
    local_cold_key(hosts[1], env, sandbox_network["group_data"]["seed_api_url"])
    yield {"hosts": hosts, "inventory": inventory, "entries": entries, "env": env,
           "state": state_dir,
           "network": sandbox_network, "outputs": {}}
    fleet.remove(hosts)


def pyinfra(scenario, *args, limit=None, timeout=600, background=False, drain=False):
    """Run the deploy; ``background``: a Popen whose output the caller reads, or, with
    ``drain``, is read into ``proc.lines`` by a thread (a full pipe would stop pyinfra)."""
    argv = [sys.executable, "-m", "pyinfra", str(scenario["inventory"]), str(DEPLOY), *args]
    for name in limit or []:
        argv += ["--limit", name]
    if background:
        proc = subprocess.Popen(argv, cwd=REPO, env=scenario["env"], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        if drain:
            proc.lines = drained(proc)
        return proc
    p = subprocess.run(argv, cwd=REPO, env=scenario["env"], capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def infra_host(host):
    return testinfra.get_host(
        f"ssh://root@{host.address}", ssh_identity_file=host.key,
        ssh_extra_args="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                       "-o LogLevel=ERROR")


def model_state(host, model, sha) -> dict:
    from gonka_deploy.hfscript import SCRIPT

    out = subprocess.run([*host.ssh_argv(), "env", "HF_HOME=/mnt/ssd/hf", "python3", "-c",
                          _quote(SCRIPT), "status", model, sha], capture_output=True, text=True,
                         timeout=60)
    return json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else {}


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def nodes_snapshot(scenario) -> dict[str, bytes]:
    root = scenario["state"]
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_dry_run_shows_the_plan_and_changes_nothing(scenario):
    gpu = [h.name for h in scenario["hosts"][:2]]
    rc, out = pyinfra(scenario, "--dry", *VERBOSE, limit=gpu)
    assert rc == 0, out
    # nodes/ holds the identity of each host (the diff names it), and nothing else
    made = nodes_snapshot(scenario)
    assert len(made) == 2 and all(NodeState(f"e2e-{name}", root=scenario["state"]).snapshot()
                                  == {k.split("/", 1)[1]: v for k, v in made.items()
                                      if k.startswith(f"e2e-{name}/")} for name in gpu), made
    for name in gpu:
        assert f"[{name}] would format /dev/vdb (ext4, 1.0 GiB)" in out
        assert re.search(rf"\[{name}\]   \+UUID=[0-9a-f-]{{36}} /mnt/ssd ext4 "
                         r"defaults,nofail,x-systemd.device-timeout=30s 0 2", out), out
        assert f"[{name}] would clone git://" in out
        assert f"[{name}] would download {scenario['network']['model']}@" in out
    host = scenario["hosts"][0]
    assert host.run("blkid -p /dev/vdb", check=False) == ""
    assert "/mnt/ssd" not in host.run("cat /etc/fstab")
    scenario["outputs"]["dry"] = out


def test_cut_connection_mid_download_then_rerun_converges_and_refuses_the_xfs_disk(scenario):
    hosts, model = scenario["hosts"], scenario["network"]["model"]
    sha = scenario["network"]["model_commit"]
    first = scenario["hosts"][0]
    proc = pyinfra(scenario, "-y", background=True, drain=True)
    # phases 1-3 come first (docker, images, the repo): minutes on a loaded machine
    deadline = time.monotonic() + 600
    pidfile = f"/mnt/ssd/hf/.gonka-deploy/{model.replace('/', '--')}@{sha}.pid"
    started = ""
    while time.monotonic() < deadline and proc.poll() is None and not started:
        started = first.run(f"cat {pidfile} 2>/dev/null", check=False).strip()
        time.sleep(0.2)
    assert proc.poll() is None, "pyinfra ended before the download started:\n" + "".join(
        proc.lines)
    os.killpg(proc.pid, signal.SIGKILL)  # the operator's laptop drops: SSH sessions die
    proc.wait(timeout=30)
    assert started, "the download did not start within 600 s"
    pid = first.run(f"cat {pidfile}").strip()
    during = model_state(first, model, sha)
    assert not during["complete"], "the download finished before the cut; throttle it more"

    rc, out = pyinfra(scenario, "-y", *VERBOSE)
    scenario["outputs"]["apply"] = out
    assert rc != 0, "the xfs host must fail"
    xfs, lbl = hosts[2], hosts[3]
    assert f"[{xfs.name}] refused: refusing to format /dev/vdb: it holds xfs filesystem" in out
    assert xfs.run("mkdir -p /x && mount /dev/vdb /x && cat /x/keep.txt; umount /x") == \
        "precious\n"
    assert (f"[{lbl.name}] refused: refusing to use /dev/vdb: it holds a ext4 filesystem "
            "labelled gonka-data with UUID") in out, out[-4000:]
    assert "/mnt/ssd" not in lbl.run("cat /proc/mounts /etc/fstab")
    assert lbl.run("cat /mnt/other/keep.txt") == "precious\n"
    assert first.run(f"cat {pidfile}").strip() == pid, "the download was started over"
    for host in hosts[:2]:
        state = model_state(host, model, sha)
        assert state["complete"], (state, out[-6000:])


@pytest.mark.parametrize("index", [0, 1])
def test_hosts_converged(scenario, index):
    host = scenario["hosts"][index]
    t = infra_host(host)
    network = scenario["network"]
    mount = t.mount_point("/mnt/ssd")
    assert mount.exists and mount.filesystem == "ext4"
    lines = t.file("/etc/fstab").content_string.splitlines()
    fstab = [line for line in lines if "/mnt/ssd" in line]
    uuid = t.check_output("blkid -s UUID -o value /dev/vdb")
    assert fstab == [f"UUID={uuid} /mnt/ssd ext4 defaults,nofail,x-systemd.device-timeout=30s 0 2"]
    assert t.file("/etc/fstab.gonka-deploy.bak").exists
    assert t.check_output("curl -s 127.0.0.1:9090/-/ready").startswith("Prometheus")
    assert "node_uname_info" in t.check_output("curl -s 127.0.0.1:9101/metrics")
    assert t.check_output("git -C /mnt/ssd/gonka rev-parse HEAD") == network["gonka_ref"]
    snap = f"/mnt/ssd/hf/hub/models--{network['model'].replace('/', '--')}"
    assert t.file(f"{snap}/refs/main").content_string == network["model_commit"]
    join = "/mnt/ssd/gonka/deploy/join"
    for name, mode in ((".env", 0o600), ("config.env", 0o600), ("node-config.json", 0o644),
                       ("nginx.conf", 0o644), ("docker-compose.override.yml", 0o644)):
        assert t.file(f"{join}/{name}").mode == mode, name
    config_env = t.check_output(f"bash -c 'source {join}/config.env && echo $KEY_NAME "
                                "$PUBLIC_URL $HF_HOME'")
    assert config_env == f"e2e-{host.name} http://{host.address}:8000 /mnt/ssd/hf"
    nodes = json.loads(t.file(f"{join}/node-config.json").content_string)
    assert list(nodes[0]["models"]) == [network["model"]]
    assert "location /v3.0.8/" in t.file(f"{join}/nginx.conf").content_string
    # An operator's hand-typed compose in deploy/join uses the toolkit's files and values.
    merged = json.loads(t.check_output(f"cd {join} && docker compose config --format json"))
    assert merged["services"]["api"]["ports"][0]["host_ip"] == "127.0.0.1"


def test_second_apply_and_dry_run_change_nothing_and_no_secret_shows(scenario, tmp_path):
    gpu = [h.name for h in scenario["hosts"][:2]]
    counts = tmp_path / "commands.json"
    scenario["env"]["GONKA_DEPLOY_COUNT_COMMANDS"] = str(counts)
    try:
        rc, out = pyinfra(scenario, "-y", *VERBOSE, limit=gpu)
    finally:
        del scenario["env"]["GONKA_DEPLOY_COUNT_COMMANDS"]
    assert rc == 0, out
    scenario["outputs"]["second apply"] = out
    total = re.search(r"Grand total\s+(\d+)\s+(\S+)\s+(\S+)\s+(\d+)", out)
    assert total and total.group(2) == "-" and total.group(1) == total.group(4), out[-3000:]
    # A converged host's state is read in a handful of round trips (facts read ahead in
    # batches, gonka_deploy/factcache.py): an operation that reads a fact the read-ahead
    # cannot reach costs one more here.
    sent = json.loads(counts.read_text())
    assert sorted(sent) == sorted(gpu)
    for name, host_counts in sent.items():
        log = json.dumps(host_counts["log"], indent=1)
        assert host_counts["commands"] <= 8, (name, log)
        # The run lock is held before the host's state is read ahead (a run that ended in
        # between could have changed it): each lock take comes before the batches after it.
        texts = [text for _, text in host_counts["log"]]
        locks = [i for i, text in enumerate(texts) if "--max-seconds" in text]
        batches = [i for i, text in enumerate(texts) if text.startswith("d=$(mktemp -d)")]
        assert len(locks) == 2 and batches and locks[0] < batches[0], (name, log)
        assert any(locks[1] < i for i in batches), (name, log)

    # A dry run of a converged fleet: no change, and nodes/ stays byte for byte the same.
    before = nodes_snapshot(scenario)
    rc, dry = pyinfra(scenario, "--dry", *VERBOSE, limit=gpu)
    assert rc == 0, dry
    scenario["outputs"]["converged dry run"] = dry
    assert nodes_snapshot(scenario) == before

    # A password change: the dry run shows that a secret changed, never its value.
    env_var = "GONKA_KEYRING_PASSWORD_E2E_" + gpu[0].upper().replace("-", "_")
    scenario["env"][env_var] = ROTATED
    rc, diff_out = pyinfra(scenario, "--dry", *VERBOSE, limit=gpu[:1])
    scenario["env"][env_var] = PASSWORDS["gpu"]
    assert rc == 0, diff_out
    assert "(only secret values change)" in diff_out
    scenario["outputs"]["rotation dry run"] = diff_out
    assert nodes_snapshot(scenario) == before

    # The warm mnemonic is kept locally for gpu-01 only (0600), nowhere else.
    first = NodeState(f"e2e-{gpu[0]}", root=scenario["state"])
    mnemonic = first.mnemonic()
    assert mnemonic and len(mnemonic.split()) == 24
    (saved,) = first.designated_secret_files()
    assert oct(saved.stat().st_mode & 0o777) == "0o600"
    assert NodeState(f"e2e-{gpu[1]}", root=scenario["state"]).mnemonic() is None

    # Every output, every local file but the designated one: no secret in any form.
    designated = {p for name in gpu for p in NodeState(
        f"e2e-{name}", root=scenario["state"]).designated_secret_files()}
    texts = {**{f"output of {k}": v for k, v in scenario["outputs"].items()},
             **local_files(scenario["state"], designated)}
    secrets = {"password": PASSWORDS["gpu"], "rotated password": ROTATED,
               "other host's password": PASSWORDS["xfs"], "mnemonic": mnemonic}
    assert len(texts) > 8
    assert leaks(texts, secrets) == []
    assert any("audit" in name for name in texts)

    # On the host, only config.env and .env hold it, in any of its forms (plain, quoted, hex,
    # base64 at any offset),
    # besides the engine's records of the api's environment (dockerd keeps them in
    # /var/lib/docker/containers/*/config.v2.json, containerd in its metadata db): root only.
    # Containers' writable layers (overlay2/*/diff) are searched too; their merged views
    # repeat the images and are skipped.
    host = scenario["hosts"][0]
    found = subprocess.run(
        [*host.ssh_argv(), "grep -rlF -f /dev/stdin / --exclude-dir=proc --exclude-dir=sys "
                           "--exclude-dir=dev --exclude-dir=run --exclude-dir=containers "
                           "--exclude-dir=containerd --exclude-dir=merged 2>/dev/null"],
        input="".join(f"{form}\n" for form in forms(PASSWORDS["gpu"])), capture_output=True,
        text=True, timeout=300)
    # readable by root only (containerd's meta.db is 0644 but sits in a 0700 directory)
    engine = host.run("for f in /var/lib/docker/containers/*/config.v2.json "
                      "/var/lib/docker/containerd/daemon/*/meta.db; do "
                      "su ubuntu -s /bin/sh -c \"cat '$f'\" >/dev/null 2>&1 && echo \"$f\"; "
                      "done; true")
    assert engine == "", f"container records readable by others: {engine}"
    assert sorted(found.stdout.split()) == ["/mnt/ssd/gonka/deploy/join/.env",
                                            "/mnt/ssd/gonka/deploy/join/config.env"]
    words = " ".join(mnemonic.split()[:6])
    patterns = {words, *forms(mnemonic)}
    found = subprocess.run(
        [*host.ssh_argv(), "grep -rlF -f /dev/stdin / --exclude-dir=proc --exclude-dir=sys "
                           "--exclude-dir=dev --exclude-dir=run 2>/dev/null"],
        input="".join(f"{form}\n" for form in sorted(patterns)), capture_output=True,
        text=True, timeout=300)
    assert found.stdout.split() == [], "the mnemonic is on the server"


def inferenced_calls(host) -> list[list[str]]:
    """Every call of inferenced in the api/node stand-ins (they record argv, never stdin, in
    the bind-mounted .inference: a `compose run --rm` container's own files are gone)."""
    text = host.run("cat /mnt/ssd/gonka/deploy/join/.inference/.gonkasim/inferenced.log "
                    "2>/dev/null", check=False)
    return [json.loads(line).get("argv", []) for line in text.splitlines() if line.strip()]


def count(calls: list[list[str]], *words: str) -> int:
    return sum(1 for argv in calls if all(w in argv for w in words))


def container_pids(host) -> dict[str, int]:
    """Service -> PID of its container's first process (docker inspect's State.Pid)."""
    out = host.run("docker inspect --format "
                   "'{{index .Config.Labels \"com.docker.compose.service\"}} {{.State.Pid}}' "
                   "$(docker ps -aq --filter label=com.docker.compose.project=join)")
    return {svc: int(pid) for svc, pid in (line.split() for line in out.splitlines())}


@pytest.mark.parametrize("index", [0, 1])
def test_stack_runs_with_one_key_and_one_registration(scenario, index):
    host = scenario["hosts"][index]
    t = infra_host(host)
    join = "/mnt/ssd/gonka/deploy/join"
    services = {json.loads(line)["Service"]: json.loads(line)["State"]
                for line in t.check_output(f"cd {join} && docker compose ps -a --format json")
                .splitlines()}
    for name in ("tmkms", "node", "api", "proxy", "inference", "mlnode-308"):
        assert services.get(name) == "running", services
    nodes = json.loads(t.check_output("curl -s 127.0.0.1:9200/admin/v1/nodes"))
    assert [n["node"]["id"] for n in nodes] == ["node1"]
    state = json.loads(t.check_output("curl -s 127.0.0.1:8080/v3.0.8/api/v1/state"))
    assert state["version"] == "3.0.13"
    calls = inferenced_calls(host)
    assert count(calls, "keys", "add") == 1, calls
    assert count(calls, "register-new-participant") == 1, calls
    node = NodeState(f"e2e-{host.name}", root=scenario["state"])
    warm = node.warm_address()
    assert warm.startswith("gonka1")
    assert node.registration().registered_by == "gonka-deploy"
    assert node.identity().key_name == f"e2e-{host.name}"
    grants = [line for line in (scenario["state"] / "local-cli" / "inferenced.log").read_text()
              .splitlines() if "grant-ml-ops-permissions" in line]
    if host.name == "gpu-02":
        assert node.grant().warm_address == warm
        assert len([g for g in grants if warm in g]) == 1, grants
    else:
        assert node.grant() is None


def test_changed_peer_list_restarts_only_the_node(scenario):
    host = scenario["hosts"][0]
    before = container_pids(host)
    peer = "1111111111111111111111111111111111111111@169.254.9.9:5000"
    for _, data in scenario["entries"]:
        data["persistent_peers"] = [peer]
    scenario["inventory"].write_text(f"e2e_hosts = {scenario['entries']!r}\n")
    rc, out = pyinfra(scenario, "-y", limit=[host.name])
    assert rc == 0, out
    assert re.search(r"Phase 5: chain tuning \| Restart node\s+1\s+1\s", out), out[-3000:]
    after = container_pids(host)
    changed = sorted(name for name in before if before[name] != after.get(name))
    assert changed == ["node"], (before, after)
    config = host.run("grep '^persistent_peers' /mnt/ssd/gonka/deploy/join/.inference/config/"
                      "config.toml")
    assert peer in config


def test_ssh_cut_in_phases_4_to_6_then_rerun_converges_once(scenario, fleet):
    import random

    (fresh,) = fleet.add(1, prefix="cut")
    scenario["hosts"].append(fresh)
    entries = scenario["entries"]
    entries.append(host_entry(fresh, scenario["network"]))
    scenario["env"]["GONKA_KEYRING_PASSWORD_E2E_" + fresh.name.upper().replace("-", "_")] = \
        PASSWORDS["gpu"]
    scenario["inventory"].write_text(f"e2e_hosts = {entries!r}\n")
    points = ["Phase 4: network node and keys | Warm key",
              "Phase 4: network node and keys | Participant registration",
              "Phase 5: chain tuning | Restart node", "Phase 6: full stack | Stack up",
              "Phase 6: full stack | ML nodes known to the api"]
    seed = int(os.environ.get("GONKA_E2E_SEED", time.time()))
    point = random.Random(seed).choice(points)
    print(f"cutting at {point!r} (GONKA_E2E_SEED={seed})")
    proc = pyinfra(scenario, "-y", limit=[fresh.name], background=True)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if f"Starting operation: {point}" in line:
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert any(point in line for line in seen), "".join(seen)[-3000:]

    rc, out = pyinfra(scenario, "-y", limit=[fresh.name])
    assert rc == 0, out[-4000:]
    rc, out = pyinfra(scenario, "-y", limit=[fresh.name])
    total = re.search(r"Grand total\s+(\d+)\s+(\S+)\s+(\S+)\s+(\d+)", out)
    assert rc == 0 and total and total.group(2) == "-", out[-3000:]
    calls = inferenced_calls(fresh)
    assert count(calls, "keys", "add") == 1, calls
    assert count(calls, "register-new-participant") <= 1, calls
    seed_view = subprocess.run(
        ["curl", "-s", f"{scenario['network']['group_data']['seed_api_url']}/v1/epochs/current/"
         "participants"], capture_output=True, text=True, timeout=30).stdout
    assert seed_view.count(f"http://{fresh.address}:8000") == 1, seed_view
