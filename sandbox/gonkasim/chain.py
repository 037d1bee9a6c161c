"""A simulated chain clock and the CometBFT RPC documents built from it (node and seed share it)."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime

from gonkasim import keys

CHAIN_ID = "gonka-mainnet"
COMETBFT_VERSION = "0.38.17"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


class Chain:
    """Height = start_height + elapsed/block_seconds since `epoch_time` (persisted by callers,
    so a restart continues the count); catching_up until sync_seconds after this process began."""

    def __init__(self, start_height: int, block_seconds: float, sync_seconds: float,
                 epoch_time: float, node_pub: bytes, validator_pub: bytes, moniker: str,
                 listen_addr: str = "tcp://0.0.0.0:26656", version: str = ""):
        self.start_height = start_height
        self.block_seconds = max(block_seconds, 0.01)
        self.sync_seconds = sync_seconds
        self.epoch_time = epoch_time
        self.started = time.time()
        self.node_pub = node_pub
        self.validator_pub = validator_pub
        self.moniker = moniker
        self.listen_addr = listen_addr
        self.version = version
        self.peers: list[dict] = []  # [{"id", "host", "port"}]

    def height(self) -> int:
        return self.start_height + int((time.time() - self.epoch_time) / self.block_seconds)

    def catching_up(self) -> bool:
        return time.time() - self.started < self.sync_seconds

    def block_time(self, height: int) -> float:
        return self.epoch_time + (height - self.start_height) * self.block_seconds

    def block_hash(self, height: int) -> str:
        return hashlib.sha256(f"{CHAIN_ID}:{height}".encode()).hexdigest().upper()

    def node_info(self) -> dict:
        return {
            "protocol_version": {"p2p": "8", "block": "11", "app": "0"},
            "id": keys.node_id(self.node_pub),
            "listen_addr": self.listen_addr,
            "network": CHAIN_ID,
            "version": COMETBFT_VERSION,
            "channels": "40202122233038606100",
            "moniker": self.moniker,
            "other": {"tx_index": "on", "rpc_address": "tcp://0.0.0.0:26657"},
        }

    def status(self) -> dict:
        h = self.height()
        return rpc_result({
            "node_info": self.node_info(),
            "sync_info": {
                "latest_block_hash": self.block_hash(h),
                "latest_app_hash": hashlib.sha256(f"app:{h}".encode()).hexdigest().upper(),
                "latest_block_height": str(h),
                "latest_block_time": iso(self.block_time(h)),
                "earliest_block_hash": self.block_hash(self.start_height),
                "earliest_app_hash": "",
                "earliest_block_height": str(self.start_height),
                "earliest_block_time": iso(self.epoch_time),
                "catching_up": self.catching_up(),
            },
            "validator_info": {
                "address": keys.validator_address(self.validator_pub),
                "pub_key": {"type": "tendermint/PubKeyEd25519",
                            "value": keys.b64(self.validator_pub)},
                "voting_power": "0",
            },
        })

    def net_info(self) -> dict:
        peers = [{
            "node_info": {**self.node_info(), "id": p["id"], "moniker": p["id"][:8],
                          "listen_addr": f"tcp://{p['host']}:{p['port']}"},
            "is_outbound": True,
            "connection_status": {"Duration": "0", "SendMonitor": {}, "RecvMonitor": {}},
            "remote_ip": p["host"],
        } for p in self.peers]
        return rpc_result({"listening": True,
                           "listeners": [f"Listener(@{self.listen_addr[6:]})"],
                           "n_peers": str(len(peers)), "peers": peers})

    def block(self, height: int | None) -> dict:
        h = height or self.height()
        return rpc_result({
            "block_id": {"hash": self.block_hash(h), "parts": {"total": 1, "hash": ""}},
            "block": {"header": {"chain_id": CHAIN_ID, "height": str(h),
                                 "time": iso(self.block_time(h))},
                      "data": {"txs": []}}})

    def commit(self, height: int, signers: list[str]) -> dict:
        """/commit?height= as CometBFT v0.38 answers it (rpc/core/blocks.go Commit; its
        signatures are types.CommitSig): this chain's own validator and ``signers`` signed
        (block_id_flag 2), one absent vote (flag 1, empty address) as a real commit has."""
        stamp = iso(self.block_time(height))
        sigs = [{"block_id_flag": 2, "validator_address": addr, "timestamp": stamp,
                 "signature": keys.b64(hashlib.sha512(f"{addr}:{height}".encode()).digest())}
                for addr in [keys.validator_address(self.validator_pub), *sorted(signers)]]
        sigs.append({"block_id_flag": 1, "validator_address": "",
                     "timestamp": "0001-01-01T00:00:00Z", "signature": None})
        block_id = {"hash": self.block_hash(height), "parts": {"total": 1, "hash": ""}}
        return rpc_result({"signed_header": {
            "header": {"chain_id": CHAIN_ID, "height": str(height), "time": stamp,
                       "last_block_id": block_id},
            "commit": {"height": str(height), "round": 0, "block_id": block_id,
                       "signatures": sigs}}, "canonical": height < self.height()})

    def metrics(self) -> str:
        h = self.height()
        lab = f'{{chain_id="{CHAIN_ID}"}}'
        rows = [
            ("cometbft_consensus_height", "gauge", "Height of the chain.", h),
            ("cometbft_consensus_latest_block_height", "gauge", "The latest block height.", h),
            ("cometbft_consensus_validators", "gauge", "Number of validators.", 1),
            ("cometbft_blocksync_syncing", "gauge", "Whether or not a node is block syncing.",
             int(self.catching_up())),
            ("cometbft_statesync_syncing", "gauge", "Whether or not a node is state syncing.", 0),
            ("cometbft_p2p_peers", "gauge", "Number of peers.", len(self.peers)),
            ("cometbft_mempool_size", "gauge", "Number of uncommitted transactions.", 0),
        ]
        out = []
        for name, kind, help_, value in rows:
            out += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", f"{name}{lab} {value}"]
        return "\n".join(out) + "\n"


def rpc_result(result: dict) -> dict:
    return {"jsonrpc": "2.0", "id": -1, "result": result}


def parse_peers(value: str) -> list[dict]:
    """'id@host:port,...' -> [{"id", "host", "port"}]; malformed entries are skipped."""
    out = []
    for item in filter(None, (x.strip() for x in value.split(","))):
        pid, _, addr = item.partition("@")
        host, _, port = addr.rpartition(":")
        if pid and host and port.isdigit():
            out.append({"id": pid, "host": host, "port": int(port)})
    return out
