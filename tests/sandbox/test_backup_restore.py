"""Key backup and restore, and the run lock, for real over SSH on sandbox hosts.

One module-scoped scenario, as an operator lives it: a host converges and its key material is
backed up (encrypted, 0600, a manifest; the re-run makes no new archive); two applies at once
on it: the second is refused at once naming the first, upstream's `flock -n` fails meanwhile,
and a new apply runs after it; a killed apply's lock is taken over by the next. A fresh host
under the same key_name is refused the consensus key while the old host's node still runs;
once the old stack is stopped, the fresh host gets the old node's consensus key, P2P identity,
warm key and worker key, makes no key and sends no registration. Every output (at -vvv --diff)
and every local file is scanned for the passphrase, the keyring password and the key material.
The restore's evidence is the seed's chain RPC (/commit): the old node's validator signs while
it runs, and the fresh host gets the key only once CHECK_BLOCKS blocks pass without it; the
public name, which resolves to the new host itself there, is never read as "the old host
stopped". tmkms's signing state on the new host is at the chain's height, not the archive's.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.request

import pytest
from pydantic import SecretStr

from gonka_deploy import backup
from gonka_deploy.operations.runlock import who
from gonka_deploy.state import NodeState
from tests.conftest import REPO
from tests.leaks import leaks, local_files
from tests.sandbox.hostcmd import drained, poll

pytestmark = pytest.mark.sandbox
NODE, BACKUP = REPO / "deploys" / "node.py", REPO / "deploys" / "backup.py"
JOIN = "/mnt/ssd/gonka/deploy/join"
KEY = "bak-node"
# The node's public name: each host resolves it to itself, as DNS does once it was moved to the
# new host (so the participant's registered URL stays right).
PUBLIC = "bak-node.sandbox"
PASSWORD = "bak-Keyring-pass-2026 'q' $x"
PASSPHRASE = "bak-Backup-passphrase-2026 \"q\""
VERBOSE = ("-vvv", "--diff")
HOLDER = "/run/lock/gonka-deploy.holder.json"
CHECK_BLOCKS = 20   # 10 s of the sandbox chain (0.5 s blocks)
STATE = ".tmkms/state/priv_validator_state.json"


def entry(host, network) -> tuple[str, dict]:
    return host.name, {
        **host.ssh_data("ubuntu"), **network["group_data"], "key_name": KEY,
        "public_host": PUBLIC,
        # one cold account for the node, wherever it runs
        "account_pubkey": base64.b64encode(b"\x02" + hashlib.sha256(KEY.encode()).digest())
        .decode(),
        "data_disk": "/dev/vdb", "gpu": {"model": "H100", "count": 1, "vram_gb": 80},
        "restore_check_blocks": CHECK_BLOCKS,
        "mlnodes": [{"id": "node1", "models": [network["model"]]}]}


@pytest.fixture(scope="module")
def scenario(fleet, sandbox_network, tmp_path_factory):
    old, new = fleet.add(2, prefix="bak")
    for host in (old, new):
        host.run(f"echo '{host.address} {PUBLIC}' >> /etc/hosts")
    base = tmp_path_factory.mktemp("backup")
    inventories = {}
    for name, host in (("old", old), ("new", new)):
        path = base / "inv" / name / "bak.py"
        path.parent.mkdir(parents=True)
        path.write_text(f"bak_hosts = {[entry(host, sandbox_network)]!r}\n")
        inventories[name] = path
    env = dict(os.environ, GONKA_STATE_DIR=str(base / "nodes"),
               GONKA_BACKUP_DIR=str(base / "backups"), GONKA_SECRETS_DIR=str(base / "none"),
               GONKASIM_LOG_DIR=str(base / "local-cli"),
               PATH=f"{REPO / 'sandbox' / 'shims'}{os.pathsep}{os.environ['PATH']}",
               GONKA_KEYRING_PASSWORD_BAK_NODE=PASSWORD,
               GONKA_BACKUP_PASSPHRASE_BAK_NODE=PASSPHRASE)
    env.pop("GONKA_KEYRING_PASSWORD", None)
    env.pop("GONKA_BACKUP_PASSPHRASE", None)
    yield {"old": old, "new": new, "inventories": inventories, "env": env, "base": base,
           "outputs": {}, "network": sandbox_network}
    fleet.remove([old, new])


def argv(scenario, which: str, deploy, *args) -> list[str]:
    return [sys.executable, "-m", "pyinfra", str(scenario["inventories"][which]), str(deploy),
            *args]


def pyinfra(scenario, which: str, deploy, *args, timeout=900) -> tuple[int, str]:
    p = subprocess.run(argv(scenario, which, deploy, *args), cwd=REPO, env=scenario["env"],
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def background(scenario, which: str, deploy, *args) -> subprocess.Popen:
    return subprocess.Popen(argv(scenario, which, deploy, *args), cwd=REPO, env=scenario["env"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def no_change(out: str) -> bool:
    total = re.search(r"Grand total\s+(\d+)\s+(\S+)\s+(\S+)\s+(\d+)", out)
    return bool(total) and total.group(2) == "-" and total.group(1) == total.group(4)


def host_file(host, rel: str) -> bytes:
    out = host.run(f"base64 -w0 {JOIN}/{rel}")
    return base64.b64decode(out)


def consensus_key(host) -> str:
    doc = json.loads(host.run("curl -s 127.0.0.1:26657/status"))
    return doc["result"]["validator_info"]["pub_key"]["value"]


def inferenced_calls(host) -> list[list[str]]:
    text = host.run(f"cat {JOIN}/.inference/.gonkasim/inferenced.log 2>/dev/null", check=False)
    return [json.loads(line).get("argv", []) for line in text.splitlines() if line.strip()]


def count(calls, *words) -> int:
    return sum(1 for call in calls if all(w in call for w in words))


def keys_show(host) -> str:
    """The warm key's address, as the api image's CLI reads it from the host's keyring."""
    p = subprocess.run([*host.ssh_argv(), f"cd {JOIN} && docker compose run --rm --no-deps -T "
                        f"api inferenced keys show {KEY} -a --keyring-backend file"],
                       input=PASSWORD + "\n", capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip().splitlines()[-1]


def test_converged_host_is_backed_up_once_encrypted(scenario):
    rc, out = pyinfra(scenario, "old", NODE, "-y")
    assert rc == 0, out[-6000:]
    rc, dry = pyinfra(scenario, "old", BACKUP, "--dry", *VERBOSE)
    scenario["outputs"]["backup dry run"] = dry
    assert rc == 0 and "would write a key backup of " in dry, dry[-3000:]
    assert not (scenario["base"] / "backups").exists(), "a dry run wrote"
    assert scenario["old"].run(f"test -e {HOLDER}; echo $?").strip() == "1", "a dry run locked"
    started = time.monotonic()
    rc, out = pyinfra(scenario, "old", BACKUP, "-y", *VERBOSE)
    scenario["outputs"]["backup"] = out
    assert rc == 0, out[-6000:]
    print(f"backup of one host: {time.monotonic() - started:.1f} s")
    (path,) = backup.archives(KEY, root=scenario["base"] / "backups")
    assert "key backup written: " in out and path.name in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    manifest = backup.read_header(path).manifest
    old = scenario["old"]
    assert manifest.host == old.name and manifest.key_name == KEY
    assert manifest.public_host == PUBLIC and manifest.ssh_hostname == old.address
    assert manifest.consensus_pubkey == consensus_key(old)
    assert manifest.warm_address == NodeState(KEY, root=scenario["base"] / "nodes") \
        .warm_address()
    paths = {f.path for f in manifest.files}
    assert {".tmkms/secrets/priv_validator_key.softsign", ".tmkms/secrets/kms-identity.key",
            ".tmkms/state/priv_validator_state.json", ".tmkms/tmkms.toml",
            ".inference/config/node_key.json", f".inference/keyring-file/{KEY}.info",
            ".dapi/api-config.yaml", ".dapi/gonka.db"} <= paths, paths
    key = next(f for f in manifest.files if f.path.endswith("softsign"))
    assert key.sha256 == hashlib.sha256(host_file(old, key.path)).hexdigest()
    sidecar = path.with_name(path.name + ".sha256").read_text().split()
    assert sidecar == [hashlib.sha256(path.read_bytes()).hexdigest(), path.name]
    scenario["archive"] = path

    rc, again = pyinfra(scenario, "old", BACKUP, "-y")
    assert rc == 0 and no_change(again), again[-3000:]
    assert backup.archives(KEY, root=scenario["base"] / "backups") == [path]


def test_a_second_concurrent_apply_is_refused_naming_the_first(scenario):
    old = scenario["old"]
    first = background(scenario, "old", NODE, "-y")
    try:
        holder = json.loads(poll(old, f"grep -q deploys/node.py {HOLDER} && cat {HOLDER}",
                                 secs=120))
        # A converged host's apply takes seconds: hold the first run where it is (its SSH
        # session, and so its lock, stays open) while the second one tries.
        os.killpg(first.pid, signal.SIGSTOP)
        assert holder["deploy"] == "deploys/node.py" and holder["who"] == who()
        lock_a = f"{JOIN}/.gonka-deployment.lock"
        # upstream's deployment-lock.sh does `flock -n 9` on lock-a: it cannot while we apply
        assert old.run(f"flock -n {lock_a} true; echo $?").strip() == "1"
        started = time.monotonic()
        rc, out = pyinfra(scenario, "old", NODE, "-y")
        took = time.monotonic() - started
        scenario["outputs"]["refused apply"] = out
        assert rc != 0
        assert (f"run lock: another run holds this host: {who()} (deploys/node.py, run "
                f"{holder['run_id']}) since {holder['since']}") in out, out[-3000:]
        assert "Phase 1" not in out.split("run lock: another run")[1], "it went on"
        print(f"second apply refused after {took:.1f} s")
        assert first.poll() is None, "the first apply ended before the second was refused"
        os.killpg(first.pid, signal.SIGCONT)
        first_out, _ = first.communicate(timeout=900)
        assert first.returncode == 0, first_out[-4000:]
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    # its SSH connection closed: the locks are free (the holder drops its file, then its
    # locks: wait for both, or the next test's run could meet the last moment of this one)
    poll(old, f"flock -n {JOIN}/.gonka-deployment.lock true && "
              "flock -n /run/lock/gonka-deploy.lock true", secs=30)
    rc, out = pyinfra(scenario, "old", NODE, "-y")
    assert rc == 0 and no_change(out), out[-3000:]


def test_a_dead_runs_lock_is_taken_over_by_the_next(scenario):
    old = scenario["old"]
    victim = background(scenario, "old", NODE, "-y")
    lines = drained(victim)
    try:
        holder = json.loads(poll(old, f"cat {HOLDER}", secs=120))
    except RuntimeError:   # the poll's timeout
        victim.poll()
        raise AssertionError(f"no lock holder seen; the run (rc {victim.returncode}) said:\n"
                             + "".join(lines)[-3000:]) from None
    finally:
        # the operator's laptop dies mid-run (a run that already ended has no group to kill)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    rc, out = pyinfra(scenario, "old", BACKUP, "-y")
    assert rc == 0, out[-3000:]
    assert holder["run_id"] not in out


def seed_votes(scenario) -> dict:
    url = scenario["network"]["group_data"]["seed_api_url"] + "/gonkasim/votes"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def test_restore_is_refused_while_the_old_node_still_runs(scenario):
    validator = backup.read_header(scenario["archive"]).manifest.validator_address
    assert validator and validator in seed_votes(scenario)["last"], "the old node signs nothing"
    rc, out = pyinfra(scenario, "new", NODE, "-y", *VERBOSE)
    scenario["outputs"]["refused restore"] = out
    old, new = scenario["old"], scenario["new"]
    assert rc != 0
    assert (f"refused: restore: validator {validator} (the consensus key of {old.name}) "
            "signed ") in out, out[-4000:]
    assert "a node signs with this consensus key now" in out
    assert new.run(f"test -e {JOIN}/.tmkms/secrets/priv_validator_key.softsign; echo $?") \
        .strip() == "1"
    assert new.run("docker ps -q --filter name=tmkms").strip() == ""


def test_fresh_host_gets_the_old_nodes_keys_and_registers_nothing(scenario):
    old, new = scenario["old"], scenario["new"]
    old.run(f"cd {JOIN} && docker compose stop", timeout=300)
    validator = backup.read_header(scenario["archive"]).manifest.validator_address
    deadline = time.monotonic() + 120
    while True:   # bounded: the chain must pass CHECK_BLOCKS blocks without the old signer
        votes = seed_votes(scenario)
        if votes["height"] - votes["last"].get(validator, 0) > CHECK_BLOCKS + 2:
            break
        assert time.monotonic() < deadline, f"the old validator still signs: {votes}"
        time.sleep(1)
    warm = NodeState(KEY, root=scenario["base"] / "nodes").warm_address()
    worker_old = [line for line in host_file(old, ".dapi/api-config.yaml").decode()
                  .splitlines() if "worker_public" in line]

    rc, out = pyinfra(scenario, "new", NODE, "-y", *VERBOSE)
    scenario["outputs"]["restore"] = out
    assert rc == 0, out[-6000:]
    assert f"files of {KEY} from {scenario['archive']} (made " in out, out[-6000:]
    assert f"validator {validator} signed none of the chain's blocks " in out, out[-6000:]
    assert f"the old host {old.name} ({old.address}:5000) answers no P2P" in out
    assert f"{PUBLIC} is this host's own address now" in out
    _, saved = backup.unseal(scenario["archive"].read_bytes(), SecretStr(PASSPHRASE))
    for rel in (".tmkms/secrets/priv_validator_key.softsign", ".tmkms/secrets/kms-identity.key",
                ".inference/config/node_key.json", f".inference/keyring-file/{KEY}.info"):
        assert host_file(old, rel) == saved[rel], f"{rel} changed on the old host"
        assert host_file(new, rel) == saved[rel], f"{rel} differs on the new host"
    assert new.run(f"stat -c %a {JOIN}/.tmkms/secrets/priv_validator_key.softsign").strip() == \
        "600"
    assert consensus_key(new) == backup.read_header(scenario["archive"]).manifest \
        .consensus_pubkey
    assert keys_show(new) == warm
    worker_new = [line for line in host_file(new, ".dapi/api-config.yaml").decode()
                  .splitlines() if "worker_public" in line]
    assert worker_new == worker_old and worker_new
    calls = inferenced_calls(new)
    assert count(calls, "keys", "add") == 0, calls
    assert count(calls, "register-new-participant") == 0, calls
    record = NodeState(KEY, root=scenario["base"] / "nodes").restore()
    assert record.from_host == old.name and record.host == new.name
    assert record.old_host_destroyed == [] and record.chain_height
    fresh = json.loads(host_file(new, STATE))
    assert int(fresh["height"]) == record.signing_state_height >= record.chain_height
    assert host_file(new, STATE) != saved[STATE]

    rc, again = pyinfra(scenario, "new", NODE, "-y")
    assert rc == 0 and no_change(again), again[-3000:]


def test_no_secret_and_no_key_material_shows_anywhere(scenario):
    old = scenario["old"]
    material = {
        "softsign key": host_file(old, ".tmkms/secrets/priv_validator_key.softsign").decode()
        .strip(),
        "kms identity": host_file(old, ".tmkms/secrets/kms-identity.key").decode().strip(),
        "node key": json.loads(host_file(old, ".inference/config/node_key.json"))
        ["priv_key"]["value"],
        "worker key": next(line.split(": ", 1)[1] for line in host_file(
            old, ".dapi/api-config.yaml").decode().splitlines() if "worker_private" in line),
    }
    secrets = {"passphrase": PASSPHRASE, "keyring password": PASSWORD, **material}
    for name, value in material.items():  # the raw key bytes, as hex too
        raw = base64.b64decode(value)
        secrets[f"{name} (hex)"] = raw.hex()
    texts = {**{f"output of {k}": v for k, v in scenario["outputs"].items()},
             **local_files(scenario["base"] / "nodes"),
             **local_files(scenario["base"] / "backups")}
    assert len(scenario["outputs"]) >= 4
    assert leaks(texts, secrets) == []
