"""The `inferenced` CLI as an operator uses it inside the api container (sandbox/shims/inferenced).

Commands: `keys add [--recover]|show|list` (file and test keyring backends),
`register-new-participant`, `tx inference grant-ml-ops-permissions|declare-poc-intent|
set-poc-delegation|refuse-poc-delegation`, `tx collateral deposit-collateral`, `tx authz exec|
grant`, `tx feegrant revoke` (sent to the seed's chain RPC, `broadcast_tx_sync`; `--generate-only`
prints the unsigned tx), `version`. Output and errors follow cosmos-sdk 0.50.
Every call's argv (never stdin) is logged as a JSON line to $GONKASIM_LOG_DIR/inferenced.log
(default /var/log/gonkasim).

Keys are fake but consistent: pubkey = 0x02 || sha256(mnemonic) (33 bytes, compressed-secp256k1
shaped), address = bech32("gonka", ripemd160(sha256(pubkey))). The file keyring keeps
<name>.info, <hexaddr>.address and keyhash; the passphrase is read from stdin like the real
non-TTY prompt (at least 8 characters, re-entered on first use, 3 attempts).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sys
import time

from gonkasim import address, common

VERSION = "0.2.13"
BOOL_FLAGS = {"-a", "--address", "-p", "--pubkey", "-y", "--yes", "--unordered", "--dry-run",
              "--recover", "--no-backup", "--skip-validate", "--generate-only", "--offline"}
MIN_PASS = 8
ATTEMPTS = 3

_CONS = "bcdfghjklmnprstvz"
_VOW = "aeiou"
WORDS = sorted({a + b + c + d for a in _CONS for b in _VOW for c in _CONS for d in _VOW})[:2048]


class CLIError(Exception):
    pass


def parse(argv: list[str]) -> tuple[list[str], dict[str, str | bool]]:
    pos, flags = [], {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("-") and arg != "-":
            if "=" in arg:
                k, v = arg.split("=", 1)
                flags[k] = v
            elif arg in BOOL_FLAGS:
                flags[arg] = True
            elif i + 1 < len(argv):
                flags[arg] = argv[i + 1]
                i += 1
            else:
                raise CLIError(f"flag needs an argument: {arg}")
        else:
            pos.append(arg)
        i += 1
    return pos, flags


def log_call(argv: list[str]) -> None:
    logdir = os.environ.get("GONKASIM_LOG_DIR", "/var/log/gonkasim")
    try:
        os.makedirs(logdir, exist_ok=True)
        with open(os.path.join(logdir, "inferenced.log"), "a") as f:
            f.write(json.dumps({"t": round(time.time(), 3), "argv": argv,
                                "pid": os.getpid()}) + "\n")
    except OSError:
        pass  # logging is for test assertions; never break the command over it


# ---------- keyring ----------
class Keyring:
    def __init__(self, home: str, backend: str):
        if backend not in ("file", "test"):
            raise CLIError(f"unsupported keyring backend: {backend} (gonkasim: file|test)")
        self.backend = backend
        self.dir = os.path.join(home, f"keyring-{backend}")
        self.passphrase: str | None = None if backend == "file" else ""

    def info_path(self, name: str) -> str:
        return os.path.join(self.dir, f"{name}.info")

    def names(self) -> list[str]:
        if not os.path.isdir(self.dir):
            return []
        return sorted(f[:-5] for f in os.listdir(self.dir) if f.endswith(".info"))

    def unlock(self) -> str:
        """The cosmos-sdk file keyring prompt, reading lines from stdin."""
        if self.passphrase is not None:
            return self.passphrase
        keyhash_path = os.path.join(self.dir, "keyhash")
        stored = open(keyhash_path).read().strip() if os.path.exists(keyhash_path) else None
        for _ in range(ATTEMPTS):
            pw = read_password()
            if pw is None:
                print("EOF", file=sys.stderr)
                continue
            if len(pw) < MIN_PASS:
                print(f"password must be at least {MIN_PASS} characters", file=sys.stderr)
                continue
            if stored:
                if not check_hash(stored, pw):
                    print("incorrect passphrase", file=sys.stderr)
                    continue
            else:
                again = read_password()
                if again is None:
                    print("EOF", file=sys.stderr)
                    continue
                if again != pw:
                    print("passphrase do not match", file=sys.stderr)
                    continue
                common.atomic_write(keyhash_path, make_hash(pw) + "\n", 0o600)
            self.passphrase = pw
            return pw
        raise CLIError("too many failed passphrase attempts")

    def get(self, name: str) -> dict:
        path = self.info_path(name)
        if not os.path.exists(path):
            raise CLIError(f"{name} is not a valid name or address: {name}.info: key not found")
        pw = self.unlock()
        with open(path) as f:
            doc = json.load(f)
        if self.backend == "file" and doc.get("check") != _mac(pw, doc["address"]):
            raise CLIError("aes.KeyUnwrap(): integrity check failed.")
        return doc

    def add(self, name: str, mnemonic: str) -> dict:
        pub = b"\x02" + hashlib.sha256(mnemonic.encode()).digest()
        addr = address.address_from_pubkey(pub)
        pw = self.unlock()
        doc = {"name": name, "type": "local", "address": addr,
               "pubkey": {"@type": "/cosmos.crypto.secp256k1.PubKey",
                          "key": common_b64(pub)},
               "sealed": _seal(pw, mnemonic), "check": _mac(pw, addr)}
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        common.atomic_write(self.info_path(name), json.dumps(doc), 0o600)
        common.atomic_write(os.path.join(self.dir, address.address_bytes(pub).hex() + ".address"),
                            name, 0o600)
        return doc


def common_b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def read_password() -> str | None:
    line = sys.stdin.readline()
    if not line:
        return None
    return line.rstrip("\r\n")


def make_hash(pw: str) -> str:
    salt = secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", pw.encode(), bytes.fromhex(salt), 10000).hex()
    return f"$gonkasim-pbkdf2${salt}${digest}"


def check_hash(stored: str, pw: str) -> bool:
    try:
        _, _, salt, digest = stored.split("$")
    except ValueError:
        return False
    return hashlib.pbkdf2_hmac("sha256", pw.encode(), bytes.fromhex(salt), 10000).hex() == digest


def _mac(pw: str, text: str) -> str:
    return hashlib.sha256(f"{pw}\0{text}".encode()).hexdigest()


def _seal(pw: str, text: str) -> str:
    stream = hashlib.sha256(("seal\0" + pw).encode()).digest() * (len(text) // 32 + 1)
    return bytes(a ^ b for a, b in zip(text.encode(), stream, strict=False)).hex()


def record_yaml(docs: list[dict]) -> str:
    out = []
    for d in docs:
        pub = json.dumps(d["pubkey"], separators=(",", ":"))
        out += [f"- address: {d['address']}", f"  name: {d['name']}",
                f"  pubkey: '{pub}'", f"  type: {d['type']}"]
    return "\n".join(out) + "\n"


def keyring_from(flags: dict) -> Keyring:
    home = str(flags.get("--home") or os.environ.get("INFERENCED_HOME") or "/root/.inference")
    backend = str(flags.get("--keyring-backend") or os.environ.get("KEYRING_BACKEND") or "os")
    if backend == "os":
        raise CLIError("gonkasim: keyring backend 'os' is not available in a container; "
                       "use --keyring-backend file")
    return Keyring(home, backend)


def keys_cmd(pos: list[str], flags: dict) -> int:
    sub = pos[0] if pos else ""
    if sub == "add":
        if len(pos) != 2:
            raise CLIError(f"accepts 1 arg(s), received {len(pos) - 1}")
        name = pos[1]
        kr = keyring_from(flags)
        if os.path.exists(kr.info_path(name)):
            kr.unlock()
            sys.stderr.write(f"override the existing name {name} [y/N]: ")
            answer = (sys.stdin.readline() or "").strip().lower()
            if answer not in ("y", "yes"):
                raise CLIError("aborted")
            os.remove(kr.info_path(name))
        if flags.get("--recover"):
            kr.unlock()  # the keyring opens (and asks its passphrase) before the mnemonic
            sys.stderr.write("> Enter your bip39 mnemonic\n")
            mnemonic = (sys.stdin.readline() or "").strip()
            if not mnemonic:
                raise CLIError("EOF")
        else:
            mnemonic = " ".join(secrets.choice(WORDS) for _ in range(24))
        doc = kr.add(name, mnemonic)
        if flags.get("--output") == "json":
            out = {k: doc[k] for k in ("name", "type", "address")}
            out["pubkey"] = json.dumps(doc["pubkey"], separators=(",", ":"))
            out["mnemonic"] = mnemonic
            print(json.dumps(out))
            return 0
        sys.stderr.write("\n")
        sys.stdout.write(record_yaml([doc]))
        sys.stdout.flush()
        sys.stderr.write("\n**Important** write this mnemonic phrase in a safe place.\n"
                         "It is the only way to recover your account if you ever forget your "
                         f"password.\n\n{mnemonic}\n")
        return 0
    if sub == "show":
        if len(pos) != 2:
            raise CLIError(f"accepts 1 arg(s), received {len(pos) - 1}")
        doc = keyring_from(flags).get(pos[1])
        if flags.get("-a") or flags.get("--address"):
            print(doc["address"])
        elif flags.get("-p") or flags.get("--pubkey"):
            print(json.dumps(doc["pubkey"], separators=(",", ":")))
        elif flags.get("--output") == "json":
            print(json.dumps({"name": doc["name"], "type": doc["type"],
                              "address": doc["address"],
                              "pubkey": json.dumps(doc["pubkey"], separators=(",", ":"))}))
        else:
            sys.stdout.write(record_yaml([doc]))
        return 0
    if sub == "list":
        kr = keyring_from(flags)
        names = kr.names()
        if not names:
            print("No records were found in keyring")
            return 0
        docs = [kr.get(n) for n in names]
        if flags.get("--output") == "json":
            print(json.dumps([{"name": d["name"], "type": d["type"], "address": d["address"],
                               "pubkey": json.dumps(d["pubkey"], separators=(",", ":"))}
                              for d in docs]))
        else:
            sys.stdout.write(record_yaml(docs))
        return 0
    raise CLIError(f'unknown command "{sub}" for "inferenced keys"')


def register(pos: list[str], flags: dict) -> int:
    if len(pos) != 2:
        raise CLIError(f"accepts 2 arg(s), received {len(pos)}")
    url, pubkey = pos
    seed = str(flags.get("--node-address") or "").rstrip("/")
    if not seed:
        raise CLIError('required flag(s) "node-address" not set')
    try:
        addr = address.address_from_b64(pubkey)
    except ValueError as exc:
        raise CLIError(f"invalid account public key: {exc}") from exc
    consensus = flags.get("--consensus-key")
    if not consensus:
        chain = os.environ.get("DAPI_CHAIN_NODE__URL", "http://node:26657").rstrip("/")
        print(f"Fetching consensus key from {chain}/status ...")
        code, doc = common.http("GET", chain + "/status", timeout=10)
        try:
            consensus = doc["result"]["validator_info"]["pub_key"]["value"]
        except (TypeError, KeyError) as exc:
            raise CLIError(f"failed to fetch the consensus key from {chain}: {doc}") from exc
    print("Registering new participant:")
    print(f"  Node URL: {url}")
    print(f"  Account Address: {addr}")
    print(f"  Account Public Key: {pubkey}")
    print(f"  Validator Consensus Key: {consensus}")
    print(f"  Seed Node Address: {seed}")
    print(f"Sending registration request to {seed}/v1/participants")
    code, doc = common.http("POST", seed + "/v1/participants",
                            {"url": url, "pub_key": pubkey, "validator_key": consensus,
                             "address": addr}, timeout=15)
    if code != 200:
        msg = doc.get("error") if isinstance(doc, dict) else doc
        raise CLIError(f"failed to register participant: server returned status {code}: {msg}")
    print("Participant registration successful.")
    print("Waiting for participant to be available (timeout: 30s)...")

    def found():
        c, d = common.http("GET", f"{seed}/v2/participants/{addr}", timeout=5)
        return d.get("participant") if c == 200 and isinstance(d, dict) else None

    part = common.wait_until(found, timeout=30, interval=0.5)
    if not part:
        raise CLIError(f"participant {addr} did not appear at {seed}/v2/participants/{addr}")
    print(f"Found participant: {part['address']} (url: {part['inferenceUrl']}, "
          f"status: {part['status']})")
    print(f"Participant is now available at {seed}/v2/participants/{addr}")
    return 0


# ---------------- transactions ----------------
# Subcommands and their positional arguments: gonka-ai/gonka@ee730031 inference-chain/x/inference/
# module/autocli.go, x/collateral/module/autocli.go, module/commands.go (grant-ml-ops-permissions);
# authz/feegrant as the cosmos-sdk CLI. Flags: the SDK's tx flags.
def _coin(text: str) -> dict:
    import re

    m = re.fullmatch(r"(\d+)([a-zA-Z][a-zA-Z0-9/]{2,127})", text.strip())
    if not m:
        raise CLIError(f"invalid decimal coin expression: {text}")
    return {"denom": m.group(2), "amount": m.group(1)}


def _sender(flags: dict, offline_ok: bool) -> tuple[str, dict | None]:
    """(address, key record or None): --from is a key name, or an address with --generate-only."""
    name = str(flags.get("--from") or "")
    if not name:
        raise CLIError("--from is required")
    if address.is_account(name):
        if not offline_ok:
            raise CLIError(f"key with address {name} not found: key not found")
        return name, None
    doc = keyring_from(flags).get(name)
    return doc["address"], doc


def _rpc(flags: dict) -> str:
    node = str(flags.get("--node") or "tcp://localhost:26657")
    return node.replace("tcp://", "http://").rstrip("/") + "/"


def _rpc_call(flags: dict, method: str, params: dict) -> dict:
    code, doc = common.http("POST", _rpc(flags), {"jsonrpc": "2.0", "id": 1, "method": method,
                                                  "params": params}, timeout=15)
    if code != 200 or not isinstance(doc, dict) or "result" not in doc:
        raise CLIError(f"post failed: Post \"{_rpc(flags)}\": {doc if code else doc}")
    return doc["result"]


def _query(flags: dict, path: str, request: dict) -> tuple[int, dict | None]:
    from base64 import b64decode

    res = _rpc_call(flags, "abci_query", {"path": path, "data": json.dumps(request).encode().hex()})
    response = res.get("response") or {}
    if response.get("code"):
        return int(response["code"]), {"log": response.get("log", "")}
    return 0, json.loads(b64decode(response.get("value") or "e30="))


def _gas(flags: dict, msgs: list[dict]) -> int:
    gas = str(flags.get("--gas") or "200000")
    if gas != "auto":
        if not gas.isdigit():
            raise CLIError(f"gas must be either a positive integer or 'auto': {gas}")
        return int(gas)
    _, answer = _query(flags, "/cosmos.tx.v1beta1.Service/Simulate", {"messages": msgs})
    used = int((answer or {}).get("gas_info", {}).get("gas_used") or 0)
    adjusted = int(used * float(flags.get("--gas-adjustment") or 1.0))
    print(f"gas estimate: {adjusted}", file=sys.stderr)
    return adjusted


def _fee(flags: dict, gas: int) -> list[dict]:
    import math

    fees, prices = flags.get("--fees"), flags.get("--gas-prices")
    if fees and prices:
        raise CLIError("cannot provide both fees and gas prices")
    if fees:
        return [_coin(c) for c in str(fees).split(",") if c]
    if prices:
        import re

        m = re.fullmatch(r"(\d+(?:\.\d+)?)([a-zA-Z][a-zA-Z0-9/]{2,127})", str(prices).strip())
        if not m:
            raise CLIError(f"invalid decimal coin expression: {prices}")
        return [{"denom": m.group(2), "amount": str(math.ceil(gas * float(m.group(1))))}]
    return []


def _unsigned(msgs: list[dict], flags: dict, gas: int) -> dict:
    granter = str(flags.get("--fee-granter") or "")
    return {"body": {"messages": msgs, "memo": str(flags.get("--note") or ""),
                     "timeout_height": "0", "extension_options": [],
                     "non_critical_extension_options": []},
            "auth_info": {"signer_infos": [], "fee": {"amount": _fee(flags, gas),
                                                      "gas_limit": str(gas), "payer": "",
                                                      "granter": granter}, "tip": None},
            "signatures": []}


def _signed(tx: dict, key: dict, chain_id: str) -> dict:
    pub = key["pubkey"]["key"]
    sig = {"chain_id": chain_id, "pub": pub}
    tx["auth_info"]["signer_infos"] = [{"public_key": {"@type": key["pubkey"]["@type"],
                                                       "key": pub},
                                        "mode_info": {"single": {"mode": "SIGN_MODE_DIRECT"}},
                                        "sequence": "0"}]
    tx["signatures"] = [common_b64(json.dumps(sig, sort_keys=True).encode())]
    return tx


def _tx_response(result: dict) -> dict:
    return {"height": "0", "txhash": result.get("hash", ""), "codespace": result.get("codespace",
                                                                                      ""),
            "code": result.get("code", 0), "data": "", "raw_log": result.get("log", ""),
            "logs": [], "info": "", "gas_wanted": "0", "gas_used": "0", "tx": None,
            "timestamp": "", "events": []}


def _print_response(resp: dict, flags: dict) -> None:
    if str(flags.get("--output") or "json") == "json":
        print(json.dumps(resp))
        return
    for k in sorted(resp):
        v = resp[k]
        print(f"{k}: {json.dumps(v) if isinstance(v, str | list) or v is None else v}")


def _broadcast(msgs: list[dict], flags: dict, key: dict) -> int:
    chain_id = str(flags.get("--chain-id") or "")
    if not chain_id:
        raise CLIError("chain ID required but not specified")
    if not (flags.get("-y") or flags.get("--yes")):
        sys.stderr.write("confirm transaction before signing and broadcasting [y/N]: ")
        if (sys.stdin.readline() or "").strip().lower() not in ("y", "yes"):
            print("canceled transaction", file=sys.stderr)
            return 0
    tx = _signed(_unsigned(msgs, flags, _gas(flags, msgs)), key, chain_id)
    from gonkasim import ledger

    result = _rpc_call(flags, "broadcast_tx_sync", {"tx": ledger.encode_tx(tx)})
    _print_response(_tx_response(result), flags)
    return 0


def _msgs(pos: list[str], flags: dict, sender: str) -> list[dict]:
    """The messages of `tx <module> <command> args…` from ``sender``."""
    from gonkasim import ledger

    module, cmd, args = pos[0], pos[1] if len(pos) > 1 else "", pos[2:]

    def need(n: int):
        if len(args) != n:
            raise CLIError(f"accepts {n} arg(s), received {len(args)}")

    if module == "inference" and cmd == "declare-poc-intent":
        need(1)
        return [{"@type": ledger.INTENT, "sender": sender, "model_id": args[0]}]
    if module == "inference" and cmd == "set-poc-delegation":
        need(2)
        return [{"@type": ledger.DELEGATE, "sender": sender, "model_id": args[0],
                 "delegate_to": args[1]}]
    if module == "inference" and cmd == "refuse-poc-delegation":
        need(1)
        return [{"@type": ledger.REFUSE, "sender": sender, "model_id": args[0]}]
    if module == "collateral" and cmd == "deposit-collateral":
        need(1)
        return [{"@type": ledger.DEPOSIT, "participant": sender, "amount": _coin(args[0])}]
    if module == "authz" and cmd == "exec":
        need(1)
        try:
            with open(args[0]) as f:
                inner = json.load(f)["body"]["messages"]
        except (OSError, ValueError, KeyError) as exc:
            raise CLIError(f"open {args[0]}: {exc}") from exc
        return [{"@type": ledger.EXEC, "grantee": sender, "msgs": inner}]
    if module == "authz" and cmd == "grant":
        need(2)
        if args[1] != "generic" or not flags.get("--msg-type"):
            raise CLIError("gonkasim: only `grant <grantee> generic --msg-type=…`")
        return [{"@type": ledger.GRANT, "granter": sender, "grantee": args[0], "grant": {
            "authorization": {"@type": ledger.GENERIC, "msg": flags["--msg-type"]},
            "expiration": ledger.expiry_in_a_year()}}]
    if module == "feegrant" and cmd == "revoke":
        need(2)
        return [{"@type": ledger.REVOKE_ALLOWANCE, "granter": args[0], "grantee": args[1]}]
    raise CLIError(f'unknown command "{cmd}" for "inferenced tx {module}"')


def grant_ml_ops(args: list[str], flags: dict) -> int:
    """`tx inference grant-ml-ops-permissions <account-key-name> <ml-operational-address>`, with
    its own output (gonka-ai/gonka@ee730031:inference-chain/x/inference/permissions.go)."""
    from gonkasim import ledger

    if len(args) != 2:
        raise CLIError(f"accepts 2 arg(s), received {len(args)}")
    cold, warm = args
    if not address.is_account(warm):
        raise CLIError(f"invalid ml operational address {warm}: expected gonka1... (20 bytes)")
    if not cold:
        raise CLIError("account key name is empty")
    flags = {**flags, "--from": cold}
    granter, key = _sender(flags, offline_ok=False)
    chain_id = str(flags.get("--chain-id") or "")
    if not chain_id:
        code, doc = common.http("GET", _rpc(flags) + "status", timeout=10)
        chain_id = (doc.get("result") or {}).get("node_info", {}).get("network", "") \
            if code == 200 and isinstance(doc, dict) else ""
        print(f"Detected chain-id: {chain_id}")
    expiry = ledger.expiry_in_a_year()
    msgs = [{"@type": ledger.GRANT, "granter": granter, "grantee": warm, "grant": {
        "authorization": {"@type": ledger.GENERIC, "msg": m}, "expiration": expiry}}
        for m in ledger.ML_OPS_PERMS]
    code, _ = _query(flags, "/cosmos.feegrant.v1beta1.Query/Allowance",
                     {"granter": granter, "grantee": warm})
    if code:
        msgs.append({"@type": ledger.GRANT_ALLOWANCE, "granter": granter, "grantee": warm,
                     "allowance": {"@type": ledger.BASIC, "spend_limit": [
                         {"denom": ledger.DENOM, "amount": str(ledger.ML_OPS_ALLOWANCE)}],
                         "expiration": expiry}})
        print("Including new feegrant allowance from cold to warm in this transaction.")
    else:
        print("Existing feegrant allowance from cold to warm detected; skipping "
              "MsgGrantAllowance. Run `inferenced tx feegrant revoke <warm-address>` first if "
              "you want to refresh it.")
    gas = _gas(flags, msgs)
    tx = _signed(_unsigned(msgs, flags, gas), key, chain_id)
    result = _rpc_call(flags, "broadcast_tx_sync", {"tx": ledger.encode_tx(tx)})
    if result.get("code"):
        raise CLIError(f"transaction failed on broadcast with code {result['code']}: "
                       f"{result.get('log', '')}")
    txhash = result["hash"]
    print(f"Transaction sent with hash: {txhash}")
    print("Waiting for transaction to be included in a block...")
    for _ in range(20):
        time.sleep(0.5)  # the real command waits 3 s between looks; the sim commits at once
        code, doc = common.http("GET", _rpc(flags) + f"tx?hash=0x{txhash}", timeout=10)
        res = doc.get("result") if code == 200 and isinstance(doc, dict) else None
        if not res:
            print(".", end="")
            continue
        if int(res.get("height") or 0) > 0:
            if int(res["tx_result"]["code"]) == 0:
                print("\nTransaction confirmed successfully!")
                print(f"Block height: {res['height']}")
                return 0
            raise CLIError(f"\nTransaction {txhash} included in block {res['height']} but "
                           f"failed with code {res['tx_result']['code']}: "
                           f"{res['tx_result']['log']}")
        print("+", end="")
    raise CLIError(f"\nTimed out waiting for transaction {txhash} to be confirmed in a block")


def tx_cmd(pos: list[str], flags: dict) -> int:
    if pos[:2] == ["inference", "grant-ml-ops-permissions"]:
        return grant_ml_ops(pos[2:], flags)
    if not pos:
        raise CLIError('unknown command "" for "inferenced tx"')
    generate = bool(flags.get("--generate-only"))
    sender, key = _sender(flags, offline_ok=generate)
    msgs = _msgs(pos, flags, sender)
    if generate:
        print(json.dumps(_unsigned(msgs, flags, int(flags.get("--gas") or 200000)
                                   if str(flags.get("--gas") or "").isdigit() else 200000)))
        return 0
    return _broadcast(msgs, flags, key)


def main(argv: list[str]) -> int:
    log_call(argv)
    try:
        pos, flags = parse(argv)
        cmd = pos[0] if pos else ""
        if cmd == "version":
            print(VERSION)
            return 0
        if cmd == "keys":
            return keys_cmd(pos[1:], flags)
        if cmd == "register-new-participant":
            return register(pos[1:], flags)
        if cmd == "tx":
            return tx_cmd(pos[1:], flags)
        raise CLIError(f'unknown command "{cmd}" for "inferenced"')
    except CLIError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
