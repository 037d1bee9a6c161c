"""A host whose SSH connection dies fails alone: the other host of the same run converges, and a
re-run converges the first with one key and one registration. Two places to die: inside a wait
(the host polls over a dead connection), with each host through its operations on its own
(gonka_deploy/flow.py, the default with -y); and at pyinfra's barrier while the other host still
waits (GONKA_DEPLOY_BARRIERS=1: its next operation reads its facts over a dead connection,
pyinfra hands the operation None). The audit records each host's own outcome."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from gonka_deploy.address import account_address
from gonka_deploy.state import NodeState
from tests.conftest import REPO
from tests.sandbox.test_node_deploy import count, host_entry, inferenced_calls

pytestmark = pytest.mark.sandbox
DEPLOY = REPO / "deploys" / "node.py"
PASSWORD = "fault-isolation-Password-1"
WAIT = "Phase 4: network node and keys | Chain RPC answers"


@pytest.mark.parametrize("cut", ["inside its wait", "while the other host waits"])
def test_ssh_cut_fails_that_host_only(fleet, sandbox_network, tmp_path, cut):
    # The slow host's chain node takes a while to initialise: its wait for the chain RPC is
    # long enough to cut an SSH connection while it lasts.
    (slow,) = fleet.add(1, prefix="slow", sim={"init_seconds": 40})
    (fast,) = fleet.add(1, prefix="fast")
    hosts = [slow, fast]
    victim, survivor = (slow, fast) if cut == "inside its wait" else (fast, slow)
    try:
        inventory = tmp_path / "inv.py"
        entries = [host_entry(h, sandbox_network) for h in hosts]
        for _, data in entries:  # cold accounts of their own: the seed outlives the hosts
            data["account_pubkey"] = base64.b64encode(b"\x02" + hashlib.sha256(
                f"{data['key_name']}:{cut}".encode()).digest()).decode()
        inventory.write_text(f"hosts = {entries!r}\n")
        state = tmp_path / "nodes"
        # unbuffered: the lines are read while the run goes on
        # "while the other host waits" is pyinfra's barrier: without barriers the fast host
        # does not wait for the slow one at all
        barriers = {"GONKA_DEPLOY_BARRIERS": "1"} if cut == "while the other host waits" else {}
        env = dict(os.environ, **barriers, PYTHONUNBUFFERED="1", GONKA_STATE_DIR=str(state),
                   GONKA_KEYRING_PASSWORD=PASSWORD,
                   GONKA_SECRETS_DIR=str(tmp_path / "no-secrets"),
                   GONKASIM_LOG_DIR=str(tmp_path / "local-cli"),
                   PATH=f"{REPO / 'sandbox' / 'shims'}{os.pathsep}{os.environ['PATH']}")
        argv = [sys.executable, "-m", "pyinfra", str(inventory), str(DEPLOY), "-y"]
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        seen: list[str] = []
        deadline = time.monotonic() + 600
        for line in proc.stdout:
            seen.append(line)
            # the slow host reports its progress inside the wait: cut it there
            if f"[{slow.name}] still waiting for chain RPC" in line:
                break
            assert time.monotonic() < deadline, "".join(seen)[-3000:]
        assert any(WAIT in line for line in seen), "".join(seen)[-3000:]
        # Kill every SSH session of the deploy's login user on the victim (the test's own
        # session logs in as root).
        victim.run("pkill -KILL -f 'sshd: [u]buntu'")  # [u]: not this command itself
        rest, _ = proc.communicate(timeout=900)
        out = "".join(seen) + rest
        (tmp_path / "first-run.txt").write_text(out)   # for a post-mortem
        assert proc.returncode != 0, out[-4000:]
        assert "An internal exception occurred" not in out, out[-6000:]
        assert "Traceback" not in out.split("--> Results", 1)[-1]
        # the survivor went through all seven phases, verification included
        kept = NodeState(f"e2e-{survivor.name}", root=state).verification()
        assert kept is not None and kept.ok, out[-6000:]
        assert NodeState(f"e2e-{victim.name}", root=state).verification() is None, out[-6000:]
        assert f"[{victim.name}]" in out.split("--> Results", 1)[0]
        # the audit (per-operation callbacks) records each host's own outcome
        (cut_short,) = NodeState(f"e2e-{victim.name}", root=state).audit()
        assert cut_short.failed, cut_short
        (whole,) = NodeState(f"e2e-{survivor.name}", root=state).audit()
        assert whole.changes and not whole.failed, whole

        # The re-run converges the slow host; one key, one registration on each host.
        done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=900)
        assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
        for host in hosts:
            calls = inferenced_calls(host)
            assert count(calls, "keys", "add") == 1, calls
            assert count(calls, "register-new-participant") == 1, calls
        seed = sandbox_network["group_data"]["seed_api_url"]
        participants = json.loads(subprocess.run(
            ["curl", "-s", f"{seed}/v1/epochs/current/participants"], capture_output=True,
            text=True, timeout=30).stdout)["active_participants"]["participants"]
        registered = [p["index"] for p in participants]
        for _, data in entries:
            assert registered.count(account_address(data["account_pubkey"])) == 1, registered
    finally:
        if "proc" in locals() and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        fleet.remove(hosts)
