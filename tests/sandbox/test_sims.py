"""The gonkasim simulators on loopback: chain node, tmkms, seed, api, mlnode, proxy, inferenced."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import tomllib

import pytest
from gonkasim import address, common, testing
from gonkasim.testing import SimProcess, poll

INFERENCED = os.path.join(testing.SHIMS, "inferenced")


@pytest.fixture
def work(tmp_path):
    settings = tmp_path / "sim.json"
    settings.write_text(json.dumps({"sync_seconds": 1.0, "block_seconds": 0.1}))
    procs: list[SimProcess] = []

    class Work:
        path = tmp_path
        env = {"GONKASIM_SETTINGS": str(settings), "GONKASIM_LOG_DIR": str(tmp_path / "log")}

        def sim(self, role, listeners, args=(), env=None, name=None, start=True):
            p = SimProcess(role, str(tmp_path), listeners, list(args),
                           {**self.env, **(env or {})}, name)
            procs.append(p)
            return p.start() if start else p

    yield Work()
    for p in reversed(procs):
        p.stop()


def run_inferenced(work, args, stdin="", env=None):
    full_env = testing.sim_env({**work.env, **(env or {})})
    return subprocess.run([sys.executable, INFERENCED, *args], input=stdin, text=True,
                          capture_output=True, env=full_env, timeout=60)


def height(node):
    code, doc = node.get("rpc", "/status")
    assert code == 200, doc
    return int(doc["result"]["sync_info"]["latest_block_height"])


NODE_LISTENERS = ["rpc", "rest", "metrics", "p2p"]


# ---------------- address ----------------
def test_ripemd160_pure_python_matches_published_vectors():
    vectors = {b"": "9c1185a5c5e9fc54612808977ee8f548b2258d31",
               b"abc": "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc",
               b"message digest": "5d0689ef49d2fae572b881b123a85ffa21595f36",
               b"a" * 1000: address.ripemd160(b"a" * 1000).hex()}
    for data, want in vectors.items():
        assert address.ripemd160_py(data).hex() == want


def test_bech32_matches_bip173_vector_and_roundtrips():
    assert address.bech32_encode("a", b"") == "a12uel5l"
    pub = b"\x02" + bytes(range(32))
    addr = address.address_from_pubkey(pub)
    assert addr.startswith("gonka1")
    assert address.bech32_decode(addr) == ("gonka", address.address_bytes(pub))
    with pytest.raises(ValueError):
        address.bech32_decode(addr[:-1] + ("q" if addr[-1] != "q" else "p"))


# ---------------- node ----------------
def test_node_initialises_config_with_comments_and_applies_env(work):
    home = work.path / "inference"
    peers = "0772f16cc65cb4d19341b192bd7eba964f11d124@10.0.0.1:5000"
    node = work.sim("node", NODE_LISTENERS, ["--home", str(home), "--tmkms-home",
                                             str(work.path / "tmkms")],
                    env={"CONFIG_p2p__persistent_peers": peers,
                         "CONFIG_p2p__allow_duplicate_ip": "true",
                         "P2P_EXTERNAL_ADDRESS": "tcp://203.0.113.7:5000"})
    cfgdir = home / "config"
    for name in ("config.toml", "app.toml", "client.toml", "genesis.json", "node_key.json"):
        assert (cfgdir / name).is_file(), name
    assert (home / "data").is_dir()
    config_text = (cfgdir / "config.toml").read_text()
    assert "# Comma separated list of nodes to keep persistent connections to" in config_text
    config = tomllib.loads(config_text)
    assert config["p2p"]["persistent_peers"] == peers
    assert config["p2p"]["allow_duplicate_ip"] is True
    assert config["p2p"]["external_address"] == "tcp://203.0.113.7:5000"
    app = tomllib.loads((cfgdir / "app.toml").read_text())
    assert (app["pruning"], app["pruning-keep-recent"], app["pruning-interval"]) == (
        "default", "0", "0")
    assert "[state-sync]" in (cfgdir / "app.toml").read_text()
    code, net = node.get("rpc", "/net_info")
    assert code == 200 and net["result"]["peers"][0]["node_info"]["id"] == peers.split("@")[0]
    code, metrics = node.get("metrics", "/metrics")
    assert code == 200 and "cometbft_consensus_height{" in metrics


def test_node_height_rises_and_catching_up_flips_after_sync_seconds(work):
    node = work.sim("node", NODE_LISTENERS, ["--home", str(work.path / "inf"),
                                             "--tmkms-home", str(work.path / "tmkms")])
    _, doc = node.get("rpc", "/status")
    assert doc["result"]["sync_info"]["catching_up"] is True
    assert doc["result"]["node_info"]["network"] == "gonka-mainnet"
    assert doc["result"]["validator_info"]["pub_key"]["type"] == "tendermint/PubKeyEd25519"
    first = height(node)
    poll(lambda: height(node) >= first + 3, 5, what="height to rise")
    poll(lambda: node.get("rpc", "/status")[1]["result"]["sync_info"]["catching_up"] is False,
         5, what="catching_up to flip")


def test_node_restart_keeps_files_node_key_and_operator_edits(work):
    home = work.path / "inf"
    args = ["--home", str(home), "--tmkms-home", str(work.path / "tmkms")]
    node = work.sim("node", NODE_LISTENERS, args)
    node_id = node.get("rpc", "/status")[1]["result"]["node_info"]["id"]
    key_before = (home / "config" / "node_key.json").read_bytes()
    node.stop()
    app = home / "config" / "app.toml"
    app.write_text(app.read_text().replace('pruning = "default"', 'pruning = "custom"'))
    node.start()
    assert (home / "config" / "node_key.json").read_bytes() == key_before
    assert node.get("rpc", "/status")[1]["result"]["node_info"]["id"] == node_id
    assert 'pruning = "custom"' in app.read_text()
    assert "# default: the last 362880 states are kept" in app.read_text()


def test_node_uses_tmkms_consensus_key_and_tmkms_never_rewrites_it(work):
    tm = work.path / "tmkms"
    node = work.sim("node", NODE_LISTENERS, ["--home", str(work.path / "inf"),
                                             "--tmkms-home", str(tm)])
    kms = work.sim("tmkms", [], ["--home", str(tm)])
    keyfile = tm / "secrets" / "priv_validator_key.softsign"
    poll(keyfile.exists, 5, what="tmkms key")
    content = keyfile.read_bytes()
    assert (tm / "tmkms.toml").is_file()
    kms.stop()
    kms.start()
    poll(lambda: any(r.get("event") == "ready" for r in kms.records()), 5, what="tmkms ready")
    assert keyfile.read_bytes() == content
    from gonkasim import keys, tmkms
    want = keys.b64(tmkms.consensus_pubkey(str(tm)))
    assert node.get("rpc", "/status")[1]["result"]["validator_info"]["pub_key"]["value"] == want


def test_partial_upgrade_switches_mlnode_version_at_height(work):
    node = work.sim("node", NODE_LISTENERS, ["--home", str(work.path / "inf"),
                                             "--tmkms-home", str(work.path / "tmkms")])
    path = "/productscience/inference/inference/mlnode_version"
    assert node.get("rest", path)[1] == {"mlnode_version": {"current_version": "v3.0.8"}}
    target = height(node) + 5
    code, _ = node.post("rpc", "/gonkasim/partial-upgrade",
                        {"height": target, "node_version": "v3.0.9"})
    assert code == 200
    plans = node.get("rest", "/productscience/inference/inference/partial_upgrade")[1]
    assert plans["partial_upgrade"][0]["node_version"] == "v3.0.9"
    poll(lambda: node.get("rest", path)[1]["mlnode_version"]["current_version"] == "v3.0.9",
         5, what="version switch")
    assert height(node) >= target


# ---------------- seed + inferenced + api ----------------
def new_key(work, name, home, password="correct-horse"):
    r = run_inferenced(work, ["keys", "add", name, "--keyring-backend", "file", "--home",
                              str(home)], f"{password}\n{password}\n")
    assert r.returncode == 0, r.stderr
    pub = json.loads(r.stdout.split("pubkey: '")[1].split("'")[0])["key"]
    return r, pub


def test_inferenced_keys_add_show_and_refusals(work):
    home = work.path / "inference"
    r, pub = new_key(work, "warm", home)
    assert r.stdout.startswith("- address: gonka1")
    assert "  name: warm\n" in r.stdout and "  type: local\n" in r.stdout
    assert "**Important** write this mnemonic phrase in a safe place." in r.stderr
    words = r.stderr.strip().splitlines()[-1].split()
    assert len(words) == 24
    kdir = home / "keyring-file"
    assert (kdir / "warm.info").is_file() and (kdir / "keyhash").is_file()
    addr = r.stdout.split("address: ")[1].split()[0]
    hexaddr = address.bech32_decode(addr)[1].hex()
    assert (kdir / f"{hexaddr}.address").is_file()
    assert addr == address.address_from_b64(pub)
    show = run_inferenced(work, ["keys", "show", "warm", "-a", "--keyring-backend", "file",
                                 "--home", str(home)], "correct-horse\n")
    assert show.returncode == 0 and show.stdout.strip() == addr
    again = run_inferenced(work, ["keys", "add", "warm", "--keyring-backend", "file", "--home",
                                  str(home)], "correct-horse\ncorrect-horse\n")
    assert again.returncode == 1 and "Error: aborted" in again.stderr
    assert json.loads((kdir / "warm.info").read_text())["address"] == addr
    bad = run_inferenced(work, ["keys", "add", "other", "--keyring-backend", "file", "--home",
                                str(work.path / "fresh")], "password-one\npassword-two\n")
    assert bad.returncode == 1 and "passphrase do not match" in bad.stderr
    assert "too many failed passphrase attempts" in bad.stderr
    assert not (work.path / "fresh" / "keyring-file" / "other.info").exists()
    empty = run_inferenced(work, ["keys", "add", "x", "--keyring-backend", "file", "--home",
                                  str(work.path / "empty")])
    assert empty.returncode == 1 and "EOF" in empty.stderr
    logged = [json.loads(line)["argv"] for line in
              (work.path / "log" / "inferenced.log").read_text().splitlines()]
    assert ["keys", "show", "warm", "-a", "--keyring-backend", "file", "--home", str(home)] \
        in logged
    assert all("correct-horse" not in json.dumps(a) for a in logged)


@pytest.fixture
def network(work):
    """A seed, a chain node, an mlnode (with the nginx version prefix) and an api with a key."""
    seed = work.sim("seed", ["http"], ["--state", str(work.path / "seed")])
    node = work.sim("node", NODE_LISTENERS, ["--home", str(work.path / "inf"),
                                             "--tmkms-home", str(work.path / "tmkms")])
    ml = work.sim("mlnode", ["management", "inference"], ["--service", "mlnode-308"],
                  env={"GONKASIM_IMAGE": "ghcr.io/gonka-ai/mlnode:3.0.12-post6",
                       "GONKASIM_MLNODE_PREFIXES": "v3.0.8"})
    _, cold = new_key(work, "cold", work.path / "local")
    new_key(work, "warm", work.path / "inf")
    return work, seed, node, ml, cold


def start_api(work, seed, node, cold, node_config=None):
    env = {"KEY_NAME": "warm", "DAPI_CHAIN_NODE__URL": node.url("rpc"),
           "GONKASIM_NODE_REST_URL": node.url("rest"),
           "DAPI_CHAIN_NODE__SEED_API_URL": seed.url("http"), "ACCOUNT_PUBKEY": cold,
           "DAPI_API__PUBLIC_URL": "http://203.0.113.7:8000"}
    cfg = work.path / "node_config.json"
    cfg.write_text(json.dumps(node_config or []))
    return work.sim("api", ["public", "ml", "admin"],
                    ["--inference-home", str(work.path / "inf"), "--dapi-home",
                     str(work.path / "dapi"), "--node-config", str(cfg)], env=env)


def test_registration_then_lookup_and_second_registration_refused(network):
    work, seed, node, ml, cold = network
    api = start_api(work, seed, node, cold)
    env = {"DAPI_CHAIN_NODE__URL": node.url("rpc")}
    args = ["register-new-participant", "http://203.0.113.7:8000", cold, "--node-address",
            seed.url("http")]
    r = run_inferenced(work, args, env=env)
    assert r.returncode == 0, r.stderr
    addr = address.address_from_b64(cold)
    assert f"Found participant: {addr} (url: http://203.0.113.7:8000, status: ACTIVE)" in r.stdout
    assert f"Participant is now available at {seed.url('http')}/v2/participants/{addr}" \
        in r.stdout
    code, v1 = seed.get("http", f"/v1/participants/{addr}")
    assert code == 200 and v1["pubkey"] == cold
    consensus = node.get("rpc", "/status")[1]["result"]["validator_info"]["pub_key"]["value"]
    code, v2 = api.get("public", f"/v2/participants/{addr}")
    assert code == 200 and v2["participant"]["validatorKey"] == consensus
    assert v2["participant"]["inferenceUrl"] == "http://203.0.113.7:8000"
    again = run_inferenced(work, args, env=env)
    assert again.returncode == 1 and "409" in again.stderr
    code, _ = seed.post("http", "/v1/participants",
                        {"url": "u", "pub_key": base64.b64encode(b"\x02" + bytes(32)).decode(),
                         "address": "gonka1wrong"})
    assert code == 400


def test_admin_rejects_unknown_model_and_lists_a_governance_one(network):
    work, seed, node, ml, cold = network
    api = start_api(work, seed, node, cold)
    host, port = ml.addrs["management"].split(":")
    inf_port = int(ml.addrs["inference"].split(":")[1])
    node_doc = {"id": "node1", "host": host, "inference_port": inf_port, "poc_port": int(port),
                "max_concurrent": 500, "models": {"Qwen/QwQ-32B": {"args": []}}}
    code, doc = api.post("admin", "/admin/v1/nodes", node_doc)
    assert code == 400 and "Qwen/QwQ-32B" in doc["error"]
    node_doc["models"] = {"testorg/tiny-model": {"args": ["--max-model-len", "8"]}}
    code, doc = api.post("admin", "/admin/v1/nodes", node_doc)
    assert code == 200 and doc["id"] == "node1"
    code, nodes = api.get("admin", "/admin/v1/nodes")
    assert code == 200 and [n["node"]["id"] for n in nodes] == ["node1"]

    def inference():
        listed = api.get("admin", "/admin/v1/nodes")[1]
        return listed[0]["state"]["current_status"] == "INFERENCE" and listed
    listed = poll(inference, 10, what="node1 INFERENCE")
    assert listed[0]["state"]["ml_node_version"] == "v3.0.8"
    state = ml.get("management", "/api/v1/state")[1]
    assert state["loaded_model"] == "testorg/tiny-model"
    up = [r for r in ml.records() if r.get("event") == "inference-up"][0]
    assert up["args"] == ["--max-model-len", "8"]
    code, status = api.post("admin", "/admin/v1/nodes/version-status", {"version": "v3.0.8"})
    assert code == 200 and status["node1"] == {"is_alive": True, "error": ""}
    code, status = api.post("admin", "/admin/v1/nodes/version-status", {"version": "v3.0.9"})
    assert status["node1"]["is_alive"] is False and "404" in status["node1"]["error"]
    code, chat = api.post("public", "/v1/chat/completions",
                          {"model": "testorg/tiny-model",
                           "messages": [{"role": "user", "content": "hello"}]})
    assert code == 200 and "3.0.12-post6" in chat["choices"][0]["message"]["content"]
    code, _ = api.post("admin", "/admin/v1/nodes/node1/disable")
    assert code == 200
    assert api.get("admin", "/admin/v1/nodes")[1][0]["state"]["admin_state"]["enabled"] is False
    assert (work.path / "dapi" / "api-config.yaml").is_file()


def test_node_keeps_a_restored_node_key_on_its_first_start(work):
    """`inferenced init` loads an existing node_key.json (LoadOrGenNodeKey): a restored P2P
    identity survives the first start, and /status names it."""
    from gonkasim import keys

    priv = keys.new_ed25519_priv()
    doc = keys.node_key_json(priv)
    (work.path / "inf" / "config").mkdir(parents=True)
    (work.path / "inf" / "config" / "node_key.json").write_text(json.dumps(doc))
    node = work.sim("node", NODE_LISTENERS, ["--home", str(work.path / "inf")])
    assert json.loads((work.path / "inf" / "config" / "node_key.json").read_text()) == doc
    assert (work.path / "inf" / "config" / "config.toml").is_file()
    code, status = node.get("rpc", "/status")
    assert status["result"]["node_info"]["id"] == keys.node_id(priv[32:])


def test_node_with_tmkms_publishes_the_signers_key_and_waits_for_it(work):
    """With TMKMS_PORT the node's RPC waits for tmkms to dial in; /status then names tmkms's
    consensus key; a restarted node gets it again (tmkms reconnects)."""
    import base64 as b64
    import socket as sock

    from gonkasim import keys

    with sock.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"TMKMS_PORT": str(port)}
    node = work.sim("node", NODE_LISTENERS, ["--home", str(work.path / "inf")], env=env,
                    start=False).start(expect_ready=False)
    assert not common.wait_until(node._ready, 2, 0.1), "the RPC served before the signer came"
    work.sim("tmkms", [], ["--home", str(work.path / "tmkms"), "--validator-addr",
                           f"tcp://127.0.0.1:{port}"], start=False).start(expect_ready=False)
    assert common.wait_until(node._ready, 60, 0.1), node.output()
    seed = b64.b64decode((work.path / "tmkms" / "secrets" / "priv_validator_key.softsign")
                         .read_text())
    want = keys.b64(keys.ed25519_pub(seed))
    code, doc = node.get("rpc", "/status")
    assert doc["result"]["validator_info"]["pub_key"]["value"] == want
    node.stop()
    node.start(timeout=60)  # tmkms dials the restarted node again
    code, doc = node.get("rpc", "/status")
    assert doc["result"]["validator_info"]["pub_key"]["value"] == want


def test_api_worker_key_is_made_once_and_kept_from_a_restored_dapi(network):
    """The worker key (ml_node_key_config) lives in api-config.yaml and gonka.db (WAL); a
    restart keeps it, and so does a .dapi restored without the sim's own state file."""
    import sqlite3

    work, seed, node, ml, cold = network
    api = start_api(work, seed, node, cold)

    def worker() -> tuple[str, dict]:
        text = (work.path / "dapi" / "api-config.yaml").read_text()
        line = next(x for x in text.splitlines() if "worker_public:" in x)
        db = sqlite3.connect(work.path / "dapi" / "gonka.db")
        try:
            row = db.execute("SELECT value_json FROM kv_config WHERE key = "
                             "'ml_node_key_config'").fetchone()
        finally:
            db.close()
        return line.split(": ", 1)[1], json.loads(row[0])

    public, stored = worker()
    assert stored["worker_public"] == public and len(base64.b64decode(public)) == 32
    assert sqlite3.connect(work.path / "dapi" / "gonka.db").execute(
        "PRAGMA journal_mode").fetchone() == ("wal",)
    api.stop()
    for name in ("gonkasim-state.json", "gonka.db", "gonka.db-wal", "gonka.db-shm"):
        (work.path / "dapi" / name).unlink(missing_ok=True)
    api.start()
    assert worker() == (public, stored)


def test_api_reads_node_config_only_on_first_start(network):
    work, seed, node, ml, cold = network
    first = {"id": "n1", "host": "inference", "inference_port": 5000, "poc_port": 8080,
             "max_concurrent": 500, "models": {"MiniMaxAI/MiniMax-M2.7": {"args": []}}}
    api = start_api(work, seed, node, cold, [first])
    assert [n["node"]["id"] for n in api.get("admin", "/admin/v1/nodes")[1]] == ["n1"]
    api.stop()
    (work.path / "node_config.json").write_text(json.dumps([{**first, "id": "n2"}]))
    api.start()
    assert [n["node"]["id"] for n in api.get("admin", "/admin/v1/nodes")[1]] == ["n1"]


def test_api_refuses_to_start_without_warm_key(work):
    api = work.sim("api", ["public", "ml", "admin"],
                   ["--inference-home", str(work.path / "nokeys"),
                    "--dapi-home", str(work.path / "dapi")],
                   env={"KEY_NAME": "warm"}, start=False)
    api.start(expect_ready=False)
    assert api.wait_exit(10) == 1
    assert any(r.get("event") == "fatal" and "warm" in r["error"] for r in api.records())
    assert not (work.path / "dapi").exists()


# ---------------- mlnode ----------------
def test_mlnode_state_carries_image_tag_and_chat_names_version(work):
    ml = work.sim("mlnode", ["management", "inference"], ["--service", "mlnode-308"],
                  env={"GONKASIM_IMAGE": "ghcr.io/gonka-ai/mlnode:3.0.14-post2"})
    code, state = ml.get("management", "/api/v1/state")
    assert code == 200
    assert state["version"] == "3.0.14-post2" and state["state"] == "STOPPED"
    assert state["service"] == "mlnode-308"
    req = {"model": "testorg/tiny-model", "messages": [{"role": "user", "content": "hi"}]}
    code, _ = ml.post("inference", "/v1/chat/completions", req)
    assert code == 503
    body = {"model": "testorg/tiny-model", "dtype": "auto", "additional_args": []}
    assert ml.post("management", "/api/v1/inference/up", body)[0] == 200
    assert ml.post("management", "/api/v1/inference/up", body)[0] == 409
    code, chat = ml.post("inference", "/v1/chat/completions", req)
    assert code == 200
    assert "mlnode 3.0.14-post2 on mlnode-308" in chat["choices"][0]["message"]["content"]
    code, chat = ml.post("management", "/v1/chat/completions", req)
    assert code == 200 and chat["object"] == "chat.completion"
    import urllib.request
    with urllib.request.urlopen(ml.url("inference") + "/v1/models", timeout=5) as resp:
        assert resp.headers["X-Gonkasim-Version"] == "3.0.14-post2"
    code, devs = ml.get("management", "/api/v1/gpu/devices")
    assert code == 200 and devs["count"] == 1
    assert devs["devices"][0]["name"] == "NVIDIA H100 80GB HBM3"


# ---------------- proxy ----------------
def test_proxy_routes_health_api_and_gates_chain_rpc(network):
    work, seed, node, ml, cold = network
    api = start_api(work, seed, node, cold)
    explorer = work.sim("explorer", ["http"])
    upstreams = ["--api-url", api.url("public"), "--rpc-url", node.url("rpc"),
                 "--rest-url", node.url("rest"), "--explorer-url", explorer.url("http")]
    closed = work.sim("proxy", ["http", "https"], upstreams, name="proxy-closed")
    assert closed.get("http", "/health") == (200, "ok\n")
    code, status = closed.get("http", "/v1/status")
    assert code == 200 and status["chain_reachable"] is True
    code, models = closed.get("http", "/v1/governance/models")
    assert code == 200 and "testorg/tiny-model" in [m["id"] for m in models["models"]]
    assert closed.get("http", "/chain-rpc/status")[0] == 404
    code, page = closed.get("http", "/")
    assert code == 200 and "Gonka Dashboard" in page
    opened = work.sim("proxy", ["http", "https"], upstreams, name="proxy-open",
                      env={"DISABLE_CHAIN_RPC": "false"})
    code, st = opened.get("http", "/chain-rpc/status")
    assert code == 200 and st["result"]["node_info"]["network"] == "gonka-mainnet"


def test_seed_serves_chain_rpc_governance_and_node_joins_from_it(work):
    seed = work.sim("seed", ["http"], ["--state", str(work.path / "seed")])
    code, models = seed.get("http", "/v1/governance/models")
    ids = [m["id"] for m in models["models"]]
    assert ids == ["moonshotai/Kimi-K2.6", "MiniMaxAI/MiniMax-M2.7",
                   "deepseek-ai/DeepSeek-V4-Flash-0731", "testorg/tiny-model"]
    from gonkasim import hf
    assert models["models"][3]["hf_commit"] == hf.commit_for(hf.DEFAULT_SIZE)
    code, st = seed.get("http", "/chain-rpc/status")
    seed_id = st["result"]["node_info"]["id"]
    rpc = seed.url("http") + "/chain-rpc/"
    home = work.path / "inf"
    work.sim("node", NODE_LISTENERS, ["--home", str(home), "--tmkms-home",
                                      str(work.path / "tm")],
             env={"SEED_NODE_RPC_URL": rpc, "SEED_NODE_P2P_URL": "tcp://198.51.100.2:5000",
                  "RPC_SERVER_URL_1": rpc, "RPC_SERVER_URL_2": rpc})
    config = tomllib.loads((home / "config" / "config.toml").read_text())
    assert config["p2p"]["seeds"] == f"{seed_id}@198.51.100.2:5000"
    assert config["statesync"]["enable"] is True
    assert config["statesync"]["trust_height"] >= 1 and config["statesync"]["trust_hash"]
    assert (home / ".node_initialized").exists()
    assert common.read_json(str(home / "config" / "genesis.json"))["chain_id"] == "gonka-mainnet"


def test_api_follows_a_partial_upgrade_to_the_new_mlnode_version(work):
    seed = work.sim("seed", ["http"], ["--state", str(work.path / "seed")])
    node = work.sim("node", NODE_LISTENERS, ["--home", str(work.path / "inf"),
                                             "--tmkms-home", str(work.path / "tmkms")])
    old = work.sim("mlnode", ["management", "inference"], name="ml-old",
                   env={"GONKASIM_IMAGE": "ghcr.io/gonka-ai/mlnode:3.0.12",
                        "GONKASIM_MLNODE_PREFIXES": "v3.0.8"})
    _, cold = new_key(work, "cold", work.path / "local")
    new_key(work, "warm", work.path / "inf")
    host, port = old.addrs["management"].split(":")
    api = start_api(work, seed, node, cold, [{
        "id": "node1", "host": host, "poc_port": int(port), "max_concurrent": 500,
        "inference_port": int(old.addrs["inference"].split(":")[1]),
        "models": {"testorg/tiny-model": {"args": []}}}])
    poll(lambda: api.get("public", "/v1/status")[1]["current_node_version"] == "v3.0.8", 10,
         what="api to read v3.0.8 from the chain")
    target = height(node) + 20
    node.post("rpc", "/gonkasim/partial-upgrade", {"height": target, "node_version": "v3.0.9"})
    code, status = api.get("admin", "/admin/v1/nodes/upgrade-status")
    assert code == 200 and status["version"] == "v3.0.9"
    assert status["nodes"]["node1"]["is_alive"] is False
    poll(lambda: api.get("public", "/v1/status")[1]["current_node_version"] == "v3.0.9", 10,
         what="api to switch to v3.0.9")
    poll(lambda: api.get("admin", "/admin/v1/nodes")[1][0]["state"]["current_status"]
         == "FAILED", 10, what="node1 to fail at the unrouted v3.0.9")


# ---------------- epochs, disable/enable, MLNode readiness ----------------
def test_api_reports_the_epoch_phase_and_the_test_hook_moves_the_next_poc(network):
    work, seed, node, ml, cold = network
    api = start_api(work, seed, node, cold)
    code, epoch = api.get("public", "/v1/epochs/latest")
    assert code == 200 and epoch["phase"] == "Inference"
    assert epoch["latest_epoch"]["index"] == 0 and not epoch["is_confirmation_poc_active"]
    assert epoch["epoch_stages"]["next_poc_start"] - epoch["block_height"] > 1000
    assert api.get("public", "/v1/epochs/7")[0] == 400   # only `latest`, as get_epoch.go
    code, moved = api.post("admin", "/admin/v1/gonkasim/epoch",
                           {"poc_in": -1, "poc_generate_blocks": 500})
    assert code == 200 and moved["phase"] == "PoCGenerate"
    assert moved["latest_epoch"]["index"] == 1
    assert moved["epoch_stages"]["poc_validation_end"] > moved["block_height"]
    assert api.get("public", "/v1/epochs/latest")[1]["phase"] == "PoCGenerate"
    code, soon = api.post("admin", "/admin/v1/gonkasim/epoch", {"poc_in": 30})
    assert soon["phase"] == "Inference"
    assert 0 < soon["epoch_stages"]["next_poc_start"] - soon["block_height"] <= 30
    api.post("admin", "/admin/v1/gonkasim/epoch", {"confirmation_poc_active": True})
    assert api.get("public", "/v1/epochs/latest")[1]["is_confirmation_poc_active"] is True


def test_a_disabled_node_gets_no_request_and_other_executors_serve(network):
    work, seed, node, ml, cold = network
    host, port = ml.addrs["management"].split(":")
    api = start_api(work, seed, node, cold, [{
        "id": "node1", "host": host, "poc_port": int(port), "max_concurrent": 500,
        "inference_port": int(ml.addrs["inference"].split(":")[1]),
        "models": {"testorg/tiny-model": {"args": []}}}])
    poll(lambda: api.get("admin", "/admin/v1/nodes")[1][0]["state"]["current_status"]
         == "INFERENCE", 10, what="node1 INFERENCE")
    req = {"model": "testorg/tiny-model", "messages": [{"role": "user", "content": "hi"}]}
    code, chat = api.post("public", "/v1/chat/completions", req)
    assert code == 200 and "mlnode" in chat["choices"][0]["message"]["content"]
    code, doc = api.post("admin", "/admin/v1/nodes/node1/disable")
    assert (code, doc) == (200, {"message": "node disabled successfully", "node_id": "node1"})
    served = len([r for r in ml.records() if r.get("path") == "/v1/chat/completions"])
    for _ in range(5):
        code, chat = api.post("public", "/v1/chat/completions", req)
        assert code == 200 and "another executor" in chat["choices"][0]["message"]["content"]
    assert len([r for r in ml.records() if r.get("path") == "/v1/chat/completions"]) == served
    assert api.post("admin", "/admin/v1/nodes/nope/disable") == \
        (404, {"message": "node not found: nope"})
    assert api.post("admin", "/admin/v1/nodes/node1/enable")[0] == 200
    code, chat = api.post("public", "/v1/chat/completions", req)
    assert code == 200 and "mlnode" in chat["choices"][0]["message"]["content"]
    events = [(r["event"], r.get("executor") or r.get("enabled")) for r in api.records()
              if r.get("event") in ("route", "admin-state")]
    assert events == [("route", "node1"), ("admin-state", False)] + [("route", "other")] * 5 \
        + [("admin-state", True), ("route", "node1")]


def test_mlnode_is_not_ready_until_its_model_loads_and_a_broken_tag_never_is(work):
    settings = json.loads((work.path / "sim.json").read_text())
    (work.path / "sim.json").write_text(json.dumps(
        {**settings, "mlnode_load_seconds": 1.0, "mlnode_broken_tags": ["3.0.16"]}))
    ml = work.sim("mlnode", ["management", "inference"], ["--service", "mlnode-308"],
                  env={"GONKASIM_IMAGE": "ghcr.io/gonka-ai/mlnode:3.0.14"})
    assert ml.get("management", "/readyz") == (503, {"ready": False})
    body = {"model": "testorg/tiny-model", "dtype": "auto", "additional_args": []}
    started = time.monotonic()
    assert ml.post("management", "/api/v1/inference/up", body)[0] == 200
    assert time.monotonic() - started >= 1.0   # returns once the model is up
    assert ml.get("management", "/readyz") == (200, {"ready": True})
    assert ml.get("management", "/api/v1/state")[1]["inference_healthy"] is True
    broken = work.sim("mlnode", ["management", "inference"], ["--service", "mlnode-308"],
                      env={"GONKASIM_IMAGE": "ghcr.io/gonka-ai/mlnode:3.0.16"}, name="broken")
    assert broken.get("management", "/health")[0] == 503
    code, doc = broken.post("management", "/api/v1/inference/up", body)
    assert code == 500 and "failed to start" in doc["detail"]
    assert broken.get("management", "/readyz")[0] == 503
