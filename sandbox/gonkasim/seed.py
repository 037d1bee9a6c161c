"""seed role: the machine-side stand-in for the Gonka network (a seed node's api + chain RPC).

    python3 -m gonkasim seed --listen IP:18000 --state DIR [--models FILE] [--hf-size BYTES]
                             [--upgrades FILE]

Routes: POST /v1/participants (registration {url, pub_key, validator_key, address?}; 409 when
the account pubkey is already registered), GET /v1/participants[/<addr>], /v2/participants/<addr>,
/v1/governance/models, /v1/epochs/current/participants, /v1/status, /chain-rpc/{status,
net_info,genesis,block,commit}, /health; chain software upgrades:
/chain-api/cosmos/upgrade/v1beta1/current_plan
({"plan": null} or the plan, height a string, as the gRPC gateway writes int64) and
.../applied_plan/<name> ({"height": "<h>"}, "0" when never applied). Test-only: GET
/gonkasim/upgrades ({"applied": [{name, height}], "plan"}: what a node's state sync carries) and
POST /gonkasim/plan ({"plan": {name, height, info}} or {"plan": null}). Validators' votes: POST
/gonkasim/vote {validator_address, from, to} (a running node with a signer, every second),
GET /gonkasim/votes ({"height", "last": {address: height}}); /chain-rpc/commit?height= lists
the seed's validator and every validator that voted for that height. A plan whose height the
chain reaches becomes applied. --upgrades FILE: {"applied": [{"name", "height"}]} at the start.
State lives in DIR/participants.json and DIR/upgrades.json (atomic writes).

The chain's participation state (gonkasim.ledger, DIR/ledger.json): transactions through the
chain RPC (POST /chain-rpc/ JSON-RPC `broadcast_tx_sync`, `abci_query`; GET /chain-rpc/tx?hash=),
the chain REST under /chain-api/ (params, current_epoch_group_data, get_current_epoch,
poc_delegation, collateral, feegrant allowance, authz grants, spendable balances, txs by hash).
The sim's own controls: POST /sim/fund {address, ngonka} (a faucet), POST /sim/next-epoch (the
epoch ends: weights with penalties and collateral).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

from gonkasim import (
    address,
    chain as chainmod,
    chainfiles,
    common,
    hf,
    keys,
    ledger,
    models,
    settings,
)

# PoC models of the simulated chain: v0.2.13's two (releases/v0.2.13.py) and the HF sim's model.
DEFAULT_POC_MODELS = ["moonshotai/Kimi-K2.6", "MiniMaxAI/MiniMax-M2.7", hf.REPO]

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


class Votes:
    """Which validators signed which heights: each running node with a signer reports the
    heights it signed (POST /gonkasim/vote), as its precommits would reach the network; the
    chain RPC's /commit shows them. Kept in memory, the last KEEP heights of each."""

    KEEP = 5000

    def __init__(self):
        self.lock = threading.Lock()
        self.heights: dict[str, set[int]] = {}

    def add(self, address: str, low: int, high: int) -> None:
        with self.lock:
            seen = self.heights.setdefault(address.upper(), set())
            seen.update(range(max(low, high - 100), high + 1))
            if len(seen) > self.KEEP:
                for h in sorted(seen)[:len(seen) - self.KEEP]:
                    seen.discard(h)

    def signers(self, height: int) -> list[str]:
        with self.lock:
            return [a for a, seen in self.heights.items() if height in seen]

    def last(self) -> dict[str, int]:
        with self.lock:
            return {a: max(seen) for a, seen in self.heights.items() if seen}


class SeedHandler(common.Handler):
    role = ROLE
    quiet_paths = frozenset({"/gonkasim/vote"})
    votes: Votes
    state: SeedState
    chain: chainmod.Chain
    model_list: list[dict]
    genesis: dict
    upgrades: Upgrades
    ledger: ledger.Ledger

    def route(self, method, path, query):
        parts = [p for p in path.split("/") if p]
        st = self.state
        if path == "/health":
            return self.reply(200, "ok")
        if parts[:1] == ["chain-rpc"]:
            if method == "POST":
                return self.chain_rpc_post(self.json_body() or {})
            return self.chain_rpc("/" + "/".join(parts[1:]), query)
        if parts[:4] == ["chain-api", "cosmos", "upgrade", "v1beta1"]:
            return self.upgrade_query(parts[4:])
        if parts == ["gonkasim", "upgrades"] and method == "GET":
            return self.reply(200, self.upgrades.view(self.chain.height()))
        if parts == ["gonkasim", "vote"] and method == "POST":
            body = self.json_body() or {}
            try:
                self.votes.add(str(body["validator_address"]), int(body["from"]),
                               min(int(body["to"]), self.chain.height()))
            except (KeyError, TypeError, ValueError):
                return self.reply(400, {"error": "need {validator_address, from, to}"})
            return self.reply(200, {"ok": True})
        if parts == ["gonkasim", "votes"] and method == "GET":
            return self.reply(200, {"height": self.chain.height(), "last": self.votes.last()})
        if parts == ["gonkasim", "plan"] and method == "POST":
            code, doc = self.upgrades.set_plan((self.json_body() or {}).get("plan"))
            common.log(ROLE, event="plan", status=code, plan=doc.get("plan"))
            return self.reply(code, doc)
        if parts[:1] == ["chain-api"] and method == "GET":
            return self.chain_api(parts[1:], query)
        if parts[:1] == ["sim"] and method == "POST":
            return self.sim_control(parts[1:], self.json_body() or {})
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
        if sub == "/commit":
            latest = self.chain.height()
            height = int(query["height"]) if str(query.get("height", "")).isdigit() else latest
            if not self.chain.start_height <= height <= latest:
                return self.reply(500, {"jsonrpc": "2.0", "id": -1, "error": {
                    "code": -32603, "message": "Internal error",
                    "data": f"height {height} must be less than or equal to the current "
                            f"blockchain height {latest}"}})
            return self.reply(200, self.chain.commit(height, self.votes.signers(height)))
        if sub == "/health":
            return self.reply(200, chainmod.rpc_result({}))
        if sub == "/tx":
            txhash = str(query.get("hash", "")).removeprefix("0x").upper()
            found = self.ledger.tx_response(txhash)
            if found is None:
                return self.reply(500, {"jsonrpc": "2.0", "id": -1, "error": {
                    "code": -32603, "message": "Internal error",
                    "data": f"tx ({txhash}) not found"}})
            resp = found["tx_response"]
            return self.reply(200, chainmod.rpc_result({
                "hash": txhash, "height": resp["height"], "index": 0,
                "tx_result": {"code": resp["code"], "codespace": resp["codespace"],
                              "log": resp["raw_log"], "gas_wanted": resp["gas_wanted"],
                              "gas_used": resp["gas_used"]}}))
        self.reply(404, {"jsonrpc": "2.0", "id": -1,
                         "error": {"code": -32601, "message": "Method not found"}})


    def chain_rpc_post(self, req: dict):
        """CometBFT JSON-RPC: broadcast_tx_sync (CheckTx result) and abci_query (the gRPC
        queries a CLI makes through the RPC: an allowance, a simulation)."""
        rid, method, params = req.get("id", -1), req.get("method"), req.get("params") or {}
        if method == "broadcast_tx_sync":
            result = self.ledger.broadcast(str(params.get("tx", "")))
            common.log(ROLE, event="tx", code=result["code"], hash=result["hash"])
            return self.reply(200, {"jsonrpc": "2.0", "id": rid, "result": result})
        if method == "abci_query":
            return self.reply(200, {"jsonrpc": "2.0", "id": rid, "result": {
                "response": self.abci_query(str(params.get("path")), str(params.get("data")))}})
        self.reply(200, {"jsonrpc": "2.0", "id": rid,
                         "error": {"code": -32601, "message": "Method not found"}})

    def abci_query(self, path: str, data: str) -> dict:
        """Query data is the sim's JSON of the request (hex), the answer its JSON (base64)."""
        import base64
        import json

        try:
            req = json.loads(bytes.fromhex(data)) if data else {}
        except ValueError:
            req = {}
        if path == "/cosmos.feegrant.v1beta1.Query/Allowance":
            doc = self.ledger.allowance_doc(str(req.get("granter")), str(req.get("grantee")))
            if doc is None:
                return {"code": 38, "codespace": "sdk", "log": "fee-grant not found: not found"}
            return {"code": 0, "value": base64.b64encode(json.dumps(doc).encode()).decode()}
        if path == "/cosmos.tx.v1beta1.Service/Simulate":
            used = ledger.gas_estimate(req.get("messages") or [])
            answer = {"gas_info": {"gas_used": str(used)}}
            return {"code": 0, "value": base64.b64encode(json.dumps(answer).encode()).decode()}
        return {"code": 1, "codespace": "sdk", "log": f"unknown query path {path}"}

    def chain_api(self, parts: list[str], query: dict):
        """The chain's REST (gRPC gateway) as a seed serves it under /chain-api/."""
        lg = self.ledger
        joined = "/".join(parts)
        inference = "productscience/inference/inference/"
        if joined == inference + "params":
            return self.reply(200, lg.params_doc())
        if joined == inference + "current_epoch_group_data":
            return self.reply(200, lg.epoch_group())
        if joined == inference + "get_current_epoch":
            return self.reply(200, {"epoch": str(lg.s["epoch"])})
        if joined.startswith(inference + "poc_delegation/") and len(parts) == 5:
            return self.reply(200, lg.poc_records(parts[4]))
        if joined.startswith("productscience/inference/collateral/collateral/") \
                and len(parts) == 5:
            amount = lg.s["collateral"].get(parts[4])
            if amount is None:
                return self.reply(404, {"code": 5, "message": "collateral not found for "
                                        f"participant {parts[4]}", "details": []})
            return self.reply(200, {"amount": {"denom": ledger.DENOM, "amount": str(amount)}})
        if joined.startswith("cosmos/feegrant/v1beta1/allowance/") and len(parts) == 6:
            doc = lg.allowance_doc(parts[4], parts[5])
            if doc is None:  # gRPC Internal from the feegrant query server
                return self.reply(500, {"code": 13, "message": "fee-grant not found: not found",
                                        "details": []})
            return self.reply(200, doc)
        if joined == "cosmos/authz/v1beta1/grants":
            grants = lg.grants(str(query.get("granter")), str(query.get("grantee")))
            return self.reply(200, {"grants": grants, "pagination": {"next_key": None,
                                                                      "total": str(len(grants))}})
        if joined.startswith("cosmos/bank/v1beta1/spendable_balances/") and len(parts) == 5:
            have = lg.spendable(parts[4])
            return self.reply(200, {"balances": [{"denom": ledger.DENOM, "amount": str(have)}]
                                    if have else [], "pagination": {"next_key": None,
                                                                    "total": "1" if have else "0"}})
        if joined.startswith("cosmos/tx/v1beta1/txs/") and len(parts) == 5:
            found = lg.tx_response(parts[4])
            if found is None:
                return self.reply(404, {"code": 5, "message": f"tx not found: {parts[4]}",
                                        "details": []})
            return self.reply(200, found)
        self.reply(501, {"code": 12, "message": "Not Implemented", "details": []})

    def sim_control(self, parts: list[str], body: dict):
        if parts == ["fund"]:
            have = self.ledger.fund(str(body["address"]), int(body["ngonka"]))
            return self.reply(200, {"address": body["address"], "ngonka": have})
        if parts == ["next-epoch"]:
            result = self.ledger.next_epoch()
            with self.state.lock:
                for addr, p in self.state.participants.items():
                    p["weight"] = result["weights"].get(addr, 0)
                common.write_json(self.state.file, self.state.participants)
            common.log(ROLE, event="epoch", **result)
            return self.reply(200, result)
        self.reply(404, {"error": "not found"})


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
    ap.add_argument("--poc-models", default=",".join(DEFAULT_POC_MODELS),
                    help="PoC models of the chain (poc_params.models), comma-separated")
    ap.add_argument("--min-gas-price", type=int, default=1,
                    help="ngonka per gas of the epoch and cosmos fee groups (v0.2.16: 1; 0: free)")
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
    SeedHandler.votes = Votes()
    SeedHandler.model_list = models.load(args.models, args.hf_size)
    SeedHandler.genesis = chainfiles.genesis(chainmod.CHAIN_ID, meta["genesis_time"])
    SeedHandler.upgrades = Upgrades(args.state, common.read_json(args.upgrades)
                                    if args.upgrades else None)
    seed_state = SeedHandler.state
    SeedHandler.ledger = ledger.Ledger(
        args.state, {"poc_models": [{"model_id": m, "penalty_start_epoch": 0}
                                    for m in args.poc_models.split(",") if m],
                     "min_gas_price": args.min_gas_price},
        lambda: set(seed_state.participants), [m["id"] for m in SeedHandler.model_list],
        chainmod.CHAIN_ID, ch.height)
    common.serve(ROLE, "http", addrs["http"], SeedHandler)
    return common.run_forever()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
