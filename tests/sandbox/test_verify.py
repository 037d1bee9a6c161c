"""Phase 7 verification.

On the machine (no bench needed): the host-side script against fake endpoints on loopback and a
fake `docker`, and the operation recording its result in the node's local state. On a sandbox
host: the stack brought up by hand, then the real pyinfra CLI with deploys/verify.py, green, then
broken twice.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest.mock import MagicMock

import pytest
from pyinfra.context import ctx_host, ctx_state

from gonka_deploy.operations import verify as verify_op
from gonka_deploy.state import NodeState
from gonka_deploy.verifyscript import CHECK_NAMES, SCRIPT
from tests.conftest import REPO
from tests.sandbox.hostcmd import poll, put
from tests.unit.fixtures import FakeHost, fact_key, kwargs_key
from tests.unit.helpers import group_data

COLD = "gonka1qyqszqgpqyqszqgpqyqszqgpqyqszqgpvxsl6p"
GPU = {"model": "H100", "count": 2, "vram_gb": 80}


# --- the host-side script, on the machine ----------------------------------------------------

def iso(seconds_ago: float) -> str:
    at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds_ago)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"  # nanoseconds, as CometBFT prints


def world(**changes) -> dict:
    """What the fake endpoints and the fake docker answer; tests change one thing."""
    base = {
        "status": {"result": {"sync_info": {"latest_block_height": "1234",
                                            "latest_block_time": iso(1),
                                            "catching_up": False}}},
        "seed_status": {"result": {"sync_info": {"latest_block_height": "1000"}}},
        "participant": (200, {"participant": {"address": COLD, "inferenceUrl": "PUBLIC",
                                              "status": "ACTIVE"}}),
        "health": (200, "ok\n"),
        "dashboard": (200, "<!doctype html><html><body>explorer</body></html>"),
        "nodes": [{"node": {"id": "node1"}, "state": {"current_status": "INFERENCE"}}],
        "state": (200, {"state": "INFERENCE", "version": "3.0.13"}),
        "smi": (0, "NVIDIA H100 80GB HBM3, 81559\nNVIDIA H100 80GB HBM3, 81559\n"),
        "torch": (0, json.dumps({"available": True, "count": 2, "torch": "2.11.0",
                                 "names": ["NVIDIA H100 80GB HBM3"] * 2})),
        "logs": (0, "join-api-1   | level=info msg=started\njoin-node-1  | INF committed\n"),
        "inferenced": (0, "v0.2.15\n"),
        "versions": (200, {"api_version": {"application_name": "decentralized-api",
                                           "version": "v0.2.15", "commit": ""},
                           "node_version": {"application_name": "inferenced",
                                            "version": "v0.2.15", "commit": ""},
                           "mlnodes": []}),
        "plan": (200, {"plan": None}),
    }
    base.update(changes)
    return base


FAKE_DOCKER = r"""#!/usr/bin/env python3
import json, os, sys
w = json.load(open(os.environ["FAKE_WORLD"]))
args = sys.argv[1:]
with open(os.environ["FAKE_WORLD"] + ".calls", "a") as f:
    f.write(json.dumps({"argv": args, "cwd": os.getcwd()}) + "\n")
key = ("logs" if args[1] == "logs" else "smi" if "nvidia-smi" in args
       else "inferenced" if args[-1] == "version" else "torch")
rc, out = w[key]
sys.stdout.write(out)
sys.stderr.write("" if rc == 0 else "boom\n")
sys.exit(rc)
"""


class Handler(BaseHTTPRequestHandler):
    world: dict = {}

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        w = self.world
        routes = {
            "/rpc/status": (200, w["status"]),
            "/seed/chain-rpc/status": (200, w["seed_status"]),
            f"/seed/v2/participants/{COLD}": w["participant"],
            "/health": w["health"],
            "/": w["dashboard"],
            "/admin/v1/nodes": (200, w["nodes"]),
            "/ml/v3.0.8/api/v1/state": w["state"],
            "/v1/versions": w["versions"],
            "/rest/cosmos/upgrade/v1beta1/current_plan": w["plan"],
        }
        code, body = routes.get(self.path, (404, "not found"))
        raw = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture
def endpoints(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    docker = tmp_path / "docker"
    docker.write_text(FAKE_DOCKER)
    docker.chmod(0o755)
    yield {"port": server.server_address[1], "dir": tmp_path, "docker": str(docker)}
    server.shutdown()
    server.server_close()


def run_script(endpoints, w: dict, **args) -> dict[str, dict]:
    base = f"http://127.0.0.1:{endpoints['port']}"
    public = "http://203.0.113.10:8000"
    w = json.loads(json.dumps(w).replace('"PUBLIC"', json.dumps(public)))
    Handler.world = w
    world_file = endpoints["dir"] / "world.json"
    world_file.write_text(json.dumps(w))
    full = {"join_dir": str(endpoints["dir"]), "api_port": endpoints["port"],
            "version": "v3.0.8", "service": "mlnode-308", "seed_api_url": base + "/seed/",
            "account_address": COLD, "public_url": public, "gpu": GPU, "mlnode_ids": ["node1"],
            "rpc_url": base + "/rpc", "rest_url": base + "/rest", "admin_url": base,
            "ml_url": base + "/ml",
            "upgrades": [{"name": "v0.2.14", "height": 1000, "version": None},
                         {"name": "v0.2.15", "height": 1200, "version": None},
                         {"name": "v0.2.16", "height": 5000, "version": "v0.2.16-post1"}],
            "docker": endpoints["docker"], "timeout": 3, **args}
    # the docker group as on a host where no account is in it (not this machine's own)
    (endpoints["dir"] / "group").write_text("root:x:0:\ndocker:x:998:\n")
    (endpoints["dir"] / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    full.setdefault("group_file", str(endpoints["dir"] / "group"))
    full.setdefault("passwd_file", str(endpoints["dir"] / "passwd"))
    started = time.monotonic()
    p = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(full)], capture_output=True,
                       text=True, timeout=60, env=dict(os.environ, FAKE_WORLD=str(world_file)))
    assert p.returncode == 0 and time.monotonic() - started < 20, p.stderr
    checks = json.loads(p.stdout.strip().splitlines()[-1])["checks"]
    assert [c["name"] for c in checks] == list(CHECK_NAMES)
    return {c["name"]: c for c in checks}


def test_script_all_green(endpoints):
    checks = run_script(endpoints, world())
    assert {n: c["ok"] for n, c in checks.items()} == dict.fromkeys(CHECK_NAMES, True), checks
    assert checks["chain_sync"]["detail"].startswith("height 1234, latest block ")
    assert checks["gpu"]["detail"] == "2 x NVIDIA H100 80GB HBM3, 81559 MiB each"
    assert checks["admin_nodes"]["detail"] == "node1 INFERENCE"
    calls = [json.loads(line) for line in (endpoints["dir"] / "world.json.calls").open()]
    assert {c["cwd"] for c in calls} == {str(endpoints["dir"])}  # .env there names the files
    assert ["compose", "logs", "--no-color", "--tail", "200"] in [c["argv"] for c in calls]


def test_script_syncing_chain_is_a_warning_with_progress(endpoints):
    status = {"result": {"sync_info": {"latest_block_height": "500", "catching_up": True,
                                       "latest_block_time": iso(86400)}}}
    checks = run_script(endpoints, world(status=status))
    assert checks["chain_sync"]["ok"] is None
    assert checks["chain_sync"]["detail"] == "catching up: height 500 of 1000 (50.0%)"


def test_script_stale_chain_fails_as_not_rising(endpoints):
    status = {"result": {"sync_info": {"latest_block_height": "9", "catching_up": False,
                                       "latest_block_time": iso(600)}}}
    check = run_script(endpoints, world(status=status))["chain_sync"]
    assert check["ok"] is False and "not rising" in check["detail"], check


def test_script_participant_missing_or_at_another_url_fails(endpoints):
    check = run_script(endpoints, world(participant=(404, {"message": "not found"})))
    assert check["participant"]["ok"] is False
    assert "not registered" in check["participant"]["detail"]
    other = (200, {"participant": {"inferenceUrl": "http://198.51.100.9:8000"}})
    check = run_script(endpoints, world(participant=other))["participant"]
    assert check["ok"] is False and "http://198.51.100.9:8000" in check["detail"]


def test_script_proxy_down_fails_health_and_dashboard(endpoints):
    checks = run_script(endpoints, world(health=(502, "Bad Gateway"),
                                         dashboard=(200, "plain text")))
    assert checks["proxy_health"]["ok"] is False and "502" in checks["proxy_health"]["detail"]
    assert checks["dashboard"]["ok"] is False and "no HTML" in checks["dashboard"]["detail"]


def test_script_admin_api_missing_or_failed_node_fails(endpoints):
    check = run_script(endpoints, world(nodes=[]), mlnode_ids=["node1"])["admin_nodes"]
    assert check["ok"] is False and "node1" in check["detail"]
    failed = [{"node": {"id": "node1"},
               "state": {"current_status": "FAILED", "failure_reason": "connection refused"}}]
    check = run_script(endpoints, world(nodes=failed))["admin_nodes"]
    assert check == {"name": "admin_nodes", "ok": False,
                     "detail": "node1 FAILED (connection refused)"}


def test_script_gpu_mismatches_fail(endpoints):
    one = (0, "NVIDIA H100 80GB HBM3, 81559\n")
    assert "1 GPU(s), want 2" in run_script(endpoints, world(smi=one))["gpu"]["detail"]
    small = (0, "NVIDIA A100-SXM4-40GB, 40960\nNVIDIA A100-SXM4-40GB, 40960\n")
    check = run_script(endpoints, world(smi=small))["gpu"]
    assert check["ok"] is False and "is not a H100" in check["detail"]
    assert "has 40.0 GiB, want about 80" in check["detail"]
    broken = run_script(endpoints, world(smi=(9, "NVIDIA-SMI has failed")))["gpu"]
    assert broken["ok"] is False and "rc 9" in broken["detail"]


def test_script_cuda_unavailable_or_wrong_count_fails(endpoints):
    off = (0, json.dumps({"available": False, "count": 0, "torch": "2.11.0", "names": []}))
    check = run_script(endpoints, world(torch=off))["cuda"]
    assert check["ok"] is False and "is_available() is False" in check["detail"]
    one = (0, json.dumps({"available": True, "count": 1, "torch": "2.11.0", "names": ["x"]}))
    assert "device_count() is 1, want 2" in run_script(endpoints, world(torch=one))["cuda"][
        "detail"]


def test_script_log_signatures_name_the_service(endpoints):
    logs = (0, "join-node-1  | panic: runtime error: index out of range\n"
               "join-api-1   | level=error msg=\"peer dial failed\"\n")
    check = run_script(endpoints, world(logs=logs))["logs"]
    assert check["ok"] is False
    assert "join-node-1: panic: runtime error" in check["detail"]
    only_errors = (0, "join-api-1   | level=error msg=\"peer dial failed\"\n")
    check = run_script(endpoints, world(logs=only_errors))["logs"]
    assert check["ok"] is None and "join-api-1: level=error" in check["detail"]


def test_script_binaries_match_the_newest_applied_upgrade_or_fail_naming_both(endpoints):
    check = run_script(endpoints, world())["binaries"]
    assert check["ok"] is True and "= upgrade v0.2.15 (v0.2.15)" in check["detail"], check
    calls = [json.loads(x)["argv"] for x in
             (endpoints["dir"] / "world.json.calls").read_text().splitlines()]
    assert ["compose", "exec", "-T", "node", "/root/.inference/cosmovisor/current/bin/inferenced",
            "version"] in calls
    old = run_script(endpoints, world(inferenced=(0, "v0.2.13\n")))["binaries"]
    assert old["ok"] is False and ("the node's current binary runs v0.2.13, the profile's newest "
                                   "applied upgrade v0.2.15 ships v0.2.15") in old["detail"], old
    versions = world()["versions"][1]
    versions["api_version"]["version"] = "v0.2.15-post5"
    api = run_script(endpoints, world(versions=(200, versions)))["binaries"]
    assert api["ok"] is False and "the api runs v0.2.15-post5" in api["detail"], api
    versions["api_version"]["version"] = "v0.2.17"
    newer = run_script(endpoints, world(versions=(200, versions)))["binaries"]
    assert newer["ok"] is None and "the chain moved on" in newer["detail"], newer
    gone = run_script(endpoints, world(versions=(404, "not found")))["binaries"]
    assert gone["ok"] is False and "/v1/versions: HTTP 404" in gone["detail"], gone


def test_script_pending_upgrade_is_ready_only_with_both_binaries_in_place(endpoints):
    info = json.dumps({"binaries": {"linux/amd64": "https://x/i.zip?checksum=sha256:" + "a" * 64},
                       "api_binaries": {"linux/amd64": "https://x/a.zip?checksum=sha256:"
                                        + "b" * 64}})
    plan = (200, {"plan": {"name": "v0.2.16", "time": "0001-01-01T00:00:00Z", "height": "5000",
                           "info": info, "upgraded_client_state": None}})
    check = run_script(endpoints, world(plan=plan))["upgrade_plan"]
    join = endpoints["dir"]
    assert check["ok"] is False and check["detail"].startswith(
        "v0.2.16 at height 5000 (3766 blocks from now): NOT ready: missing "
        f"{join}/.inference/cosmovisor/upgrades/v0.2.16/bin/inferenced, "
        f"{join}/.dapi/cosmovisor/upgrades/v0.2.16/bin/decentralized-api"), check
    assert check["detail"].endswith("(the node halts at that height; run the deploy to place "
                                    "them)"), check
    # A plan the profile does not list: the deploy refuses to stage it, so it is not the fix.
    unlisted = run_script(endpoints, world(plan=plan), upgrades=[
        {"name": "v0.2.14", "height": 1000, "version": None},
        {"name": "v0.2.15", "height": 1200, "version": None}])["upgrade_plan"]
    assert unlisted["ok"] is False and unlisted["detail"].endswith(
        "(the node halts at that height; the release profile does not list v0.2.16, and the "
        "deploy stages only what it lists: add its chain_upgrades entry (checked against the "
        "release announcement), then run the deploy)"), unlisted
    for home, program in ((".inference", "inferenced"), (".dapi", "decentralized-api")):
        path = join / home / "cosmovisor/upgrades/v0.2.16/bin" / program
        path.parent.mkdir(parents=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    (join / ".inference/data").mkdir()
    (join / ".inference/data/application.db").write_bytes(b"x" * 4096)
    check = run_script(endpoints, world(plan=plan))["upgrade_plan"]
    assert check["ok"] is True and "ready: binaries in place" in check["detail"], check
    assert run_script(endpoints, world())["upgrade_plan"]["detail"] == "no pending chain upgrade"


def test_script_nothing_listening_fails_fast(endpoints):
    checks = run_script(endpoints, world(), rpc_url="http://127.0.0.1:9", api_port=9)
    assert checks["chain_sync"]["ok"] is False and "refused" in checks["chain_sync"]["detail"]
    assert checks["proxy_health"]["ok"] is False


# --- the operation records the verification ---------------------------------------------------

def test_operation_records_every_check_with_a_timestamp(tmp_path, caplog):
    kwargs = {"join_dir": "/j", "api_port": 8000, "version": "v3.0.8", "service": "mlnode-308",
              "seed_api_url": "http://198.51.100.1:8000", "account_address": COLD,
              "public_url": "http://203.0.113.10:8000", "gpu": GPU, "mlnode_ids": ["node1"]}
    args = verify_op.script_args(**kwargs)
    checks = [{"name": "gpu", "ok": False, "detail": "1 GPU(s), want 2"},
              {"name": "logs", "ok": True, "detail": "clean"}]
    from gonka_deploy.facts.verify import Verification

    host = FakeHost({fact_key(Verification): {kwargs_key({"args": args}): {"checks": checks}}})
    node = NodeState("k", root=tmp_path / "nodes")
    caplog.set_level(logging.INFO)
    with ctx_state.use(MagicMock(is_executing=False)), ctx_host.use(host):  # a dry run
        list(verify_op.stack._inner(**kwargs, key_name="k"))
    assert node.snapshot() == {}
    os.environ["GONKA_STATE_DIR"] = str(tmp_path / "nodes")
    try:
        with ctx_state.use(MagicMock(is_executing=True)), ctx_host.use(host):
            commands = list(verify_op.stack._inner(**kwargs, key_name="k"))
    finally:
        del os.environ["GONKA_STATE_DIR"]
    assert len(commands) == 1  # the refusal
    saved = node.verification()
    assert [c.model_dump() for c in saved.checks] == checks and saved.ok is False
    assert dt.datetime.fromisoformat(saved.at).tzinfo is not None
    assert "1 passed, 0 warning(s), 1 failed of 2 checks" in saved.summary
    assert any("FAIL  gpu   1 GPU(s), want 2" in r.getMessage() for r in caplog.records)


# --- a sandbox host, the real CLI -------------------------------------------------------------

DEPLOY = REPO / "deploys" / "verify.py"
PASSWORD = "verify-e2e-Keyring-pass-0123"








def exec_enters_the_container(host, compose: str) -> None:
    """`docker compose exec` runs in the container's filesystem (the MLNode stand-in's
    nvidia-smi), and sees the GPU view the hook put there when the container started."""
    probe = (f"{compose} exec -T mlnode-308 sh -c 'command -v nvidia-smi; "
             "cat /etc/gonkasim/sim.json' 2>&1")
    out = host.run(probe, check=False)
    assert out.startswith("/opt/gonkasim/images/mlnode/bin/nvidia-smi\n"), out
    assert '"H100"' in out, out


@pytest.fixture(scope="module")
def running_host(fleet, sandbox_network, tmp_path_factory):
    """One sandbox host with the whole stack up, registered on the seed, as phases 1-6 leave
    it (files rendered by gonka_deploy.render, stack started by hand)."""
    from gonka_deploy.render import render_host, render_nginx
    from gonka_deploy.schema import HostConfig
    from gonka_deploy.validate import validate_hosts

    (host,) = fleet.add(1, prefix="vfy", sim={"gpu": {"model": "H100", "count": 1,
                                                      "vram_gb": 80}}, docker=True)
    data = {**host.ssh_data("ubuntu"), **sandbox_network["group_data"],
            "key_name": f"e2e-{host.name}", "public_host": host.address,
            "account_pubkey": "AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAC",
            "gonka_dir": "/root/gonka", "hf_home": "/root/hf", "data_disk": None,
            "gpu": {"model": "H100", "count": 1, "vram_gb": 80},
            "mlnodes": [{"id": "node1", "models": [sandbox_network["model"]]}],
            "location": "sandbox", "tags": ["e2e"]}
    # pyinfra adds group_data/all.py (the release profile) under the inventory's data
    configs, problems = validate_hosts([(host.name, {**group_data(), **data})],
                                       {"GONKA_KEYRING_PASSWORD": PASSWORD})
    assert not problems, problems
    config: HostConfig = configs[host.name]
    join = config.join_dir
    try:
        host.run(f"git clone -q {config.gonka_repo_url} /root/gonka && "
                 f"git -C /root/gonka checkout -q {config.gonka_ref}", timeout=120)
        files = {f.name: (f.content, f.mode) for f in render_host(config).values()}
        # Debian 12's nginx (1.22) in the sandbox has no `server ... resolve`
        files["nginx.conf"] = (render_nginx(config, resolve=False), 0o644)
        for name, (content, mode) in files.items():
            put(host, f"{join}/{name}", content, f"{mode:04o}")
        host.run(f"mkdir -p {config.hf_path}")
        compose = f"cd {join} && docker compose"
        keys = host.run(f"{compose} run --rm --no-deps -T api /bin/sh -c "
                        "'printf \"%s\\n%s\\n\" \"$KEYRING_PASSWORD\" \"$KEYRING_PASSWORD\" "
                        "| inferenced keys add \"$KEY_NAME\" --keyring-backend file' 2>&1; "
                        "echo rc=$?", timeout=120)
        assert "rc=0" in keys, keys
        up = host.run(f"{compose} up -d 2>&1; echo rc=$?", timeout=240)
        assert "rc=0" in up, up
        exec_enters_the_container(host, compose)
        poll(host, "curl -sf http://127.0.0.1:26657/status", secs=90)
        reg = poll(host, f"{compose} run --rm --no-deps -T api /bin/sh -c "
                         "'inferenced register-new-participant \"$DAPI_API__PUBLIC_URL\" "
                         "\"$ACCOUNT_PUBKEY\" --node-address \"$DAPI_CHAIN_NODE__SEED_API_URL\"'"
                         " 2>&1", secs=120)
        assert "Participant is now available" in reg or "Found participant" in reg, reg
        # the api reads node-config.json at start; wait until it reports node1 in a state
        poll(host, "curl -sf http://127.0.0.1:9200/admin/v1/nodes | grep -q INFERENCE && echo ok",
             secs=90)
        poll(host, "curl -sf http://127.0.0.1:26657/status | grep -q '\"catching_up\": *false'"
                   " && echo ok", secs=120)
    except BaseException:
        fleet.remove([host])
        raise
    state_dir = tmp_path_factory.mktemp("nodes")
    inventory = tmp_path_factory.mktemp("inv") / "verify.py"
    inventory.write_text(f"e2e_hosts = {[(host.name, data)]!r}\n")
    env = dict(os.environ, GONKA_STATE_DIR=str(state_dir),
               GONKA_SECRETS_DIR=str(state_dir / "no-secrets"),
               GONKA_KEYRING_PASSWORD=PASSWORD)
    yield {"host": host, "config": config, "inventory": inventory, "env": env,
           "state": state_dir, "compose": f"cd {join} && docker compose"}
    fleet.remove([host])


def pyinfra(ctx, *args, timeout=300, stdin: str = "") -> tuple[int, str, float]:
    argv = [sys.executable, "-m", "pyinfra", str(ctx["inventory"]), str(DEPLOY), *args]
    started = time.monotonic()
    p = subprocess.run(argv, cwd=REPO, env=ctx["env"], capture_output=True, text=True,
                       timeout=timeout, input=stdin)
    return p.returncode, p.stdout + p.stderr, time.monotonic() - started


@pytest.mark.sandbox
def test_verify_green_then_broken_gpu_then_stopped_proxy(running_host):
    ctx, host = running_host, running_host["host"]
    name = host.name
    node = NodeState(ctx["config"].key_name, root=ctx["state"])

    rc, out, took = pyinfra(ctx, "-y")
    assert rc == 0, out
    saved = node.verification()
    assert [c.name for c in saved.checks] == list(CHECK_NAMES)
    assert all(c.ok is not False for c in saved.checks), saved
    # phases 1-6 and the sandbox's host setup put no account into the docker group (issue 20)
    group = next(c for c in saved.checks if c.name == "docker_group")
    assert group.ok is True and group.detail == "no non-root account in the docker group", group
    assert f"[{name}] verification: " in out and f"0 failed of {len(CHECK_NAMES)} checks" in out
    print(f"\ngreen run: {took:.1f} s\n" + "\n".join(
        line for line in out.splitlines() if f"[{name}]   " in line))

    # without -y: the preview, the operator presses enter, the run; nothing changes
    rc, out, took = pyinfra(ctx, stdin="\n")
    assert rc == 0, out
    assert _change_cells(out, "Verify the host")[:2] == ["-", "-"], out  # preview: no change
    assert _change_cells(out, "Verify the host", last=True)[-3:] == ["-", "-", "1"], out
    print(f"second run (no -y): {took:.1f} s\n" + "\n".join(
        line for line in out.splitlines() if "Verify the host" in line or "Operation" in line))

    host.run("python3 - <<'EOF'\nimport json\np = '/etc/gonkasim/sim.json'\n"
             "try:\n    d = json.load(open(p))\nexcept (OSError, ValueError):\n    d = {}\n"
             "d['nvidia_smi_fail'] = True\njson.dump(d, open(p, 'w'))\nEOF")
    # the GPU view enters a container when it starts (the runtime hook), as a driver fault
    # shows in a container that is started after it
    host.run(f"{ctx['compose']} restart mlnode-308 2>&1")
    rc, out, took = pyinfra(ctx, stdin="\n")  # the preview defers, the run refuses
    assert rc != 0, out
    assert f"[{name}] verification runs after the changes above" in out, out
    assert f"[{name}] refused: verification failed: gpu (nvidia-smi in mlnode-308" in out, out
    assert "cuda (" in out  # torch sees no GPU either
    assert node.verification().ok is False
    print(f"broken gpu run: {took:.1f} s\n" + "\n".join(
        line for line in out.splitlines() if "refused:" in line))

    host.run("sed -i 's/\"nvidia_smi_fail\": true/\"nvidia_smi_fail\": false/' "
             "/etc/gonkasim/sim.json")
    host.run(f"{ctx['compose']} restart mlnode-308 2>&1")
    host.run(f"{ctx['compose']} stop proxy 2>&1")
    rc, out, _ = pyinfra(ctx, "-y")
    assert rc != 0, out
    refused = next(line for line in out.splitlines() if f"[{name}] refused:" in line)
    assert "proxy_health (" in refused and "dashboard (" in refused, refused
    assert "gpu (" not in refused and "participant (" not in refused, refused
    print("stopped proxy:\n" + refused)


def _change_cells(out: str, op_name: str, last: bool = False) -> list[str]:
    """The cells after the name in a pyinfra table row: the preview's (Change, Conditional
    Change) or, last=True, the results' (Hosts, Success, Error, No Change)."""
    rows = [line for line in out.splitlines() if line.strip().startswith(op_name)
            or line.strip().startswith("Phase 7: verification | " + op_name)]
    row = rows[-1] if last else rows[0]
    return row.split(op_name, 1)[1].split()
