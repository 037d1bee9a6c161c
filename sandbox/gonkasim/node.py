"""node role: the chain node (inferenced under cosmovisor) as init-docker.sh runs it.

    python3 -m gonkasim node [--home /root/.inference] [--tmkms-home /root/.tmkms]

First start (no config/config.toml): writes what `inferenced init` writes (config.toml, app.toml,
client.toml, genesis.json, node_key.json, priv_validator_key.json, data/). First join (no
.node_initialized, IS_GENESIS!=true, SEED_NODE_RPC_URL set): genesis and `seeds` from the seed's
RPC, state sync settings from SYNC_WITH_SNAPSHOTS/RPC_SERVER_URL_*. Every start: the fixed
settings of init-docker.sh, p2p.external_address from P2P_EXTERNAL_ADDRESS, then every
CONFIG_<a>__<b>=v into config.toml.

With TMKMS_PORT set (the release's compose sets it; init-docker.sh then runs with a remote
signer): listens on that port for tmkms, which dials in (tmkms.toml `addr`, as real tmkms does)
and hands over its consensus public key as one JSON line (a stand-in for the privval handshake);
like CometBFT with priv_validator_laddr, the RPC waits (bounded) for the signer before it
serves. /status then names tmkms's key (the local priv_validator_key.json is never used).

Cosmovisor, as the image runs it (FACTS-chain §1.1): `cosmovisor init` only when
<home>/cosmovisor is missing; "restoring from image" when current/bin/inferenced is missing or
not executable; then the `current` binary runs (its version is what the node reports). State
sync lands at the seed's height. On every start the binary must carry the handler of the last
upgrade the chain applied at or below its height, else it panics ("upgrade handler is missing
for <name> upgrade plan") and the container restarts: a crash loop, as on mainnet. A pending
plan (from the seed, served on REST current_plan) is applied at its height: cosmovisor backs up
data/, moves `current` to upgrades/<name> and the node goes on with that binary; without the
binary the node halts (exits at the height, and again at every restart) with x/upgrade's
`UPGRADE "<name>" NEEDED at height: <h>: <info>` and cosmovisor's "binary not present, downloading
disabled" (the stand-in image does not set DAEMON_ALLOW_DOWNLOAD_BINARIES; the real one does and
would download from the plan's URL).

While it runs with its signer it reports the heights it signs to the seed (POST
/gonkasim/vote, once a second), so the network's /commit shows this validator's signatures.

Listens: rpc 26657 (/status, /net_info, /health, /genesis, /block, JSON-RPC POST /, and the
test-only POST /gonkasim/partial-upgrade {"height", "node_version"}), p2p 26656 (accepts and
closes), rest 1317 (node_info, syncing, mlnode_version, partial_upgrade), metrics 26660.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
import time

from gonkasim import chain as chainmod, chainfiles, common, keys, settings, tmkms, upgradebins

ROLE = "node"
BASE_MLNODE_VERSION = "v3.0.8"


class Signer:
    """The remote signer's connection: tmkms dials in and sends {"pub_key": base64}; the
    connection is kept, so tmkms sees the node go away and dials again."""

    def __init__(self, port: int):
        self.pub: bytes | None = None
        self.ready = threading.Event()
        self.conns: list = []
        self.sock = socket.create_server(("0.0.0.0", port))
        threading.Thread(target=self.loop, name="node-signer", daemon=True).start()

    def loop(self) -> None:
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            try:
                conn.settimeout(10)
                line = conn.makefile("rb").readline()
                self.pub = keys.b64decode(json.loads(line)["pub_key"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                common.log(ROLE, event="signer-rejected", peer=peer[0], error=str(exc))
                conn.close()
                continue
            self.conns = [c for c in self.conns if c.fileno() >= 0] + [conn]
            self.ready.set()
            common.log(ROLE, event="signer-connected", peer=peer[0], pub_key=keys.b64(self.pub))


    def live(self) -> bool:
        """Whether tmkms is connected now (a closed connection reads as end of file)."""
        for conn in list(self.conns):
            try:
                conn.setblocking(False)
                data = conn.recv(1, socket.MSG_PEEK)
            except BlockingIOError:
                return True      # open, nothing sent: tmkms is there
            except OSError:
                data = b""
            if data:
                return True
            self.conns.remove(conn)
            conn.close()
        return False


class Node:
    def __init__(self, home: str, tmkms_home: str, env: dict, cfg: dict):
        self.home, self.tmkms_home, self.env, self.cfg = home, tmkms_home, env, cfg
        self.config_dir = os.path.join(home, "config")
        self.signer: Signer | None = None

    def path(self, *parts: str) -> str:
        return os.path.join(self.home, *parts)

    # ---------- files ----------
    def init_home(self) -> None:
        """What `inferenced init --chain-id gonka-mainnet --default-denom icoin my-node` writes."""
        moniker = self.env.get("GONKASIM_MONIKER", "my-node")
        files = {
            "config.toml": chainfiles.CONFIG_TOML.replace("{moniker}", moniker),
            "app.toml": chainfiles.APP_TOML.replace("{denom}", "icoin"),
            "client.toml": chainfiles.CLIENT_TOML.replace("{chain_id}", chainmod.CHAIN_ID),
            "genesis.json": json.dumps(chainfiles.genesis(chainmod.CHAIN_ID,
                                                          chainmod.iso(time.time())), indent=2),
        }
        for name, text in files.items():
            common.atomic_write(os.path.join(self.config_dir, name), text)
        node_key = os.path.join(self.config_dir, "node_key.json")
        if not os.path.exists(node_key):  # LoadOrGenNodeKey: a restored P2P identity is kept
            common.write_json(node_key, keys.node_key_json(keys.new_ed25519_priv()), 0o600)
        priv = keys.new_ed25519_priv()
        pub = priv[32:]
        common.write_json(os.path.join(self.config_dir, "priv_validator_key.json"), {
            "address": keys.validator_address(pub),
            "pub_key": {"type": "tendermint/PubKeyEd25519", "value": keys.b64(pub)},
            "priv_key": {"type": "tendermint/PrivKeyEd25519", "value": keys.b64(priv)},
        }, 0o600)
        common.write_json(self.path("data", "priv_validator_state.json"),
                          {"height": "0", "round": 0, "step": 0})
        common.log(ROLE, event="init", home=self.home)

    def edit(self, name: str, pairs: list[tuple[str, str]]) -> None:
        path = os.path.join(self.config_dir, name)
        with open(path) as f:
            text = f.read()
        for key, value in pairs:
            text = chainfiles.toml_set(text, key, value)
        common.atomic_write(path, text)

    def first_join(self) -> bool:
        """init-docker.sh's first-run steps for a joining node; False if the seed is unusable."""
        rpc = self.env.get("SEED_NODE_RPC_URL", "").rstrip("/")
        if self.env.get("IS_GENESIS", "false") == "true" or not rpc:
            return True

        def fetch_status():
            code, doc = common.http("GET", rpc + "/status", timeout=3)
            return doc if code == 200 and isinstance(doc, dict) else None

        status = common.wait_until(fetch_status, timeout=15, interval=0.5)
        if not status:
            common.log(ROLE, event="fatal", error=f"cannot reach SEED_NODE_RPC_URL {rpc}")
            return False
        code, gen = common.http("GET", rpc + "/genesis", timeout=5)
        if code == 200 and isinstance(gen, dict) and "genesis" in gen.get("result", {}):
            common.write_json(os.path.join(self.config_dir, "genesis.json"),
                              gen["result"]["genesis"])
        seed_id = status["result"]["node_info"]["id"]
        p2p = self.env.get("SEED_NODE_P2P_URL", "").split("://", 1)[-1]
        pairs = [("p2p.seeds", f"{seed_id}@{p2p}")] if p2p else []
        sync = self.env.get("SYNC_WITH_SNAPSHOTS", "true")
        pairs.append(("statesync.enable", "true" if sync == "true" else "false"))
        if sync == "true":
            servers = [self.env.get(k, "") for k in ("RPC_SERVER_URL_1", "RPC_SERVER_URL_2")]
            pairs.append(("statesync.rpc_servers", ",".join(s for s in servers if s)))
            latest = int(status["result"]["sync_info"]["latest_block_height"])
            trust = max(latest - int(self.env.get("TRUSTED_BLOCK_PERIOD", "2000")), 1)
            _, blk = common.http("GET", f"{rpc}/block?height={trust}", timeout=3)
            try:
                trust_hash = blk["result"]["block_id"]["hash"]
            except (TypeError, KeyError):
                trust_hash = ""
            pairs += [("statesync.trust_height", str(trust)), ("statesync.trust_hash", trust_hash)]
            # State sync lands at the network's height: the chain continues from there.
            common.write_json(self.path("data", "gonkasim-chain.json"),
                              {"epoch_time": time.time(), "start_height": latest})
        self.edit("config.toml", pairs)
        common.atomic_write(self.path(".node_initialized"), "")
        common.log(ROLE, event="joined", seeds=dict(pairs).get("p2p.seeds", ""))
        return True

    def every_start(self) -> None:
        env = self.env
        config = [
            ("rpc.laddr", "tcp://0.0.0.0:26657"),
            ("priv_validator_laddr", f"tcp://0.0.0.0:{env.get('TMKMS_PORT', '26658')}"),
        ]
        if env.get("P2P_EXTERNAL_ADDRESS"):
            config.append(("p2p.external_address", env["P2P_EXTERNAL_ADDRESS"]))
        config += chainfiles.config_env_overrides(env)
        self.edit("config.toml", config)
        app = [("minimum-gas-prices", "0icoin"), ("grpc.address", "0.0.0.0:9090"),
               ("iavl-disable-fastnode", "true")]
        if env.get("REST_API_ACTIVE", "true") == "true":
            app += [("api.enable", "true"), ("api.address", "tcp://0.0.0.0:1317")]
        for var, key in (("SNAPSHOT_INTERVAL", "state-sync.snapshot-interval"),
                         ("SNAPSHOT_KEEP_RECENT", "state-sync.snapshot-keep-recent"),
                         ("QUERY_GAS_LIMIT", "query-gas-limit")):
            if env.get(var):
                app.append((key, env[var]))
        self.edit("app.toml", app)
        self.edit("client.toml", [("chain-id", chainmod.CHAIN_ID),
                                  ("keyring-backend", env.get("KEYRING_BACKEND", "file"))])
        cv = self.cosmovisor
        if not os.path.isdir(cv.root):  # init-docker.sh: only when the directory is missing
            print("Initialising cosmovisor directory", flush=True)
            for line in cv.init():
                print(f"INF {line} module=cosmovisor", flush=True)
        if cv.restore():
            print("Current cosmovisor binary missing or not executable; restoring from image",
                  flush=True)

    @property
    def cosmovisor(self) -> upgradebins.Cosmovisor:
        tag = common.image_tag("0.2.13")
        return upgradebins.Cosmovisor(self.home, "inferenced",
                                      f"v{tag}" if tag[:1].isdigit() else tag)

    def seed_base(self) -> str:
        """The seed's base URL (SEED_NODE_RPC_URL without /chain-rpc/), or '' when unknown."""
        rpc = self.env.get("SEED_NODE_RPC_URL", "").rstrip("/")
        return rpc[:-len("/chain-rpc")] if rpc.endswith("/chain-rpc") else ""

    def chain_upgrades(self) -> dict:
        """What the node's state carries about upgrades: {applied, plan} (from the seed)."""
        base = self.seed_base()
        if not base:
            return {"applied": [], "plan": None}
        code, doc = common.http("GET", base + "/gonkasim/upgrades", timeout=3)
        return doc if code == 200 and isinstance(doc, dict) else {"applied": [], "plan": None}

    # ---------- state ----------
    def validator_pub(self) -> bytes:
        """The remote signer's key (TMKMS_PORT), else tmkms's key file when this process can
        see it, else the local priv_validator_key.json that init wrote."""
        if self.signer is not None and self.signer.pub is not None:
            return self.signer.pub
        pub = tmkms.consensus_pubkey(self.tmkms_home)
        if pub is None:
            doc = common.read_json(os.path.join(self.config_dir, "priv_validator_key.json"))
            pub = keys.b64decode(doc["pub_key"]["value"])
        return pub

    def config_text(self) -> str:
        with open(os.path.join(self.config_dir, "config.toml")) as f:
            return f.read()

    def make_chain(self) -> chainmod.Chain:
        node_pub = keys.pub_from_node_key(common.read_json(
            os.path.join(self.config_dir, "node_key.json")))
        val_pub = self.validator_pub()
        meta_path = self.path("data", "gonkasim-chain.json")
        meta = common.read_json(meta_path) or {}
        if "epoch_time" not in meta:
            meta = {"epoch_time": time.time(),
                    "start_height": int(self.cfg.get("start_height", 1000))}
            common.write_json(meta_path, meta)
        text = self.config_text()
        ch = chainmod.Chain(
            meta["start_height"], float(self.cfg["block_seconds"]),
            float(self.cfg["sync_seconds"]), meta["epoch_time"], node_pub, val_pub,
            chainfiles.toml_get(text, "moniker") or "my-node",
            version=self.cosmovisor.version())
        ch.peers = (chainmod.parse_peers(chainfiles.toml_get(text, "p2p.persistent_peers") or "")
                    + chainmod.parse_peers(chainfiles.toml_get(text, "p2p.seeds") or ""))
        return ch


def vote(node: Node, chain: chainmod.Chain, stop: threading.Event) -> None:
    """While the node runs with its signer (tmkms connected, or no remote signer), tell the
    seed every second which heights this validator signed: the network's /commit shows them,
    and stops showing them once the node (or its tmkms) is stopped."""
    base = node.seed_base()
    if not base:
        return
    address = keys.validator_address(chain.validator_pub)
    low = chain.height()
    while not stop.wait(1.0):
        if node.signer is not None and not node.signer.live():
            continue
        high = chain.height()
        code, _ = common.http("POST", base + "/gonkasim/vote", {
            "validator_address": address, "from": low, "to": high}, timeout=3)
        if code == 200:
            low = high


class Upgrades:
    """Partial upgrades (MsgCreatePartialUpgrade) kept under the home."""

    def __init__(self, path: str):
        self.path = path

    def all(self) -> list[dict]:
        return common.read_json(self.path, [])

    def add(self, height: int, node_version: str) -> None:
        plans = [p for p in self.all() if p["height"] != height]
        common.write_json(self.path, sorted(plans + [{"height": height,
                                                      "node_version": node_version}],
                                            key=lambda p: p["height"]))

    def current_version(self, height: int) -> str:
        version = BASE_MLNODE_VERSION
        for plan in self.all():
            if plan["height"] <= height:
                version = plan["node_version"]
        return version

    def pending(self, height: int) -> list[dict]:
        return [p for p in self.all() if p["height"] > height]


class ChainUpgrades:
    """Software upgrades as the node meets them: the handler check at start, the pending plan
    at its height (cosmovisor's switch, or the halt)."""

    def __init__(self, node: Node, chain: chainmod.Chain):
        self.node, self.chain = node, chain
        self.cv = node.cosmovisor
        self.plan: dict | None = None
        self.lock = threading.Lock()

    def startup_fault(self) -> str | None:
        """Why the node cannot run at its height with the binary `current` holds, else None."""
        h, running = self.chain.height(), self.cv.version()
        pending = common.read_json(self.node.path("data", "upgrade-info.json"))
        if pending and pending.get("name") and pending["name"] != self.cv.applied_name() \
                and int(pending.get("height") or 0) <= h:
            # cosmovisor after a restart: the chain asked for this upgrade and it is not applied
            if self.cv.has(pending["name"]):
                self.apply(pending, backup=False)
                return None
            return self.missing_binary(pending)
        applied = [u for u in self.node.chain_upgrades().get("applied", []) if u["height"] <= h]
        if applied and not upgradebins.has_handler(running, applied[-1]["name"]):
            # x/upgrade PreBlocker (FACTS-chain §3a), as the node logs it before it dies
            return (f"panic: wrong app version 0, upgrade handler is missing for "
                    f"{applied[-1]['name']} upgrade plan")
        return None

    def missing_binary(self, plan: dict) -> str:
        binary = self.cv.upgrade_bin(plan["name"])
        return (f"ERR UPGRADE \"{plan['name']}\" NEEDED at height: {plan['height']}: "
                f"{plan.get('info', '')} module=x/upgrade\n"
                f"ERR binary not present, downloading disabled: cannot stat dir {binary}: "
                f"stat {binary}: no such file or directory module=cosmovisor")

    def apply(self, plan: dict, backup: bool = True) -> None:
        for line in self.cv.switch(plan, backup=backup):
            print(f"INF {line} module=cosmovisor", flush=True)
        self.chain.version = self.cv.version()
        print(f"INF applying upgrade \"{plan['name']}\" at height: {plan['height']} "
              f"module=x/upgrade", flush=True)

    def current_plan(self) -> dict | None:
        with self.lock:
            plan = self.plan
        return plan if plan and int(plan["height"]) > self.chain.height() else None

    def watch(self, stop: threading.Event) -> None:
        """Follow the chain's plan; at its height switch binaries or halt (exit)."""
        asked = 0.0
        while not stop.wait(0.2):
            if time.monotonic() - asked >= 1.0:  # the chain's plan, once a second
                asked = time.monotonic()
                try:
                    plan = self.node.chain_upgrades().get("plan") or self.plan
                except Exception:  # the seed may be restarting: keep the plan we know
                    plan = self.plan
                with self.lock:
                    self.plan = plan
            plan = self.plan
            if not plan or self.chain.height() < int(plan["height"]):
                continue
            if plan["name"] == self.cv.applied_name():
                continue
            info = {"name": plan["name"], "time": plan.get("time", "0001-01-01T00:00:00Z"),
                    "height": int(plan["height"]), "info": plan.get("info", "")}
            common.write_json(self.node.path("data", "upgrade-info.json"), info)
            if self.cv.has(plan["name"]):
                print(f"ERR UPGRADE \"{plan['name']}\" NEEDED at height: {plan['height']}: "
                      f"{plan.get('info', '')} module=x/upgrade", flush=True)
                self.apply(info)
            else:
                print(self.missing_binary(info), flush=True)
                os._exit(1)  # halted: the restart meets the same height and the same answer


class RPCHandler(common.Handler):
    role = ROLE
    chain: chainmod.Chain
    node: Node
    upgrades: Upgrades

    def route(self, method, path, query):
        if method == "POST" and path == "/gonkasim/partial-upgrade":
            body = self.json_body() or {}
            try:
                height, version = int(body["height"]), str(body["node_version"])
            except (KeyError, TypeError, ValueError):
                return self.reply(400, {"error": "need {height, node_version}"})
            self.upgrades.add(height, version)
            return self.reply(200, {"height": height, "node_version": version})
        if method == "POST" and path == "/":
            req = self.json_body() or {}
            path, query = "/" + str(req.get("method", "")), dict(req.get("params") or {})
        self.chain.validator_pub = self.node.validator_pub()
        handlers = {
            "/status": lambda: self.chain.status(),
            "/net_info": lambda: self.chain.net_info(),
            "/health": lambda: chainmod.rpc_result({}),
            "/genesis": lambda: chainmod.rpc_result({"genesis": common.read_json(
                os.path.join(self.node.config_dir, "genesis.json"))}),
            "/block": lambda: self.chain.block(int(query["height"]) if "height" in query
                                               else None),
            "/abci_info": lambda: chainmod.rpc_result({"response": {
                "data": "inference", "version": self.chain.version,
                "last_block_height": str(self.chain.height())}}),
        }
        if path in handlers:
            return self.reply(200, handlers[path]())
        self.reply(404, {"jsonrpc": "2.0", "id": -1,
                         "error": {"code": -32601, "message": "Method not found"}})


class RESTHandler(common.Handler):
    role = ROLE
    chain: chainmod.Chain
    upgrades: Upgrades
    software: ChainUpgrades

    def route(self, method, path, query):
        h = self.chain.height()
        if path == "/cosmos/upgrade/v1beta1/current_plan":
            return self.reply(200, {"plan": self.software.current_plan()})
        if path == "/cosmos/base/tendermint/v1beta1/node_info":
            return self.reply(200, {
                "default_node_info": self.chain.node_info(),
                "application_version": {"name": "inference", "app_name": "inferenced",
                                        "version": self.chain.version, "git_commit": "",
                                        "build_tags": "", "go_version": "go1.22.12",
                                        "build_deps": [], "cosmos_sdk_version": "v0.50.13"}})
        if path == "/cosmos/base/tendermint/v1beta1/syncing":
            return self.reply(200, {"syncing": self.chain.catching_up()})
        if path == "/cosmos/base/tendermint/v1beta1/blocks/latest":
            return self.reply(200, {"block_id": {"hash": self.chain.block_hash(h)},
                                    "block": {"header": {"chain_id": chainmod.CHAIN_ID,
                                                         "height": str(h)}}})
        if path == "/productscience/inference/inference/mlnode_version":
            return self.reply(200, {"mlnode_version": {
                "current_version": self.upgrades.current_version(h)}})
        if path == "/productscience/inference/inference/partial_upgrade":
            plans = [{"height": str(p["height"]), "node_version": p["node_version"],
                      "api_binaries_json": ""} for p in self.upgrades.pending(h)]
            return self.reply(200, {"partial_upgrade": plans,
                                    "pagination": {"next_key": None, "total": str(len(plans))}})
        self.reply(501, {"code": 12, "message": "Not Implemented", "details": []})


class MetricsHandler(common.Handler):
    role = ROLE
    chain: chainmod.Chain

    def route(self, method, path, query):
        if path == "/metrics":
            return self.reply(200, self.chain.metrics(), "text/plain; version=0.0.4")
        self.reply(404, "404 page not found\n")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="gonkasim node", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_listen_args(ap)
    ap.add_argument("--home", default="/root/.inference")
    ap.add_argument("--tmkms-home", default="/root/.tmkms")
    args = ap.parse_args(argv)
    addrs = common.listen_addrs(
        args, {"rpc": 26657, "p2p": 26656, "rest": 1317, "metrics": 26660}, "rpc")
    cfg = settings.load()
    node = Node(args.home, args.tmkms_home, dict(os.environ), cfg)
    time.sleep(float(cfg.get("init_seconds") or 0))  # simulated init time, before any listener
    if not os.path.exists(os.path.join(node.config_dir, "config.toml")):
        node.init_home()
    if not os.path.exists(node.path(".node_initialized")) and not node.first_join():
        return 1
    node.every_start()
    if os.environ.get("TMKMS_PORT"):
        node.signer = Signer(int(os.environ["TMKMS_PORT"]))
        wait = float(cfg.get("signer_wait_seconds") or 120)
        common.log(ROLE, event="waiting-for-signer", port=os.environ["TMKMS_PORT"], bound=wait)
        if not node.signer.ready.wait(wait):
            common.log(ROLE, event="no-signer", waited=wait)
    ch = node.make_chain()
    software = ChainUpgrades(node, ch)
    fault = software.startup_fault()
    if fault:
        print(fault, flush=True)
        return 2  # a Go panic's exit status; `restart: always` makes it a crash loop
    upgrades = Upgrades(node.path("data", "gonkasim-upgrades.json"))
    for cls in (RPCHandler, RESTHandler, MetricsHandler):
        cls.chain, cls.node, cls.upgrades, cls.software = ch, node, upgrades, software
    common.serve(ROLE, "rpc", addrs["rpc"], RPCHandler)
    common.serve(ROLE, "rest", addrs["rest"], RESTHandler)
    common.serve(ROLE, "metrics", addrs["metrics"], MetricsHandler)
    common.serve_tcp_sink(ROLE, "p2p", addrs["p2p"])
    common.log(ROLE, event="started", node_id=keys.node_id(ch.node_pub),
               height=ch.height(), peers=len(ch.peers), version=ch.version)
    stop = threading.Event()
    threading.Thread(target=software.watch, args=(stop,), daemon=True).start()
    threading.Thread(target=vote, args=(node, ch, stop), daemon=True).start()
    return common.run_forever(stop)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
