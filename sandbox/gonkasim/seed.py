"""seed role: the machine-side stand-in for the Gonka network (a seed node's api + chain RPC).

    python3 -m gonkasim seed --listen IP:18000 --state DIR [--models FILE] [--hf-size BYTES]
                             [--upgrades FILE]

Routes: POST /v1/participants (registration {url, pub_key, validator_key, address?}; 409 when
the account pubkey is already registered), GET /v1/participants[/<addr>], /v2/participants/<addr>,
/v1/governance/models, /v1/epochs/current/participants, /v1/status, /chain-rpc/{status,net_info,
genesis,block}, /health; chain software upgrades: /chain-api/cosmos/upgrade/v1beta1/current_plan
({"plan": null} or the plan, height a string, as the gRPC gateway writes int64) and
.../applied_plan/<name> ({"height": "<h>"}, "0" when never applied). Test-only: GET
/gonkasim/upgrades ({"applied": [{name, height}], "plan"}: what a node's state sync carries) and
POST /gonkasim/plan ({"plan": {name, height, info}} or {"plan": null}). A plan whose height the
chain reaches becomes applied. --upgrades FILE: {"applied": [{"name", "height"}]} at the start.
State lives in DIR/participants.json and DIR/upgrades.json (atomic writes).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

from gonkasim import address, chain as chainmod, chainfiles, common, keys, models, settings

ROLE = "seed"


class SeedState:
    def __init__(self, state_dir: str):
        self.dir = state_dir
        self.lock = threading.Lock()
        self.file = os.path.join(state_dir, "participants.json")
        self.participants: dict[str, dict] = common.read_json(self.file, {})

    def register(self, body: dict) -> tuple[int, dict]:
        try:
            pub_key, url = str(body["pub_key"]), str(body["url"])
        except (KeyError, TypeError):
            return 400, {"error": "url and pub_key are required"}
        try:
            addr = address.address_from_b64(pub_key)
        except ValueError as exc:
            return 400, {"error": str(exc)}
        if body.get("address") and body["address"] != addr:
            return 400, {"error": f"address {body['address']} does not match pub_key ({addr})"}
        with self.lock:
            if addr in self.participants:
                return 409, {"error": f"participant {addr} is already registered"}
            self.participants[addr] = {
                "index": addr, "address": addr, "pub_key": pub_key,
                "validator_key": body.get("validator_key", ""),
                "worker_public_key": body.get("worker_key", ""),
                "inference_url": url, "status": "ACTIVE", "weight": 0,
                "join_time": int(time.time()), "join_height": 0, "epochs_completed": 0,
            }
            common.write_json(self.file, self.participants)
        return 200, {"participant": self.participants[addr]}


class Upgrades:
    """The chain's software upgrade history and pending plan (x/upgrade's store)."""

    def __init__(self, state_dir: str, initial: dict | None):
        self.file = os.path.join(state_dir, "upgrades.json")
        self.lock = threading.Lock()
        self.doc = common.read_json(self.file) or {
            "applied": [{"name": str(u["name"]), "height": int(u["height"])}
                        for u in (initial or {}).get("applied", [])], "plan": None}
        common.write_json(self.file, self.doc)

    def view(self, height: int) -> dict:
        with self.lock:
            plan = self.doc["plan"]
            if plan and int(plan["height"]) <= height:  # executed: the plan becomes history
                self.doc["applied"].append({"name": plan["name"], "height": int(plan["height"])})
                self.doc["plan"] = None
                common.write_json(self.file, self.doc)
            return json.loads(json.dumps(self.doc))

    def set_plan(self, plan: dict | None) -> tuple[int, dict]:
        if plan is not None:
            try:
                plan = {"name": str(plan["name"]), "time": "0001-01-01T00:00:00Z",
                        "height": str(int(plan["height"])), "info": str(plan.get("info", "")),
                        "upgraded_client_state": None}
            except (KeyError, TypeError, ValueError):
                return 400, {"error": "need {plan: {name, height, info}} or {plan: null}"}
        with self.lock:
            self.doc["plan"] = plan
            common.write_json(self.file, self.doc)
        return 200, {"plan": plan}


class SeedHandler(common.Handler):
    role = ROLE
    state: SeedState
    chain: chainmod.Chain
    model_list: list[dict]
    genesis: dict
    upgrades: Upgrades

    def route(self, method, path, query):
        parts = [p for p in path.split("/") if p]
        st = self.state
        if path == "/health":
            return self.reply(200, "ok")
        if parts[:1] == ["chain-rpc"]:
            return self.chain_rpc("/" + "/".join(parts[1:]), query)
        if parts[:4] == ["chain-api", "cosmos", "upgrade", "v1beta1"]:
            return self.upgrade_query(parts[4:])
        if parts == ["gonkasim", "upgrades"] and method == "GET":
            return self.reply(200, self.upgrades.view(self.chain.height()))
        if parts == ["gonkasim", "plan"] and method == "POST":
            code, doc = self.upgrades.set_plan((self.json_body() or {}).get("plan"))
            common.log(ROLE, event="plan", status=code, plan=doc.get("plan"))
            return self.reply(code, doc)
        if method == "POST" and parts == ["v1", "participants"]:
            code, doc = st.register(self.json_body() or {})
            common.log(ROLE, event="register", status=code, address=doc.get(
                "participant", {}).get("address"), error=doc.get("error"))
            return self.reply(code, doc)
        if method != "GET":
            return self.reply(405, {"error": "method not allowed"})
        if parts == ["v1", "participants"]:
            return self.reply(200, {"participants": [
                {"id": p["address"], "url": p["inference_url"], "models": [],
                 "coins_owed": 0, "balance": 0, "votingPower": p["weight"]}
                for p in st.participants.values()], "block_height": self.chain.height()})
        if len(parts) == 3 and parts[1] == "participants" and parts[0] in ("v1", "v2"):
            p = st.participants.get(parts[2])
            if p is None:
                return self.reply(404, {"code": 5, "message": "participant not found"})
            if parts[0] == "v1":
                return self.reply(200, {"pubkey": p["pub_key"], "balances": []})
            return self.reply(200, {"participant": {
                "index": p["address"], "address": p["address"], "weight": p["weight"],
                "join_time": p["join_time"], "join_height": p["join_height"],
                "inferenceUrl": p["inference_url"], "status": p["status"],
                "validatorKey": p["validator_key"], "epochs_completed": 0,
                "current_epoch_stats": {"inference_count": "0", "missed_requests": "0"}}})
        if parts == ["v1", "governance", "models"]:
            return self.reply(200, {"models": self.model_list})
        if parts == ["v1", "epochs", "current", "participants"]:
            return self.reply(200, self.epoch_participants())
        if parts == ["v1", "status"]:
            return self.reply(200, {"status": "ok", "block_height": self.chain.height(),
                                    "chain_id": chainmod.CHAIN_ID})
        self.reply(404, {"error": "not found"})

    def epoch_participants(self) -> dict:
        h = self.chain.height()
        members = [{"index": p["address"], "validator_key": p["validator_key"],
                    "weight": p["weight"], "inference_url": p["inference_url"],
                    "models": [m["id"] for m in self.model_list]}
                   for p in self.state.participants.values()]
        return {"active_participants": {
            "participants": members, "epoch_group_id": 1, "epoch_id": 1,
            "poc_start_block_height": self.chain.start_height,
            "created_at_block_height": self.chain.start_height},
            "addresses": [m["index"] for m in members], "block_height": h}

    def upgrade_query(self, rest: list[str]):
        """x/upgrade's REST queries (cosmos-sdk query.proto routes) through /chain-api/."""
        doc = self.upgrades.view(self.chain.height())
        if rest == ["current_plan"]:
            return self.reply(200, {"plan": doc["plan"]})
        if len(rest) == 2 and rest[0] == "applied_plan":
            height = next((u["height"] for u in doc["applied"] if u["name"] == rest[1]), 0)
            return self.reply(200, {"height": str(height)})
        self.reply(501, {"code": 12, "message": "Not Implemented", "details": []})

    def chain_rpc(self, sub: str, query: dict):
        if sub == "/status":
            return self.reply(200, self.chain.status())
        if sub == "/net_info":
            return self.reply(200, self.chain.net_info())
        if sub == "/genesis":
            return self.reply(200, chainmod.rpc_result({"genesis": self.genesis}))
        if sub == "/block":
            return self.reply(200, self.chain.block(int(query["height"]) if "height" in query
                                                    else None))
        if sub == "/health":
            return self.reply(200, chainmod.rpc_result({}))
        self.reply(404, {"jsonrpc": "2.0", "id": -1,
                         "error": {"code": -32601, "message": "Method not found"}})


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="gonkasim seed", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_listen_args(ap)
    ap.add_argument("--state", required=True, help="state directory")
    ap.add_argument("--models", help="JSON file of extra governance models")
    ap.add_argument("--hf-size", type=int, default=models.hf.DEFAULT_SIZE,
                    help="--size of the hf sim, to pin testorg/tiny-model's commit")
    ap.add_argument("--p2p-port", type=int, default=5000, help="advertised in node_info")
    ap.add_argument("--upgrades", help='JSON file {"applied": [{"name", "height"}]}')
    args = ap.parse_args(argv)
    addrs = common.listen_addrs(args, {"http": 18000}, "http")
    cfg = settings.load()
    meta_path = os.path.join(args.state, "chain.json")
    meta = common.read_json(meta_path)
    if not meta:
        meta = {"epoch_time": time.time(), "start_height": 100000,
                "node_key": keys.node_key_json(keys.new_ed25519_priv()),
                "validator_seed": keys.b64(os.urandom(32)),
                "genesis_time": chainmod.iso(time.time())}
        common.write_json(meta_path, meta)
    ch = chainmod.Chain(meta["start_height"], float(cfg["block_seconds"]), 0.0,
                        meta["epoch_time"], keys.pub_from_node_key(meta["node_key"]),
                        keys.ed25519_pub(keys.b64decode(meta["validator_seed"])), "seed-node",
                        listen_addr=f"tcp://0.0.0.0:{args.p2p_port}")
    SeedHandler.state = SeedState(args.state)
    SeedHandler.chain = ch
    SeedHandler.model_list = models.load(args.models, args.hf_size)
    SeedHandler.genesis = chainfiles.genesis(chainmod.CHAIN_ID, meta["genesis_time"])
    SeedHandler.upgrades = Upgrades(args.state, common.read_json(args.upgrades)
                                    if args.upgrades else None)
    common.serve(ROLE, "http", addrs["http"], SeedHandler)
    return common.run_forever()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
