"""A node's key material on its host, for backup and restore (``python3 -c SCRIPT ...``).

    keyfiles.py list JOIN KEY_NAME    one JSON line: {"files", "dirs", "missing"}
    keyfiles.py read JOIN KEY_NAME    the same line, then one {"path", "data"} line per file
    keyfiles.py write JOIN            stdin: {"files": [{"path", "mode", "sha256", "data"}],
                                              "dirs": [{"path", "mode"}]}; one JSON line out
    keyfiles.py probe HOST PORT [API_URL]
                                      one JSON line: is a node listening on HOST:PORT (P2P), the
                                      consensus key API_URL's /status names, and whether HOST is
                                      this host itself (``self``)
    keyfiles.py signed RPC_URL VALIDATOR_ADDRESS BLOCKS
                                      one JSON line: the chain's latest height (RPC_URL's
                                      /status) and which of its last BLOCKS commits
                                      (/commit?height=) VALIDATOR_ADDRESS signed

Paths are relative to deploy/join (compose mounts ``.tmkms``, ``.inference`` and ``.dapi``
there: gonka-ai/gonka v0.2.14 deploy/join/docker-compose.yml). The material, after upstream's
own lists (docs FAQ "stop mining" and "decommission"; FACTS-ops B7):

- ``.tmkms/`` whole: the consensus key (``secrets/priv_validator_key.softsign``), the KMS
  connection key, ``tmkms.toml`` and the double-sign guard ``state/priv_validator_state.json``;
- ``.inference/keyring-file/`` whole (the warm key, encrypted with the keyring password) and
  ``.inference/config/node_key.json`` (the P2P identity);
- ``.dapi/api-config.yaml`` (the worker key, ``ml_node_key_config``) and ``.dapi/gonka.db``
  (SQLite: the worker key after migration, PoC seeds, BLS dealer shares), read through SQLite's
  online backup into memory: the api keeps it in WAL mode and writes while it runs
  (gonka-ai/gonka@7c86e8e6 decentralized-api/apiconfig/sqlite_store.go), so a plain copy could
  be torn. Its sha256 is the one of that consistent copy.

``data`` is base64. File contents never go anywhere but stdout (``read``, whose output the
toolkit never prints) and the files themselves (``write``). ``write`` checks each file's sha256
before anything is placed, writes each through a temp file (mode set before the first byte)
renamed into place, and never replaces a file that exists with other content.
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import json
import os
import re
import socket
import sqlite3
import sys
import urllib.error
import urllib.parse
import urllib.request

KEY_DIRS = (".tmkms", ".inference/keyring-file")
KEY_FILES = (".inference/config/node_key.json", ".dapi/api-config.yaml", ".dapi/gonka.db")
SQLITE = (".dapi/gonka.db",)


def required(key_name: str) -> list[str]:
    """What a node that has keys always has: without these there is nothing to back up."""
    return [".tmkms/secrets/priv_validator_key.softsign", ".inference/config/node_key.json",
            f".inference/keyring-file/{key_name}.info"]


def sqlite_bytes(path: str) -> bytes:
    """A consistent copy of a live SQLite database, in memory (Python >= 3.11: serialize; an
    older Python copies into a root-only temp file that is removed at once)."""
    src = sqlite3.connect(f"file:{urllib.parse.quote(path)}?mode=ro", uri=True)
    try:
        if hasattr(sqlite3.Connection, "serialize"):
            mem = sqlite3.connect(":memory:")
            try:
                src.backup(mem)
                return mem.serialize()
            finally:
                mem.close()
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:  # created 0700
            dst = sqlite3.connect(os.path.join(tmp, "copy.db"))
            try:
                src.backup(dst)
            finally:
                dst.close()
            with open(os.path.join(tmp, "copy.db"), "rb") as f:
                return f.read()
    finally:
        src.close()


def content(join: str, rel: str) -> bytes:
    path = os.path.join(join, rel)
    if rel in SQLITE:
        return sqlite_bytes(path)
    with open(path, "rb") as f:
        return f.read()


def members(join: str) -> list[str]:
    found = []
    for top in KEY_DIRS:
        base = os.path.join(join, top)
        for root, dirs, files in os.walk(base):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(root, name)
                if os.path.isfile(path) and not os.path.islink(path):
                    found.append(os.path.relpath(path, join))
    for rel in KEY_FILES:
        path = os.path.join(join, rel)
        if os.path.isfile(path) and not os.path.islink(path):
            found.append(rel)
    return found


def parents(rels: list[str]) -> list[str]:
    out = set()
    for rel in rels:
        head = os.path.dirname(rel)
        while head:
            out.add(head)
            head = os.path.dirname(head)
    return sorted(out)


def listing(join: str, key_name: str) -> tuple[dict, dict[str, bytes]]:
    files, data = [], {}
    for rel in members(join):
        raw = content(join, rel)
        st = os.stat(os.path.join(join, rel))
        data[rel] = raw
        files.append({"path": rel, "size": len(raw), "mode": st.st_mode & 0o7777,
                      "sha256": hashlib.sha256(raw).hexdigest()})
    dirs = [{"path": d, "mode": os.stat(os.path.join(join, d)).st_mode & 0o7777}
            for d in parents(list(data))]
    missing = [rel for rel in required(key_name) if rel not in data]
    return {"files": files, "dirs": dirs, "missing": missing}, data


def say(doc: dict) -> None:
    sys.stdout.write(json.dumps(doc, sort_keys=True) + "\n")


def safe_rel(rel: str) -> bool:
    parts = rel.split("/")
    return (bool(rel) and not rel.startswith("/") and ".." not in parts and "" not in parts
            and (rel in KEY_FILES or any(rel.startswith(top + "/") for top in KEY_DIRS)))


def write(join: str, doc: dict) -> dict:
    """Place the files of ``doc``; nothing is placed unless every file checks out first."""
    files = doc.get("files", [])
    raw = {}
    for entry in files:
        rel = entry["path"]
        if not safe_rel(rel):
            return {"ok": False, "error": f"refusing a path outside the key material: {rel!r}"}
        data = base64.b64decode(entry["data"])
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            return {"ok": False, "error": f"{rel}: sha256 differs from the manifest"}
        raw[rel] = data
    conflicts, same = [], []
    for rel, data in raw.items():
        path = os.path.join(join, rel)
        if os.path.lexists(path):
            with open(path, "rb") as f:
                on_host = f.read() if os.path.isfile(path) else b""
            (same if on_host == data else conflicts).append(rel)
    if conflicts:
        return {"ok": False, "error": "refusing to replace files that exist with other "
                "content: " + ", ".join(conflicts)}
    modes = {d["path"]: int(d["mode"]) for d in doc.get("dirs", [])}
    for rel in sorted({p for p in parents(list(raw))}):
        path = os.path.join(join, rel)
        if not os.path.isdir(path):
            os.mkdir(path, 0o700)
            os.chmod(path, modes.get(rel, 0o700))
    written = []
    for entry in files:
        rel = entry["path"]
        if rel in same:
            continue
        path = os.path.join(join, rel)
        tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.restore.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, int(entry["mode"]) & 0o7777)
            os.write(fd, raw[rel])
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
        with open(path, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() != entry["sha256"]:
                return {"ok": False, "error": f"{rel}: sha256 on disk differs after writing"}
        written.append(rel)
    return {"ok": True, "written": written, "same": same}


def is_self(host: str) -> bool:
    """Whether ``host`` resolves to an address of this machine: one can bind to it (a DNS name
    that already points at the new host reaches the new host, not the old one)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    for family, _, _, _, addr in infos:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.bind((addr[0], 0))
            return True
        except OSError:
            continue
    return False


def probe(host: str, port: int, api_url: str | None) -> dict:
    """Whether something accepts TCP on the node's public P2P port (3 tries, 3 s each), and the
    consensus key the node's RPC names through the api's /chain-rpc/ (when it is open)."""
    if is_self(host):
        return {"p2p": "self", "rpc_pub_key": None, "rpc_status": 0, "self": True}
    p2p = "closed"
    for _ in range(3):
        try:
            with socket.create_connection((host, port), timeout=3):
                p2p = "open"
                break
        except ConnectionRefusedError:
            p2p = "refused"
            break
        except OSError as exc:
            p2p = f"unreachable ({exc})"
    out = {"p2p": p2p, "rpc_pub_key": None, "rpc_status": 0, "self": False}
    if api_url:
        try:
            with urllib.request.urlopen(api_url, timeout=5) as resp:
                out["rpc_status"] = resp.status
                doc = json.loads(resp.read().decode() or "null")
                out["rpc_pub_key"] = doc["result"]["validator_info"]["pub_key"]["value"]
        except urllib.error.HTTPError as exc:
            out["rpc_status"] = exc.code
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return out


# CometBFT v0.38 RPC (cometbft/cometbft v0.38.x rpc/openapi/openapi.yaml, /status and /commit;
# spec/core/data_structures.md "CommitSig", "BlockIDFlag"): a commit's signatures are
# {"block_id_flag", "validator_address" (upper-case hex), "timestamp", "signature"}; flag 1 is
# absent, 2 commit, 3 nil: 2 and 3 are both a signature made with the validator's key.
SIGNED_FLAGS = (2, 3)
HEX_ADDRESS = re.compile(r"^[0-9A-F]{40}$")
HEIGHT = re.compile(r"^[0-9]{1,19}$")


class ChainError(Exception):
    """An answer that is not what CometBFT's RPC answers: doubt, never "not signed"."""


def rpc_get(url: str) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            doc = json.loads(resp.read().decode())
    except urllib.error.HTTPError as exc:
        raise ChainError(f"{url}: HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:
        raise ChainError(f"{url}: {exc.__class__.__name__}: {exc}") from None
    result = doc.get("result") if isinstance(doc, dict) else None
    if not isinstance(result, dict):
        raise ChainError(f"{url}: no result object in the answer")
    return result


def field(doc, path: str, url: str):
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            raise ChainError(f"{url}: no {path} in the answer")
        doc = doc[part]
    return doc


def height_of(doc, path: str, url: str) -> int:
    value = field(doc, path, url)
    if not isinstance(value, str) or not HEIGHT.match(value):
        raise ChainError(f"{url}: {path} is {value!r}, not a height")
    return int(value)


def commit_signers(rpc: str, height: int) -> set[str]:
    """The validator addresses that signed the commit of ``height``."""
    url = f"{rpc}/commit?height={height}"
    result = rpc_get(url)
    if height_of(result, "signed_header.commit.height", url) != height:
        raise ChainError(f"{url}: the commit is of another height")
    signatures = field(result, "signed_header.commit.signatures", url)
    if not isinstance(signatures, list):
        raise ChainError(f"{url}: signed_header.commit.signatures is not a list")
    out = set()
    for sig in signatures:
        flag = sig.get("block_id_flag") if isinstance(sig, dict) else None
        address = sig.get("validator_address") if isinstance(sig, dict) else None
        if not isinstance(flag, int) or not isinstance(address, str):
            raise ChainError(f"{url}: a signature without block_id_flag or validator_address")
        if flag in SIGNED_FLAGS:
            out.add(address.upper())
    return out


def signed(rpc: str, validator: str, blocks: int) -> dict:
    """Which of the chain's last ``blocks`` commits ``validator`` signed (an empty validator:
    only the height). Any answer that does not parse is an error, never "not signed"."""
    rpc = rpc.rstrip("/")
    out = {"rpc": rpc, "latest": None, "from": None, "checked": 0, "signed": [], "error": None}
    try:
        if validator and not HEX_ADDRESS.match(validator):
            raise ChainError(f"{validator!r} is not a validator address (40 upper-case hex)")
        status = rpc_get(f"{rpc}/status")
        url = f"{rpc}/status"
        if field(status, "sync_info.catching_up", url) is not False:
            raise ChainError(f"{url}: the node is catching up: its blocks are not the chain's")
        latest = height_of(status, "sync_info.latest_block_height", url)
        earliest = height_of(status, "sync_info.earliest_block_height", url)
        low = max(1, latest - blocks + 1)
        out.update(latest=latest, **{"from": low})
        if validator and low < earliest:
            raise ChainError(f"{url}: the node keeps blocks from {earliest} only, {low} is needed")
        if validator:
            heights = range(low, latest + 1)
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                signers = list(pool.map(lambda h: commit_signers(rpc, h), heights))
            out["checked"] = len(signers)
            out["signed"] = [low + i for i, who in enumerate(signers) if validator in who]
    except ChainError as exc:
        out["error"] = str(exc)
    return out


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command in ("list", "read") and len(argv) == 3:
        doc, data = listing(argv[1], argv[2])
        say(doc)
        if command == "read":
            for rel, raw in data.items():
                say({"path": rel, "data": base64.b64encode(raw).decode()})
        return 0
    if command == "write" and len(argv) == 2:
        result = write(argv[1], json.loads(sys.stdin.read()))
        say(result)
        return 0 if result["ok"] else 1
    if command == "probe" and len(argv) in (3, 4):
        say(probe(argv[1], int(argv[2]), argv[3] if len(argv) == 4 else None))
        return 0
    if command == "signed" and len(argv) == 4 and argv[3].isdigit():
        say(signed(argv[1], argv[2], int(argv[3])))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
