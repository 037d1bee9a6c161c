"""The function commands of key backups, which the fixture harness never runs: ``_archive``
(read the host, seal, write 0600) and ``_restore`` (read the chain again, write the files with a
fresh signing state, record the restore), called directly against a fake host."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from unittest.mock import MagicMock

import pytest
from pydantic import SecretStr
from pyinfra.context import ctx_host, ctx_state

from gonka_deploy import backup
from gonka_deploy.operations import backup as ops
from gonka_deploy.state import NodeState
from tests.unit.fixtures import FakeHost, put_local_backup

PASSPHRASE = "backup-passphrase-0123456789"
VAL = "0A1B2C3D4E5F60718293A4B5C6D7E8F901234567"
RPC = "http://seed.test:8000/chain-rpc/"
STATE = ".tmkms/state/priv_validator_state.json"
FILES = {".tmkms/secrets/priv_validator_key.softsign": "seed-a\n",
         ".tmkms/secrets/kms-identity.key": "kms-a\n",
         STATE: '{"height": "7", "round": "0", "step": 3}\n',
         ".inference/config/node_key.json": "nodekey-a\n",
         ".inference/keyring-file/fra-01.info": "info-a"}


class Host(FakeHost):
    """FakeHost that keeps the stdin each command got."""

    def __init__(self, shell):
        super().__init__({}, shell)
        self.stdins: list[str | None] = []

    def run_shell_command(self, command, **kwargs):
        self.stdins.append(kwargs.get("_stdin"))
        return super().run_shell_command(command, **kwargs)


@pytest.fixture
def local(tmp_path, monkeypatch):
    monkeypatch.setenv("GONKA_STATE_DIR", str(tmp_path / "nodes"))
    monkeypatch.setenv("GONKA_BACKUP_DIR", str(tmp_path / "backups"))
    return tmp_path


def run(host, function, *args):
    with ctx_state.use(MagicMock(is_executing=True)), ctx_host.use(host):
        return function(*args)


def chain_line(signed=(), latest=1300, error=None, checked=300):
    low = latest - checked + 1 if latest else None
    return json.dumps({"rpc": RPC.rstrip("/"), "latest": latest, "from": low,
                       "checked": checked, "signed": list(signed), "error": error})


def archive(local) -> str:
    put_local_backup("fra-01", {"created": "2026-11-30T05:05:05+00:00", "passphrase": PASSPHRASE,
                                "files": FILES, "validator_address": VAL})
    return str(backup.choose("fra-01"))


CHECK = {"rpc_url": RPC, "validator": VAL, "blocks": 300, "height": 1290, "destroyed": []}


def test_restore_writes_a_fresh_signing_state_never_the_archived_one(local, caplog):
    path = archive(local)
    host = Host([{"stdout": [chain_line(latest=1310)]}, {"stdout": ['{"ok": true}']}])
    caplog.set_level(logging.INFO)
    assert run(host, ops._restore, "/j", "fra-01", path, SecretStr(PASSPHRASE),
               sorted(FILES), CHECK) is True
    assert "signed /j" not in host.shell_commands[0] and " signed " in host.shell_commands[0]
    assert VAL in host.shell_commands[0] and " write /j" in host.shell_commands[1]
    sent = {f["path"]: f for f in json.loads(host.stdins[1])["files"]}
    assert set(sent) == set(FILES)
    state = base64.b64decode(sent[STATE]["data"])
    assert json.loads(state) == {"height": "1310", "round": "0", "step": 0}   # the newer height
    assert state != FILES[STATE].encode()
    assert sent[STATE]["sha256"] == hashlib.sha256(state).hexdigest()
    for rel, text in FILES.items():
        if rel != STATE:
            assert base64.b64decode(sent[rel]["data"]) == text.encode()
    record = NodeState("fra-01").restore()
    assert record.host == "fake-host" and record.chain_height == 1310 and record.complete
    assert record.signing_state_height == 1310 and record.from_host == "gpu-fra-01"
    assert "tmkms's signing state set to height 1310" in caplog.text
    assert "seed-a" not in caplog.text and PASSPHRASE not in caplog.text


def test_restore_without_a_state_file_in_the_archive_still_writes_one(local):
    put_local_backup("fra-01", {"created": "2026-11-30T05:05:05+00:00", "passphrase": PASSPHRASE,
                                "files": {k: v for k, v in FILES.items() if k != STATE},
                                "validator_address": VAL})
    path = str(backup.choose("fra-01"))
    host = Host([{"stdout": [chain_line()]}, {"stdout": ['{"ok": true}']}])
    assert run(host, ops._restore, "/j", "fra-01", path, SecretStr(PASSPHRASE),
               sorted(FILES), CHECK) is True
    sent = {f["path"]: f for f in json.loads(host.stdins[1])["files"]}
    assert json.loads(base64.b64decode(sent[STATE]["data"]))["height"] == "1300"
    assert sent[STATE]["mode"] == 0o600


@pytest.mark.parametrize("answer", [
    {"stdout": [chain_line(signed=[1305])]},            # the old host came back since the plan
    {"stdout": [chain_line(latest=None, error="HTTP 502")]},
    {"ok": False, "stdout": [], "stderr": ["ssh: connection lost"]},
    {"stdout": ["not json"]},
    {"stdout": [chain_line(checked=20)]}])
def test_restore_reads_the_chain_again_and_writes_nothing_on_doubt(local, caplog, answer):
    path = archive(local)
    host = Host([answer])
    assert run(host, ops._restore, "/j", "fra-01", path, SecretStr(PASSPHRASE),
               sorted(FILES), CHECK) is False
    assert len(host.shell_commands) == 1            # the chain read, never the write
    assert NodeState("fra-01").restore() is None
    assert "restore refused" in caplog.text


@pytest.mark.parametrize("answer", [
    {"ok": False, "stdout": ['{"ok": false, "error": "refusing to replace files that exist '
                             'with other content: x"}']},
    {"ok": False, "stdout": [], "stderr": ["ssh: connection lost"]}])   # cut mid-write
def test_a_write_that_fails_or_is_cut_still_names_this_host_as_holding_the_key(local, caplog,
                                                                                answer):
    """The record is written before the files: whether the write failed or the run was cut
    after the files landed, a restore onto any other host is refused until this one is named
    destroyed (never the key on two hosts unrecorded)."""
    path = archive(local)
    host = Host([{"stdout": [chain_line()]}, answer])
    assert run(host, ops._restore, "/j", "fra-01", path, SecretStr(PASSPHRASE),
               sorted(FILES), CHECK) is False
    record = NodeState("fra-01").restore()
    assert record.host == "fake-host" and record.complete is False
    other = FakeHost({})
    other.name = "gpu-fra-03"
    with ctx_host.use(other):
        doubt = ops.recorded_doubt("fra-01")
    assert doubt and doubt[0] == "fake-host"


def test_restore_with_a_wrong_passphrase_touches_nothing(local, caplog):
    path = archive(local)
    host = Host([])
    assert run(host, ops._restore, "/j", "fra-01", path, SecretStr("another-passphrase-0123"),
               sorted(FILES), CHECK) is False
    assert host.shell_commands == [] and "wrong passphrase" in caplog.text


BASE = {"host": "gpu-fra-01", "key_name": "fra-01", "node_id":
        "0b7c2d3e-1f2a-4b5c-8d9e-0f1a2b3c4d5e", "release": "v0.2.16-post1",
        "public_host": "203.0.113.7", "ssh_hostname": None, "p2p_port": 5000, "api_port": 8000,
        "warm_address": None, "consensus_pubkey": "cHViLWE=", "validator_address": VAL,
        "p2p_id": None}


def read_answer(files: dict[str, str]) -> dict:
    raw = {p: t.encode() for p, t in files.items()}
    listing = {"files": [{"path": p, "size": len(d), "mode": 0o600,
                          "sha256": hashlib.sha256(d).hexdigest()} for p, d in raw.items()],
               "dirs": [{"path": ".tmkms", "mode": 0o700}], "missing": []}
    lines = [json.dumps(listing)] + [json.dumps({"path": p, "data": base64.b64encode(d).decode()})
                                     for p, d in raw.items()]
    return {"stdout": lines}


def test_archive_reads_the_host_once_and_writes_a_sealed_0600_archive(local, caplog):
    host = Host([read_answer(FILES)])
    caplog.set_level(logging.INFO)
    assert run(host, ops._archive, "/j", "fra-01", BASE, SecretStr(PASSPHRASE)) is True
    assert len(host.shell_commands) == 1 and " read /j fra-01" in host.shell_commands[0]
    (path,) = backup.archives("fra-01")
    assert oct(path.stat().st_mode & 0o777) == "0o600" and backup.verify_checksum(path)
    manifest, files = backup.unseal(path.read_bytes(), SecretStr(PASSPHRASE))
    assert files == {p: t.encode() for p, t in FILES.items()}
    assert manifest.validator_address == VAL and manifest.host == "gpu-fra-01"
    assert "key backup written" in caplog.text
    assert "seed-a" not in caplog.text and "nodekey-a" not in caplog.text


@pytest.mark.parametrize("answer", [
    {"ok": False, "stdout": [], "stderr": ["permission denied"]},
    {"stdout": []},
    {"stdout": ["not json"]},
    {"stdout": ['{"files": [{"path": "x"}], "dirs": []}']}])
def test_archive_writes_nothing_when_the_host_read_fails(local, caplog, answer):
    host = Host([answer])
    assert run(host, ops._archive, "/j", "fra-01", BASE, SecretStr(PASSPHRASE)) is False
    assert backup.archives("fra-01") == []


def test_archive_content_that_differs_from_its_listing_is_not_sealed(local, caplog):
    answer = read_answer(FILES)
    answer["stdout"][1] = json.dumps({"path": list(FILES)[0],
                                      "data": base64.b64encode(b"other").decode()})
    host = Host([answer])
    assert run(host, ops._archive, "/j", "fra-01", BASE, SecretStr(PASSPHRASE)) is False
    assert backup.archives("fra-01") == [] and "size or sha256 differs" in caplog.text


def test_validation_refuses_the_bare_reuse_flag_and_checks_the_destroyed_host_names():
    """A restore's override names the host the operator knows destroyed: a bare boolean
    cannot say which, so ``allow_consensus_key_reuse=true`` is an error naming host and field."""
    from gonka_deploy.validate import validate_host
    from tests.unit.helpers import PASSWORD, merged

    env = {"GONKA_KEYRING_PASSWORD": PASSWORD}
    _, problems = validate_host("gpu-1", merged(allow_consensus_key_reuse=True), env)
    assert [(p.host, p.field) for p in problems] == [("gpu-1", "allow_consensus_key_reuse")]
    assert "old_host_destroyed" in problems[0].message
    _, problems = validate_host("gpu-1", merged(old_host_destroyed="gpu-0; rm -rf /"), env)
    assert [(p.host, p.field) for p in problems] == [("gpu-1", "old_host_destroyed")]
    config, problems = validate_host("gpu-1", merged(old_host_destroyed="gpu-0,gpu-2"), env)
    assert not problems and config.old_host_destroyed == "gpu-0,gpu-2"
    assert config.restore_check_blocks == 300
    assert ops.destroyed_names(config.old_host_destroyed) == ["gpu-0", "gpu-2"]
