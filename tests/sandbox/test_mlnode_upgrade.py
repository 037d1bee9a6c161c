"""The side-by-side MLNode upgrade on a sandbox host, under load, with real nginx.

A bounded load loop on the host (loopback only) calls `/<current>/api/v1/state` and, when that
MLNode serves inference, `/<current>/v1/chat/completions`, where <current> is the version the api
calls now, as the api itself does, and the same two on `/` (the ML proxy's default route).
Through prepare -> the chain's switch -> cleanup -> rollback: no request fails or hangs, each
versioned one reaches the version its path names, and `/` ends on the version the api calls.
"""

from __future__ import annotations

import json
import shlex
import subprocess

import pytest

from gonka_deploy.operations.nginx import UPDATE_SCRIPT
from tests.sandbox.onehost import converged, no_changes, pyinfra, wait_for, write_inventory

pytestmark = pytest.mark.sandbox
TAGS = {"v3.0.8": "3.0.13", "v3.0.9": "3.0.14"}
OLD = {"version": "v3.0.8", "image": "ghcr.io/gonka-ai/mlnode:3.0.13", "current": True}
NEW = {"version": "v3.0.9", "image": "ghcr.io/gonka-ai/mlnode:3.0.14", "current": False}
PASSWORD = "upgrade-Keyring-pass-2026"
JOIN = "/mnt/ssd/gonka/deploy/join"
# Blocks from planning the switch to its height: room for two pyinfra runs (status, cleanup),
# at the sim's 0.5 s blocks; the test checks they did run before it.
SWITCH_AFTER = 60

# Bounded: stops at the stop file, after 100000 requests or after 900 s, whichever comes first.
# A request that takes longer than HUNG seconds counts as hung.
HUNG = 5.0
LOAD = r"""
import json, os, time, urllib.request
out, stop = "/tmp/load.jsonl", "/tmp/load.stop"
def get(url, body=None):
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers.get("X-Gonkasim-Version"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("X-Gonkasim-Version"), e.read()
    except OSError as e:
        return 0, None, str(e).encode()
chat = json.dumps({"model": "testorg/tiny-model",
                   "messages": [{"role": "user", "content": "hi"}]}).encode()
start, n = time.time(), 0
with open(out, "w", buffering=1) as log:
    def call(path, port, v, body=None):
        global n
        t0 = time.time()
        code, served, answer = get(f"http://127.0.0.1:{port}{path}", body)
        log.write(json.dumps({"path": path, "v": v, "status": code, "served": served,
                              "took": round(time.time() - t0, 3)}) + "\n")
        n += 1
        return code, answer
    while not os.path.exists(stop) and n < 100000 and time.time() - start < 900:
        code, _, body = get("http://127.0.0.1:8000/v1/status")
        if code != 200:
            continue  # the api's own answer is not a request to an MLNode
        v = json.loads(body)["current_node_version"]
        for prefix in (f"/{v}", ""):
            code, answer = call(f"{prefix}/api/v1/state", 8080, v)
            if code == 200 and json.loads(answer).get("inference_healthy"):
                call(f"{prefix}/v1/chat/completions", 5050, v, chat)
"""


@pytest.fixture(scope="module")
def upgrade_host(fleet, sandbox_network, tmp_path_factory):
    ctx = converged(fleet, sandbox_network, tmp_path_factory, prefix="upg",
                    group="upgrade_hosts", password=PASSWORD, mlnode_versions=[OLD])
    yield ctx
    ctx["host"].run("touch /tmp/load.stop", check=False)
    fleet.remove([ctx["host"]])






def stage(ctx, name: str) -> tuple[int, str]:
    return pyinfra(ctx, "deploys/mlnode_upgrade.py", "--data", f"stage={name}")




def records(host) -> list[dict]:
    return [json.loads(line) for line in host.run("cat /tmp/load.jsonl").splitlines() if line]




def chain_height(host) -> int:
    return int(json.loads(host.run("curl -s 127.0.0.1:26657/status"))["result"]["sync_info"]
               ["latest_block_height"])


def api_version(host) -> str:
    return json.loads(host.run("curl -s 127.0.0.1:8000/v1/status"))["current_node_version"]


def test_upgrade_under_load_fails_no_request(upgrade_host):
    ctx, host = upgrade_host, upgrade_host["host"]
    host.run("rm -f /tmp/load.stop /tmp/load.jsonl; setsid nohup python3 -c "
             f"{shlex.quote(LOAD)} >/tmp/load.err 2>&1 < /dev/null &")
    wait_for("the load loop", lambda: len(records(host)) >= 50)

    # prepare: the new MLNode beside the current one; a second run changes nothing.
    ctx["data"]["mlnode_versions"] = [OLD, NEW]
    write_inventory(ctx)
    rc, out = stage(ctx, "prepare")
    assert rc == 0, out[-4000:]
    rc, out = stage(ctx, "prepare")
    assert rc == 0 and no_changes(out), out[-3000:]
    served = json.loads(host.run("curl -s 127.0.0.1:8080/v3.0.9/api/v1/state"))
    assert served["version"] == "3.0.14"

    # The chain plans the switch; status names it and cleanup before it is refused with the
    # height. Whether both ran before the height is checked, not assumed from a margin.
    switch = chain_height(host) + SWITCH_AFTER
    host.run("curl -s -X POST 127.0.0.1:26657/gonkasim/partial-upgrade -d "
             + shlex.quote(json.dumps({"height": switch, "node_version": "v3.0.9"})))
    rc, status_out = stage(ctx, "status")
    rc, out = stage(ctx, "cleanup")
    reached = chain_height(host)
    assert reached < switch, f"the chain reached the switch height {switch} before both " \
        f"stages ran (now {reached}): this machine is slower than SWITCH_AFTER allows"
    assert f"pending partial upgrades: v3.0.9 at height {switch}" in status_out, \
        status_out[-2000:]
    assert rc != 0 and "the api still calls v3.0.8: the switch to v3.0.9 is at height" in out, \
        out[-3000:]
    wait_for("the api to switch", lambda: api_version(host) == "v3.0.9",
             timeout=SWITCH_AFTER * 2 + 60)

    # cleanup: the old MLNode is stopped and removed, `/` goes to the new one.
    rc, out = stage(ctx, "cleanup")
    assert rc == 0, out[-4000:]
    rc, out = stage(ctx, "cleanup")
    assert rc == 0 and no_changes(out), out[-3000:]
    assert "mlnode-308" not in host.run(f"cd {JOIN} && docker compose ps --format json")
    root = json.loads(host.run("curl -s 127.0.0.1:8080/api/v1/state"))
    assert root["version"] == "3.0.14"

    # rollback: the containers the last stage found, from the kept record; `/` stays on the
    # version the api calls (the chain switched to v3.0.9), /v3.0.8/ answers again.
    rc, out = stage(ctx, "rollback")
    assert rc == 0, out[-4000:]
    assert json.loads(host.run("curl -s 127.0.0.1:8080/v3.0.8/api/v1/state"))["version"] \
        == "3.0.13"
    assert json.loads(host.run("curl -s 127.0.0.1:8080/api/v1/state"))["version"] == "3.0.14"
    rc, out = stage(ctx, "rollback")
    assert rc == 0 and no_changes(out), out[-3000:]

    wait_for("2000 requests", lambda: len(records(host)) >= 2000, timeout=300)
    host.run("touch /tmp/load.stop")
    done = records(host)
    failed = [r for r in done if r["status"] != 200]
    hung = [r for r in done if r["took"] > HUNG]
    wrong = [r for r in done if r["path"].startswith("/v3") and r["served"] != TAGS[r["v"]]]
    root = [r for r in done if not r["path"].startswith("/v3")]
    assert len(done) >= 2000
    assert not failed, failed[:10]
    assert not hung, hung[:10]
    assert not wrong, wrong[:10]
    assert {r["v"] for r in done} == {"v3.0.8", "v3.0.9"}
    assert any(r["path"] == "/v1/chat/completions" for r in root)
    assert root[-1]["served"] == "3.0.14"
    print(f"{len(done)} requests ({len(root)} on /), 0 failed, 0 hung (slowest "
          f"{max(r['took'] for r in done):.2f} s), {sum(r['v'] == 'v3.0.9' for r in done)} "
          "while the api called v3.0.9")


def test_invalid_nginx_config_never_reaches_the_running_proxy(upgrade_host):
    host = upgrade_host["host"]
    before = host.run(f"cat {JOIN}/nginx.conf")
    broken = before.replace("listen 8080;", "listen 8080", 1)
    files = "docker-compose.yml docker-compose.mlnode.yml docker-compose.override.yml"
    proc = subprocess.run(
        [*host.ssh_argv(), f"sh -c {shlex.quote(UPDATE_SCRIPT)} _ {JOIN} inference {files}"],
        input=broken, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "nginx -t rejected the new nginx.conf" in proc.stderr
    assert host.run(f"cat {JOIN}/nginx.conf") == before
    state = json.loads(host.run("curl -s 127.0.0.1:8080/v3.0.9/api/v1/state"))
    assert state["version"] == "3.0.14"
