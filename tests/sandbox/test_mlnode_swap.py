"""The guarded MLNode image swap on a sandbox host, under load through the host's public api.

A bounded load loop on the host (loopback only) posts chat completions to the public api
(`127.0.0.1:8000`, the proxy -> api), which routes them to the host's ML node, or, while every
node is disabled, to the api sim's stand-in "other executor" (see sandbox/gonkasim/api.py on how
upstream differs). The MLNode sim takes a few seconds to load its model after a (re)start.
"""

from __future__ import annotations

import json
import shlex
from datetime import datetime
from pathlib import Path

import pytest

from gonka_deploy.state import NodeState
from tests.sandbox.onehost import converged, no_changes, pyinfra, wait_for, write_inventory

pytestmark = pytest.mark.sandbox
PASSWORD = "swap-Keyring-pass-2026"
JOIN = "/mnt/ssd/gonka/deploy/join"
IMAGE = "ghcr.io/gonka-ai/mlnode:{}"
BROKEN = "3.0.14-post2"

# Bounded: stops at the stop file, after 20000 requests or after 600 s, whichever comes first.
LOAD = r"""
import json, os, time, urllib.request
out, stop = "/tmp/swapload.jsonl", "/tmp/swapload.stop"
chat = json.dumps({"model": "testorg/tiny-model",
                   "messages": [{"role": "user", "content": "hi"}]}).encode()
start, n = time.time(), 0
with open(out, "w", buffering=1) as log:
    while not os.path.exists(stop) and n < 20000 and time.time() - start < 600:
        req = urllib.request.Request("http://127.0.0.1:8000/v1/chat/completions", data=chat,
                                     headers={"Content-Type": "application/json"})
        t0 = time.time()
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                code, executor = r.status, r.headers.get("X-Gonkasim-Executor")
                r.read()
        except urllib.error.HTTPError as e:
            code, executor = e.code, None
        except OSError as e:
            code, executor = 0, str(e)
        log.write(json.dumps({"t": t0, "took": round(time.time() - t0, 3), "status": code,
                              "executor": executor}) + "\n")
        n += 1
        time.sleep(0.02)
"""


@pytest.fixture(scope="module")
def swap_host(fleet, sandbox_network, tmp_path_factory):
    ctx = converged(fleet, sandbox_network, tmp_path_factory, prefix="swp", group="swap_hosts",
                    password=PASSWORD, mlnode_versions=[version("3.0.13")],
                    sim={"mlnode_load_seconds": 3, "mlnode_broken_tags": [BROKEN]},
                    mlnode_swap_timeout_s=120)
    yield ctx
    ctx["host"].run("touch /tmp/swapload.stop", check=False)
    fleet.remove([ctx["host"]])


def version(tag: str) -> dict:
    return {"version": "v3.0.8", "image": IMAGE.format(tag), "current": True}






def swap_to(ctx, tag: str, *args) -> tuple[int, str]:
    ctx["data"]["mlnode_versions"] = [version(tag)]
    write_inventory(ctx)
    return pyinfra(ctx, "deploys/mlnode_upgrade.py", "--data", "stage=swap", *args)






class Load:
    """The load loop on the host, started and stopped around one step."""

    def __init__(self, host):
        self.host = host

    def records(self) -> list[dict]:
        text = self.host.run("cat /tmp/swapload.jsonl 2>/dev/null || true")
        return [json.loads(line) for line in text.splitlines() if line.endswith("}")]

    def __enter__(self):
        self.host.run("rm -f /tmp/swapload.stop /tmp/swapload.jsonl; setsid nohup python3 -c "
                      f"{shlex.quote(LOAD)} >/tmp/swapload.err 2>&1 < /dev/null &")

        def serving():  # the host serves (its model may still be loading after the deploy)
            last = self.records()[-20:]
            return len(last) == 20 and all(r["status"] == 200 for r in last) and last[0]["t"]
        self.since = wait_for("the load loop to be served", serving)
        return self

    def __exit__(self, *exc):
        # a few more requests after the step, then stop and wait for the loop to end
        count = len(self.records())
        wait_for("requests after the step", lambda: len(self.records()) >= count + 30)
        self.host.run("touch /tmp/swapload.stop; for i in $(seq 50); do "
                      "pgrep -f swapload.jsonl >/dev/null || break; sleep 0.2; done")
        self.done = [r for r in self.records() if r["t"] >= self.since]


def sim_log(host, service: str) -> list[dict]:
    out = host.run(f"cd {JOIN} && docker compose logs --no-log-prefix {service}")
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def started_at(host, service: str) -> float:
    cid = host.run(f"cd {JOIN} && docker compose ps -q {service}").strip()
    text = host.run(f"docker inspect -f '{{{{.State.StartedAt}}}}' {cid}").strip()
    whole, _, frac = text.rstrip("Z").partition(".")
    stamp = datetime.fromisoformat(whole + "+00:00").timestamp()
    return stamp + float("0." + (frac or "0"))


def running_image(host) -> str:
    cid = host.run(f"cd {JOIN} && docker compose ps -q mlnode-308").strip()
    return host.run(f"docker inspect -f '{{{{.Config.Image}}}}' {cid}").strip()


def admin_node(host) -> dict:
    return json.loads(host.run("curl -s 127.0.0.1:9200/admin/v1/nodes"))[0]["state"]


def set_epoch(host, **body) -> dict:
    return json.loads(host.run("curl -s -X POST 127.0.0.1:9200/admin/v1/gonkasim/epoch -d "
                               + shlex.quote(json.dumps(body))))


def assert_served_all(done: list[dict]) -> None:
    failed = [r for r in done if r["status"] != 200]
    hung = [r for r in done if r["took"] > 5]
    assert len(done) >= 60
    assert not failed, failed[:10]
    assert not hung, hung[:10]


def test_swap_under_load_disables_around_the_recreate_and_fails_no_request(swap_host):
    ctx, host = swap_host, swap_host["host"]
    with Load(host) as load:
        rc, out = swap_to(ctx, "3.0.14")
        assert rc == 0, out[-4000:]
    assert "swap mlnode-308 from ghcr.io/gonka-ai/mlnode:3.0.13 to " \
           "ghcr.io/gonka-ai/mlnode:3.0.14 (phase Inference" in out
    assert running_image(host) == IMAGE.format("3.0.14")
    assert_served_all(load.done)
    rc, again = swap_to(ctx, "3.0.14")
    assert rc == 0 and no_changes(again), again[-3000:]

    # The order, from the api sim's log and the container's start time: disabled, then the
    # container recreated, the model up, the api sees it, and only then enabled again.
    api = sim_log(host, "api")
    (off,) = [r["t"] for r in api if r.get("event") == "admin-state" and not r["enabled"]]
    (on,) = [r["t"] for r in api if r.get("event") == "admin-state" and r["enabled"]]
    recreated = started_at(host, "mlnode-308")
    up = [r["t"] for r in sim_log(host, "mlnode-308") if r.get("event") == "inference-up"]
    # the api brought the model up in the new container (it logs the call once it returns)
    back = [r["t"] for r in api if r.get("event") == "model-up" and r["node"] == "node1"
            and r["status"] == 200 and r["t"] > recreated]
    assert up and back, json.dumps([recreated, off, on, up, back])
    assert off < recreated < up[-1] <= back[0] < on, (off, recreated, up, back, on)
    routes = [r for r in api if r.get("event") == "route" and off < r["t"] < on]
    assert routes and all(r["executor"] == "other" for r in routes)
    assert any(r["executor"] == "other" for r in load.done)
    record = NodeState(ctx["data"]["key_name"],
                       root=Path(ctx["env"]["GONKA_STATE_DIR"])).swaps().swaps["mlnode-308"]
    assert record.step == "done" and record.previous == IMAGE.format("3.0.13")
    print(f"{len(load.done)} requests, 0 failed; disabled {on - off:.1f} s; "
          f"{sum(r['executor'] == 'other' for r in load.done)} to other executors")


def test_the_node_deploy_swaps_the_same_way(swap_host):
    ctx, host = swap_host, swap_host["host"]
    ctx["data"]["mlnode_versions"] = [version("3.0.16")]
    write_inventory(ctx)
    with Load(host) as load:
        rc, out = pyinfra(ctx, "deploys/node.py")
        assert rc == 0, out[-4000:]
    assert "swap mlnode-308 from ghcr.io/gonka-ai/mlnode:3.0.14 to " \
           "ghcr.io/gonka-ai/mlnode:3.0.16" in out
    assert running_image(host) == IMAGE.format("3.0.16")
    assert_served_all(load.done)
    states = [r["enabled"] for r in sim_log(host, "api") if r.get("event") == "admin-state"]
    assert states == [False, True, False, True]


def test_a_swap_during_poc_or_close_to_it_is_refused(swap_host):
    ctx, host = swap_host, swap_host["host"]
    try:
        set_epoch(host, poc_in=-1, poc_generate_blocks=2000)
        rc, out = swap_to(ctx, "3.0.14", "--dry")
        assert "refused: mlnode-308: not swapping" in out, out[-3000:]
        assert "PoC is running (phase PoCGenerate at height" in out
        rc, out = swap_to(ctx, "3.0.14")
        assert rc != 0 and "not swapping ghcr.io/gonka-ai/mlnode:3.0.16 -> " \
            "ghcr.io/gonka-ai/mlnode:3.0.14: PoC is running" in out, out[-3000:]
        assert "retry after height" in out
        epoch = set_epoch(host, poc_in=40)
        rc, out = swap_to(ctx, "3.0.14")
        assert rc != 0 and "blocks to the next PoC (at height " \
            f"{epoch['epoch_stages']['next_poc_start']}" in out, out[-3000:]
    finally:
        set_epoch(host, poc_in=100000, poc_generate_blocks=20)
    assert running_image(host) == IMAGE.format("3.0.16")
    state = admin_node(host)
    assert state["admin_state"]["enabled"] is True and state["current_status"] == "INFERENCE"
    rc, out = swap_to(ctx, "3.0.14", "--dry")
    assert "would swap mlnode-308 from ghcr.io/gonka-ai/mlnode:3.0.16 to " \
        "ghcr.io/gonka-ai/mlnode:3.0.14 (phase Inference at height" in out, out[-3000:]
    assert running_image(host) == IMAGE.format("3.0.16")


def test_a_swap_to_a_broken_image_rolls_back_and_ends_enabled(swap_host):
    ctx, host = swap_host, swap_host["host"]
    ctx["data"]["mlnode_swap_timeout_s"] = 15
    with Load(host) as load:
        rc, out = swap_to(ctx, BROKEN)
    assert rc != 0, out[-5000:]
    assert f"swap of mlnode-308 to ghcr.io/gonka-ai/mlnode:{BROKEN} failed: " in out, out[-4000:]
    assert "Rolled back to ghcr.io/gonka-ai/mlnode:3.0.16: nodes enabled" in out
    assert running_image(host) == IMAGE.format("3.0.16")
    state = admin_node(host)
    assert state["admin_state"]["enabled"] is True and state["current_status"] == "INFERENCE"
    assert_served_all(load.done)
    record = NodeState(ctx["data"]["key_name"],
                       root=Path(ctx["env"]["GONKA_STATE_DIR"])).swaps().swaps["mlnode-308"]
    assert record.step == "rolled back" and record.previous == IMAGE.format("3.0.16")
    assert "not ready within 15 s" in record.failure
