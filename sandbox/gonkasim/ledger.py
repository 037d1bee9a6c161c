"""The chain's state the seed simulates for PoC participation, collateral and fees (v0.2.16).

Accounts and their spendable ngonka, authz grants, fee grants, collateral, the PoC records of each
participant (intent, delegation, refusal: the last one sent replaces the others), the transactions
by hash, the epoch and each member's weight. Transactions arrive through the chain RPC's
`broadcast_tx_sync` as the JSON form of a cosmos-sdk Tx (body.messages with their `@type`,
auth_info.fee with `amount`, `gas_limit`, `granter`, signer_infos with the public key),
base64-encoded: the real chain takes protobuf bytes; the shapes, type URLs, fields, codes and texts
are the real ones (sources in the comments). Signatures are the sim's: the signer's public key
must match the message's signer address, and the chain id must match.

Penalties per epoch and per PoC model (gonka-ai/gonka@ee730031:inference-chain/proto/inference/
inference/params.proto DelegationParams): no record costs `no_participation_penalty` (0.15), a
refusal `refusal_penalty` (0.10), from the model's `penalty_start_epoch`. Collateral: `weight x
base_weight_ratio` counts unconditionally, the rest in proportion to deposited / required, required
= `weight x (1 - base_weight_ratio) x collateral_per_weight_unit` (gonka-ai/gonka-docs@570482bc:
docs/host/collateral.md). A participant's PoC weight before those is `poc_weight` (1000).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import threading
import time
from datetime import UTC, datetime

from gonkasim import address, common

DENOM = "ngonka"
YEAR = 365 * 24 * 3600
GENERIC = "/cosmos.authz.v1beta1.GenericAuthorization"
BASIC = "/cosmos.feegrant.v1beta1.BasicAllowance"
INTENT = "/inference.inference.MsgDeclarePoCIntent"
DELEGATE = "/inference.inference.MsgSetPoCDelegation"
REFUSE = "/inference.inference.MsgRefusePoCDelegation"
DEPOSIT = "/inference.collateral.MsgDepositCollateral"
EXEC = "/cosmos.authz.v1beta1.MsgExec"
GRANT = "/cosmos.authz.v1beta1.MsgGrant"
GRANT_ALLOWANCE = "/cosmos.feegrant.v1beta1.MsgGrantAllowance"
REVOKE_ALLOWANCE = "/cosmos.feegrant.v1beta1.MsgRevokeAllowance"

# The ML operations grant of grant-ml-ops-permissions (gonka-ai/gonka@ee730031:inference-chain/
# x/inference/permissions.go InferenceOperationKeyPerms) plus MsgDeclarePoCIntent since v0.2.16
# (gonka-ai/gonka#1760). The BLS messages live in package inference.bls.
ML_OPS_PERMS = [f"/inference.inference.{m}" for m in (
    "MsgStartInference", "MsgFinishInference", "MsgClaimRewards", "MsgValidation",
    "MsgSubmitPocBatch", "MsgSubmitPocValidationsV2", "MsgPoCV2StoreCommit",
    "MsgMLNodeWeightDistribution", "MsgSubmitSeed", "MsgBridgeExchange",
    "MsgSubmitNewUnfundedParticipant", "MsgSubmitHardwareDiff", "MsgInvalidateInference",
    "MsgRevalidateInference", "MsgDeclarePoCIntent")] + [f"/inference.bls.{m}" for m in (
        "MsgSubmitDealerPart", "MsgSubmitVerificationVector", "MsgRespondDealerComplaints",
        "MsgRequestThresholdSignature", "MsgSubmitPartialSignature",
        "MsgSubmitGroupKeyValidationSignature")]
# DefaultMLOpsFeeAllowance: 10 GNK (permissions.go).
ML_OPS_ALLOWANCE = 10_000_000_000

# Fee groups (gonka-ai/gonka:inference-chain/x/inference/types/fee_groups.go, v0.2.16): `epoch`
# and `cosmos` charge 1 ngonka/gas by default; network duties are exempt; MsgExec is unwrapped.
EPOCH_GROUP = {f"/inference.inference.{m}" for m in (
    "MsgSubmitHardwareDiff", "MsgSubmitSeed", "MsgPoCV2StoreCommit", "MsgCreatePoCChallenge",
    "MsgPoCChallengeStoreCommit", "MsgSubmitPoCChallengeValidations",
    "MsgMLNodeWeightDistribution", "MsgSubmitPocValidationsV2", "MsgClaimRewards",
    "MsgSetClaimRecipients", "MsgSubmitUnitOfComputePriceProposal", "MsgDeclarePoCIntent",
    "MsgSetPoCDelegation", "MsgRefusePoCDelegation")} | {
    "/inference.collateral.MsgDepositCollateral", "/inference.collateral.MsgWithdrawCollateral"}
EXEMPT = {f"/inference.inference.{m}" for m in (
    "MsgSubmitPocBatch", "MsgSubmitPocValidationsV2", "MsgSubmitPoCChallengeValidations",
    "MsgMLNodeWeightDistribution", "MsgSubmitSeed", "MsgClaimRewards")}
COSMOS_PREFIXES = ("/cosmos.bank.", "/cosmos.staking.", "/cosmos.distribution.",
                   "/cosmos.slashing.", "/cosmos.authz.", "/cosmos.feegrant.", "/cosmos.group.",
                   "/cosmos.vesting.", "/cosmos.auth.vesting.")

DEFAULT_PARAMS = {
    "poc_models": [],                 # [{"model_id", "penalty_start_epoch"}]
    "refusal_penalty": 0.10,
    "no_participation_penalty": 0.15,
    "base_weight_ratio": 0.2,
    "collateral_per_weight_unit": 4.2,
    "min_gas_price": 1,               # ngonka per gas of the enabled groups (0: free)
    "poc_weight": 1000,
}


class TxError(Exception):
    """A transaction's failure: its codespace, code and log, as the chain reports them."""

    def __init__(self, codespace: str, code: int, log: str):
        super().__init__(log)
        self.codespace, self.code, self.log = codespace, code, log


# ---------------- the wire form ----------------
def encode_tx(tx: dict) -> str:
    return base64.b64encode(json.dumps(tx, sort_keys=True, separators=(",", ":")).encode()).decode()


def tx_hash(tx_b64: str) -> str:
    return hashlib.sha256(base64.b64decode(tx_b64)).hexdigest().upper()


def signer_of(msg: dict) -> str:
    """The address that must sign ``msg`` (cosmos.msg.v1.signer of each message)."""
    kind = msg.get("@type", "")
    field = {EXEC: "grantee", GRANT: "granter", GRANT_ALLOWANCE: "granter",
             REVOKE_ALLOWANCE: "granter", DEPOSIT: "participant",
             "/cosmos.bank.v1beta1.MsgSend": "from_address"}.get(kind, "sender")
    return str(msg.get(field, ""))


def inner(msgs: list[dict]) -> list[dict]:
    """Messages with one level of MsgExec unwrapped (how the fee checker classifies them)."""
    out = []
    for msg in msgs:
        out += msg.get("msgs", []) if msg.get("@type") == EXEC else [msg]
    return out


def gas_estimate(msgs: list[dict]) -> int:
    """What the sim's simulation says a transaction uses (a base plus a part per message)."""
    per = {GRANT: 30000, GRANT_ALLOWANCE: 40000, EXEC: 60000}
    used = 70000
    for msg in msgs:
        used += per.get(msg.get("@type"), 50000)
        used += sum(50000 for _ in msg.get("msgs", []))
    return used


def coins_str(coins: list[dict]) -> str:
    """sdk.Coins.String(): ``300000ngonka`` (empty coins print as nothing)."""
    return ",".join(f"{c['amount']}{c['denom']}" for c in coins)


def now_iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(ts if ts is not None else time.time(), UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def dec(value: float) -> dict:
    """Gonka's Decimal as the gateway writes it: 0.15 -> {"value": "15", "exponent": -2}."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    if "." not in text:
        return {"value": text, "exponent": 0}
    whole, frac = text.split(".")
    return {"value": str(int(whole + frac)), "exponent": -len(frac)}


# ---------------- the state ----------------
class Ledger:
    """The state, persisted in ``DIR/ledger.json`` after every change (atomic writes)."""

    def __init__(self, state_dir: str, params: dict, participants, models: list[str],
                 chain_id: str, height):
        self.path = os.path.join(state_dir, "ledger.json")
        self.lock = threading.RLock()
        self.params = {**DEFAULT_PARAMS, **params}
        self.participants = participants   # () -> set of registered addresses
        self.models = set(models)          # governance models
        self.chain_id = chain_id
        self.height = height               # () -> current height
        self.s = common.read_json(self.path, {}) or {}
        for key, empty in (("balances", {}), ("authz", {}), ("feegrants", {}),
                           ("collateral", {}), ("poc", {}), ("txs", {}), ("epoch", 1),
                           ("weights", {})):
            self.s.setdefault(key, empty)

    def save(self) -> None:
        common.write_json(self.path, self.s)

    # --- queries (the REST's answers) ---
    def poc_records(self, participant: str) -> dict:
        records = self.s["poc"].get(participant, {})
        out = {"delegations": [], "refusals": [], "intents": []}
        for model, rec in sorted(records.items()):
            if rec["kind"] == "intent":
                out["intents"].append({"model_id": model, "participant": participant})
            elif rec["kind"] == "refuse":
                out["refusals"].append({"model_id": model, "participant": participant})
            else:
                out["delegations"].append({"model_id": model, "delegator": participant,
                                           "delegate_to": rec["to"]})
        return out

    def params_doc(self) -> dict:
        p = self.params
        return {"params": {
            "poc_params": {"poc_v2_enabled": True, "models": [
                {"model_id": m["model_id"], "seq_len": "1024",
                 "penalty_start_epoch": str(m.get("penalty_start_epoch", 0))}
                for m in p["poc_models"]]},
            "delegation_params": {"refusal_penalty": dec(p["refusal_penalty"]),
                                  "no_participation_penalty": dec(
                                      p["no_participation_penalty"])},
            "collateral_params": {"base_weight_ratio": dec(p["base_weight_ratio"]),
                                  "collateral_per_weight_unit": dec(
                                      p["collateral_per_weight_unit"])},
            "fee_params": {"enabled_fee_groups": ["epoch", "cosmos"] if p["min_gas_price"]
                           else [], "min_gas_price": str(p["min_gas_price"])},
        }}

    def epoch_group(self) -> dict:
        weights = self.s["weights"]
        return {"epoch_group_data": {
            "epoch_index": str(self.s["epoch"]), "epoch_group_id": str(self.s["epoch"]),
            "poc_start_block_height": str(self.height()),
            "validation_weights": [{"member_address": a, "weight": str(w), "reputation": 100}
                                   for a, w in sorted(weights.items())],
            "total_weight": str(sum(weights.values()))}}

    def allowance(self, granter: str, grantee: str) -> dict | None:
        grant = self.s["feegrants"].get(f"{granter}/{grantee}")
        if grant and grant.get("expiration") and parse_iso(grant["expiration"]) <= time.time():
            return None  # pruned once expired (the SDK's expiry queue)
        return grant

    def grants(self, granter: str, grantee: str) -> list[dict]:
        out = []
        for key, expiration in sorted(self.s["authz"].items()):
            g, e, msg = key.split("|")
            if g == granter and e == grantee:
                out.append({"authorization": {"@type": GENERIC, "msg": msg},
                            "expiration": expiration})
        return out

    def spendable(self, addr: str) -> int:
        return int(self.s["balances"].get(addr, 0))

    # --- control (the sim's own routes: a faucet, the epoch's end) ---
    def fund(self, addr: str, ngonka: int) -> int:
        with self.lock:
            self.s["balances"][addr] = self.spendable(addr) + int(ngonka)
            self.save()
            return self.s["balances"][addr]

    def next_epoch(self) -> dict:
        """End the epoch: each participant's weight for the new one, penalties applied."""
        with self.lock:
            self.s["epoch"] += 1
            self.s["weights"] = {a: self.weight(a) for a in sorted(self.participants())}
            self.s["weights"] = {a: w for a, w in self.s["weights"].items() if w > 0}
            self.save()
            return {"epoch": self.s["epoch"], "weights": dict(self.s["weights"])}

    def weight(self, addr: str) -> int:
        p = self.params
        raw = float(p["poc_weight"])
        base = raw * p["base_weight_ratio"]
        required = raw * (1 - p["base_weight_ratio"]) * p["collateral_per_weight_unit"]
        deposited = int(self.s["collateral"].get(addr, 0))
        share = min(1.0, deposited / required) if required else 1.0
        weight = base + share * (raw - base)
        records = self.s["poc"].get(addr, {})
        for model in p["poc_models"]:
            if self.s["epoch"] < int(model.get("penalty_start_epoch", 0)):
                continue
            rec = records.get(model["model_id"])
            if rec is None:
                weight *= 1 - p["no_participation_penalty"]
            elif rec["kind"] == "refuse":
                weight *= 1 - p["refusal_penalty"]
        return int(round(weight))

    # --- transactions ---
    def broadcast(self, tx_b64: str) -> dict:
        """broadcast_tx_sync: CheckTx, then (the sim commits at once) DeliverTx."""
        txhash = tx_hash(tx_b64)
        try:
            tx = json.loads(base64.b64decode(tx_b64))
        except ValueError:
            return {"code": 2, "codespace": "sdk", "log": "tx parse error", "data": "",
                    "hash": txhash}
        with self.lock:
            try:
                fee_payer = self.check(tx)
            except TxError as exc:
                return {"code": exc.code, "codespace": exc.codespace, "log": exc.log,
                        "data": "", "hash": txhash}
            result = self.deliver(tx, fee_payer)
            self.s["txs"][txhash] = {"height": self.height(), "tx": tx, "timestamp": now_iso(),
                                     **result}
            self.save()
        return {"code": 0, "codespace": "", "log": "", "data": "", "hash": txhash}

    def check(self, tx: dict) -> tuple[str, int]:
        """The ante handler: messages' ValidateBasic, the fee checker, the fee's payment, the
        signer. Returns (fee payer, fee). Nothing is kept when it raises."""
        msgs = tx.get("body", {}).get("messages") or []
        if not msgs:
            raise TxError("sdk", 18, "must contain at least one message: invalid request")
        for msg in inner(msgs):
            validate_basic(msg)
        fee = tx.get("auth_info", {}).get("fee", {})
        gas = int(fee.get("gas_limit") or 0)
        coins = fee.get("amount") or []
        paid = sum(int(c["amount"]) for c in coins if c.get("denom") == DENOM)
        price = self.price(msgs)
        required = gas * price
        # gonka-ai/gonka@ee730031:inference-chain/app/ante_fee.go l.224-226 (GonkaFeeChecker),
        # wrapping sdkerrors.ErrInsufficientFee (codespace sdk, code 13).
        if paid < required:
            raise TxError("sdk", 13, f"insufficient fee: got {coins_str(coins)}, required at "
                          f"least {required}{DENOM} (gas={gas}, min_gas_price={price}{DENOM}): "
                          "insufficient fee")
        signer = self.signer(tx)
        payer = fee.get("granter") or signer
        grant = self.usable_allowance(fee["granter"], signer, paid, msgs) \
            if paid and fee.get("granter") else None
        if paid:
            have = self.spendable(payer)
            if have < paid:
                raise TxError("sdk", 5, f"spendable balance {have}{DENOM} is smaller than "
                              f"{paid}{DENOM}: insufficient funds")
            self.s["balances"][payer] = have - paid
            if grant is not None and grant.get("spend_limit") is not None:
                grant["spend_limit"] -= paid
        return payer, paid

    def price(self, msgs: list[dict]) -> int:
        """The max price of the enabled groups holding a non-exempt message (fee_params.go
        EnabledPayingPrice); MsgExec itself is never classified, its messages are."""
        if not self.params["min_gas_price"]:
            return 0
        for msg in inner(msgs):
            kind = msg.get("@type", "")
            if kind in EXEMPT:
                continue
            if kind in EPOCH_GROUP or kind.startswith(COSMOS_PREFIXES):
                return int(self.params["min_gas_price"])
        return 0

    def usable_allowance(self, granter: str, grantee: str, fee: int, msgs: list[dict]) -> dict:
        grant = self.s["feegrants"].get(f"{granter}/{grantee}")
        # cosmossdk.io/x/feegrant keeper UseGrantedFees: "failed to use fee grant: granter: %s,
        # grantee: %s, fee: %s, msgs: %q"; not found: sdkerrors.ErrNotFound (38).
        head = (f"failed to use fee grant: granter: {granter}, grantee: {grantee}, fee: "
                f"{fee}{DENOM}, msgs: {json.dumps([m.get('@type') for m in msgs])}")
        if grant is None:
            raise TxError("sdk", 38, f"{head}: fee-grant not found: not found")
        if grant.get("expiration") and parse_iso(grant["expiration"]) <= time.time():
            raise TxError("feegrant", 5, f"{head}: fee allowance expired")
        if grant.get("spend_limit") is not None and grant["spend_limit"] < fee:
            raise TxError("feegrant", 2, f"{head}: basic allowance: fee limit exceeded")
        return grant

    def signer(self, tx: dict) -> str:
        infos = tx.get("auth_info", {}).get("signer_infos") or []
        sigs = tx.get("signatures") or []
        if not infos or not sigs:
            raise TxError("sdk", 4, "no signatures supplied: unauthorized")
        pub = base64.b64decode(infos[0]["public_key"]["key"])
        addr = address.address_from_pubkey(pub)
        sig = json.loads(base64.b64decode(sigs[0]))
        if sig.get("chain_id") != self.chain_id:
            raise TxError("sdk", 4, "signature verification failed; please verify account "
                          f"number (0), sequence (0) and chain-id ({sig.get('chain_id')}): "
                          "unauthorized")
        for msg in tx["body"]["messages"]:
            if signer_of(msg) != addr:
                raise TxError("sdk", 8, f"pubKey does not match signer address "
                              f"{signer_of(msg)} with signer index: 0: invalid pubkey")
        return addr

    def deliver(self, tx: dict, fee_payer: tuple[str, int]) -> dict:
        msgs = tx["body"]["messages"]
        gas = int(tx["auth_info"]["fee"].get("gas_limit") or 0)
        used = gas_estimate(msgs)
        base = {"gas_wanted": str(gas), "gas_used": str(min(used, gas))}
        if used > gas:
            return {**base, "code": 11, "codespace": "sdk",
                    "raw_log": f"out of gas in location: txSize; gasWanted: {gas}, gasUsed: "
                               f"{used}: out of gas"}
        snapshot = json.loads(json.dumps({k: self.s[k] for k in
                                          ("authz", "feegrants", "collateral", "poc")}))
        balances = dict(self.s["balances"])
        for index, msg in enumerate(msgs):
            try:
                self.execute(msg)
            except TxError as exc:
                self.s.update(snapshot)
                self.s["balances"] = balances
                return {**base, "code": exc.code, "codespace": exc.codespace,
                        "raw_log": f"failed to execute message; message index: {index}: "
                                   f"{exc.log}"}
        return {**base, "code": 0, "codespace": "", "raw_log": ""}

    def execute(self, msg: dict, as_signer: str | None = None) -> None:
        kind = msg.get("@type")
        if kind == EXEC:
            for sub in msg.get("msgs") or []:
                granter = signer_of(sub)
                if granter != msg["grantee"]:
                    key = f"{granter}|{msg['grantee']}|{sub.get('@type')}"
                    if key not in self.s["authz"]:
                        raise TxError("authz", 2, "authorization not found")
                    expiry = self.s["authz"][key]
                    if expiry and parse_iso(expiry) <= time.time():
                        raise TxError("authz", 3, "authorization expired")
                self.execute(sub)
            return
        if kind in (INTENT, DELEGATE, REFUSE):
            sender, model = msg["sender"], msg["model_id"]
            if sender not in self.participants():
                raise TxError("inference", 1103, "participant not found")
            if model not in self.models:
                raise TxError("inference", 1134, "invalid model")
            records = self.s["poc"].setdefault(sender, {})
            if kind == INTENT:
                records[model] = {"kind": "intent"}
            elif kind == REFUSE:
                records[model] = {"kind": "refuse"}
            elif not msg.get("delegate_to"):
                records.pop(model, None)   # "empty to clear"
            else:
                if msg["delegate_to"] not in self.participants():
                    raise TxError("inference", 1103, "participant not found")
                records[model] = {"kind": "delegate", "to": msg["delegate_to"]}
            return
        if kind == DEPOSIT:
            amount = msg.get("amount") or {}
            if amount.get("denom") != DENOM:
                raise TxError("collateral", 1102, f"only {DENOM} denomination is accepted for "
                              f"collateral, got {amount.get('denom')}")
            who, value = msg["participant"], int(amount["amount"])
            have = self.spendable(who)
            if have < value:
                raise TxError("sdk", 5, f"spendable balance {have}{DENOM} is smaller than "
                              f"{value}{DENOM}: insufficient funds")
            self.s["balances"][who] = have - value
            self.s["collateral"][who] = int(self.s["collateral"].get(who, 0)) + value
            return
        if kind == GRANT:
            auth = (msg.get("grant") or {}).get("authorization") or {}
            key = f"{msg['granter']}|{msg['grantee']}|{auth.get('msg')}"
            self.s["authz"][key] = (msg.get("grant") or {}).get("expiration")
            return
        if kind == GRANT_ALLOWANCE:
            key = f"{msg['granter']}/{msg['grantee']}"
            if self.allowance(msg["granter"], msg["grantee"]) is not None:
                raise TxError("sdk", 18, "fee allowance already exists: invalid request")
            allowance = msg.get("allowance") or {}
            limit = [int(c["amount"]) for c in allowance.get("spend_limit") or []
                     if c.get("denom") == DENOM]
            self.s["feegrants"][key] = {"spend_limit": limit[0] if limit else None,
                                        "expiration": allowance.get("expiration")}
            return
        if kind == REVOKE_ALLOWANCE:
            key = f"{msg['granter']}/{msg['grantee']}"
            if self.s["feegrants"].pop(key, None) is None:
                raise TxError("sdk", 38, "fee-grant not found: not found")
            return
        raise TxError("sdk", 12, f"unrecognized message type: {kind}: unknown request")

    def tx_response(self, txhash: str) -> dict | None:
        rec = self.s["txs"].get(txhash.upper())
        if rec is None:
            return None
        return {"tx": rec["tx"], "tx_response": {
            "height": str(rec["height"]), "txhash": txhash.upper(), "codespace": rec["codespace"],
            "code": rec["code"], "data": "", "raw_log": rec["raw_log"], "logs": [], "info": "",
            "gas_wanted": rec["gas_wanted"], "gas_used": rec["gas_used"], "tx": None,
            "timestamp": rec["timestamp"], "events": []}}

    def allowance_doc(self, granter: str, grantee: str) -> dict | None:
        grant = self.allowance(granter, grantee)
        if grant is None:
            return None
        limit = [] if grant["spend_limit"] is None else [
            {"denom": DENOM, "amount": str(grant["spend_limit"])}]
        return {"allowance": {"granter": granter, "grantee": grantee, "allowance": {
            "@type": BASIC, "spend_limit": limit, "expiration": grant.get("expiration")}}}


def validate_basic(msg: dict) -> None:
    """The messages' ValidateBasic (gonka-ai/gonka@ee730031:inference-chain/x/inference/types/
    message_poc_delegation.go), checked at CheckTx."""
    kind = msg.get("@type")
    if kind not in (INTENT, DELEGATE, REFUSE):
        return
    sender = str(msg.get("sender", ""))
    if not address.is_account(sender):
        raise TxError("sdk", 7, f"invalid sender address ({sender}): invalid address")
    if not msg.get("model_id"):
        raise TxError("sdk", 18, "model_id required: invalid request")
    if kind == DELEGATE and msg.get("delegate_to"):
        if not address.is_account(msg["delegate_to"]):
            raise TxError("sdk", 7, f"invalid delegate_to address ({msg['delegate_to']}): "
                          "invalid address")
        if msg["delegate_to"] == sender:
            raise TxError("inference", 1175, "sender cannot delegate to self")


def expiry_in_a_year() -> str:
    return now_iso(time.time() + YEAR)


def ceil_fee(gas: int, price: float) -> int:
    return int(math.ceil(gas * price))
