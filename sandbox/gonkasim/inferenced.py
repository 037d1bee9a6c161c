"""The `inferenced` CLI as an operator uses it inside the api container (sandbox/shims/inferenced).

Commands: `keys add|show|list` (file and test keyring backends), `register-new-participant`,
`tx inference grant-ml-ops-permissions`, `version`. Output and errors follow cosmos-sdk 0.50.
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


def tx_cmd(pos: list[str], flags: dict) -> int:
    if pos[:2] != ["inference", "grant-ml-ops-permissions"]:
        raise CLIError(f'unknown command "{" ".join(pos[:2])}" for "inferenced tx"')
    args = pos[2:]
    if len(args) != 2:
        raise CLIError(f"accepts 2 arg(s), received {len(args)}")
    cold, warm = args
    try:
        hrp, payload = address.bech32_decode(warm)
    except ValueError as exc:
        raise CLIError(f"invalid ml operational address {warm}: {exc}") from exc
    if hrp != "gonka" or len(payload) != 20:
        raise CLIError(f"invalid ml operational address {warm}: expected gonka1... (20 bytes)")
    if not cold:
        raise CLIError("account key name is empty")
    txhash = hashlib.sha256(f"{cold}:{warm}:{time.time()}".encode()).hexdigest().upper()
    print('code: 0\ncodespace: ""\ndata: ""\nevents: []\ngas_used: "0"\ngas_wanted: "0"\n'
          'height: "0"\ninfo: ""\nlogs: []\nraw_log: ""\ntimestamp: ""\ntx: null\n'
          f"txhash: {txhash}")
    return 0


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
