"""api role: the decentralized-api (public 9000, ML callbacks 9100, admin 9200).

    python3 -m gonkasim api [--inference-home /root/.inference] [--dapi-home /root/.dapi]
                            [--node-config /root/node_config.json]

Refuses to start (exit 1) when the warm key KEY_NAME is missing from <inference-home>/keyring-file.
On the first start (no state under --dapi-home) it loads the node config JSON; afterwards nodes
change only through the admin API and persist in <dapi-home>/api-config.yaml and
<dapi-home>/gonkasim-state.json. The ML node worker key (ml_node_key_config: worker_public,
worker_private, base64 ed25519) is made once, like CreateWorkerKey, and kept in api-config.yaml and
in <dapi-home>/gonka.db (SQLite in WAL mode, table kv_config, key ml_node_key_config: the shape of
gonka-ai/gonka@7c86e8e6 decentralized-api/apiconfig/sqlite_store.go); an existing one (a
restored .dapi) is used as it is. Participant and governance data come from the seed sim
(DAPI_CHAIN_NODE__SEED_API_URL / SEED_API_URL / settings seed_api_url), like the real api reads
the chain. current_node_version follows the node's REST mlnode_version (polled every second;
REST URL = DAPI_CHAIN_NODE__URL's host at port 1317, or GONKASIM_NODE_REST_URL). Each enabled
node's MLNode is polled at <poc_url>/<version>/api/v1/state; a STOPPED one is brought up with the
first model (governance model_args merged with the local args) and the node then reports
current_status INFERENCE (FAILED, with the MLNode's answer as failure_reason, when that fails).

Epochs: GET /v1/epochs/latest is served here, as the real api serves it (get_epoch.go: only
`latest`; block_height, latest_epoch, phase, epoch_stages, next_epoch_stages, epoch_params,
is_confirmation_poc_active). The schedule is the sim's: a PoC every `epoch.length` blocks from
`epoch.first_poc` (settings), `poc_generate_blocks` then `poc_validate_blocks` long; far away by
default. Tests drive it through the sim-only admin hook POST /admin/v1/gonkasim/epoch
{"poc_in": N (the next PoC starts N blocks from now; <= 0: it started -N blocks ago),
"length", "poc_generate_blocks", "poc_validate_blocks", "confirmation_poc_active"}.

Disable/enable (POST /admin/v1/nodes/<id>/disable|enable, upstream's answers) are logged
(event admin-state). Routing: POST /v1/chat/completions goes to the first enabled node in
INFERENCE; when every known node is disabled it is served by a stand-in "other executor" of the
network inside this sim (event route, executor other). This differs from upstream on purpose:
there `ShouldBeOperational` (broker.go) keeps a node disabled in the current epoch operational
until the epoch ends, so on mainnet in-flight and new requests may still reach a disabled node
while its MLNode is being swapped. Like upstream, a disabled node is still reconciled (its model
brought up) until then.

Cosmovisor as the image's init-docker.sh runs it: `mkdir -p /root/.dapi/data` and `cosmovisor
init` (an existing `current` is kept) on every start; the api's version is that of the `current`
binary. GET /v1/versions reports it and the node's (REST node_info application_version). When
the chain's pending plan (node REST current_plan) is one block away, the api switches to
upgrades/<name> if its binary is there (the real api writes its upgrade-info.json at height - 1).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import threading
import time
from urllib.parse import urlsplit

from gonkasim import address, chain as chainmod, common, keys, models, settings, upgradebins

ROLE = "api"
STATE_FILE = "gonkasim-state.json"


def node_problems(node: dict) -> list[str]:
    """ValidateInferenceNodeBasic, as the real admin API applies it."""
    errs = []
    if not isinstance(node, dict):
        return ["node must be a JSON object"]
    for key in ("id", "host"):
        if not str(node.get(key) or "").strip():
            errs.append(f"{key} is required")
    for key in ("inference_port", "poc_port"):
        v = node.get(key)
        if not isinstance(v, int) or not 0 < v < 65536:
            errs.append(f"{key} must be between 1 and 65535")
    if not isinstance(node.get("max_concurrent"), int) or node["max_concurrent"] <= 0:
        errs.append("max_concurrent must be greater than 0")
    if not isinstance(node.get("models"), dict) or not node["models"]:
        errs.append("at least one model is required")
    return errs


def merge_args(gov: list[str], local: list[str]) -> list[str]:
    """Governance model_args overridden flag by flag by the local args (broker.MergeModelArgs)."""
    def pairs(args):
        out, i = [], 0
        while i < len(args):
            if args[i].startswith("--") and i + 1 < len(args) and not args[i + 1].startswith("--"):
                out.append((args[i], [args[i + 1]]))
                i += 2
            else:
                out.append((args[i], []))
                i += 1
        return out

    local_pairs = pairs(local)
    local_flags = {flag for flag, _ in local_pairs}
    merged = [p for p in pairs(gov) if p[0] not in local_flags] + local_pairs
    return [x for flag, vals in merged for x in [flag, *vals]]


PHASES = ("PoCGenerate", "PoCGenerateWindDown", "PoCValidate", "PoCValidateWindDown",
          "Inference")


class Epochs:
    """The sim's epoch schedule: PoC starts at first_poc + k * length."""

    KEYS = ("length", "first_poc", "poc_generate_blocks", "poc_validate_blocks",
            "confirmation_poc_active")

    def __init__(self, cfg: dict, saved: dict | None):
        base = {"length": 100000, "first_poc": 100000, "poc_generate_blocks": 20,
                "poc_validate_blocks": 20, "confirmation_poc_active": False}
        self.p = {**base, **(cfg.get("epoch") or {}), **(saved or {})}

    def update(self, body: dict, height: int) -> None:
        for key in self.KEYS:
            if key in body:
                self.p[key] = bool(body[key]) if key == "confirmation_poc_active" \
                    else int(body[key])
        if "poc_in" in body:
            self.p["first_poc"] = height + int(body["poc_in"])

    def stages(self, start: int, index: int) -> dict:
        g, v = self.p["poc_generate_blocks"], self.p["poc_validate_blocks"]
        gen_end, val_end = start + g, start + g + v
        return {"epoch_index": index, "poc_start": start,
                "poc_generation_wind_down": gen_end - max(1, g // 5),
                "poc_generation_end": gen_end, "poc_validation_start": gen_end,
                "poc_validation_wind_down": val_end - max(1, v // 5),
                "poc_validation_end": val_end, "set_new_validators": val_end + 1,
                "claim_money": val_end + 2,
                "inference_validation_cutoff": start + self.p["length"] - 10,
                "next_poc_start": start + self.p["length"],
                "poc_exchange_window": {"start": start + 1, "end": gen_end},
                "poc_validation_exchange_window": {"start": gen_end + 1, "end": val_end}}

    def latest(self, height: int) -> dict:
        length, first = max(1, self.p["length"]), self.p["first_poc"]
        if height < first:
            index, start = 0, first - length
        else:
            k = (height - first) // length
            index, start = k + 1, first + k * length
        st = self.stages(start, index)
        phase = "Inference"
        if index > 0:  # no PoC in epoch 0 (GetCurrentPhase)
            for bound, name in ((st["poc_generation_wind_down"], "PoCGenerate"),
                                (st["poc_generation_end"], "PoCGenerateWindDown"),
                                (st["poc_validation_wind_down"], "PoCValidate"),
                                (st["poc_validation_end"], "PoCValidateWindDown")):
                if start <= height < bound:
                    phase = name
                    break
        return {"block_height": height,
                "latest_epoch": {"index": index, "poc_start_block_height": max(start, 0)},
                "phase": phase, "epoch_stages": st,
                "next_epoch_stages": self.stages(start + length, index + 1),
                "epoch_params": {"epoch_length": length,
                                 "poc_stage_duration": self.p["poc_generate_blocks"],
                                 "poc_validation_duration": self.p["poc_validate_blocks"]},
                "is_confirmation_poc_active": self.p["confirmation_poc_active"]}


class Api:
    def __init__(self, args, env: dict, cfg: dict):
        self.env, self.cfg = env, cfg
        self.dapi_home = args.dapi_home
        self.lock = threading.Lock()
        self.chain_url = env.get("DAPI_CHAIN_NODE__URL", "http://node:26657").rstrip("/")
        host = urlsplit(self.chain_url).hostname or "node"
        self.rest_url = env.get("GONKASIM_NODE_REST_URL", f"http://{host}:1317").rstrip("/")
        self.seed_url = (env.get("DAPI_CHAIN_NODE__SEED_API_URL") or env.get("SEED_API_URL")
                         or cfg.get("seed_api_url") or "").rstrip("/")
        self.state_path = os.path.join(self.dapi_home, STATE_FILE)
        state = common.read_json(self.state_path)
        if state is None:  # first start: node_config.json is read only now
            state = {"nodes": {}, "current_node_version": "", "next_num": 1}
            for node in common.read_json(args.node_config, []) or []:
                self._put(state, node)
            common.log(ROLE, event="loaded-node-config", path=args.node_config,
                       nodes=len(state["nodes"]))
        self.state = state
        self.epochs = Epochs(cfg, state.get("epoch"))
        self.worker = self.worker_key()
        self.persist()
        self._gov_cache: list[dict] | None = None
        tag = common.image_tag("0.2.13")
        self.binary = upgradebins.Cosmovisor(self.dapi_home, "decentralized-api",
                                             f"v{tag}" if tag[:1].isdigit() else tag)
        self.plan: dict | None = None

    # ---------- persistence ----------
    def worker_key(self) -> dict:
        """The worker key from gonka.db, else from api-config.yaml, else a new one; stored in
        gonka.db (WAL, left open as the api keeps it)."""
        os.makedirs(self.dapi_home, exist_ok=True)
        self.db = sqlite3.connect(os.path.join(self.dapi_home, "gonka.db"),
                                  check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS kv_config (key TEXT PRIMARY KEY, "
                        "value_json TEXT NOT NULL)")
        row = self.db.execute("SELECT value_json FROM kv_config WHERE key = ?",
                              ("ml_node_key_config",)).fetchone()
        found = json.loads(row[0]) if row else None
        if not found:
            try:
                with open(os.path.join(self.dapi_home, "api-config.yaml")) as f:
                    text = f.read()
            except OSError:
                text = ""
            pairs = dict(line.strip().split(": ", 1) for line in text.splitlines()
                         if line.strip().startswith(("worker_public: ", "worker_private: ")))
            if len(pairs) == 2:
                found = pairs
        if not found:
            priv = keys.new_ed25519_priv()
            found = {"worker_public": keys.b64(priv[32:]), "worker_private": keys.b64(priv)}
            common.log(ROLE, event="worker-key-created", worker_public=found["worker_public"])
        self.db.execute("INSERT OR REPLACE INTO kv_config (key, value_json) VALUES (?, ?)",
                        ("ml_node_key_config", json.dumps(found, sort_keys=True)))
        self.db.commit()
        return found

    def persist(self) -> None:
        with self.lock:
            snap = json.loads(json.dumps(self.state))
        common.write_json(self.state_path, snap)
        common.atomic_write(os.path.join(self.dapi_home, "api-config.yaml"),
                            self.config_yaml(snap))

    def config_yaml(self, snap: dict) -> str:
        e = self.env
        lines = [
            "api:",
            "  port: 9000",
            f"  poc_callback_url: {e.get('DAPI_API__POC_CALLBACK_URL', 'http://api:9100')}",
            f"  public_url: {e.get('DAPI_API__PUBLIC_URL', '')}",
            "  ml_server_port: 9100",
            "  admin_server_port: 9200",
            "chain_node:",
            f"  url: {self.chain_url}",
            f"  p2p_url: {e.get('DAPI_CHAIN_NODE__P2P_URL', 'http://node:26656')}",
            f"  seed_api_url: {self.seed_url}",
            f"  account_public_key: {e.get('ACCOUNT_PUBKEY', '')}",
            f"  signer_key_name: {e.get('KEY_NAME', '')}",
            f"  keyring_backend: {e.get('KEYRING_BACKEND', 'file')}",
            "  keyring_dir: /root/.inference",
            "ml_node_key_config:",
            f"  worker_public: {self.worker['worker_public']}",
            f"  worker_private: {self.worker['worker_private']}",
            f"current_node_version: {snap.get('current_node_version') or ''}",
            "nodes:",
        ]
        for entry in snap["nodes"].values():
            lines.append(f"  - {json.dumps(entry['node'])}")
        return "\n".join(lines) + "\n"

    # ---------- nodes ----------
    def _put(self, state: dict, node: dict) -> dict:
        old = state["nodes"].get(node["id"])
        num = old["node"]["node_num"] if old else state["next_num"]
        if not old:
            state["next_num"] += 1
        full = {"host": node["host"], "inference_segment": node.get("inference_segment", ""),
                "inference_port": node["inference_port"],
                "poc_segment": node.get("poc_segment", ""), "poc_port": node["poc_port"],
                "models": node["models"], "id": node["id"],
                "max_concurrent": node["max_concurrent"], "node_num": num,
                "hardware": node.get("hardware") or []}
        st = (old or {}).get("state") or {
            "intended_status": "INFERENCE", "current_status": "UNKNOWN",
            "poc_intended_status": "IDLE", "poc_current_status": "IDLE", "lock_count": 0,
            "failure_reason": "", "status_timestamp": chainmod.iso(time.time()),
            "admin_state": {"enabled": True, "epoch": 0}, "ml_node_version": "",
            "epoch_models": {}, "epoch_ml_nodes": {}, "preserved_models": None}
        state["nodes"][node["id"]] = {"node": full, "state": st}
        return full

    def governance(self, refresh: bool = False) -> list[dict]:
        if self._gov_cache is None or refresh:
            code, doc = (common.http("GET", self.seed_url + "/v1/governance/models", timeout=3)
                         if self.seed_url else (0, None))
            if code == 200 and isinstance(doc, dict):
                self._gov_cache = doc.get("models", [])
            elif self._gov_cache is None:
                common.log(ROLE, event="warning", error="seed unreachable; built-in models")
                return models.default_models()
        return self._gov_cache

    def upsert(self, node: dict) -> tuple[int, dict]:
        errs = node_problems(node)
        if errs:
            return 400, {"error": "; ".join(errs)}
        gov = {m["id"] for m in self.governance()}
        unknown = [m for m in node["models"] if m not in gov]
        if unknown:
            gov = {m["id"] for m in self.governance(refresh=True)}
            unknown = [m for m in node["models"] if m not in gov]
        if unknown:
            return 400, {"error": f"model {unknown[0]} is not a valid governance model"}
        with self.lock:
            full = self._put(self.state, node)
        self.persist()
        return 200, full

    def version(self) -> str:
        return self.state.get("current_node_version") or ""

    def height(self) -> int:
        code, doc = common.http("GET", self.chain_url + "/status", timeout=2)
        sync = doc.get("result", {}).get("sync_info", {}) if isinstance(doc, dict) else {}
        return int(sync.get("latest_block_height", 0)) if code == 200 else 0

    def epoch(self, body: dict | None = None) -> dict:
        height = self.height()
        if body:
            with self.lock:
                self.epochs.update(body, height)
                self.state["epoch"] = dict(self.epochs.p)
            self.persist()
            common.log(ROLE, event="epoch-set", **{k: v for k, v in body.items()
                                                   if isinstance(v, int | bool)})
        return self.epochs.latest(height)

    def poc_url(self, node: dict, version: str | None = None) -> str:
        v = self.version() if version is None else version
        seg = f"/{v}" if v else ""
        return f"http://{node['host']}:{node['poc_port']}{seg}{node.get('poc_segment', '')}"

    def inference_url(self, node: dict) -> str:
        v = self.version()
        seg = f"/{v}" if v else ""
        return (f"http://{node['host']}:{node['inference_port']}{seg}"
                f"{node.get('inference_segment', '')}")

    def check_version(self, node: dict, version: str) -> dict:
        code, doc = common.http("GET", self.poc_url(node, version) + "/api/v1/state", timeout=3)
        if code == 200:
            return {"is_alive": True, "error": ""}
        return {"is_alive": False, "error": doc if code == 0 else f"HTTP {code}: {doc}"}

    # ---------- binaries (cosmovisor) ----------
    def node_version(self) -> str:
        code, doc = common.http("GET", self.rest_url + "/cosmos/base/tendermint/v1beta1/node_info",
                                timeout=2)
        return ((doc.get("application_version") or {}).get("version", "")
                if code == 200 and isinstance(doc, dict) else "")

    def versions(self) -> dict:
        """GET /v1/versions (decentralized-api internal/server/public/app_info_handlers.go)."""
        with self.lock:
            entries = list(self.state["nodes"].values())
        return {"timestamp": chainmod.iso(time.time()),
                "api_version": {"application_name": "decentralized-api",
                                "version": self.binary.version(), "commit": ""},
                "node_version": {"application_name": "inferenced",
                                 "version": self.node_version(), "commit": ""},
                "mlnodes": [{"node_id": e["node"]["id"],
                             "version": e["state"].get("ml_node_version", ""),
                             "poc_validation_inference": False} for e in entries]}

    def follow_plan(self) -> None:
        code, doc = common.http("GET", self.rest_url + "/cosmos/upgrade/v1beta1/current_plan",
                                timeout=2)
        if code == 200 and isinstance(doc, dict) and doc.get("plan"):
            self.plan = doc["plan"]
        plan = self.plan
        if not plan or plan["name"] == self.binary.applied_name():
            return
        code, st = common.http("GET", self.chain_url + "/status", timeout=2)
        try:
            height = int(st["result"]["sync_info"]["latest_block_height"])
        except (TypeError, KeyError, ValueError):
            return
        if height < int(plan["height"]) - 1:
            return
        if not self.binary.has(plan["name"]):
            common.log(ROLE, event="upgrade-binary-missing", name=plan["name"],
                       path=self.binary.upgrade_bin(plan["name"]))
            self.plan = None
            return
        for line in self.binary.switch({**plan, "height": int(plan["height"]) - 1}):
            common.log(ROLE, event="cosmovisor", line=line)
        common.log(ROLE, event="upgraded", name=plan["name"], version=self.binary.version())

    # ---------- background sync ----------
    def sync_once(self) -> None:
        self.follow_plan()
        code, doc = common.http("GET", self.rest_url +
                                "/productscience/inference/inference/mlnode_version", timeout=2)
        if code == 200 and isinstance(doc, dict):
            v = doc.get("mlnode_version", {}).get("current_version", "")
            if v and v != self.version():
                common.log(ROLE, event="node-version", old=self.version(), new=v)
                with self.lock:
                    self.state["current_node_version"] = v
                self.persist()
        with self.lock:
            entries = [json.loads(json.dumps(e)) for e in self.state["nodes"].values()]
        gov = {m["id"]: m for m in self.governance()}
        changed = False
        for entry in entries:
            # A disabled node is reconciled too: upstream keeps it operational until the
            # epoch ends (ShouldBeOperational), so its model is brought up as any other's.
            node, st = entry["node"], entry["state"]
            code, doc = common.http("GET", self.poc_url(node) + "/api/v1/state", timeout=2)
            reason = ""
            if code == 200 and isinstance(doc, dict):
                if doc.get("state") == "STOPPED" and node["models"]:
                    mid, local = next(iter(node["models"].items()))
                    body = {"model": mid, "dtype": "auto", "additional_args": merge_args(
                        gov.get(mid, {}).get("model_args", []), (local or {}).get("args", []))}
                    up, answer = common.http("POST", self.poc_url(node) + "/api/v1/inference/up",
                                             body, timeout=60)
                    common.log(ROLE, event="model-up", node=node["id"], model=mid, status=up)
                    if up != 200:
                        reason = f"inference up: HTTP {up}: {answer}"[:200]
                    code, doc = common.http("GET", self.poc_url(node) + "/api/v1/state",
                                            timeout=2)
                status = doc.get("state", "UNKNOWN") if isinstance(doc, dict) else "FAILED"
                if reason or (status == "INFERENCE" and not doc.get("inference_healthy", True)):
                    status = "FAILED"
                    reason = reason or "inference backend unhealthy"
            else:
                status, reason = "FAILED", str(doc)[:200]
            if status != st["current_status"] or reason != st["failure_reason"]:
                changed = True
                common.log(ROLE, event="node-status", node=node["id"], status=status,
                           reason=reason)
                with self.lock:
                    live = self.state["nodes"].get(node["id"])
                    if live:
                        live["state"].update(
                            current_status=status, failure_reason=reason,
                            status_timestamp=chainmod.iso(time.time()),
                            ml_node_version=self.version())
        if changed:
            self.persist()

    def sync_loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.sync_once()
            except Exception as exc:  # keep polling; a sim must not die on one bad answer
                common.log(ROLE, event="sync-error", error=repr(exc))
            stop.wait(1.0)


class PublicHandler(common.Handler):
    role = ROLE
    api: Api

    def route(self, method, path, query):
        api = self.api
        if path.startswith("/api/v1/"):
            path = path[4:]
        parts = [p for p in path.split("/") if p]
        if path == "/v1/status":
            code, doc = common.http("GET", api.chain_url + "/status", timeout=2)
            sync = doc.get("result", {}).get("sync_info", {}) if isinstance(doc, dict) else {}
            return self.reply(200, {"status": "ok", "chain_reachable": code == 200,
                                    "block_height": int(sync.get("latest_block_height", 0)),
                                    "catching_up": sync.get("catching_up"),
                                    "current_node_version": api.version(),
                                    "nodes": len(api.state["nodes"])})
        if path == "/v1/versions":
            return self.reply(200, api.versions())
        if path == "/v1/identity":
            pub = api.env.get("ACCOUNT_PUBKEY", "")
            try:
                addr = address.address_from_b64(pub) if pub else ""
            except ValueError:
                addr = ""
            return self.reply(200, {"address": addr, "pubkey": pub,
                                    "key_name": api.env.get("KEY_NAME", ""),
                                    "public_url": api.env.get("DAPI_API__PUBLIC_URL", "")})
        if method == "POST" and path == "/v1/chat/completions":
            return self.chat()
        if parts[:2] == ["v1", "epochs"] and len(parts) == 3 and method == "GET":
            if parts[2] != "latest":  # get_epoch.go
                return self.reply(400, {"message": "Only getting info for current epoch is "
                                                   "supported at the moment"})
            return self.reply(200, api.epoch())
        if method == "GET" and parts[:2] in (["v1", "participants"], ["v2", "participants"],
                                             ["v1", "governance"], ["v1", "epochs"],
                                             ["v2", "accounts"]):
            if not api.seed_url:
                return self.reply(503, {"error": "no seed api configured"})
            code, doc = common.http("GET", api.seed_url + path, timeout=5)
            return self.reply(code or 502, doc)
        self.reply(404, {"error": "not found"})

    def chat(self):
        api = self.api
        with api.lock:  # decided (and logged) atomically with enable/disable
            entries = list(api.state["nodes"].values())
            enabled = [e for e in entries if e["state"]["admin_state"]["enabled"]]
            nodes = [e["node"] for e in enabled if e["state"]["current_status"] == "INFERENCE"]
            executor = "other" if entries and not enabled else \
                (nodes[0]["id"] if nodes else None)
            if executor:
                common.log(ROLE, event="route", executor=executor)
        if executor == "other":
            return self.other_executor()
        if not nodes:
            return self.reply(503, {"error": "no ML node is in INFERENCE"})
        code, doc = common.http("POST", api.inference_url(nodes[0]) + "/v1/chat/completions",
                                self.body() or b"{}", timeout=30)
        self.reply(code or 502, doc, headers={"X-Gonkasim-Executor": nodes[0]["id"]})

    def other_executor(self):
        """Every node of this host is disabled: the work goes to another participant of the
        network (a stand-in here; see the module's note on upstream's ShouldBeOperational)."""
        body = self.json_body() or {}
        content = "gonkasim: served by another executor of the network"
        self.reply(200, {
            "id": f"chatcmpl-other-{int(time.time() * 1000)}", "object": "chat.completion",
            "created": int(time.time()), "model": body.get("model") or "",
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": len(content.split()),
                      "total_tokens": 1 + len(content.split())}},
            headers={"X-Gonkasim-Executor": "other"})


class MLHandler(common.Handler):
    role = ROLE
    api: Api

    def route(self, method, path, query):
        if path.rstrip("/") in ("/v1/poc-batches/generated", "/v2/poc-batches/generated",
                                "/v1/poc-batches/validated") and method == "POST":
            return self.reply(200, {})
        if path == "/versions":
            return self.reply(200, {"api_version": common.image_tag(),
                                    "node_version": self.api.version()})
        self.reply(404, {"error": "not found"})


class AdminHandler(common.Handler):
    role = ROLE
    api: Api

    def route(self, method, path, query):
        api = self.api
        if not path.startswith("/admin/v1/"):
            return self.reply(404, {"error": "not found"})
        parts = [p for p in path[len("/admin/v1/"):].split("/") if p]
        if parts == ["nodes"] and method == "GET":
            return self.reply(200, list(api.state["nodes"].values()))
        if parts == ["nodes"] and method == "POST":
            code, doc = api.upsert(self.json_body() or {})
            return self.reply(code, doc)
        if parts == ["nodes", "batch"] and method == "POST":
            return self.batch(self.json_body() or [])
        if parts == ["nodes", "upgrade-status"] and method == "GET":
            _, doc = common.http("GET", api.rest_url +
                                 "/productscience/inference/inference/partial_upgrade", timeout=2)
            plans = doc.get("partial_upgrade", []) if isinstance(doc, dict) else []
            if not plans:
                return self.reply(200, {"message": "no upgrade plan", "nodes": {}})
            v = plans[0]["node_version"]
            return self.reply(200, {"version": v, "height": plans[0]["height"], "nodes": {
                e["node"]["id"]: api.check_version(e["node"], v)
                for e in api.state["nodes"].values()}})
        if parts == ["nodes", "version-status"] and method == "POST":
            v = str((self.json_body() or {}).get("version") or "")
            if not v:
                return self.reply(400, {"error": "version is required"})
            return self.reply(200, {e["node"]["id"]: api.check_version(e["node"], v)
                                    for e in list(api.state["nodes"].values())})
        if len(parts) == 2 and parts[0] == "nodes" and method in ("PUT", "DELETE"):
            return self.one(method, parts[1])
        if len(parts) == 3 and parts[0] == "nodes" and parts[2] in ("enable", "disable") \
                and method == "POST":
            # node_handlers.go: 200 {"message": "node disabled successfully", "node_id"}; an
            # unknown id is echo's 404 {"message": "node not found: <id>"}
            epoch = api.epochs.latest(api.height())["latest_epoch"]["index"]
            with api.lock:  # the change and its log line together: routing decides under it too
                entry = api.state["nodes"].get(parts[1])
                if entry:
                    entry["state"]["admin_state"] = {"enabled": parts[2] == "enable",
                                                     "epoch": epoch}
                    common.log(ROLE, event="admin-state", node=parts[1],
                               enabled=parts[2] == "enable", epoch=epoch)
            if not entry:
                return self.reply(404, {"message": f"node not found: {parts[1]}"})
            api.persist()
            return self.reply(200, {"message": f"node {parts[2]}d successfully",
                                    "node_id": parts[1]})
        if parts == ["gonkasim", "epoch"] and method == "POST":  # the sim's test hook
            body = self.json_body() or {}
            if not isinstance(body, dict):
                return self.reply(400, {"error": "expected a JSON object"})
            return self.reply(200, api.epoch(body))
        if parts == ["config"] and method == "GET":
            return self.reply(200, api.state)
        self.reply(404, {"error": "not found"})

    def one(self, method, node_id):
        api = self.api
        if method == "PUT":
            body = self.json_body() or {}
            if isinstance(body, dict):
                body["id"] = node_id
            code, doc = api.upsert(body)
            return self.reply(code, doc)
        with api.lock:
            entry = api.state["nodes"].pop(node_id, None)
        if entry is None:
            return self.reply(404, {"error": f"node {node_id} not found"})
        api.persist()
        self.reply(200, entry["node"])

    def batch(self, nodes):
        if not isinstance(nodes, list) or not nodes:
            return self.reply(400, {"error": "expected a non-empty array of nodes"})
        done, errors = [], []
        for node in nodes:
            code, doc = self.api.upsert(node)
            if code == 200:
                done.append(doc)
            else:
                errors.append({"node_id": node.get("id") if isinstance(node, dict) else None,
                               "error": doc["error"]})
        if not done:
            return self.reply(400, {"nodes": [], "errors": errors})
        self.reply(201 if not errors else 206, {"nodes": done, "errors": errors})


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="gonkasim api", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_listen_args(ap)
    ap.add_argument("--inference-home", default="/root/.inference")
    ap.add_argument("--dapi-home", default="/root/.dapi")
    ap.add_argument("--node-config",
                    default=os.environ.get("NODE_CONFIG_PATH", "/root/node_config.json"))
    args = ap.parse_args(argv)
    addrs = common.listen_addrs(args, {"public": 9000, "ml": 9100, "admin": 9200}, "public")
    key = os.environ.get("KEY_NAME", "")
    keyfile = os.path.join(args.inference_home, "keyring-file", f"{key}.info")
    if not key or not os.path.exists(keyfile):
        common.log(ROLE, event="fatal", error=f"warm key {key!r} not found in "
                   f"{os.path.dirname(keyfile)}: create it with `inferenced keys add {key} "
                   "--keyring-backend file` first")
        print(f"Error: key {key!r} not found in keyring {os.path.dirname(keyfile)}",
              file=sys.stderr)
        return 1
    # init-docker.sh: `mkdir -p /root/.dapi/data`, `cosmovisor init /usr/bin/decentralized-api`
    os.makedirs(os.path.join(args.dapi_home, "data"), exist_ok=True)
    api = Api(args, dict(os.environ), settings.load())
    for line in api.binary.init():
        common.log(ROLE, event="cosmovisor", line=line)
    for cls in (PublicHandler, MLHandler, AdminHandler):
        cls.api = api
    common.serve(ROLE, "public", addrs["public"], PublicHandler)
    common.serve(ROLE, "ml", addrs["ml"], MLHandler)
    common.serve(ROLE, "admin", addrs["admin"], AdminHandler)
    stop = threading.Event()
    threading.Thread(target=api.sync_loop, args=(stop,), daemon=True).start()
    return common.run_forever(stop)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
