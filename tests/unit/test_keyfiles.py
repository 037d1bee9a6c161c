"""The host-side key material program (gonka_deploy/hostside/keyfiles.py), run as hosts run it
(``python3 -c SCRIPT …``) on a deploy/join made here: what it lists and reads (a live SQLite
database in WAL mode included), how it writes (checked first, never over other content), and
its probe of an old host."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import types

import pytest

from gonka_deploy.hostside import source

SCRIPT = source("keyfiles.py")


def keyfiles(*args: str, stdin: str | None = None) -> tuple[int, list[dict]]:
    p = subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True,
                       timeout=60, input=stdin)
    return p.returncode, [json.loads(line) for line in p.stdout.splitlines() if line.strip()]


@pytest.fixture
def join(tmp_path):
    j = tmp_path / "join"
    files = {".tmkms/secrets/priv_validator_key.softsign": (b"c2VlZA==\n", 0o600),
             ".tmkms/secrets/kms-identity.key": (b"kms\n", 0o600),
             ".tmkms/tmkms.toml": (b"[[chain]]\n", 0o644),
             ".tmkms/state/priv_validator_state.json": (b'{"height": "0"}\n', 0o644),
             ".inference/config/node_key.json": (b'{"priv_key": {}}\n', 0o600),
             ".inference/config/config.toml": (b"not key material\n", 0o644),
             ".inference/keyring-file/fra-01.info": (b"info", 0o600),
             ".inference/keyring-file/keyhash": (b"hash", 0o600),
             ".dapi/api-config.yaml": (b"ml_node_key_config: {}\n", 0o600)}
    for rel, (data, mode) in files.items():
        path = j / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode)
    (j / ".tmkms" / "secrets").chmod(0o700)
    return j


def test_list_names_the_material_with_hashes_and_never_its_content(join):
    rc, (doc,) = keyfiles("list", str(join), "fra-01")
    assert rc == 0 and doc["missing"] == []
    paths = [f["path"] for f in doc["files"]]
    assert ".inference/config/config.toml" not in paths
    assert sorted(paths) == sorted([
        ".tmkms/secrets/priv_validator_key.softsign", ".tmkms/secrets/kms-identity.key",
        ".tmkms/tmkms.toml", ".tmkms/state/priv_validator_state.json",
        ".inference/config/node_key.json", ".inference/keyring-file/fra-01.info",
        ".inference/keyring-file/keyhash", ".dapi/api-config.yaml"])
    key = next(f for f in doc["files"] if f["path"].endswith("softsign"))
    assert key == {"path": ".tmkms/secrets/priv_validator_key.softsign", "size": 9,
                   "mode": 0o600, "sha256": hashlib.sha256(b"c2VlZA==\n").hexdigest()}
    assert {"path": ".tmkms/secrets", "mode": 0o700} in doc["dirs"]
    assert "c2VlZA" not in json.dumps(doc)
    rc, (bare,) = keyfiles("list", str(join.parent / "none"), "fra-01")
    assert bare["files"] == [] and len(bare["missing"]) == 3


def test_a_live_wal_database_is_read_consistently(join):
    db = sqlite3.connect(join / ".dapi" / "gonka.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE kv_config (key TEXT PRIMARY KEY, value_json TEXT NOT NULL)")
    db.execute("INSERT INTO kv_config VALUES ('ml_node_key_config', '{\"worker_public\": 1}')")
    db.commit()  # left open: the row is in the WAL, not yet in the main file
    try:
        rc, lines = keyfiles("read", str(join), "fra-01")
        listed = {f["path"]: f for f in lines[0]["files"]}
        data = {d["path"]: base64.b64decode(d["data"]) for d in lines[1:]}
        raw = data[".dapi/gonka.db"]
        assert hashlib.sha256(raw).hexdigest() == listed[".dapi/gonka.db"]["sha256"]
        copy = join.parent / "copy.db"
        copy.write_bytes(raw)
        rows = sqlite3.connect(copy).execute("SELECT key FROM kv_config").fetchall()
        assert rows == [("ml_node_key_config",)]
        rc, (again,) = keyfiles("list", str(join), "fra-01")  # same content, same hash
        assert {f["path"]: f["sha256"] for f in again["files"]}[".dapi/gonka.db"] == \
            listed[".dapi/gonka.db"]["sha256"]
    finally:
        db.close()


def restore_doc(files: dict[str, tuple[bytes, int]], dirs=()) -> str:
    return json.dumps({"dirs": [{"path": d, "mode": m} for d, m in dirs], "files": [
        {"path": p, "mode": mode, "sha256": hashlib.sha256(data).hexdigest(),
         "data": base64.b64encode(data).decode()} for p, (data, mode) in files.items()]})


def test_write_places_missing_files_with_their_modes(tmp_path):
    target = tmp_path / "blank"
    target.mkdir()
    doc = restore_doc({".tmkms/secrets/priv_validator_key.softsign": (b"seed\n", 0o600),
                       ".inference/keyring-file/fra-01.info": (b"info", 0o600)},
                      dirs=[(".tmkms", 0o755), (".tmkms/secrets", 0o700)])
    rc, (out,) = keyfiles("write", str(target), stdin=doc)
    assert rc == 0 and out["ok"] and len(out["written"]) == 2
    key = target / ".tmkms/secrets/priv_validator_key.softsign"
    assert key.read_bytes() == b"seed\n" and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((target / ".tmkms/secrets").stat().st_mode) == 0o700
    assert stat.S_IMODE((target / ".tmkms").stat().st_mode) == 0o755
    assert stat.S_IMODE((target / ".inference").stat().st_mode) == 0o700  # not in the doc
    assert not list(target.rglob("*.restore.tmp"))
    rc, (again,) = keyfiles("write", str(target), stdin=doc)  # already there: nothing to do
    assert rc == 0 and again["written"] == [] and len(again["same"]) == 2


def test_write_never_replaces_other_content_and_checks_before_placing(join):
    before = {p: p.read_bytes() for p in join.rglob("*") if p.is_file()}
    rc, (out,) = keyfiles("write", str(join), stdin=restore_doc({
        ".dapi/gonka.db": (b"new", 0o600),
        ".tmkms/secrets/priv_validator_key.softsign": (b"another key\n", 0o600)}))
    assert rc == 1 and "refusing to replace" in out["error"] and "softsign" in out["error"]
    bad = json.loads(restore_doc({".dapi/gonka.db": (b"new", 0o600)}))
    bad["files"][0]["sha256"] = "0" * 64
    rc, (out,) = keyfiles("write", str(join), stdin=json.dumps(bad))
    assert rc == 1 and "sha256 differs" in out["error"]
    rc, (out,) = keyfiles("write", str(join), stdin=restore_doc({"../evil": (b"x", 0o600)}))
    assert rc == 1 and "outside the key material" in out["error"]
    after = {p: p.read_bytes() for p in join.rglob("*") if p.is_file()}
    assert after == before and not (join / ".dapi" / "gonka.db").exists()


def program():
    """The host-side program as a module (to call one function with a fake around it)."""
    module = types.ModuleType("keyfiles_program")
    exec(compile(SCRIPT, "keyfiles.py", "exec"), module.__dict__)
    return module


def test_probe_tells_a_listening_node_from_a_stopped_one(monkeypatch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    class Status(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"result": {"validator_info": {"pub_key": {"value": "cHVi"}}}})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    # Every address a test can listen on is this machine's own: the probe itself is tested
    # with "is it this host" answered no.
    keyfiles_program = program()
    monkeypatch.setattr(keyfiles_program, "is_self", lambda host: False)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Status)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        api = f"http://127.0.0.1:{httpd.server_port}/chain-rpc/status"
        seen = keyfiles_program.probe("127.0.0.1", port, api)
        assert seen == {"p2p": "open", "rpc_status": 200, "rpc_pub_key": "cHVi", "self": False}
    finally:
        listener.close()
        httpd.shutdown()
    gone = keyfiles_program.probe("127.0.0.1", port, None)
    assert gone == {"p2p": "refused", "rpc_status": 0, "rpc_pub_key": None, "self": False}


@pytest.mark.parametrize("address", ["127.0.0.1", "localhost"])
def test_an_address_of_this_host_reads_as_itself_never_as_a_stopped_old_host(address):
    """A DNS name of the old host that now points at the new host reaches the new host: its
    closed P2P port says nothing of the old one."""
    rc, (seen,) = keyfiles("probe", address, "9")
    assert rc == 0 and seen["self"] is True and seen["p2p"] == "self"
    rc, (other,) = keyfiles("probe", "192.0.2.1", "9")   # TEST-NET-1: never this host
    assert other["self"] is False and other["p2p"] != "self"


VAL = "0A1B2C3D4E5F60718293A4B5C6D7E8F901234567"
OTHER = "FFEEDDCCBBAA99887766554433221100FFEEDDCC"


def commit(height: int, signers: dict[str, int]) -> dict:
    """/commit?height= as CometBFT v0.38 answers it (absent votes have an empty address)."""
    sigs = [{"block_id_flag": flag, "validator_address": addr,
             "timestamp": "2026-12-01T00:00:00Z", "signature": "c2ln"}
            for addr, flag in signers.items()]
    sigs.append({"block_id_flag": 1, "validator_address": "", "timestamp":
                 "0001-01-01T00:00:00Z", "signature": None})
    return {"jsonrpc": "2.0", "id": -1, "result": {"signed_header": {
        "header": {"height": str(height)},
        "commit": {"height": str(height), "round": 0, "block_id": {"hash": "AB"},
                   "signatures": sigs}}, "canonical": True}}


@pytest.fixture
def chain_rpc():
    """A CometBFT RPC on loopback: /status at height 100 (blocks from 1), /commit from
    ``answers`` (height -> document), the rest as the test sets it."""
    cfg = {"status": {"jsonrpc": "2.0", "id": -1, "result": {"sync_info": {
        "latest_block_height": "100", "earliest_block_height": "1", "catching_up": False}}},
        "commits": {}, "code": 200}

    class Rpc(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            path, _, query = self.path.partition("?")
            if path.endswith("/status"):
                doc = cfg["status"]
            else:
                height = int(query.split("=", 1)[1])
                doc = cfg["commits"].get(height, commit(height, {OTHER: 2}))
            self.send_response(cfg["code"])
            self.end_headers()
            self.wfile.write(json.dumps(doc).encode())

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Rpc)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    cfg["url"] = f"http://127.0.0.1:{httpd.server_port}/chain-rpc/"
    yield cfg
    httpd.shutdown()


def test_signed_names_the_heights_the_validator_signed(chain_rpc):
    chain_rpc["commits"] = {95: commit(95, {VAL: 2}), 99: commit(99, {VAL: 3})}  # nil counts
    rc, (out,) = keyfiles("signed", chain_rpc["url"], VAL, "10")
    assert rc == 0 and out["error"] is None
    assert (out["latest"], out["from"], out["checked"], out["signed"]) == (100, 91, 10, [95, 99])
    rc, (quiet,) = keyfiles("signed", chain_rpc["url"], VAL, "5")
    assert quiet["signed"] == [99]
    chain_rpc["commits"] = {}
    rc, (none,) = keyfiles("signed", chain_rpc["url"], VAL, "10")
    assert none["error"] is None and none["signed"] == [] and none["checked"] == 10
    rc, (height,) = keyfiles("signed", chain_rpc["url"], "", "10")   # the height alone
    assert height["latest"] == 100 and height["checked"] == 0 and height["error"] is None


@pytest.mark.parametrize("case", ["empty commit", "error body", "renamed field", "status empty",
                                  "catching up", "pruned", "http error", "other height",
                                  "not an address"])
def test_a_chain_answer_that_does_not_parse_is_an_error_never_not_signed(chain_rpc, case):
    validator = VAL
    if case == "empty commit":
        chain_rpc["commits"] = {97: {}}
    elif case == "error body":
        chain_rpc["commits"] = {97: {"jsonrpc": "2.0", "id": -1, "error": {"code": -32603}}}
    elif case == "renamed field":
        doc = commit(97, {VAL: 2})
        doc["result"]["signed_header"]["commit"]["sigs"] = doc["result"]["signed_header"][
            "commit"].pop("signatures")
        chain_rpc["commits"] = {97: doc}
    elif case == "status empty":
        chain_rpc["status"] = {"result": {}}
    elif case == "catching up":
        chain_rpc["status"]["result"]["sync_info"]["catching_up"] = True
    elif case == "pruned":
        chain_rpc["status"]["result"]["sync_info"]["earliest_block_height"] = "95"
    elif case == "http error":
        chain_rpc["code"] = 500
    elif case == "other height":
        chain_rpc["commits"] = {97: commit(96, {})}
    else:
        validator = "gonkavalcons1xyz"
    rc, (out,) = keyfiles("signed", chain_rpc["url"], validator, "10")
    assert rc == 0 and out["error"] and out["signed"] == [], out
