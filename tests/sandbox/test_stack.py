"""The whole gonka stack on one sandbox host on its real Docker Engine, over real SSH.

Clone the stand-in repo from a git daemon on the machine, write config.env and
node-config.json, `docker compose up -d` every service, reach the mlnode through the real
nginx, add a node through the api admin API, and `down` leaves no process behind.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.sandbox.hostcmd import poll, put

SANDBOX = Path(__file__).resolve().parents[2] / "sandbox"
FILES = "-f docker-compose.yml -f docker-compose.mlnode.yml -f docker-compose.local.yml"
SERVICES = {"tmkms", "node", "api", "versiond", "bridge", "proxy", "explorer", "mlnode-308",
            "inference"}
MODEL = "MiniMaxAI/MiniMax-M2.7"

pytestmark = pytest.mark.sandbox

LOCAL_OVERRIDE = """\
services:
  api:
    ports: !override
      - "127.0.0.1:9100:9100"
      - "127.0.0.1:9200:9200"
"""


def local_override(served: dict[str, str]) -> str:
    """The api bound to loopback, and each digest pin of the repo's compose re-pinned to the
    stand-in's own digest (upstream's digest cannot match a stand-in; the deploys do the same
    through group data, sandbox/bench/inventory.standin_images): the pull is still verified."""
    from gonkarepo.files import images

    text = LOCAL_OVERRIDE
    for service, ref in images("v0.2.13").items():
        name_tag, sep, _ = ref.partition("@")
        if sep:
            text += f"  {service}:\n    image: {name_tag}@{served[name_tag]}\n"
    return text


@pytest.fixture(scope="module")
def git_url(fleet, tmp_path_factory) -> str:
    """git://<gateway>/gonka.git served by a git daemon the fleet owns (killed with it)."""
    if not shutil.which("git"):
        unavailable("needs git on the machine")
    base = tmp_path_factory.mktemp("git")
    subprocess.run([sys.executable, "-m", "gonkarepo", "build", str(base / "gonka.git")],
                   env=dict(os.environ, PYTHONPATH=str(SANDBOX)), check=True,
                   capture_output=True)
    if "git" not in fleet.services:
        fleet.serve("git", ["git", "daemon", "--reuseaddr", f"--listen={fleet.gateway}",
                            "--port=9418", f"--base-path={base}", "--export-all", str(base)],
                    9418)
    return f"git://{fleet.gateway}/gonka.git"


def config_env(host_addr: str, gateway: str) -> str:
    values = {
        "KEY_NAME": "sandbox-warm", "KEYRING_PASSWORD": "pw-sandbox", "API_PORT": "8000",
        "API_SSL_PORT": "8443", "PUBLIC_URL": f"http://{host_addr}:8000",
        "P2P_EXTERNAL_ADDRESS": f"tcp://{host_addr}:5000", "ACCOUNT_PUBKEY": "A" * 44,
        "NODE_CONFIG": "./node-config.json", "HF_HOME": "/root/hf",
        "SEED_API_URL": f"http://{gateway}:18000",
        "SEED_NODE_RPC_URL": f"http://{gateway}:18000/chain-rpc/",
        "SEED_NODE_P2P_URL": f"tcp://{gateway}:5000",
        "DAPI_API__POC_CALLBACK_URL": "http://api:9100",
        "DAPI_CHAIN_NODE__URL": "http://node:26657",
        "DAPI_CHAIN_NODE__P2P_URL": "http://node:26656",
        "RPC_SERVER_URL_1": f"http://{gateway}:18000/chain-rpc/",
        "RPC_SERVER_URL_2": f"http://{gateway}:18000/chain-rpc/",
        "PORT": "8080", "INFERENCE_PORT": "5050", "KEYRING_BACKEND": "file",
    }
    return "".join(f"export {k}={v}\n" for k, v in values.items())


def node(node_id: str) -> dict:
    return {"id": node_id, "host": "inference", "inference_port": 5000, "poc_port": 8080,
            "max_concurrent": 500, "models": {MODEL: {"args": []}}}


@pytest.fixture
def docker_host(fleet):
    (h,) = fleet.add(1, docker=True)
    yield h
    fleet.remove([h])


def test_stack_up_serves_through_nginx_and_admin_api_then_down(docker_host, git_url, fleet):
    h = docker_host
    join = "/root/gonka/deploy/join"
    h.run(f"git clone -q -b main {git_url} /root/gonka")
    put(h, f"{join}/config.env", config_env(h.address, fleet.gateway))
    put(h, f"{join}/node-config.json", json.dumps([node("node1")], indent=2))
    put(h, f"{join}/docker-compose.local.yml", local_override(fleet.images))
    compose = f"cd {join} && . ./config.env && docker compose {FILES}"

    # the operator's warm key step: a throwaway api container with the api image's inferenced
    keys = h.run(f"{compose} run --rm --no-deps -T api /bin/sh -c "
                 "'printf \"%s\\n%s\\n\" \"$KEYRING_PASSWORD\" \"$KEYRING_PASSWORD\" "
                 "| inferenced keys add \"$KEY_NAME\" --keyring-backend file' 2>&1; echo rc=$?")
    assert "rc=0" in keys, keys
    assert h.run(f"ls {join}/.inference/keyring-file/").strip()

    up = h.run(f"{compose} up -d 2>&1; echo rc=$?", timeout=180)
    assert "rc=0" in up, up
    ps = [json.loads(line) for line in h.run(f"{compose} ps --format json").splitlines()]
    running = {p["Service"] for p in ps if p["State"] == "running"}
    assert running == SERVICES, h.run(f"{compose} logs --tail 30 2>&1")
    api = next(p for p in ps if p["Service"] == "api")
    assert {pub["URL"] for pub in api["Publishers"]} == {"127.0.0.1"}  # the override won

    state = json.loads(poll(h, "curl -sf http://127.0.0.1:8080/v3.0.8/api/v1/state"))
    assert state["version"] == "3.0.13"  # the mlnode image tag, reached via the real nginx

    added = poll(h, "curl -sf -X POST -H 'Content-Type: application/json' "
                    f"-d {shlex.quote(json.dumps(node('node2')))} "
                    "http://127.0.0.1:9200/admin/v1/nodes")
    assert "node2" in added
    nodes = json.loads(h.run("curl -sf http://127.0.0.1:9200/admin/v1/nodes"))
    assert "node2" in {n["node"]["id"] for n in nodes}

    assert "test is successful" in h.run(f"{compose} exec -T inference nginx -t 2>&1")
    again = h.run(f"{compose} up -d 2>&1")
    assert "Recreate" not in again and again.count("Running") == len(SERVICES)

    down = h.run(f"{compose} down 2>&1; echo rc=$?", timeout=120)
    assert "rc=0" in down, down
    left = h.run("ps -eo args= | grep -E '^(/usr/bin/)?python3 -m gonkasim|nginx' "
                 "| grep -v grep || true")
    assert left.strip() == "", left
    assert h.run("docker ps -aq").strip() == ""
